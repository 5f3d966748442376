/*
 * kernel/console.h - the kernel's console: lib/console.h's kprintf and
 * panic, wired to the serial port (arch/i386/serial.h) by console_init, and
 * the kernel's own ways of stopping.
 *
 * After console_init, kprintf writes to COM1, turning "\n" into "\r\n" for
 * terminals, and a panic prints, after its message, the caller's registers
 * and a frame-pointer backtrace, then ends the run with the failure exit.
 */
#ifndef KERNEL_CONSOLE_H
#define KERNEL_CONSOLE_H

#include "lib/console.h"

/* Programs the serial port and registers it as the console's output, and
 * the kernel's panic handler. */
void console_init(void);

/*
 * kernel_stop(fmt, ...): the machine cannot run this kernel (too little
 * memory, too old a CPU).  Prints one line, "arena386: cannot run: message",
 * and ends the run with the failure exit, without a panic's registers and
 * backtrace: nothing went wrong in the code.  Never returns.
 */
__attribute__((noreturn, format(printf, 1, 2))) void kernel_stop(const char *fmt, ...);

/* Prints return addresses by walking %ebp frames from 'ebp', at most
 * 'max_frames' of them. */
void print_backtrace(unsigned long ebp, unsigned max_frames);

#endif

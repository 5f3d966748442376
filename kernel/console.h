/*
 * kernel/console.h - kernel output and fatal errors.
 *
 * kprintf writes to the serial console (arch/i386/serial.h), turning "\n"
 * into "\r\n" for terminals.  It never allocates and may be called with
 * interrupts off, from exception handlers and from panic.
 */
#ifndef KERNEL_CONSOLE_H
#define KERNEL_CONSOLE_H

#include <stdarg.h>
#include <stddef.h>

size_t kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
size_t kvprintf(const char *fmt, va_list ap);

/* Lines written to the console so far (for tests of what gets printed). */
unsigned long console_lines(void);

/*
 * panic(fmt, ...): prints "KERNEL PANIC at file:line: message", the caller's
 * registers and a frame-pointer backtrace, then ends the run with the failure
 * exit.  Never returns.  A panic during a panic only prints and exits.
 */
#define panic(...) panic_at(__FILE__, __LINE__, __VA_ARGS__)
__attribute__((noreturn, format(printf, 3, 4))) void panic_at(const char *file, int line,
                                                              const char *fmt, ...);

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

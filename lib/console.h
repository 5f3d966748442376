/*
 * lib/console.h - the console every layer writes to: kprintf, and panic.
 *
 * kprintf formats with lib/format.h and hands each character to the output
 * the world registered (the kernel: the serial port; the host: stdout);
 * before one is registered, output is discarded.  It never allocates and may
 * be called with interrupts off, from exception handlers and from panic.
 * Callers serialize.
 *
 * panic(fmt, ...) prints "KERNEL PANIC at file:line: message" and hands over
 * to the panic handler the world registered (the kernel prints registers
 * and a backtrace and ends the run; the host aborts), or spins without one.
 * A panic during a panic prints its message and tells the handler so.
 */
#ifndef LIB_CONSOLE_H
#define LIB_CONSOLE_H

#include <stdarg.h>
#include <stddef.h>

size_t kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
size_t kvprintf(const char *fmt, va_list ap);

/* Lines written so far (for tests of what gets printed). */
unsigned long console_lines(void);

/* For tests of what gets printed: from console_capture_start until
 * console_capture_stop (which returns the length), everything printed is
 * also copied into buf, NUL-terminated, as far as 'size' allows.  One
 * capture at a time, on one CPU. */
void console_capture_start(char *buf, size_t size);
size_t console_capture_stop(void);

/* Where kprintf's characters go ("\n" is passed as it is). */
void console_set_output(void (*put)(char c));

/* Around each kprintf, so that CPUs printing at once do not mix their
 * lines: lock returns what unlock is given back.  It must let the CPU that
 * holds it print again (a fault reported while it prints). */
void console_set_lock(unsigned long (*lock)(void), void (*unlock)(unsigned long state));

#define panic(...) panic_at(__FILE__, __LINE__, __VA_ARGS__)
__attribute__((noreturn, format(printf, 3, 4))) void panic_at(const char *file, int line,
                                                              const char *fmt, ...);

/* Called after a panic's message, with the address panic_at returns to;
 * 'nested' when the panic happened inside another one (the handler should
 * then stop at once).  Must not return. */
typedef void (*panic_handler_fn)(void *caller, int nested);
void console_set_panic_handler(panic_handler_fn handler);

#endif

/* lib/console.c - kprintf and panic over the registered output (console.h). */
#include "lib/console.h"
#include "lib/format.h"

static void (*output)(char c);
static unsigned long (*lock_output)(void);
static void (*unlock_output)(unsigned long state);
static panic_handler_fn panic_handler;
static unsigned long lines;
static struct {
	char *buf;
	size_t size, len;
} capture;

void console_set_output(void (*put)(char c))
{
	output = put;
}

void console_set_lock(unsigned long (*lock)(void), void (*unlock)(unsigned long state))
{
	lock_output = lock;
	unlock_output = unlock;
}

void console_set_panic_handler(panic_handler_fn handler)
{
	panic_handler = handler;
}

static void console_put(struct format_sink *sink, char c)
{
	(void)sink;
	lines += c == '\n';
	if (capture.buf && capture.len + 1 < capture.size) {
		capture.buf[capture.len++] = c;
		capture.buf[capture.len] = '\0';
	}
	if (output)
		output(c);
}

static struct format_sink console_sink = { console_put };

size_t kvprintf(const char *fmt, va_list ap)
{
	unsigned long state = lock_output ? lock_output() : 0;
	size_t n = kvformat(&console_sink, fmt, ap);
	if (unlock_output)
		unlock_output(state);
	return n;
}

size_t kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}

unsigned long console_lines(void)
{
	return lines;
}

void console_capture_start(char *buf, size_t size)
{
	capture.len = 0;
	if (size)
		buf[0] = '\0';
	capture.size = size;
	capture.buf = size ? buf : NULL;
}

size_t console_capture_stop(void)
{
	capture.buf = NULL;
	return capture.len;
}

void panic_at(const char *file, int line, const char *fmt, ...)
{
	static int panicking;
	kprintf("\nKERNEL PANIC at %s:%d: ", file, line);
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	if (panic_handler)
		panic_handler(__builtin_return_address(0), panicking++ > 0);
	for (;;)
		;
}

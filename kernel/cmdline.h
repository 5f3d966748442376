/*
 * kernel/cmdline.h - the kernel command line: space-separated key=value words.
 *
 * The multiboot command line starts with the image's path under QEMU -kernel
 * and under GRUB; a first word without '=' is taken to be that path and
 * skipped.  Every other word is matched against a table of options; an
 * unknown key, a word that is not key=value, or a value the option refuses
 * is reported on the console and ignored, keeping the option's default.
 */
#ifndef KERNEL_CMDLINE_H
#define KERNEL_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cmdline_option {
	const char *key;
	/* Takes the value (not NUL-terminated) and returns false to refuse it;
	 * a refused value must leave the option's current setting unchanged. */
	bool (*set)(const char *value, size_t len);
};

/* Applies 'line' to the options; returns the number of words reported and
 * ignored (0 when everything was understood). */
unsigned cmdline_parse(const char *line, const struct cmdline_option *options, size_t count);

/* A decimal or 0x-prefixed hexadecimal number that fits in 64 bits. */
bool cmdline_parse_u64(const char *s, size_t len, uint64_t *out);

/* A byte count: a number as above with an optional K, M or G suffix
 * (powers of 1024); false if it overflows 64 bits. */
bool cmdline_parse_size(const char *s, size_t len, uint64_t *out);

#endif

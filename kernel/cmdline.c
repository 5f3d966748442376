/* kernel/cmdline.c - the key=value command-line parser (cmdline.h). */
#include "kernel/cmdline.h"
#include "kernel/console.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool equal_key(const char *key, const char *word, size_t len)
{
	size_t i = 0;
	for (; i < len; i++)
		if (key[i] != word[i])
			return false;
	return key[i] == '\0';
}

static unsigned apply_word(const char *word, size_t len, const struct cmdline_option *options,
                           size_t count)
{
	size_t eq = 0;
	while (eq < len && word[eq] != '=')
		eq++;
	if (eq == len || eq == 0) {
		kprintf("cmdline: '%.*s' is not key=value, ignored\n", (int)len, word);
		return 1;
	}
	for (size_t i = 0; i < count; i++) {
		if (!equal_key(options[i].key, word, eq))
			continue;
		if (options[i].set(word + eq + 1, len - eq - 1))
			return 0;
		kprintf("cmdline: bad value '%.*s' for %s=, default kept\n", (int)(len - eq - 1),
		        word + eq + 1, options[i].key);
		return 1;
	}
	kprintf("cmdline: unknown option '%.*s' ignored\n", (int)eq, word);
	return 1;
}

unsigned cmdline_parse(const char *line, const struct cmdline_option *options, size_t count)
{
	unsigned problems = 0;
	bool first = true;
	const char *p = line;

	while (*p) {
		while (is_space(*p))
			p++;
		if (!*p)
			break;
		const char *word = p;
		bool has_eq = false;
		while (*p && !is_space(*p))
			has_eq |= *p++ == '=';
		if (first && !has_eq) {
			first = false; /* the boot image's path */
			continue;
		}
		first = false;
		problems += apply_word(word, (size_t)(p - word), options, count);
	}
	return problems;
}

bool cmdline_parse_u64(const char *s, size_t len, uint64_t *out)
{
	unsigned base = 10;
	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		len -= 2;
	}
	if (len == 0)
		return false;
	uint64_t value = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned digit;
		char c = s[i];
		if (c >= '0' && c <= '9')
			digit = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			digit = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			digit = (unsigned)(c - 'A' + 10);
		else
			return false;
		if (value > (UINT64_MAX - digit) / base)
			return false;
		value = value * base + digit;
	}
	*out = value;
	return true;
}

bool cmdline_parse_size(const char *s, size_t len, uint64_t *out)
{
	unsigned shift = 0;
	if (len > 0) {
		switch (s[len - 1]) {
		case 'K':
		case 'k':
			shift = 10;
			break;
		case 'M':
		case 'm':
			shift = 20;
			break;
		case 'G':
		case 'g':
			shift = 30;
			break;
		}
	}
	uint64_t value;
	if (!cmdline_parse_u64(s, shift ? len - 1 : len, &value))
		return false;
	if (shift && value > (UINT64_MAX >> shift))
		return false;
	*out = value << shift;
	return true;
}

/* lib/format.c - the formatting engine behind kprintf and ksnprintf. */
#include "lib/format.h"
#include <stdbool.h>
#include <stdint.h>

struct counting_sink {
	struct format_sink *inner;
	size_t count;
};

struct spec {
	bool left; /* '-' */
	bool zero; /* '0' */
	bool alt;  /* '#': 0x prefix on non-zero hex */
	int width;
	int precision; /* -1: none */
};

static void emit(struct counting_sink *out, char c)
{
	out->inner->put(out->inner, c);
	out->count++;
}

static void emit_repeated(struct counting_sink *out, char c, int n)
{
	while (n-- > 0)
		emit(out, c);
}

/* Prints 'digits' (most significant first, 'len' of them) with an optional
 * sign or prefix, padded to the field width. */
static void emit_field(struct counting_sink *out, const struct spec *spec, const char *prefix,
                       const char *digits, int len)
{
	int prefix_len = 0;
	while (prefix[prefix_len])
		prefix_len++;
	int pad = spec->width - len - prefix_len;

	if (!spec->left && !spec->zero)
		emit_repeated(out, ' ', pad);
	for (int i = 0; i < prefix_len; i++)
		emit(out, prefix[i]);
	if (!spec->left && spec->zero)
		emit_repeated(out, '0', pad);
	for (int i = 0; i < len; i++)
		emit(out, digits[i]);
	if (spec->left)
		emit_repeated(out, ' ', pad);
}

static void emit_unsigned(struct counting_sink *out, const struct spec *spec, const char *prefix,
                          unsigned long long value, unsigned base, bool upper)
{
	const char *digit_chars = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24];
	int pos = sizeof(buf);

	do {
		buf[--pos] = digit_chars[value % base];
		value /= base;
	} while (value);
	emit_field(out, spec, prefix, buf + pos, (int)sizeof(buf) - pos);
}

static void emit_string(struct counting_sink *out, struct spec *spec, const char *s)
{
	if (!s)
		s = "(null)";
	int len = 0;
	while (s[len] && (spec->precision < 0 || len < spec->precision))
		len++;
	spec->zero = false;
	emit_field(out, spec, "", s, len);
}

enum length { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LONG_LONG, LEN_SIZE };

static unsigned long long fetch_unsigned(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_CHAR:
		return (unsigned char)va_arg(*ap, unsigned int);
	case LEN_SHORT:
		return (unsigned short)va_arg(*ap, unsigned int);
	case LEN_LONG:
		return va_arg(*ap, unsigned long);
	case LEN_LONG_LONG:
		return va_arg(*ap, unsigned long long);
	case LEN_SIZE:
		return va_arg(*ap, size_t);
	default:
		return va_arg(*ap, unsigned int);
	}
}

static long long fetch_signed(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_CHAR:
		return (signed char)va_arg(*ap, int);
	case LEN_SHORT:
		return (short)va_arg(*ap, int);
	case LEN_LONG:
		return va_arg(*ap, long);
	case LEN_LONG_LONG:
		return va_arg(*ap, long long);
	case LEN_SIZE:
		return (long long)(intptr_t)va_arg(*ap, size_t);
	default:
		return va_arg(*ap, int);
	}
}

static const char *parse_spec(const char *p, struct spec *spec, va_list *ap)
{
	*spec = (struct spec){ .precision = -1 };
	for (;; p++) {
		if (*p == '-')
			spec->left = true;
		else if (*p == '0')
			spec->zero = true;
		else if (*p == '#')
			spec->alt = true;
		else
			break;
	}
	if (*p == '*') {
		spec->width = va_arg(*ap, int);
		if (spec->width < 0) {
			spec->left = true;
			spec->width = -spec->width;
		}
		p++;
	}
	while (*p >= '0' && *p <= '9')
		spec->width = spec->width * 10 + (*p++ - '0');
	if (*p == '.') {
		spec->precision = 0;
		p++;
		if (*p == '*') {
			spec->precision = va_arg(*ap, int);
			p++;
		}
		while (*p >= '0' && *p <= '9')
			spec->precision = spec->precision * 10 + (*p++ - '0');
	}
	if (spec->left)
		spec->zero = false;
	return p;
}

static const char *parse_length(const char *p, enum length *len)
{
	*len = LEN_INT;
	if (p[0] == 'h' && p[1] == 'h') {
		*len = LEN_CHAR;
		return p + 2;
	}
	if (p[0] == 'l' && p[1] == 'l') {
		*len = LEN_LONG_LONG;
		return p + 2;
	}
	if (*p == 'h')
		*len = LEN_SHORT;
	else if (*p == 'l')
		*len = LEN_LONG;
	else if (*p == 'z')
		*len = LEN_SIZE;
	else
		return p;
	return p + 1;
}

size_t kvformat(struct format_sink *sink, const char *fmt, va_list ap_in)
{
	struct counting_sink out = { sink, 0 };
	va_list ap;
	va_copy(ap, ap_in);

	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			emit(&out, *p);
			continue;
		}
		const char *start = p;
		struct spec spec;
		enum length len;
		p = parse_spec(p + 1, &spec, &ap);
		p = parse_length(p, &len);

		switch (*p) {
		case 'd':
		case 'i': {
			long long v = fetch_signed(&ap, len);
			unsigned long long magnitude =
			        v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
			emit_unsigned(&out, &spec, v < 0 ? "-" : "", magnitude, 10, false);
			break;
		}
		case 'u':
			emit_unsigned(&out, &spec, "", fetch_unsigned(&ap, len), 10, false);
			break;
		case 'x':
		case 'X': {
			unsigned long long v = fetch_unsigned(&ap, len);
			const char *prefix = spec.alt && v ? (*p == 'X' ? "0X" : "0x") : "";
			emit_unsigned(&out, &spec, prefix, v, 16, *p == 'X');
			break;
		}
		case 'p': {
			uintptr_t v = (uintptr_t)va_arg(ap, void *);
			struct spec pointer_spec = spec;
			pointer_spec.width = (int)sizeof(void *) * 2;
			pointer_spec.zero = true;
			pointer_spec.left = false;
			/* Pad the whole "0x..." to the requested width. */
			int pad = spec.width - 2 - pointer_spec.width;
			if (!spec.left)
				emit_repeated(&out, ' ', pad);
			emit(&out, '0');
			emit(&out, 'x');
			emit_unsigned(&out, &pointer_spec, "", v, 16, false);
			if (spec.left)
				emit_repeated(&out, ' ', pad);
			break;
		}
		case 's':
			emit_string(&out, &spec, va_arg(ap, const char *));
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);
			spec.zero = false;
			emit_field(&out, &spec, "", &c, 1);
			break;
		}
		case '%':
			emit(&out, '%');
			break;
		default:
			/* Unknown or truncated conversion: show it verbatim. */
			for (const char *q = start; q <= p && *q; q++)
				emit(&out, *q);
			if (!*p)
				p--;
			break;
		}
	}
	va_end(ap);
	return out.count;
}

struct buffer_sink {
	struct format_sink sink;
	char *buf;
	size_t size;
	size_t pos;
};

static void buffer_put(struct format_sink *sink, char c)
{
	struct buffer_sink *b = (struct buffer_sink *)sink;
	if (b->pos + 1 < b->size)
		b->buf[b->pos] = c;
	b->pos++;
}

size_t kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct buffer_sink b = { { buffer_put }, buf, size, 0 };
	size_t n = kvformat(&b.sink, fmt, ap);
	if (size > 0)
		buf[b.pos < size ? b.pos : size - 1] = '\0';
	return n;
}

size_t ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

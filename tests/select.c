/* tests/select.c - checking and applying test= and bench= (select.h). */
#include "tests/select.h"
#include "lib/console.h"
#include "lib/string.h"

bool select_is(const char *value, const char *word)
{
	return strcmp(value, word) == 0;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static bool is_word(const char *item, size_t len, const char *word)
{
	size_t i = 0;
	while (i < len && word[i] && item[i] == word[i])
		i++;
	return i == len && word[i] == '\0';
}

bool select_check(const char *key, const char *value, select_matches_fn matches_any)
{
	if (select_is(value, "all") || select_is(value, "none"))
		return true;
	bool ok = true, empty_reported = false;
	const char *p = value;
	for (;;) {
		const char *item = p;
		while (*p && *p != ',')
			p++;
		size_t len = (size_t)(p - item);
		size_t bad = 0;
		while (bad < len && is_name_char(item[bad]))
			bad++;
		if (len == 0) {
			if (!empty_reported)
				kprintf("%s=%s: an empty name in the list\n", key, value);
			empty_reported = true;
			ok = false;
		} else if (bad < len) {
			kprintf("%s=%s: '%.*s' is not a name (character '%c')\n", key, value,
			        (int)len, item, item[bad]);
			ok = false;
		} else if (is_word(item, len, "all") || is_word(item, len, "none")) {
			kprintf("%s=%s: '%.*s' must stand alone\n", key, value, (int)len, item);
			ok = false;
		} else if (!matches_any(item, len)) {
			kprintf("%s=%s: '%.*s' selects nothing\n", key, value, (int)len, item);
			ok = false;
		}
		if (*p == '\0')
			return ok;
		p++;
	}
}

bool select_any_item(const char *value, const void *entry,
                     bool (*matches)(const char *item, size_t len, const void *entry))
{
	const char *p = value;
	while (*p) {
		const char *item = p;
		while (*p && *p != ',')
			p++;
		if (p > item && matches(item, (size_t)(p - item), entry))
			return true;
		if (*p == ',')
			p++;
	}
	return false;
}

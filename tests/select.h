/*
 * tests/select.h - the value of test= and bench=: which suites or
 * benchmarks to run.
 *
 * "all" selects everything (but the suites that want to be named), "none"
 * nothing; otherwise a comma-separated list of names or name prefixes.  A
 * list is checked before anything runs: every item must be a plain name
 * ([A-Za-z0-9_]) that selects at least one entry, and "all" or "none" must
 * stand alone.  A value that fails the check is reported, item by item, and
 * the run fails: a typo must not pass as an empty run.
 */
#ifndef TESTS_SELECT_H
#define TESTS_SELECT_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the item (not NUL-terminated) names or prefixes some entry. */
typedef bool (*select_matches_fn)(const char *item, size_t len);

/* Checks 'value' for the option 'key' ("test" or "bench"); prints what is
 * wrong and returns false when it cannot be run. */
bool select_check(const char *key, const char *value, select_matches_fn matches_any);

/* Whether 'value' selects the entry: 'matches' says whether one item of
 * the list selects it.  "all" and "none" are handled by the caller. */
bool select_any_item(const char *value, const void *entry,
                     bool (*matches)(const char *item, size_t len, const void *entry));

bool select_is(const char *value, const char *word);

#endif

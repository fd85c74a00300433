/* A tiny host unit-test framework. Each test program defines tests with
 * TEST(name) and ends main() with unit_report(), which prints the
 * "N passed, N failed" line and returns the exit status. */
#ifndef UMBRA_TESTS_UNIT_H
#define UMBRA_TESTS_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int unit_passed, unit_failed;
extern const char *unit_current;
extern int unit_current_failed;

#define CHECK(cond)                                                           \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "FAIL %s: %s:%d: %s\n", unit_current, \
				__FILE__, __LINE__, #cond);                   \
			unit_current_failed = 1;                              \
		}                                                             \
	} while (0)

#define CHECK_EQ(a, b)                                                        \
	do {                                                                  \
		unsigned long long _a = (unsigned long long)(a);              \
		unsigned long long _b = (unsigned long long)(b);              \
		if (_a != _b) {                                               \
			fprintf(stderr,                                       \
				"FAIL %s: %s:%d: %s == %s (0x%llx != 0x%llx)\n", \
				unit_current, __FILE__, __LINE__, #a, #b, _a, \
				_b);                                          \
			unit_current_failed = 1;                              \
		}                                                             \
	} while (0)

#define CHECK_STR(a, b)                                                       \
	do {                                                                  \
		const char *_a = (a), *_b = (b);                              \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                      \
			fprintf(stderr, "FAIL %s: %s:%d: %s == \"%s\" (got \"%s\")\n", \
				unit_current, __FILE__, __LINE__, #a,         \
				_b ? _b : "(null)", _a ? _a : "(null)");      \
			unit_current_failed = 1;                              \
		}                                                             \
	} while (0)

#define TEST(name) static void test_##name(void)
#define RUN(name)                                                             \
	do {                                                                  \
		unit_current = #name;                                         \
		unit_current_failed = 0;                                      \
		test_##name();                                                \
		if (unit_current_failed) {                                    \
			unit_failed++;                                        \
			fprintf(stderr, "not ok %s\n", #name);                \
		} else {                                                      \
			unit_passed++;                                        \
		}                                                             \
	} while (0)

static inline int unit_report(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif

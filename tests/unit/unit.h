/* A tiny host unit-test framework. Each test program defines tests with
 * TEST(name) and ends main() with unit_report(), which prints the
 * "N passed, N failed" line and returns the exit status. */
#ifndef UMBRA_TESTS_UNIT_H
#define UMBRA_TESTS_UNIT_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* xorshift64: a fixed-seed generator for fuzz loops (same seed, same run). */
static inline uint64_t unit_rng(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Parent side of EXPECT_PANIC. */
static inline void check_panicked(pid_t pid, int fd, const char *needle,
			   const char *what, int line)
{
	char out[2048] = "";
	size_t len = 0;
	ssize_t r;
	int status = 0;

	while (len < sizeof(out) - 1 &&
	       (r = read(fd, out + len, sizeof(out) - 1 - len)) > 0)
		len += r;
	out[len] = '\0';
	close(fd);
	waitpid(pid, &status, 0);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT ||
	    !strstr(out, needle)) {
		fprintf(stderr, "FAIL %s: line %d: `%s` should panic with \"%s\"; got \"%s\"\n",
			unit_current, line, what, needle, out);
		unit_current_failed = 1;
	}
}

/* Runs stmt in a child; it must panic (host panic() aborts) saying needle. */
#define EXPECT_PANIC(needle, ...)                                            \
	do {                                                                  \
		int fds_[2];                                                  \
		pid_t pid_;                                                   \
		if (pipe(fds_) != 0)                                          \
			abort();                                              \
		fflush(NULL);                                                 \
		pid_ = fork();                                                \
		if (pid_ == 0) {                                              \
			dup2(fds_[1], 2);                                     \
			__VA_ARGS__;                                          \
			_exit(0);                                             \
		}                                                             \
		close(fds_[1]);                                               \
		check_panicked(pid_, fds_[0], needle, #__VA_ARGS__, __LINE__); \
	} while (0)

static inline int unit_report(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif

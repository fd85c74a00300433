/* Console logging and panic. In host test builds these are provided by the
 * test program (tests/unit/host_env.c), so the same module sources link. */
#ifndef UMBRA_KERNEL_LOG_H
#define UMBRA_KERNEL_LOG_H

#include "lib/types.h"

enum log_level { LOG_ERR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_printf(enum log_level level, const char *fmt, ...) __printf(2, 3);
__noreturn void panic(const char *fmt, ...) __printf(1, 2);

#define log_err(...) log_printf(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_printf(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_printf(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_printf(LOG_DEBUG, __VA_ARGS__)

/* Invariant checks: always on (the kernel is small and these are cheap). */
#define ASSERT(cond)                                                          \
	do {                                                                  \
		if (unlikely(!(cond)))                                        \
			panic("assertion failed: %s at %s:%d", #cond,         \
			      __FILE__, __LINE__);                            \
	} while (0)

#endif

/* Host stand-ins for the kernel services that module sources call: logging,
 * panic, and the physical-memory offset. Log output is kept quiet unless
 * UMBRA_TEST_VERBOSE is set, but the last message is kept for assertions. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernel/log.h"
#include "mm/phys.h"
#include "tests/unit/host_env.h"

int unit_passed, unit_failed, unit_current_failed;
const char *unit_current = "";
uintptr_t phys_map_offset;
char host_last_log[512];
int host_log_count[4];

void log_printf(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(host_last_log, sizeof(host_last_log), fmt, ap);
	va_end(ap);
	if (level <= LOG_DEBUG)
		host_log_count[level]++;
	if (getenv("UMBRA_TEST_VERBOSE"))
		fprintf(stderr, "[log %d] %s\n", level, host_last_log);
}

void panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "PANIC in test %s: ", unit_current);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

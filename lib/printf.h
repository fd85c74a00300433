/* Formatted output into a buffer. Supports %d %i %u %x %X %p %s %c %% with
 * flags '-', '0', width, precision for %s, and length modifiers hh h l ll z. */
#ifndef UMBRA_LIB_PRINTF_H
#define UMBRA_LIB_PRINTF_H

#include <stdarg.h>
#include "lib/types.h"

int umbra_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int umbra_snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);
/* Formats an error message into err (if errlen) and returns false, so a
 * parser can `return fail_msg(err, errlen, "...", ...);`. */
bool fail_msg(char *err, size_t errlen, const char *fmt, ...) __printf(3, 4);

#endif

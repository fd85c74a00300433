/* String and memory functions: the kernel has its own (lib/string.c); host
 * builds use the C library so sanitizers see every access. */
#ifndef UMBRA_LIB_STRING_H
#define UMBRA_LIB_STRING_H

#include "lib/types.h"

#ifdef UMBRA_HOST
#include <string.h>
#else
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
#endif

/* Copies at most size-1 bytes and always terminates (when size > 0).
 * Returns strlen(src) so callers can detect truncation. */
size_t strlcpy(char *dst, const char *src, size_t size);

#endif

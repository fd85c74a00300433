/*
 * Command-line parsing for the kernel command line and module lines.
 *
 * Syntax (a subset of Linux's, see Documentation/admin-guide/kernel-parameters):
 * words are separated by spaces, tabs, CR or LF; a word is `key=value` or a
 * bare flag; double quotes group characters (including spaces) and are
 * removed, so `name="a b"` and `"name=a b"` both give key `name`, value `a b`.
 * There is no escape character. A standalone `--` word ends the options: the
 * rest belongs to someone else (for a module line, the guest's command line),
 * so cmdline_get() and cmdline_has() stop there.
 *
 * All functions take NUL-terminated strings, never write more than the buffer
 * length they are given, and always NUL-terminate when that length is > 0.
 */
#ifndef UMBRA_LIB_CMDLINE_H
#define UMBRA_LIB_CMDLINE_H

#include "lib/types.h"

/*
 * Finds `key=value` (or a bare `key`, which counts as present with an empty
 * value) before any `--`. The last occurrence wins, as on Linux. Copies the
 * value with quotes removed into val, truncated to vallen-1 bytes; val may be
 * NULL when vallen is 0. Returns whether the key is present.
 */
bool cmdline_get(const char *cmdline, const char *key, char *val, size_t vallen);

/* Whether the bare word `flag` appears before any `--`. Exact match only:
 * `selftest2` and `selftest=1` do not count as `selftest`. */
bool cmdline_has(const char *cmdline, const char *flag);

/*
 * Copies the next word at *cursor into word (quotes removed, truncated to
 * len-1 bytes) and advances *cursor past it. Returns false, with *cursor at
 * the end of the string, when no words are left.
 */
bool cmdline_next_word(const char **cursor, char *word, size_t len);

/* The text after the first standalone `--` word, leading blanks skipped
 * (possibly ""), or NULL when there is no `--`. A quoted "--" is a plain word. */
const char *cmdline_after_dashdash(const char *cmdline);

/* Unsigned decimal or 0x-prefixed hex, whole string, no sign or blanks.
 * False (and *out unchanged) on empty input, garbage or overflow. */
bool parse_u64(const char *s, u64 *out);

/* Like parse_u64 with an optional binary-unit suffix K, M, G or T (either
 * case): `256M` = 256 << 20. False on overflow. */
bool parse_size(const char *s, u64 *out);

/* A 16550 UART console: I/O port and line speed. */
struct console_cfg {
	u16 port;
	u32 baud;
};

#define CONSOLE_DEFAULT_BAUD 115200u

/*
 * Parses a console spec: `com1`..`com4`, `ttyS0`..`ttyS3`, `0x3f8` or
 * `io,0x3f8`, optionally followed by `,BAUD` (Linux's `,115200n8` form is
 * accepted too; 8N1 is the only framing we program). The baud rate must give
 * an integral divisor 115200/BAUD in 1..65535; it defaults to 115200.
 * Returns false and leaves *out unchanged when the spec is invalid.
 */
bool parse_console(const char *val, struct console_cfg *out);

/* `err`, `warn`, `info`, `debug` (also `error`, `warning`; any case) or the
 * digits 0..3, as enum log_level in kernel/log.h. False leaves *level as is. */
bool parse_loglevel(const char *val, int *level);

#endif

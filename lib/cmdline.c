/*
 * Command-line parsing. The command line comes from the boot loader, so it is
 * untrusted: every scan stops at the terminating NUL, every copy is bounded by
 * the caller's buffer, and nothing is modified in place.
 */
#include "lib/cmdline.h"
#include "kernel/log.h"
#include "lib/string.h"

/* A word as it appears in the command line: raw text, quotes included. */
struct word {
	const char *start;
	const char *end;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static char to_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive comparison of the n bytes at s with the string lit. */
static bool eq_nocase(const char *s, size_t n, const char *lit)
{
	size_t i;
	for (i = 0; i < n; i++)
		if (!lit[i] || to_lower(s[i]) != to_lower(lit[i]))
			return false;
	return lit[i] == '\0';
}

/*
 * Finds the next word at *cursor. Quotes toggle a mode in which blanks do not
 * end the word; an unterminated quote runs to the end of the string.
 */
static bool next_raw_word(const char **cursor, struct word *w)
{
	const char *p = *cursor;
	bool quoted = false;

	while (is_blank(*p))
		p++;
	if (!*p) {
		*cursor = p;
		return false;
	}
	w->start = p;
	for (; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && is_blank(*p))
			break;
	}
	w->end = p;
	*cursor = p;
	return true;
}

/* Copies [from, end) minus the quote characters, truncating to len-1. */
static void copy_unquoted(const char *from, const char *end, char *dst,
			  size_t len)
{
	size_t n = 0;

	if (!len)
		return;
	for (; from < end && n + 1 < len; from++)
		if (*from != '"')
			dst[n++] = *from;
	dst[n] = '\0';
}

/* A standalone, unquoted `--` ends the options (as in Linux's parse_args). */
static bool is_dashdash(const struct word *w)
{
	return w->end - w->start == 2 && w->start[0] == '-' &&
	       w->start[1] == '-';
}

static const char *skip_quotes(const char *p, const char *end)
{
	while (p < end && *p == '"')
		p++;
	return p;
}

/*
 * Whether the word's key (unquoted text before the first '=') is exactly key.
 * On a match, *value is the raw text after '=' or NULL for a bare word.
 */
static bool word_has_key(const struct word *w, const char *key,
			 const char **value)
{
	const char *p = w->start;

	for (; *key; key++, p++) {
		p = skip_quotes(p, w->end);
		if (p == w->end || *p != *key)
			return false;
	}
	p = skip_quotes(p, w->end);
	if (p == w->end) {
		*value = NULL;
		return true;
	}
	if (*p == '=') {
		*value = p + 1;
		return true;
	}
	return false;
}

bool cmdline_get(const char *cmdline, const char *key, char *val, size_t vallen)
{
	const char *cursor = cmdline ? cmdline : "";
	const char *value;
	struct word w;
	bool found = false;

	if (!key || !*key)
		return false;
	while (next_raw_word(&cursor, &w) && !is_dashdash(&w)) {
		if (!word_has_key(&w, key, &value))
			continue;
		found = true; /* keep going: the last occurrence wins */
		if (value)
			copy_unquoted(value, w.end, val, vallen);
		else if (vallen)
			val[0] = '\0';
	}
	return found;
}

bool cmdline_has(const char *cmdline, const char *flag)
{
	const char *cursor = cmdline ? cmdline : "";
	const char *value;
	struct word w;

	if (!flag || !*flag)
		return false;
	while (next_raw_word(&cursor, &w) && !is_dashdash(&w))
		if (word_has_key(&w, flag, &value) && !value)
			return true;
	return false;
}

bool cmdline_next_word(const char **cursor, char *word, size_t len)
{
	struct word w;

	if (!*cursor)
		return false;
	if (!next_raw_word(cursor, &w)) {
		if (len)
			word[0] = '\0';
		return false;
	}
	copy_unquoted(w.start, w.end, word, len);
	return true;
}

const char *cmdline_after_dashdash(const char *cmdline)
{
	const char *cursor = cmdline ? cmdline : "";
	struct word w;

	while (next_raw_word(&cursor, &w)) {
		if (is_dashdash(&w)) {
			while (is_blank(*cursor))
				cursor++;
			return cursor;
		}
	}
	return NULL;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = to_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return 99;
}

/* parse_u64 on the first n bytes of s. */
static bool parse_u64_n(const char *s, size_t n, u64 *out)
{
	unsigned base = 10;
	u64 v = 0;

	if (n > 2 && s[0] == '0' && to_lower(s[1]) == 'x') {
		base = 16;
		s += 2;
		n -= 2;
	}
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)digit_value(s[i]);
		if (d >= base || v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

bool parse_u64(const char *s, u64 *out)
{
	return s && parse_u64_n(s, strlen(s), out);
}

bool parse_size(const char *s, u64 *out)
{
	unsigned shift = 0;
	size_t n;
	u64 v;

	if (!s)
		return false;
	n = strlen(s);
	if (n) {
		switch (to_lower(s[n - 1])) {
		case 'k': shift = 10; break;
		case 'm': shift = 20; break;
		case 'g': shift = 30; break;
		case 't': shift = 40; break;
		}
		if (shift)
			n--;
	}
	if (!parse_u64_n(s, n, &v) || v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

/* Standard PC COM port bases, by index (COM1 = ttyS0 = 0x3f8). */
static const u16 pc_com_ports[4] = { 0x3f8, 0x2f8, 0x3e8, 0x2e8 };

/* A 16550 occupies 8 consecutive ports; port 0 is never a UART. */
#define UART_PORT_MAX (0xffffu - 7)

/* Parses the port part of a console spec: the n bytes at s. */
static bool parse_console_port(const char *s, size_t n, u16 *port)
{
	u64 v;

	if (n == 4 && eq_nocase(s, 3, "com") && s[3] >= '1' && s[3] <= '4') {
		*port = pc_com_ports[s[3] - '1'];
		return true;
	}
	if (n == 5 && eq_nocase(s, 4, "ttys") && s[4] >= '0' && s[4] <= '3') {
		*port = pc_com_ports[s[4] - '0'];
		return true;
	}
	if (!parse_u64_n(s, n, &v) || v == 0 || v > UART_PORT_MAX)
		return false;
	*port = (u16)v;
	return true;
}

/*
 * The 16550 divisor latch is 16 bits and the baud rate is 115200 / divisor
 * (1.8432 MHz clock / 16), so only rates with an integral divisor in
 * 1..65535 can be programmed exactly.
 */
static bool parse_baud(const char *s, size_t n, u32 *baud)
{
	u64 v;

	/* Linux-style `115200n8`: 8 data bits, no parity is what we program. */
	if (n > 2 && to_lower(s[n - 2]) == 'n' && s[n - 1] == '8')
		n -= 2;
	if (!parse_u64_n(s, n, &v) || v == 0 || CONSOLE_DEFAULT_BAUD % v != 0 ||
	    CONSOLE_DEFAULT_BAUD / v > 0xffff)
		return false;
	*baud = (u32)v;
	return true;
}

bool parse_console(const char *val, struct console_cfg *out)
{
	struct console_cfg cfg = { .baud = CONSOLE_DEFAULT_BAUD };
	const char *comma;

	if (!val)
		return false;
	comma = strchr(val, ',');
	/* `io,PORT[,BAUD]`: the explicit-port form, as in Linux's earlycon. */
	if (comma && eq_nocase(val, (size_t)(comma - val), "io")) {
		val = comma + 1;
		comma = strchr(val, ',');
	}
	if (!parse_console_port(val, comma ? (size_t)(comma - val) : strlen(val),
				&cfg.port))
		return false;
	if (comma) {
		const char *baud = comma + 1;
		if (strchr(baud, ',') || !parse_baud(baud, strlen(baud), &cfg.baud))
			return false;
	}
	*out = cfg;
	return true;
}

bool parse_loglevel(const char *val, int *level)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {
		{ "err", LOG_ERR },   { "error", LOG_ERR },
		{ "warn", LOG_WARN }, { "warning", LOG_WARN },
		{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	size_t n;

	if (!val)
		return false;
	n = strlen(val);
	if (n == 1 && val[0] >= '0' && val[0] <= '0' + LOG_DEBUG) {
		*level = val[0] - '0';
		return true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (eq_nocase(val, n, names[i].name)) {
			*level = (int)names[i].level;
			return true;
		}
	}
	return false;
}

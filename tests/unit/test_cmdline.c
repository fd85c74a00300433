/* Command-line parsing: keys, flags, quotes, numbers, console and log specs. */
#include "tests/unit/unit.h"
#include "kernel/log.h"
#include "lib/cmdline.h"
#include "lib/string.h"

static char val[64];

TEST(get_key_values)
{
	const char *cl = "console=com1,115200 loglevel=debug selftest exitcode";

	CHECK(cmdline_get(cl, "console", val, sizeof(val)));
	CHECK_STR(val, "com1,115200");
	CHECK(cmdline_get(cl, "loglevel", val, sizeof(val)));
	CHECK_STR(val, "debug");
	/* A bare word is present with an empty value. */
	strcpy(val, "stale");
	CHECK(cmdline_get(cl, "selftest", val, sizeof(val)));
	CHECK_STR(val, "");
	CHECK(!cmdline_get(cl, "missing", val, sizeof(val)));
	/* Keys match whole keys, not prefixes in either direction. */
	CHECK(!cmdline_get(cl, "con", val, sizeof(val)));
	CHECK(!cmdline_get(cl, "consoles", val, sizeof(val)));
	CHECK(!cmdline_get(cl, "", val, sizeof(val)));
	CHECK(!cmdline_get("", "a", val, sizeof(val)));
	CHECK(!cmdline_get(NULL, "a", val, sizeof(val)));
	/* Only the first '=' separates; values may contain more. */
	CHECK(cmdline_get("opt=a=b", "opt", val, sizeof(val)));
	CHECK_STR(val, "a=b");
	/* Tabs and multiple blanks separate words too. */
	CHECK(cmdline_get("\t a=1\t\tb=2  ", "b", val, sizeof(val)));
	CHECK_STR(val, "2");
	/* A presence check with no buffer. */
	CHECK(cmdline_get(cl, "exitcode", NULL, 0));
}

TEST(get_last_wins)
{
	CHECK(cmdline_get("loglevel=err x loglevel=info", "loglevel", val,
			  sizeof(val)));
	CHECK_STR(val, "info");
	CHECK(cmdline_get("mem=1G mem", "mem", val, sizeof(val)));
	CHECK_STR(val, "");
	CHECK(cmdline_get("mem mem=2G", "mem", val, sizeof(val)));
	CHECK_STR(val, "2G");
	CHECK(cmdline_get("k= k=", "k", val, sizeof(val)));
	CHECK_STR(val, "");
}

TEST(get_quotes)
{
	CHECK(cmdline_get("a=1 name=\"hello world\" b=2", "name", val,
			  sizeof(val)));
	CHECK_STR(val, "hello world");
	CHECK(cmdline_get("a=1 name=\"hello world\" b=2", "b", val, sizeof(val)));
	CHECK_STR(val, "2");
	/* Linux also allows the whole word to be quoted. */
	CHECK(cmdline_get("\"name=x y\" z", "name", val, sizeof(val)));
	CHECK_STR(val, "x y");
	CHECK(cmdline_has("\"name=x y\" z", "z"));
	CHECK(!cmdline_has("\"name=x y\" z", "y"));
	/* An unterminated quote runs to the end of the line. */
	CHECK(cmdline_get("q=\"a b c", "q", val, sizeof(val)));
	CHECK_STR(val, "a b c");
	CHECK(!cmdline_has("q=\"a b c", "b"));
	/* Empty quoted value. */
	CHECK(cmdline_get("e=\"\" f", "e", val, sizeof(val)));
	CHECK_STR(val, "");
}

TEST(get_truncates)
{
	char small[4];

	memset(small, 'x', sizeof(small));
	CHECK(cmdline_get("k=abcdef", "k", small, sizeof(small)));
	CHECK_STR(small, "abc");
	/* Quotes do not count against the buffer. */
	CHECK(cmdline_get("k=\"ab\"", "k", small, sizeof(small)));
	CHECK_STR(small, "ab");
	small[0] = 'x';
	CHECK(cmdline_get("k=abc", "k", small, 1));
	CHECK_EQ(small[0], '\0');
}

TEST(has_flags)
{
	const char *cl = "console=com1 selftest2 xselftest exitcode selftest=1";

	CHECK(cmdline_has(cl, "exitcode"));
	CHECK(!cmdline_has(cl, "selftest"));	/* only prefixes/valued forms */
	CHECK(!cmdline_has(cl, "exit"));
	CHECK(!cmdline_has(cl, "console"));
	CHECK(cmdline_has("a selftest b", "selftest"));
	CHECK(cmdline_has("selftest", "selftest"));
	CHECK(!cmdline_has("", "selftest"));
	CHECK(!cmdline_has("a", ""));
	CHECK(!cmdline_has(NULL, "a"));
}

TEST(dashdash)
{
	const char *line = "name=web mem=256M vcpus=2 -- console=ttyS0 quiet";
	const char *rest = cmdline_after_dashdash(line);

	CHECK_STR(rest, "console=ttyS0 quiet");
	/* Options after `--` belong to the guest, not to us. */
	CHECK(!cmdline_get(line, "console", val, sizeof(val)));
	CHECK(cmdline_get(rest, "console", val, sizeof(val)));
	CHECK_STR(val, "ttyS0");
	CHECK(!cmdline_has(line, "quiet"));
	CHECK(cmdline_get(line, "mem", val, sizeof(val)));
	CHECK_STR(val, "256M");

	CHECK(cmdline_after_dashdash("a b") == NULL);
	CHECK(cmdline_after_dashdash(NULL) == NULL);
	CHECK(cmdline_after_dashdash("a --b c") == NULL);
	CHECK(cmdline_after_dashdash("a b-- c") == NULL);
	CHECK(cmdline_after_dashdash("a \"--\" c") == NULL);
	CHECK_STR(cmdline_after_dashdash("a --"), "");
	CHECK_STR(cmdline_after_dashdash("-- x"), "x");
	CHECK_STR(cmdline_after_dashdash("a --\t  -- b"), "-- b");
}

TEST(word_iterator)
{
	const char *cur = "  one \"two three\"\tfour=\"x y\"  ";
	char w[16];

	CHECK(cmdline_next_word(&cur, w, sizeof(w)));
	CHECK_STR(w, "one");
	CHECK(cmdline_next_word(&cur, w, sizeof(w)));
	CHECK_STR(w, "two three");
	CHECK(cmdline_next_word(&cur, w, sizeof(w)));
	CHECK_STR(w, "four=x y");
	CHECK(!cmdline_next_word(&cur, w, sizeof(w)));
	CHECK_STR(w, "");
	CHECK_EQ(*cur, '\0');
	CHECK(!cmdline_next_word(&cur, w, sizeof(w)));

	/* Truncation still advances past the whole word. */
	const char *c2 = "abcdefgh ij";
	char t[4];
	CHECK(cmdline_next_word(&c2, t, sizeof(t)));
	CHECK_STR(t, "abc");
	CHECK(cmdline_next_word(&c2, t, sizeof(t)));
	CHECK_STR(t, "ij");

	const char *none = NULL;
	CHECK(!cmdline_next_word(&none, t, sizeof(t)));
}

TEST(u64_parsing)
{
	u64 v = 7;

	CHECK(parse_u64("0", &v));
	CHECK_EQ(v, 0);
	CHECK(parse_u64("12345", &v));
	CHECK_EQ(v, 12345);
	CHECK(parse_u64("0x3f8", &v));
	CHECK_EQ(v, 0x3f8);
	CHECK(parse_u64("0XABCdef", &v));
	CHECK_EQ(v, 0xabcdef);
	CHECK(parse_u64("18446744073709551615", &v));
	CHECK_EQ(v, UINT64_MAX);
	CHECK(parse_u64("0xffffffffffffffff", &v));
	CHECK_EQ(v, UINT64_MAX);

	v = 7;
	CHECK(!parse_u64("18446744073709551616", &v));
	CHECK(!parse_u64("99999999999999999999", &v));
	CHECK(!parse_u64("0x10000000000000000", &v));
	CHECK(!parse_u64("", &v));
	CHECK(!parse_u64("0x", &v));
	CHECK(!parse_u64("-1", &v));
	CHECK(!parse_u64("+1", &v));
	CHECK(!parse_u64(" 1", &v));
	CHECK(!parse_u64("12a", &v));
	CHECK(!parse_u64("0x1g", &v));
	CHECK(!parse_u64("abc", &v));
	CHECK(!parse_u64(NULL, &v));
	CHECK_EQ(v, 7);	/* failures leave the output alone */
}

TEST(size_parsing)
{
	u64 v = 7;

	CHECK(parse_size("4096", &v));
	CHECK_EQ(v, 4096);
	CHECK(parse_size("4k", &v));
	CHECK_EQ(v, 4096);
	CHECK(parse_size("256M", &v));
	CHECK_EQ(v, 256ull << 20);
	CHECK(parse_size("2g", &v));
	CHECK_EQ(v, 2ull << 30);
	CHECK(parse_size("3T", &v));
	CHECK_EQ(v, 3ull << 40);
	CHECK(parse_size("0x10M", &v));
	CHECK_EQ(v, 16ull << 20);
	CHECK(parse_size("16777215T", &v));	/* (2^24 - 1) << 40 fits */
	CHECK_EQ(v, 16777215ull << 40);

	v = 7;
	CHECK(!parse_size("16777216T", &v));	/* 2^64: overflow */
	CHECK(!parse_size("17179869184G", &v));
	CHECK(!parse_size("18446744073709551616", &v));
	CHECK(!parse_size("", &v));
	CHECK(!parse_size("M", &v));
	CHECK(!parse_size("1MB", &v));
	CHECK(!parse_size("1X", &v));
	CHECK(!parse_size("1 M", &v));
	CHECK(!parse_size("-1M", &v));
	CHECK_EQ(v, 7);
}

TEST(console_valid)
{
	struct console_cfg c;

	CHECK(parse_console("com1", &c));
	CHECK_EQ(c.port, 0x3f8);
	CHECK_EQ(c.baud, 115200);
	CHECK(parse_console("com2,57600", &c));
	CHECK_EQ(c.port, 0x2f8);
	CHECK_EQ(c.baud, 57600);
	CHECK(parse_console("COM3", &c));
	CHECK_EQ(c.port, 0x3e8);
	CHECK(parse_console("com4,9600", &c));
	CHECK_EQ(c.port, 0x2e8);
	CHECK_EQ(c.baud, 9600);
	CHECK(parse_console("ttyS0,115200n8", &c));
	CHECK_EQ(c.port, 0x3f8);
	CHECK_EQ(c.baud, 115200);
	CHECK(parse_console("ttyS3", &c));
	CHECK_EQ(c.port, 0x2e8);
	CHECK(parse_console("0x3f8", &c));
	CHECK_EQ(c.port, 0x3f8);
	CHECK(parse_console("io,0x2f8,38400", &c));
	CHECK_EQ(c.port, 0x2f8);
	CHECK_EQ(c.baud, 38400);
	CHECK(parse_console("io,0xe000", &c));
	CHECK_EQ(c.port, 0xe000);
	CHECK_EQ(c.baud, 115200);
	/* The slowest rate whose divisor fits 16 bits: 115200 / 2 = 57600. */
	CHECK(parse_console("com1,2", &c));
	CHECK_EQ(c.baud, 2);
}

TEST(console_invalid)
{
	struct console_cfg c = { .port = 0x1234, .baud = 42 };
	static const char *const bad[] = {
		"com5", "com0", "com", "com11", "ttyS4", "ttyS", "ttyS0x",
		"com1,0",		/* baud 0 */
		"com1,7",		/* 115200 / 7 is not integral */
		"com1,1",		/* divisor 115200 does not fit 16 bits */
		"com1,230400",		/* faster than the UART clock allows */
		"com1,",		/* empty baud */
		"com1,abc", "com1,115200,8", "com1,115200n7", "com1,n8",
		"io", "io,", "io,0x3f8,", "io,com1x", "0x0", "0x10000", "0xfffa",
		"", ",115200", "garbage", "com1 ", "0x3f8x",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (parse_console(bad[i], &c)) {
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
			CHECK(!"invalid console spec accepted");
		}
	}
	CHECK(!parse_console(NULL, &c));
	/* Rejected specs leave the caller's configuration alone. */
	CHECK_EQ(c.port, 0x1234);
	CHECK_EQ(c.baud, 42);
	/* The last port a whole 8-register UART fits at is accepted. */
	CHECK(parse_console("0xfff8", &c));
	CHECK_EQ(c.port, 0xfff8);
}

TEST(loglevels)
{
	int l = -1;

	CHECK(parse_loglevel("err", &l));
	CHECK_EQ(l, LOG_ERR);
	CHECK(parse_loglevel("warn", &l));
	CHECK_EQ(l, LOG_WARN);
	CHECK(parse_loglevel("INFO", &l));
	CHECK_EQ(l, LOG_INFO);
	CHECK(parse_loglevel("debug", &l));
	CHECK_EQ(l, LOG_DEBUG);
	CHECK(parse_loglevel("warning", &l));
	CHECK_EQ(l, LOG_WARN);
	CHECK(parse_loglevel("0", &l));
	CHECK_EQ(l, 0);
	CHECK(parse_loglevel("3", &l));
	CHECK_EQ(l, 3);

	l = 2;
	CHECK(!parse_loglevel("4", &l));
	CHECK(!parse_loglevel("-1", &l));
	CHECK(!parse_loglevel("01", &l));
	CHECK(!parse_loglevel("", &l));
	CHECK(!parse_loglevel("debugx", &l));
	CHECK(!parse_loglevel("de", &l));
	CHECK(!parse_loglevel(NULL, &l));
	CHECK_EQ(l, 2);
}

int main(void)
{
	RUN(get_key_values);
	RUN(get_last_wins);
	RUN(get_quotes);
	RUN(get_truncates);
	RUN(has_flags);
	RUN(dashdash);
	RUN(word_iterator);
	RUN(u64_parsing);
	RUN(size_parsing);
	RUN(console_valid);
	RUN(console_invalid);
	RUN(loglevels);
	return unit_report("cmdline");
}

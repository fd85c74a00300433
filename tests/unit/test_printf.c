/* vsnprintf: formats, widths, truncation. */
#include "tests/unit/unit.h"
#include "lib/printf.h"
#include "lib/string.h"

static char buf[128];
#define FMT(...) (umbra_snprintf(buf, sizeof(buf), __VA_ARGS__), buf)

TEST(integers)
{
	CHECK_STR(FMT("%d", 0), "0");
	CHECK_STR(FMT("%d", -42), "-42");
	CHECK_STR(FMT("%u", 4000000000u), "4000000000");
	CHECK_STR(FMT("%lld", (long long)-9223372036854775807LL - 1), "-9223372036854775808");
	CHECK_STR(FMT("%llu", 18446744073709551615ull), "18446744073709551615");
	CHECK_STR(FMT("%x", 0xdeadbeef), "deadbeef");
	CHECK_STR(FMT("%X", 0xabc), "ABC");
	CHECK_STR(FMT("%lx", 0xffffffff80000000ul), "ffffffff80000000");
	CHECK_STR(FMT("%zu", (size_t)12345), "12345");
	CHECK_STR(FMT("%hhx", 0x1ff), "ff");
	CHECK_STR(FMT("%hd", 70000), "4464");
	CHECK_STR(FMT("%#x", 0x1f), "0x1f");
	CHECK_STR(FMT("%#06x", 0x1f), "0x001f");
}

TEST(width_and_padding)
{
	CHECK_STR(FMT("%5d|", 42), "   42|");
	CHECK_STR(FMT("%-5d|", 42), "42   |");
	CHECK_STR(FMT("%05d", -42), "-0042");
	CHECK_STR(FMT("%016llx", 0x1234ull), "0000000000001234");
	CHECK_STR(FMT("%*d", 4, 7), "   7");
	CHECK_STR(FMT("%-6s|", "ab"), "ab    |");
	CHECK_STR(FMT("%.3s", "abcdef"), "abc");
	CHECK_STR(FMT("%c%c", 'o', 'k'), "ok");
	CHECK_STR(FMT("100%%"), "100%");
	const char *volatile nullstr = NULL;
	CHECK_STR(FMT("%s", nullstr), "(null)");
	CHECK_STR(FMT("%p", (void *)0x1000), "0x0000000000001000");
}

TEST(truncation)
{
	char small[6];
	int n = umbra_snprintf(small, sizeof(small), "%s", "hello world");
	CHECK_EQ(n, 11);
	CHECK_STR(small, "hello");
	n = umbra_snprintf(small, sizeof(small), "%d", 1234567);
	CHECK_EQ(n, 7);
	CHECK_STR(small, "12345");
	/* size 0 writes nothing but still counts. */
	small[0] = 'x';
	CHECK_EQ(umbra_snprintf(small, 0, "abc"), 3);
	CHECK_EQ(small[0], 'x');
}

TEST(strlcpy_truncates)
{
	char d[4];
	CHECK_EQ(strlcpy(d, "abcdef", sizeof(d)), 6);
	CHECK_STR(d, "abc");
	CHECK_EQ(strlcpy(d, "ab", sizeof(d)), 2);
	CHECK_STR(d, "ab");
}

int main(void)
{
	RUN(integers);
	RUN(width_and_padding);
	RUN(truncation);
	RUN(strlcpy_truncates);
	return unit_report("printf");
}

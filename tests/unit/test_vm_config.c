/*
 * VM module command lines: keys, defaults, the optional image word, the
 * `--` split and argv[0], and every way to get it wrong.
 */
#include "tests/unit/unit.h"
#include "virt/vm_config.h"

static struct vm_config cfg;
static char err[128];

static bool parse(const char *line, u32 index)
{
	memset(&cfg, 0x5a, sizeof(cfg));
	memset(err, 0x5a, sizeof(err));
	return vm_config_parse(line, index, &cfg, err, sizeof(err));
}

/* Refused, with a message that contains `needle`. */
static bool refused(const char *line, const char *needle)
{
	if (parse(line, 0)) {
		fprintf(stderr, "  accepted: \"%s\"\n", line);
		return false;
	}
	if (!memchr(err, '\0', sizeof(err)) || !strstr(err, needle)) {
		fprintf(stderr, "  \"%s\": message \"%.127s\" lacks \"%s\"\n", line,
			err, needle);
		return false;
	}
	return true;
}

TEST(defaults)
{
	CHECK(parse("", 3));
	CHECK_STR(cfg.name, "vm3");
	CHECK_STR(cfg.image, "");
	CHECK_EQ(cfg.mem_bytes, 64ull << 20);
	CHECK_EQ(cfg.vcpus, 1);
	CHECK_STR(cfg.guest_cmdline, "vm3");
	CHECK(parse(NULL, 12));
	CHECK_STR(cfg.name, "vm12");
	CHECK(parse("   \t ", 0));
	CHECK_STR(cfg.guest_cmdline, "vm0");
}

TEST(all_keys)
{
	CHECK(parse("name=web mem=256M vcpus=4", 0));
	CHECK_STR(cfg.name, "web");
	CHECK_EQ(cfg.mem_bytes, 256ull << 20);
	CHECK_EQ(cfg.vcpus, 4);
	CHECK_STR(cfg.guest_cmdline, "web");
	CHECK(parse("vcpus=64 mem=2G name=A-b_c.9", 0));
	CHECK_EQ(cfg.vcpus, 64);
	CHECK_EQ(cfg.mem_bytes, 2ull << 30);
	CHECK_STR(cfg.name, "A-b_c.9");
	CHECK(parse("mem=2m", 0)); /* the minimum, lower-case suffix */
	CHECK_EQ(cfg.mem_bytes, 2ull << 20);
	CHECK(parse("mem=64G", 0)); /* the maximum */
	CHECK_EQ(cfg.mem_bytes, 64ull << 30);
	CHECK(parse("mem=4096K", 0));
	CHECK_EQ(cfg.mem_bytes, 4ull << 20);
	CHECK(parse("mem=0x400000", 0));
	CHECK_EQ(cfg.mem_bytes, 4ull << 20);
	CHECK(parse("vcpus=0x10", 0));
	CHECK_EQ(cfg.vcpus, 16);
	CHECK(parse("\"name=quoted\"", 0));
	CHECK_STR(cfg.name, "quoted");
	/* A 31-character name is the longest. */
	CHECK(parse("name=abcdefghijklmnopqrstuvwxyz01234", 0));
	CHECK_EQ(strlen(cfg.name), 31);
	CHECK(!parse("name=abcdefghijklmnopqrstuvwxyz012345", 0));
}

TEST(image_word)
{
	CHECK(parse("guest.elf name=web mem=32M", 7));
	CHECK_STR(cfg.image, "guest.elf");
	CHECK_STR(cfg.name, "web");
	CHECK_STR(cfg.guest_cmdline, "guest.elf");
	/* Default name from the image: base name without ".elf". */
	CHECK(parse("guest.elf", 7));
	CHECK_STR(cfg.name, "guest");
	CHECK(parse("/boot/guests/db-1.elf vcpus=2", 7));
	CHECK_STR(cfg.name, "db-1");
	CHECK_STR(cfg.image, "/boot/guests/db-1.elf");
	CHECK_STR(cfg.guest_cmdline, "/boot/guests/db-1.elf");
	CHECK(parse("kernel.bin", 7));
	CHECK_STR(cfg.name, "kernel.bin");
	CHECK(parse(".elf", 7)); /* nothing left without the suffix */
	CHECK_STR(cfg.name, ".elf");
	/* A base name that is no valid VM name falls back to vm<N>. */
	CHECK(parse("my+guest.elf", 7));
	CHECK_STR(cfg.name, "vm7");
	CHECK_STR(cfg.guest_cmdline, "my+guest.elf");
	CHECK(parse("/boot/", 2));
	CHECK_STR(cfg.name, "vm2");
	CHECK(parse("a-very-long-image-name-beyond-31-chars.elf", 1));
	CHECK_STR(cfg.name, "vm1");
	/* Only the first word may be the image. */
	CHECK(refused("name=web guest.elf", "unexpected word 'guest.elf'"));
	CHECK(refused("guest.elf other.elf", "unexpected word 'other.elf'"));
	/* Image names longer than 63 characters are refused. */
	CHECK(refused("/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.elf",
		      "too long"));
}

TEST(dashdash_and_argv0)
{
	CHECK(parse("guest.elf name=web -- console=ttyS0 quiet", 0));
	CHECK_STR(cfg.guest_cmdline, "guest.elf console=ttyS0 quiet");
	CHECK(parse("name=web -- a  b\t\"c d\"  ", 0));
	CHECK_STR(cfg.guest_cmdline, "web a  b\t\"c d\""); /* verbatim, trailing blanks cut */
	CHECK(parse("guest.elf --", 0));
	CHECK_STR(cfg.guest_cmdline, "guest.elf");
	CHECK(parse("-- x=1", 4));
	CHECK_STR(cfg.name, "vm4");
	CHECK_STR(cfg.guest_cmdline, "vm4 x=1");
	/* After --, key=value words belong to the guest, not to us. */
	CHECK(parse("mem=8M -- mem=1G name=x bogus=1 --", 0));
	CHECK_EQ(cfg.mem_bytes, 8ull << 20);
	CHECK_STR(cfg.name, "vm0");
	CHECK_STR(cfg.guest_cmdline, "vm0 mem=1G name=x bogus=1 --");
	/* A quoted "--" is a plain word, here the image. */
	CHECK(parse("\"--\" -- x", 0));
	CHECK_STR(cfg.image, "--");
	CHECK_STR(cfg.guest_cmdline, "-- x");
	/* "--x" is not the separator. */
	CHECK(refused("name=a --x", "unexpected word '--x'"));
}

TEST(bad_names)
{
	CHECK(refused("name=", "bad name ''"));
	CHECK(refused("name=a/b", "bad name"));
	CHECK(refused("name=a+b", "bad name"));
	CHECK(refused("name=\"a b\"", "bad name 'a b'"));
	CHECK(refused("name=0123456789012345678901234567890x", "bad name"));
	CHECK(refused("name=caf\xc3\xa9", "bad name"));
}

TEST(bad_mem)
{
	CHECK(refused("mem=1M", "too small"));
	CHECK(refused("mem=2097148", "too small"));
	CHECK(refused("mem=0", "too small"));
	CHECK(refused("mem=65G", "too large"));
	CHECK(refused("mem=1T", "too large"));
	CHECK(refused("mem=0x1000000001", "too large")); /* 64G + 1: size first */
	CHECK(refused("mem=0x200001", "not a multiple of 4K"));
	CHECK(refused("mem=4194305", "not a multiple of 4K"));
	CHECK(refused("mem=3001K", "not a multiple of 4K"));
	CHECK(refused("mem=", "bad mem= value ''"));
	CHECK(refused("mem=lots", "bad mem= value 'lots'"));
	CHECK(refused("mem=64MB", "bad mem="));
	CHECK(refused("mem=-64M", "bad mem="));
	CHECK(refused("mem=99999999999999999999M", "bad mem="));
}

TEST(bad_vcpus)
{
	CHECK(refused("vcpus=0", "bad vcpus= value '0'"));
	CHECK(refused("vcpus=65", "bad vcpus= value '65'"));
	CHECK(refused("vcpus=x", "bad vcpus="));
	CHECK(refused("vcpus=", "bad vcpus="));
	CHECK(refused("vcpus=1.5", "bad vcpus="));
	CHECK(refused("vcpus=4294967297", "bad vcpus=")); /* 2^32 + 1 */
}

TEST(bad_keys)
{
	CHECK(refused("colour=blue", "unknown option 'colour='"));
	CHECK(refused("Name=web", "unknown option 'Name='"));
	CHECK(refused("name=a name=b", "'name=' given twice"));
	CHECK(refused("guest.elf mem=8M vcpus=2 mem=8M", "'mem=' given twice"));
	CHECK(refused("vcpus=1 vcpus=1", "'vcpus=' given twice"));
	CHECK(refused("=5", "has no key"));
	CHECK(refused("guest.elf =", "has no key"));
	CHECK(refused("guest.elf \"\"", "empty word"));
	/* A value may contain '=': only the first one splits. */
	CHECK(refused("name=a=b", "bad name 'a=b'"));
}

TEST(long_lines)
{
	char line[1200], word[300];
	size_t n;

	/* An overlong option word is refused, not truncated into a valid one. */
	memset(word, 'x', sizeof(word));
	memcpy(word, "name=", 5);
	word[sizeof(word) - 1] = '\0';
	CHECK(refused(word, "too long"));
	/* The guest command line: argv[0] + ' ' + args must fit in 511. */
	n = (size_t)snprintf(line, sizeof(line), "g.elf -- ");
	memset(line + n, 'a', 511 - 6);
	line[n + 511 - 6] = '\0';
	CHECK(parse(line, 0));
	CHECK_EQ(strlen(cfg.guest_cmdline), 511);
	CHECK_EQ(cfg.guest_cmdline[6], 'a');
	line[n + 511 - 6] = 'a';
	line[n + 511 - 5] = '\0';
	CHECK(refused(line, "guest command line too long (512 bytes"));
	/* Trailing blanks do not count. */
	line[n + 511 - 6] = ' ';
	CHECK(parse(line, 0));
}

TEST(error_buffer_handling)
{
	char small[8];

	/* A short err buffer is still terminated; errlen 0 is allowed. */
	memset(small, 0x5a, sizeof(small));
	CHECK(!vm_config_parse("colour=blue", 0, &cfg, small, sizeof(small)));
	CHECK(memchr(small, '\0', sizeof(small)) != NULL);
	CHECK(!vm_config_parse("colour=blue", 0, &cfg, NULL, 0));
	/* On success err is emptied. */
	CHECK(parse("name=ok", 0));
	CHECK_STR(err, "");
}

int main(void)
{
	RUN(defaults);
	RUN(all_keys);
	RUN(image_word);
	RUN(dashdash_and_argv0);
	RUN(bad_names);
	RUN(bad_mem);
	RUN(bad_vcpus);
	RUN(bad_keys);
	RUN(long_lines);
	RUN(error_buffer_handling);
	return unit_report("vm_config");
}

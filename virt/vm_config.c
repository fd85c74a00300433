/*
 * VM module command-line parsing. See virt/vm_config.h for the syntax. Words
 * come from lib/cmdline.h's iterator (quotes removed); the guest's part after
 * `--` is passed on verbatim.
 */
#include <stdarg.h>

#include "virt/vm_config.h"
#include "lib/cmdline.h"
#include "lib/printf.h"
#include "lib/string.h"

/* Longer option words are refused rather than silently truncated. */
#define WORD_BUF 256

#define IMAGE_SUFFIX ".elf"

struct seen {
	bool name, mem, vcpus, mmu, shadow_pages;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* Names appear in logs and on the console: keep them short and plain. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VM_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_name_char(s[i]))
			return false;
	return true;
}

/* Where the standalone `--` word ends, or NULL when there is none. */
static const char *dashdash_end(const char *line)
{
	const char *rest = cmdline_after_dashdash(line);

	if (!rest)
		return NULL;
	while (rest > line && is_blank(rest[-1]))
		rest--;
	return rest;
}

static bool set_name(const char *val, struct vm_config *out, char *err,
		     size_t errlen)
{
	if (!valid_name(val))
		return fail_msg(err, errlen,
			    "bad name '%s': 1-%d characters from A-Z a-z 0-9 _ . -",
			    val, VM_NAME_MAX);
	strlcpy(out->name, val, sizeof(out->name));
	return true;
}

static bool set_mem(const char *val, struct vm_config *out, char *err,
		    size_t errlen)
{
	u64 v;

	if (!parse_size(val, &v))
		return fail_msg(err, errlen,
			    "bad mem= value '%s' (a size such as 64M or 2G)", val);
	if (v < VM_MEM_MIN)
		return fail_msg(err, errlen, "mem=%s is too small (minimum 2M)", val);
	if (v > VM_MEM_MAX)
		return fail_msg(err, errlen, "mem=%s is too large (maximum 64G)", val);
	if (!IS_ALIGNED(v, PAGE_SIZE))
		return fail_msg(err, errlen, "mem=%s is not a multiple of 4K", val);
	out->mem_bytes = v;
	return true;
}

static bool set_vcpus(const char *val, struct vm_config *out, char *err,
		      size_t errlen)
{
	u64 v;

	if (!parse_u64(val, &v) || v < 1 || v > VM_VCPUS_MAX)
		return fail_msg(err, errlen, "bad vcpus= value '%s' (1-%u)", val,
			    VM_VCPUS_MAX);
	out->vcpus = (u32)v;
	return true;
}

static bool set_mmu(const char *val, struct vm_config *out, char *err, size_t errlen)
{
	if (!strcmp(val, "shadow"))
		out->mmu = VM_MMU_SHADOW;
	else if (!strcmp(val, "tdp"))
		out->mmu = VM_MMU_TDP;
	else if (!strcmp(val, "auto"))
		out->mmu = VM_MMU_AUTO;
	else
		return fail_msg(err, errlen, "bad mmu= value '%s' (auto, tdp or shadow)", val);
	return true;
}

static bool set_shadow_pages(const char *val, struct vm_config *out, char *err, size_t errlen)
{
	u64 v;
	if (!parse_u64(val, &v) || v < VM_SHADOW_PAGES_MIN || v > VM_SHADOW_PAGES_MAX)
		return fail_msg(err, errlen, "bad shadow_pages= value '%s' (%u-%u)", val,
				VM_SHADOW_PAGES_MIN, VM_SHADOW_PAGES_MAX);
	out->shadow_pages = (u32)v;
	return true;
}

/* Applies one key=value word (split at the first '=' by the caller). */
static bool apply_option(const char *key, const char *val, struct seen *seen,
			 struct vm_config *out, char *err, size_t errlen)
{
	bool *flag;
	bool (*set)(const char *, struct vm_config *, char *, size_t);

	if (!strcmp(key, "name")) {
		flag = &seen->name;
		set = set_name;
	} else if (!strcmp(key, "mem")) {
		flag = &seen->mem;
		set = set_mem;
	} else if (!strcmp(key, "vcpus")) {
		flag = &seen->vcpus;
		set = set_vcpus;
	} else if (!strcmp(key, "mmu")) {
		flag = &seen->mmu;
		set = set_mmu;
	} else if (!strcmp(key, "shadow_pages")) {
		flag = &seen->shadow_pages;
		set = set_shadow_pages;
	} else {
		return fail_msg(err, errlen,
			    "unknown option '%s=' (known: name=, mem=, vcpus=, mmu=, shadow_pages=)",
			    key);
	}
	if (*flag)
		return fail_msg(err, errlen, "option '%s=' given twice", key);
	*flag = true;
	return set(val, out, err, errlen);
}

static bool set_image(const char *word, struct vm_config *out, char *err,
		      size_t errlen)
{
	if (strlen(word) > VM_IMAGE_MAX)
		return fail_msg(err, errlen, "image name '%s' is too long (max %d)",
			    word, VM_IMAGE_MAX);
	strlcpy(out->image, word, sizeof(out->image));
	return true;
}

/* Handles one option word; first says whether it is the line's first. */
static bool parse_word(char *word, bool first, struct seen *seen,
		       struct vm_config *out, char *err, size_t errlen)
{
	char *eq = strchr(word, '=');

	if (strlen(word) >= WORD_BUF - 1)
		return fail_msg(err, errlen, "option '%.40s...' is too long", word);
	if (!word[0])
		return fail_msg(err, errlen, "empty word (\"\") in the VM options");
	if (!eq) {
		if (first)
			return set_image(word, out, err, errlen);
		return fail_msg(err, errlen,
			    "unexpected word '%s': VM options are key=value, "
			    "guest arguments go after --", word);
	}
	if (eq == word)
		return fail_msg(err, errlen, "option '%s' has no key", word);
	*eq = '\0';
	return apply_option(word, eq + 1, seen, out, err, errlen);
}

/* The default name: the image's base name without ".elf" if that is a valid
 * name, else vm<index>. */
static void default_name(u32 index, struct vm_config *out)
{
	const char *base = out->image;
	char buf[VM_IMAGE_MAX + 1];
	size_t n, sfx = sizeof(IMAGE_SUFFIX) - 1;

	for (const char *p = out->image; *p; p++)
		if (*p == '/')
			base = p + 1;
	n = strlcpy(buf, base, sizeof(buf));
	if (n > sfx && !strcmp(buf + n - sfx, IMAGE_SUFFIX))
		buf[n - sfx] = '\0';
	if (valid_name(buf))
		strlcpy(out->name, buf, sizeof(out->name));
	else
		umbra_snprintf(out->name, sizeof(out->name), "vm%u", index);
}

/* "argv0 rest", rest with trailing blanks removed; refuses truncation. */
static bool build_guest_cmdline(const char *argv0, const char *rest,
				struct vm_config *out, char *err, size_t errlen)
{
	size_t n0 = strlen(argv0), nr = rest ? strlen(rest) : 0;
	size_t total;
	char *p = out->guest_cmdline;

	while (nr && is_blank(rest[nr - 1]))
		nr--;
	total = n0 + (nr ? 1 + nr : 0);
	if (total > VM_GUEST_CMDLINE_MAX)
		return fail_msg(err, errlen,
			    "guest command line too long (%zu bytes, max %d)",
			    total, VM_GUEST_CMDLINE_MAX);
	memcpy(p, argv0, n0);
	p += n0;
	if (nr) {
		*p++ = ' ';
		memcpy(p, rest, nr);
		p += nr;
	}
	*p = '\0';
	return true;
}

bool vm_config_parse(const char *module_cmdline, u32 index,
		     struct vm_config *out, char *err, size_t errlen)
{
	const char *line = module_cmdline ? module_cmdline : "";
	const char *cursor = line, *dd_end = dashdash_end(line);
	struct seen seen = { 0 };
	char word[WORD_BUF];
	bool first = true;

	memset(out, 0, sizeof(*out));
	out->mem_bytes = VM_MEM_DEFAULT;
	out->vcpus = VM_VCPUS_DEFAULT;
	out->mmu = VM_MMU_AUTO;
	out->shadow_pages = VM_SHADOW_PAGES_DEFAULT;
	if (errlen)
		err[0] = '\0';
	while (cmdline_next_word(&cursor, word, sizeof(word))) {
		if (dd_end && cursor == dd_end)
			break; /* the `--` itself */
		if (!parse_word(word, first, &seen, out, err, errlen))
			return false;
		first = false;
	}
	if (!seen.name)
		default_name(index, out);
	return build_guest_cmdline(out->image[0] ? out->image : out->name,
				   cmdline_after_dashdash(line), out, err,
				   errlen);
}

/* Guest-physical memory for host tests: gm[0, fake_mem_size) behind a
 * struct gpa_access (fm). Writes succeed only below write_limit (0 makes it
 * read-only); reads are counted in `reads`. Include in one test file each:
 * the state is that file's own. */
#ifndef UMBRA_TESTS_FAKE_MEM_H
#define UMBRA_TESTS_FAKE_MEM_H

#include <string.h>
#include "virt/guest_access.h"

static u8 *gm;
static u64 fake_mem_size;
static u64 write_limit;
static unsigned reads;

static bool fm_read(void *ctx, u64 gpa, void *dst, size_t len)
{
	(void)ctx;
	reads++;
	if (gpa > fake_mem_size || len > fake_mem_size - gpa)
		return false;
	memcpy(dst, gm + gpa, len);
	return true;
}

static bool fm_write(void *ctx, u64 gpa, const void *src, size_t len)
{
	(void)ctx;
	if (gpa > write_limit || len > write_limit - gpa)
		return false;
	memcpy(gm + gpa, src, len);
	return true;
}

static const struct gpa_access fm = { fm_read, fm_write, NULL };

#endif

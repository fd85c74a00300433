/*
 * Page tracking (seed 004: track_add/remove + write notifiers). A gfn can be
 * tracked for writes by several users at once (a count per gfn); while the
 * count is non-zero the MMU keeps the page write-protected for the guest
 * (the `protect` hook), emulates the guest's writes to it and reports each
 * one to the registered notifiers with the old and new bytes. The shadow
 * MMU is the first user: gfns holding guest page tables are tracked.
 *
 * Locking: counts are changed under t->lock (a protect-hook call happens
 * with it held, so the hook must not sleep); notifiers are added/removed
 * under t->lock too, and called without it from the vCPU that wrote.
 * Notifier registration is expected to happen before vCPUs run.
 */
#ifndef UMBRA_SHADOW_PAGE_TRACK_H
#define UMBRA_SHADOW_PAGE_TRACK_H

#include "kernel/list.h"
#include "kernel/spinlock.h"
#include "lib/types.h"

enum track_mode {
	TRACK_WRITE,
	TRACK_MODE_COUNT,
};

#define TRACK_COUNT_MAX 0xffffu

struct page_track_notifier {
	struct list_head link;
	/* A guest write of len bytes at gpa to a write-tracked page, already
	 * applied: old holds what was there, new_ what is there now. */
	void (*track_write)(struct page_track_notifier *n, u64 gpa, const void *old,
			    const void *new_, unsigned len);
	void *ctx;
};

struct page_track {
	u64 nr_gfns;
	u16 *count[TRACK_MODE_COUNT]; /* per gfn; allocated by the first track_add */
	spinlock_t lock;
	struct list_head notifiers;
	/* Called when a gfn starts (protect=true) or stops being tracked for
	 * mode: the MMU removes or restores write access. May be NULL. */
	void (*protect)(void *ctx, u64 gfn, enum track_mode mode, bool protect);
	void *protect_ctx;
};

void page_track_init(struct page_track *t, u64 nr_gfns);
void page_track_destroy(struct page_track *t);
/* False: gfn outside the VM, out of memory, or the count would overflow. */
bool track_add(struct page_track *t, u64 gfn, enum track_mode mode);
/* False (and nothing changes) when gfn was not tracked for mode. */
bool track_remove(struct page_track *t, u64 gfn, enum track_mode mode);
bool page_tracked(const struct page_track *t, u64 gfn, enum track_mode mode);
void page_track_register(struct page_track *t, struct page_track_notifier *n);
void page_track_unregister(struct page_track *t, struct page_track_notifier *n);
/* Reports an emulated guest write (len <= 16, within one page) to the
 * notifiers if its page is write-tracked. Returns whether it was. */
bool page_track_write(struct page_track *t, u64 gpa, const void *old, const void *new_,
		      unsigned len);

#endif

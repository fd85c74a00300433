#include "kernel/log.h"
#include "lib/string.h"
#include "mm/kmalloc.h"
#include "shadow/page_track.h"

void page_track_init(struct page_track *t, u64 nr_gfns)
{
	memset(t, 0, sizeof(*t));
	t->nr_gfns = nr_gfns;
	spin_init(&t->lock);
	list_init(&t->notifiers);
}

void page_track_destroy(struct page_track *t)
{
	for (int m = 0; m < TRACK_MODE_COUNT; m++) {
		kfree(t->count[m]);
		t->count[m] = NULL;
	}
}

/* The count array of a mode, allocated on first use (2 bytes per gfn). */
static u16 *counts(struct page_track *t, enum track_mode mode)
{
	if (!t->count[mode] && t->nr_gfns && t->nr_gfns <= KMALLOC_MAX_SIZE / sizeof(u16))
		t->count[mode] = kzalloc(t->nr_gfns * sizeof(u16));
	return t->count[mode];
}

bool track_add(struct page_track *t, u64 gfn, enum track_mode mode)
{
	if (gfn >= t->nr_gfns || mode >= TRACK_MODE_COUNT)
		return false;
	unsigned long f = spin_lock(&t->lock);
	u16 *c = counts(t, mode);
	bool ok = c && c[gfn] < TRACK_COUNT_MAX;
	if (ok && c[gfn]++ == 0 && t->protect)
		t->protect(t->protect_ctx, gfn, mode, true);
	spin_unlock(&t->lock, f);
	return ok;
}

bool track_remove(struct page_track *t, u64 gfn, enum track_mode mode)
{
	if (gfn >= t->nr_gfns || mode >= TRACK_MODE_COUNT)
		return false;
	unsigned long f = spin_lock(&t->lock);
	u16 *c = t->count[mode];
	bool ok = c && c[gfn] > 0;
	if (ok && --c[gfn] == 0 && t->protect)
		t->protect(t->protect_ctx, gfn, mode, false);
	spin_unlock(&t->lock, f);
	if (!ok)
		log_warn("page_track: gfn %#llx was not tracked (mode %d)", (unsigned long long)gfn,
			 mode);
	return ok;
}

bool page_tracked(const struct page_track *t, u64 gfn, enum track_mode mode)
{
	const u16 *c = mode < TRACK_MODE_COUNT ? READ_ONCE(t->count[mode]) : NULL;
	return c && gfn < t->nr_gfns && READ_ONCE(c[gfn]) != 0;
}

void page_track_register(struct page_track *t, struct page_track_notifier *n)
{
	unsigned long f = spin_lock(&t->lock);
	list_add_tail(&n->link, &t->notifiers);
	spin_unlock(&t->lock, f);
}

void page_track_unregister(struct page_track *t, struct page_track_notifier *n)
{
	unsigned long f = spin_lock(&t->lock);
	list_del(&n->link);
	spin_unlock(&t->lock, f);
}

bool page_track_write(struct page_track *t, u64 gpa, const void *old, const void *new_,
		      unsigned len)
{
	if (!page_tracked(t, gpa >> PAGE_SHIFT, TRACK_WRITE))
		return false;
	ASSERT(len <= 16 && (gpa & (PAGE_SIZE - 1)) + len <= PAGE_SIZE);
	struct list_head *pos;
	list_for_each(pos, &t->notifiers) {
		struct page_track_notifier *n = list_entry(pos, struct page_track_notifier, link);
		n->track_write(n, gpa, old, new_, len);
	}
	return true;
}

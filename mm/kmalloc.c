/*
 * Kernel heap. Each size class keeps one doubly linked list of its free
 * objects across all its slab pages, with the links stored in the free
 * objects themselves (16 bytes: the smallest class). A slab page's frame
 * owner tag records its class and how many of its objects are live, which is
 * all kfree needs; no per-page header, so objects fill the page and are
 * aligned to their size. When a page's live count drops to zero its objects
 * are unlinked and the page goes back to the frame allocator, except that
 * one empty page per class is kept so alloc/free of one object does not
 * allocate and free a page each time.
 *
 * Lock order: a class lock, then frame_lock (inside frame_alloc/free).
 */
#include "mm/kmalloc.h"
#include "kernel/log.h"
#include "kernel/spinlock.h"
#include "lib/string.h"
#include "mm/frame.h"
#include "mm/phys.h"

/* prev is stored xor'ed with this so that a live object whose first words
 * hold ordinary pointers never looks linked to the double-free check. */
#define LINK_POISON 0x6b6b6b6b6b6b6b6bull

struct free_obj {
	struct free_obj *next;
	uintptr_t prev_x;	/* (uintptr_t)prev ^ LINK_POISON */
};

struct size_class {
	spinlock_t lock;	/* guards the fields below, the free objects, and
				 * the tags of this class's slab pages */
	struct free_obj *free;
	u64 empty_pages;	/* slab pages with no live object: 0 or 1 */
	u64 pages;
	u64 in_use;
};

_Static_assert(sizeof(struct free_obj) <= KMALLOC_MIN_SIZE, "links fit a free object");
_Static_assert(KMALLOC_MAX_SLAB <= PAGE_SIZE, "slab objects fit a page");
_Static_assert(PAGE_SIZE / KMALLOC_MIN_SIZE < (1u << 20), "live count fits the tag");
_Static_assert(KMALLOC_MAX_SIZE == PAGE_SIZE << FRAME_MAX_ORDER, "one buddy block");

/* Zero-initialised: unlocked, empty. No init call needed. */
static struct size_class classes[KMALLOC_NR_CLASSES];
static u64 large_pages;	/* atomic */

static size_t class_size(unsigned c)
{
	return (size_t)KMALLOC_MIN_SIZE << c;
}

static unsigned class_of(size_t size)
{
	unsigned c = 0;

	while (class_size(c) < size)
		c++;
	return c;
}

/* Slab page tag data: bits 0-3 class, bits 4+ live objects (at most 256). */
static u32 slab_tag(unsigned c, u32 live)
{
	return FRAME_TAG(FRAME_OWNER_KMALLOC_SLAB, c | live << 4);
}

static unsigned tag_class(u32 tag)
{
	return FRAME_TAG_DATA(tag) & 0xf;
}

static u32 tag_live(u32 tag)
{
	return FRAME_TAG_DATA(tag) >> 4;
}

static paddr_t page_of(const void *p)
{
	return ALIGN_DOWN(virt_to_phys(p), PAGE_SIZE);
}

static struct free_obj *obj_prev(const struct free_obj *o)
{
	return (struct free_obj *)(o->prev_x ^ LINK_POISON);
}

static void set_prev(struct free_obj *o, struct free_obj *prev)
{
	o->prev_x = (uintptr_t)prev ^ LINK_POISON;
}

/* Is p the start of an object in a slab page of class c? Does not read *p,
 * so it is safe on any pointer value. */
static bool is_class_obj(unsigned c, const void *p)
{
	u32 tag = frame_get_owner(page_of(p));

	return FRAME_TAG_KIND(tag) == FRAME_OWNER_KMALLOC_SLAB &&
	       tag_class(tag) == c && IS_ALIGNED(virt_to_phys(p), class_size(c));
}

/* Exact while the list is intact: o is free iff its predecessor (or the list
 * head) points at it. Caller holds the class lock. */
static bool is_free(const struct size_class *sc, unsigned c,
		    const struct free_obj *o)
{
	struct free_obj *prev = obj_prev(o);

	if (!prev)
		return sc->free == o;
	return is_class_obj(c, prev) && prev->next == o;
}

static void push_free(struct size_class *sc, struct free_obj *o)
{
	o->next = sc->free;
	set_prev(o, NULL);
	if (o->next)
		set_prev(o->next, o);
	sc->free = o;
}

static void unlink_free(struct size_class *sc, struct free_obj *o)
{
	struct free_obj *prev = obj_prev(o);

	if (prev)
		prev->next = o->next;
	else
		sc->free = o->next;
	if (o->next)
		set_prev(o->next, prev);
}

static bool add_slab_page(struct size_class *sc, unsigned c)
{
	size_t size = class_size(c);
	paddr_t pa = frame_alloc(0);
	char *page;

	if (pa == FRAME_NONE)
		return false;
	frame_set_owner(pa, slab_tag(c, 0));
	page = phys_to_virt(pa);
	/* Pushed in reverse so objects are handed out in address order. */
	for (size_t off = PAGE_SIZE; off > 0; off -= size)
		push_free(sc, (struct free_obj *)(page + off - size));
	sc->pages++;
	sc->empty_pages++;
	return true;
}

static void release_slab_page(struct size_class *sc, unsigned c, paddr_t pa)
{
	char *page = phys_to_virt(pa);

	for (size_t off = 0; off < PAGE_SIZE; off += class_size(c)) {
		struct free_obj *o = (struct free_obj *)(page + off);

		ASSERT(is_free(sc, c, o));
		unlink_free(sc, o);
	}
	sc->pages--;
	sc->empty_pages--;
	frame_free(pa, 0);
}

static void *slab_alloc(unsigned c)
{
	struct size_class *sc = &classes[c];
	unsigned long flags = spin_lock(&sc->lock);
	struct free_obj *o;
	paddr_t page;
	u32 live;

	if (!sc->free && !add_slab_page(sc, c)) {
		spin_unlock(&sc->lock, flags);
		return NULL;
	}
	o = sc->free;
	unlink_free(sc, o);
	page = page_of(o);
	live = tag_live(frame_get_owner(page));
	ASSERT(live < PAGE_SIZE / class_size(c));
	if (live == 0)
		sc->empty_pages--;
	frame_set_owner(page, slab_tag(c, live + 1));
	sc->in_use++;
	spin_unlock(&sc->lock, flags);
	return o;
}

static void slab_free(void *p, u32 tag)
{
	unsigned c = tag_class(tag);
	struct free_obj *o = p;
	struct size_class *sc;
	unsigned long flags;
	paddr_t page = page_of(p);
	u32 live;

	if (c >= KMALLOC_NR_CLASSES || !IS_ALIGNED(virt_to_phys(p), class_size(c)))
		panic("kfree(%p): not the start of a %zu-byte object", p,
		      class_size(c));
	sc = &classes[c];
	flags = spin_lock(&sc->lock);
	if (is_free(sc, c, o)) {
		spin_unlock(&sc->lock, flags);
		panic("kfree(%p): double free of a %zu-byte object", p,
		      class_size(c));
	}
	live = tag_live(frame_get_owner(page));
	ASSERT(live > 0);
	push_free(sc, o);
	sc->in_use--;
	frame_set_owner(page, slab_tag(c, live - 1));
	if (live == 1 && ++sc->empty_pages > 1)
		release_slab_page(sc, c, page);
	spin_unlock(&sc->lock, flags);
}

static void *large_alloc(size_t size)
{
	unsigned order = 0;
	paddr_t pa;

	while ((PAGE_SIZE << order) < size)
		order++;
	pa = frame_alloc(order);
	if (pa == FRAME_NONE)
		return NULL;
	frame_set_owner(pa, FRAME_TAG(FRAME_OWNER_KMALLOC_LARGE, order));
	__atomic_fetch_add(&large_pages, 1ull << order, __ATOMIC_RELAXED);
	return phys_to_virt(pa);
}

void *kmalloc(size_t size)
{
	if (size <= KMALLOC_MAX_SLAB)
		return slab_alloc(class_of(size));
	if (size > KMALLOC_MAX_SIZE)
		return NULL;
	return large_alloc(size);
}

void *kzalloc(size_t size)
{
	void *p = kmalloc(size);

	if (p)
		memset(p, 0, size);
	return p;
}

void kfree(void *p)
{
	paddr_t pa;
	u32 tag, order;

	if (!p)
		return;
	pa = virt_to_phys(p);
	tag = frame_get_owner(ALIGN_DOWN(pa, PAGE_SIZE));
	switch (FRAME_TAG_KIND(tag)) {
	case FRAME_OWNER_KMALLOC_SLAB:
		slab_free(p, tag);
		return;
	case FRAME_OWNER_KMALLOC_LARGE:
		if (!IS_ALIGNED(pa, PAGE_SIZE))
			panic("kfree(%p): not the start of an allocation", p);
		order = FRAME_TAG_DATA(tag);
		__atomic_fetch_sub(&large_pages, 1ull << order, __ATOMIC_RELAXED);
		frame_free(pa, order);
		return;
	}
	panic("kfree(%p): not allocated by kmalloc (or already freed)", p);
}

void kmalloc_get_stats(struct kmalloc_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned c = 0; c < KMALLOC_NR_CLASSES; c++) {
		struct size_class *sc = &classes[c];
		struct kmalloc_class_stats *cs = &out->cls[c];
		unsigned long flags = spin_lock(&sc->lock);

		cs->obj_size = class_size(c);
		cs->objs_in_use = sc->in_use;
		cs->pages = sc->pages;
		spin_unlock(&sc->lock, flags);
		out->slab_pages += cs->pages;
		out->bytes_in_use += cs->objs_in_use * cs->obj_size;
	}
	out->large_pages = __atomic_load_n(&large_pages, __ATOMIC_RELAXED);
	out->bytes_in_use += out->large_pages * PAGE_SIZE;
}

#include "mm/memmap.h"

static void memmap_remove_at(struct memmap *m, size_t i)
{
	for (size_t j = i + 1; j < m->n; j++)
		m->r[j - 1] = m->r[j];
	m->n--;
}

void memmap_add(struct memmap *m, paddr_t start, paddr_t end)
{
	paddr_t aligned = ALIGN_UP(start, PAGE_SIZE);
	if (aligned < start)
		return; /* the last partial page of the address space */
	start = MAX(aligned, PAGE_SIZE); /* page 0 is never handed out */
	end = ALIGN_DOWN(end, PAGE_SIZE);
	if (end <= start)
		return;
	if (m->n == ARRAY_SIZE(m->r)) {
		m->dropped++;
		return;
	}
	m->r[m->n++] = (struct mem_range){ start, end };
}

void memmap_reserve(struct memmap *m, paddr_t start, paddr_t end)
{
	start = ALIGN_DOWN(start, PAGE_SIZE);
	end = end > ALIGN_DOWN(~0ull, PAGE_SIZE) ? ~0ull : ALIGN_UP(end, PAGE_SIZE);
	if (end <= start)
		return;
	for (size_t i = 0; i < m->n;) {
		struct mem_range cur = m->r[i];
		if (end <= cur.start || start >= cur.end) {
			i++;
			continue;
		}
		/* Re-add what is left on either side (at most two pieces) at the
		 * end, where the loop finds them again and skips them; keep i,
		 * since the next entry moved into slot i. */
		memmap_remove_at(m, i);
		if (cur.start < start)
			memmap_add(m, cur.start, start);
		if (end < cur.end)
			memmap_add(m, end, cur.end);
	}
}

u64 memmap_total(const struct memmap *m)
{
	u64 t = 0;
	for (size_t i = 0; i < m->n; i++)
		t += m->r[i].end - m->r[i].start;
	return t;
}

paddr_t memmap_top(const struct memmap *m)
{
	paddr_t top = 0;
	for (size_t i = 0; i < m->n; i++)
		top = MAX(top, m->r[i].end);
	return top;
}

struct mem_range memmap_take(struct memmap *m, u64 bytes, paddr_t limit)
{
	size_t best = m->n;
	for (size_t i = 0; i < m->n; i++) {
		if (m->r[i].end > limit || m->r[i].end - m->r[i].start < bytes)
			continue;
		if (best == m->n || m->r[i].start < m->r[best].start)
			best = i;
	}
	if (best == m->n)
		return (struct mem_range){ 0, 0 };
	struct mem_range got = { m->r[best].start, m->r[best].start + bytes };
	m->r[best].start += bytes;
	if (m->r[best].start == m->r[best].end)
		memmap_remove_at(m, best);
	return got;
}

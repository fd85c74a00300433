/*
 * Read-only guest-virtual to guest-physical translation through the guest's
 * own page tables, for fetching the bytes of an instruction that exited and
 * for reading guest data it points at.
 *
 * This is deliberately not an architectural walker: it checks present bits
 * and the page-size bits, masks addresses to the architectural width, and
 * does no permission checks and no accessed/dirty updates. Callers use it on
 * addresses the CPU has just used successfully (the instruction it executed),
 * so a stricter check could only refuse what the CPU accepted. The full
 * walker comes with shadow paging.
 *
 * The guest's tables are hostile input: every table read goes through
 * struct gpa_access (which fails outside guest RAM), the number of levels is
 * fixed by the paging mode, so a self-referencing table cannot make a walk
 * loop, and any failure is reported as "no translation".
 */
#ifndef UMBRA_VIRT_GVA_H
#define UMBRA_VIRT_GVA_H

#include "lib/types.h"
#include "virt/guest_access.h"

/*
 * Translates gva with the paging mode that p selects (Intel SDM Vol. 3A
 * §4.1.1, Table 4-1): paging off, 32-bit, PAE, 4-level or 5-level. Outside
 * IA-32e mode linear addresses are 32 bits, so the upper half of gva is
 * ignored there. Returns false when the address is not mapped (a not-present
 * entry, a non-canonical address, a table outside guest RAM).
 */
bool gva_translate(const struct gpa_access *m, const struct guest_paging *p,
		   u64 gva, u64 *gpa);

/*
 * Reads len bytes at gva, translating every page separately (consecutive
 * virtual pages need not be consecutive physically). All or nothing: false
 * when any byte is unmapped or not guest RAM; dst may then be partly written.
 */
bool guest_read_virt(const struct gpa_access *m, const struct guest_paging *p,
		     u64 gva, void *dst, size_t len);

#endif

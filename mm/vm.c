/*
 * mm/vm.c - reservation bookkeeping and argument checks for the primitives
 * of vm.h.  The machine-specific work is in the backend (vm_backend.h).
 *
 * State:
 *   slot_owner[s]  owner of page-directory slot s (VM_FREE if free);
 *   slot_first[s]  slot s begins a reservation (adjacent reservations of one
 *                  owner stay distinguishable in the printed map);
 *   mapped_bits    one bit per 4 KiB page of the 4 GiB space: set <=> mapped
 *                  by vm_map and not since released.  128 KiB, apart from
 *                  the rest (MM_SPARSE): a call touches its own pages' words;
 *   slot_mapped[s] how many of slot s's bits are set, so that a call over
 *                  whole slots checks them in O(1).
 */
#include "mm/vm.h"
#include "mm/bitops.h"
#include "mm/inject.h"
#include "mm/vm_backend.h"

#define PAGES ((uint32_t)(VM_SPACE_SIZE / PAGE_SIZE)) /* 2^20 */
/* The bitmap's word is the machine's (unsigned long: 32 bits on i386, 64
 * on x86_64), so that a scan takes as many pages a step as the CPU can. */
typedef unsigned long vm_word_t;
#define WORD_BITS ((uint32_t)(sizeof(vm_word_t) * 8))
#define WORD_ONES (~(vm_word_t)0)

static struct {
	uintptr_t base;
	uint8_t slot_owner[VM_SLOTS];
	bool slot_first[VM_SLOTS];
	uint16_t slot_mapped[VM_SLOTS]; /* set bits per slot, so whole slots are O(1) */
	/* For each slot, the first slot at or after it whose owner may not map
	 * (free or fixed): redone whenever an owner changes, so that every
	 * call's ownership check is one comparison. */
	uint16_t mappable_until[VM_SLOTS];
	struct vm_stats stats;
} vm;

static vm_word_t mapped_bits[PAGES / (sizeof(vm_word_t) * 8)] MM_SPARSE;
_Static_assert(PTE_COUNT % WORD_BITS == 0, "a bitmap word lies in one slot");

/* Guards vm, taken by every call that changes it; below the page heap's
 * lock and above the frame allocator's (the backend takes frames). */
static mm_lock_t vm_lock = MM_LOCK_INIT;

static const char *const owner_names[VM_OWNER_COUNT] = {
	[VM_FREE] = "free",
	[VM_KERNEL] = "kernel",
	[VM_PAGE_TABLES] = "page tables",
	[VM_MMIO] = "mmio",
	[VM_ARENA] = "arena",
	[VM_HEAP_META] = "heap metadata",
	[VM_TEST] = "test",
	[VM_FIRMWARE] = "firmware tables",
	[VM_CPU_STACKS] = "cpu stacks",
	[VM_OTHER] = "other",
};

const char *vm_owner_name(enum vm_owner owner)
{
	return (unsigned)owner < VM_OWNER_COUNT ? owner_names[owner] : "?";
}

static bool is_fixed(enum vm_owner owner)
{
	return owner == VM_KERNEL || owner == VM_PAGE_TABLES || owner == VM_MMIO;
}

/* Offsets within the space: all arithmetic is done on 64-bit offsets so
 * that "past 4 GiB" is representable on i386. */
static inline uint64_t offset_of(uintptr_t va)
{
	return (uint64_t)(va - vm.base);
}

static inline bool may_map(uint8_t owner)
{
	return owner != VM_FREE && !is_fixed(owner);
}

/* GCC 12 for x86_64 at -O1 and above deletes the calls to note_owners
 * (commit af9174f tells how it was found); noipa keeps them. */
#if defined(__GNUC__) && !defined(__clang__)
#define KEEP_CALLS __attribute__((noipa))
#else
#define KEEP_CALLS
#endif

/* Redoes mappable_until after the owners of slots [first, end) changed:
 * for those slots and the run of slots that may map just below them (no
 * other slot's answer can change).  O(that many slots), on reserve and
 * free only. */
static KEEP_CALLS void note_owners(uint32_t first, uint32_t end)
{
	uint32_t stop =
	        end < VM_SLOTS && may_map(vm.slot_owner[end]) ? vm.mappable_until[end] : end;
	for (uint32_t s = end; s-- > 0;) {
		if (!may_map(vm.slot_owner[s])) {
			if (s < first)
				break; /* already its own stop */
			stop = s;
		}
		vm.mappable_until[s] = (uint16_t)stop;
	}
}

static void claim(uint32_t first_slot, uint32_t slots, enum vm_owner owner)
{
	for (uint32_t s = first_slot; s < first_slot + slots; s++) {
		vm.slot_owner[s] = (uint8_t)owner;
		vm.slot_first[s] = s == first_slot;
	}
	note_owners(first_slot, first_slot + slots);
	vm.stats.reserved_bytes[owner] += (uint64_t)slots * SLOT_SIZE;
}

void vm_init(uintptr_t space_base)
{
	/* The map starts as static storage does, all zero: not cleared here,
	 * because its 140 KiB would all be written (on the host, 35 pages
	 * faulted in for every process the malloc shim is loaded in), where
	 * what is set below is a few pages of it. */
	static bool done;
	MM_ASSERT(!done, "vm_init: called twice");
	done = true;
	vm.base = space_base;
	for (uint32_t s = 0; s < VM_SLOTS; s++)
		vm.mappable_until[s] = (uint16_t)s; /* free: each its own stop */
	claim(0, KERNEL_SPACE_END / SLOT_SIZE, VM_KERNEL);
	claim(MMIO_WINDOW_BASE / SLOT_SIZE, (MMIO_WINDOW_END - MMIO_WINDOW_BASE) / SLOT_SIZE,
	      VM_MMIO);
	claim(PT_WINDOW_BASE / SLOT_SIZE, (VM_SPACE_SIZE - PT_WINDOW_BASE) / SLOT_SIZE,
	      VM_PAGE_TABLES);
}

uintptr_t vm_space_base(void)
{
	return vm.base;
}

static __attribute__((noinline, cold)) bool refuse(const char *call, uintptr_t v, size_t n,
                                                   const char *why)
{
	vm.stats.refused++;
	kprintf_ratelimited("vm: refusals", "vm: %s(%p, %#zx) refused: %s\n", call, (void *)v, n,
	                    why);
	return false;
}

/* ---- the mapped-page bitmap, a word at a time ----
 * Page numbers are 32-bit (2^20 pages), so that the loops stay cheap on
 * i386; a range [first, end) is walked word by word, the first and last
 * words masked. */

static inline vm_word_t first_word_mask(uint32_t first)
{
	return WORD_ONES << (first % WORD_BITS);
}

static inline vm_word_t last_word_mask(uint32_t end)
{
	return WORD_ONES >> (WORD_BITS - 1 - (end - 1) % WORD_BITS);
}

static inline vm_word_t word_mask(uint32_t p, uint32_t end, uint32_t *take)
{
	uint32_t bit = p % WORD_BITS;
	*take = WORD_BITS - bit < end - p ? WORD_BITS - bit : end - p;
	return *take == WORD_BITS ? WORD_ONES : (((vm_word_t)1 << *take) - 1) << bit;
}

/* Adds the pages [first, end) to their slots' counts (or takes them off). */
static void count_pages(uint32_t first, uint32_t end, bool value)
{
	for (uint32_t p = first; p < end;) {
		uint32_t slot = p / PTE_COUNT, slot_end = (slot + 1) * PTE_COUNT;
		uint32_t stop = end < slot_end ? end : slot_end;
		vm.slot_mapped[slot] = (uint16_t)(value ? vm.slot_mapped[slot] + (stop - p)
		                                        : vm.slot_mapped[slot] - (stop - p));
		p = stop;
	}
}

/* Flips the bits of pages [first, end) (first < end) to 'value', each
 * word checked and written in one step.  Stops at the first word holding
 * a bit of the range that is 'value' already and returns the first page of
 * that word's part (the bits before it flipped); returns end when all
 * were flipped.  Slot counts are the caller's. */
static uint32_t flip_until(uint32_t first, uint32_t end, bool value)
{
	vm_word_t before = value ? 0 : WORD_ONES;
	uint32_t w = first / WORD_BITS, last = (end - 1) / WORD_BITS;
	vm_word_t mask = first_word_mask(first);
	if (w < last) {
		if ((mapped_bits[w] ^ before) & mask)
			return first;
		mapped_bits[w] ^= mask;
		/* Whole words: each must read 'before' entirely. */
		while (++w < last) {
			if (mapped_bits[w] != before)
				return w * WORD_BITS;
			mapped_bits[w] = ~before;
		}
		mask = WORD_ONES;
	}
	mask &= last_word_mask(end);
	if ((mapped_bits[w] ^ before) & mask)
		return w * WORD_BITS > first ? w * WORD_BITS : first;
	mapped_bits[w] ^= mask;
	return end;
}

/* Bitmap word w before some of its bits are set to 'value': when its slot
 * holds the opposite throughout, its count says what the word is, and the
 * word is not read (on the host, an untouched page of the bitmap read and
 * then written is faulted in twice). */
static inline vm_word_t word_before(uint32_t w, bool value)
{
	if (vm.slot_mapped[w * WORD_BITS / PTE_COUNT] == (value ? 0 : PTE_COUNT))
		return value ? 0 : WORD_ONES;
	return mapped_bits[w];
}

/* Sets or clears the bits of [first, first + count), every one of which is
 * known to hold the opposite value, and keeps the slot counts.  Whole
 * words in the middle are stored without being read. */
static void set_mapped(uint32_t first, uint32_t count, bool value)
{
	if (count == 0)
		return;
	uint32_t end = first + count, w = first / WORD_BITS, last = (end - 1) / WORD_BITS;
	vm_word_t head = first_word_mask(first), tail = last_word_mask(end);
	if (w == last) {
		mapped_bits[w] = word_before(w, value) ^ (head & tail);
	} else {
		mapped_bits[w] = word_before(w, value) ^ head;
		if (last - w > 1)
			memset(&mapped_bits[w + 1], value ? 0xff : 0,
			       (last - w - 1) * sizeof(vm_word_t));
		mapped_bits[last] = word_before(last, value) ^ tail;
	}
	count_pages(first, end, value);
}

/* Sets pages [first, first + count) to 'value' when every one of them is
 * the opposite, keeping the slot counts; otherwise false, with nothing
 * changed. */
static inline __attribute__((always_inline)) bool flip_pages(uint32_t first, uint32_t count,
                                                             bool value)
{
	uint32_t end = first + count, opposite = value ? 0 : PTE_COUNT;
	/* When every slot under the range holds the opposite of 'value'
	 * throughout, their counts answer: nothing to read in the bitmap
	 * (whose untouched words, read before they are written, a process on
	 * the host would fault in twice).  Whole slots are answered so either
	 * way. */
	uint32_t slot = first / PTE_COUNT, last = (end - 1) / PTE_COUNT;
	while (slot <= last && vm.slot_mapped[slot] == opposite)
		slot++;
	if (slot > last) {
		set_mapped(first, count, value);
		return true;
	}
	if (first % PTE_COUNT == 0 && end % PTE_COUNT == 0)
		return false;
	uint32_t stop = flip_until(first, end, value);
	if (stop < end) {
		if (stop > first)
			flip_until(first, stop, !value); /* undo */
		return false;
	}
	count_pages(first, end, value);
	return true;
}

static uint32_t count_mapped(uint32_t first, uint32_t count)
{
	uint32_t total = 0;
	for (uint32_t p = first, end = first + count, take; p < end; p += take) {
		if (p % PTE_COUNT == 0 && end - p >= PTE_COUNT) {
			total += vm.slot_mapped[p / PTE_COUNT];
			take = PTE_COUNT;
			continue;
		}
		vm_word_t bits = mapped_bits[p / WORD_BITS] & word_mask(p, end, &take);
		for (unsigned half = 0; half < sizeof(bits) / sizeof(uint32_t); half++) {
			total += mm_bit_count((uint32_t)bits);
			bits = bits >> 16 >> 16; /* one shift of 32 would be undefined on i386 */
		}
	}
	return total;
}

/* The first page of [p, end) whose bit is 'value', or end.  Slots without
 * one are skipped by their counts, the others scanned a word at a time. */
static uint32_t find_page(uint32_t p, uint32_t end, bool value)
{
	vm_word_t flip = value ? 0 : WORD_ONES;
	uint16_t none = value ? 0 : PTE_COUNT;
	while (p < end) {
		uint32_t slot_end = ALIGN_DOWN(p, PTE_COUNT) + PTE_COUNT;
		if (vm.slot_mapped[p / PTE_COUNT] != none) {
			/* Slots are whole words: the scan stays inside this one. */
			uint32_t w = p / WORD_BITS, last = (slot_end - 1) / WORD_BITS;
			vm_word_t bits = (mapped_bits[w] ^ flip) & first_word_mask(p);
			while (!bits && w < last)
				bits = mapped_bits[++w] ^ flip;
			if (bits) {
				uint32_t found = w * WORD_BITS + (uint32_t)__builtin_ctzl(bits);
				return found < end ? found : end;
			}
		}
		p = slot_end;
	}
	return end;
}

static inline uint32_t page_of(uintptr_t va)
{
	return (uint32_t)(offset_of(va) / PAGE_SIZE);
}

/* ---- argument checks shared by the calls ---- */

/* Why [v, v + n) is not a valid page range of the space, or NULL.  Every
 * call checks its range, so a good one is accepted in page numbers (32-bit
 * on i386); the reasons are worked out only for a bad one. */
static const char *range_problem(uintptr_t v, size_t n, uint32_t align)
{
	uintptr_t off = v - vm.base;
	if (__builtin_expect(n != 0 && v >= vm.base && IS_ALIGNED(off | n, align) &&
	                             off / PAGE_SIZE < PAGES &&
	                             n / PAGE_SIZE <= PAGES - off / PAGE_SIZE,
	                     1))
		return NULL;
	if (n == 0)
		return "zero length";
	if (v < vm.base || offset_of(v) >= VM_SPACE_SIZE)
		return "outside the address space";
	if (!IS_ALIGNED(offset_of(v), align) || !IS_ALIGNED((uint64_t)n, align))
		return align == PAGE_SIZE ? "not page-aligned" : "not aligned to 4 MiB slots";
	if ((uint64_t)n > VM_SPACE_SIZE - offset_of(v))
		return "wraps past the end of the 4 GiB space";
	return NULL;
}

/* Why the slots under [v, v + n) may not be mapped, unmapped or freed. */
static const char *ownership_problem(uintptr_t v, size_t n)
{
	/* The range is valid: its offsets fit in uintptr_t (the last byte's,
	 * 4 GiB - 1 at most on i386, even when the sum wraps to 0). */
	uint32_t first = (uint32_t)((v - vm.base) / SLOT_SIZE);
	uint32_t last = (uint32_t)((v - vm.base + n - 1) / SLOT_SIZE);
	if (vm.mappable_until[first] > last)
		return NULL;
	for (uint32_t s = vm.mappable_until[first]; s <= last; s++) {
		vm.stats.ownership_walks++;
		if (is_fixed(vm.slot_owner[s]))
			return vm.slot_owner[s] == VM_KERNEL ? "overlaps the kernel region"
			                                     : "overlaps a fixed region";
		if (vm.slot_owner[s] == VM_FREE)
			return "not reserved";
	}
	return NULL;
}

/* ---- the primitives ---- */

static bool slots_free(uint32_t first, uint32_t count)
{
	for (uint32_t s = first; s < first + count; s++)
		if (vm.slot_owner[s] != VM_FREE)
			return false;
	return true;
}

/* Lowest s in [from, to) such that [s, s + count) is free; VM_SLOTS if none. */
static uint32_t first_fit(uint32_t from, uint32_t to, uint32_t count)
{
	uint32_t run = 0;
	for (uint32_t s = from; s < to; s++) {
		run = vm.slot_owner[s] == VM_FREE ? run + 1 : 0;
		if (run == count)
			return s + 1 - count;
	}
	return VM_SLOTS;
}

static uintptr_t reserve_locked(uintptr_t hint, size_t n, enum vm_owner owner)
{
	if (n == 0)
		return refuse("vm_reserve", hint, n, "zero length"), 0;
	if (owner == VM_FREE || is_fixed(owner) || (unsigned)owner >= VM_OWNER_COUNT)
		return refuse("vm_reserve", hint, n, "owner may not reserve"), 0;
	if (hint && (hint < vm.base || offset_of(hint) >= VM_SPACE_SIZE))
		return refuse("vm_reserve", hint, n, "hint outside the address space"), 0;
	if (hint && !IS_ALIGNED(offset_of(hint), SLOT_SIZE))
		return refuse("vm_reserve", hint, n, "hint not aligned to a 4 MiB slot"), 0;
	if ((uint64_t)n > VM_SPACE_SIZE - (hint ? offset_of(hint) : 0))
		return refuse("vm_reserve", hint, n, "wraps past the end of the 4 GiB space"), 0;

	if (mm_inject(&mm_inject_reserves)) { /* as if the space were full */
		kprintf("vm: vm_reserve(%p, %#zx) failed: fault injected\n", (void *)hint, n);
		return 0;
	}
	uint32_t count = (uint32_t)(((uint64_t)n + SLOT_SIZE - 1) / SLOT_SIZE);
	uint32_t at = hint ? (uint32_t)(offset_of(hint) / SLOT_SIZE) : 0;
	uint32_t slot;
	if (hint && slots_free(at, count))
		slot = at;
	else
		slot = first_fit(at, VM_SLOTS, count);
	if (slot == VM_SLOTS)
		slot = first_fit(0, at + count - 1 < VM_SLOTS ? at + count - 1 : VM_SLOTS, count);
	if (slot == VM_SLOTS) {
		kprintf("vm: vm_reserve(%p, %#zx) failed: no free run of %u slots\n", (void *)hint,
		        n, count);
		return 0;
	}
	claim(slot, count, owner);
	return vm.base + (uintptr_t)slot * SLOT_SIZE;
}

/* Why [v, v + n) is not a range of 'align' units that a non-fixed owner
 * holds whole, or NULL. */
static const char *held_range_problem(uintptr_t v, size_t n, uint32_t align)
{
	const char *why = range_problem(v, n, align);
	return why ? why : ownership_problem(v, n);
}

/* Checks that vm_map (value true) or vm_unused (false) may take
 * [v, v + n) and, when it may, sets its pages' bits to 'value'; otherwise
 * refuses the call, with nothing changed. */
static bool claim_pages(const char *call, uintptr_t v, size_t n, bool value)
{
	const char *why = held_range_problem(v, n, PAGE_SIZE);
	if (why)
		return refuse(call, v, n, why);
	if (!flip_pages(page_of(v), (uint32_t)(n / PAGE_SIZE), value))
		return refuse(call, v, n, value ? "already mapped" : "not mapped");
	return true;
}

/* Backs [v, v + n), whose bits 'call' has just set; when frames run out,
 * clears them again and says so. */
static inline __attribute__((always_inline)) bool back_marked(const char *call, uintptr_t v,
                                                              size_t n)
{
	if (!vm_backend_map(v, n)) {
		set_mapped(page_of(v), (uint32_t)(n / PAGE_SIZE), false);
		kprintf_ratelimited("vm: failures to map",
		                    "vm: %s(%p, %#zx) failed: out of physical memory\n", call,
		                    (void *)v, n);
		return false;
	}
	vm.stats.mapped_bytes += n;
	return true;
}

static bool map_locked(uintptr_t v, size_t n)
{
	return claim_pages("vm_map", v, n, true) && back_marked("vm_map", v, n);
}

static bool unused_locked(uintptr_t v, size_t n)
{
	if (!claim_pages("vm_unused", v, n, false))
		return false;
	vm_backend_unmap(v, n);
	vm.stats.mapped_bytes -= n;
	return true;
}

static bool map_gaps_locked(uintptr_t v, size_t n, size_t *mapped)
{
	*mapped = 0;
	const char *why = held_range_problem(v, n, PAGE_SIZE);
	if (why)
		return refuse("vm_map_gaps", v, n, why);
	uint32_t first = page_of(v), end = first + (uint32_t)(n / PAGE_SIZE);
	/* The usual case, a range released whole: one pass marks it all. */
	if (flip_pages(first, end - first, true)) {
		if (!back_marked("vm_map_gaps", v, n))
			return false;
		*mapped = n;
		return true;
	}
	/* Back every gap; the bitmap is only updated once all succeeded, so
	 * that a failure can find the gaps it filled and undo them.  A single
	 * gap, the usual case, needs no second walk. */
	uint32_t p = find_page(first, end, false), gaps = 0, gap_start = p, gap_end = p;
	while (p < end) {
		gap_end = find_page(p, end, true);
		if (!vm_backend_map(vm.base + (uintptr_t)p * PAGE_SIZE,
		                    (size_t)(gap_end - p) * PAGE_SIZE))
			break;
		gaps++;
		p = find_page(gap_end, end, false);
	}
	bool ok = p >= end;
	if (ok && gaps <= 1) {
		set_mapped(gap_start, gap_end - gap_start, true);
		*mapped = (size_t)(gap_end - gap_start) * PAGE_SIZE;
	} else {
		uint32_t limit = ok ? end : p;
		for (uint32_t q = find_page(first, limit, false); q < limit;) {
			uint32_t q_end = find_page(q, limit, true);
			size_t bytes = (size_t)(q_end - q) * PAGE_SIZE;
			if (ok) {
				set_mapped(q, q_end - q, true);
				*mapped += bytes;
			} else {
				vm_backend_unmap(vm.base + (uintptr_t)q * PAGE_SIZE, bytes);
			}
			q = find_page(q_end, limit, false);
		}
	}
	if (!ok) {
		kprintf_ratelimited("vm: failures to map gaps",
		                    "vm: vm_map_gaps(%p, %#zx) failed: out of physical memory\n",
		                    (void *)v, n);
		return false;
	}
	vm.stats.mapped_bytes += *mapped;
	return true;
}

/* Unmaps every mapped run of pages [first, end); returns the bytes. */
static size_t unmap_runs(uint32_t first, uint32_t end)
{
	size_t total = 0;
	for (uint32_t p = find_page(first, end, true); p < end;) {
		uint32_t run_end = find_page(p, end, false);
		size_t bytes = (size_t)(run_end - p) * PAGE_SIZE;
		vm_backend_unmap(vm.base + (uintptr_t)p * PAGE_SIZE, bytes);
		set_mapped(p, run_end - p, false);
		total += bytes;
		p = find_page(run_end, end, true);
	}
	vm.stats.mapped_bytes -= total;
	return total;
}

static size_t unused_mapped_locked(uintptr_t v, size_t n)
{
	const char *why = held_range_problem(v, n, PAGE_SIZE);
	if (why)
		return refuse("vm_unused_mapped", v, n, why), 0;
	return unmap_runs(page_of(v), page_of(v) + (uint32_t)(n / PAGE_SIZE));
}

static bool free_locked(uintptr_t v, size_t n)
{
	const char *why = held_range_problem(v, n, SLOT_SIZE);
	if (why)
		return refuse("vm_free", v, n, why);

	/* Unmap each mapped run, then release the slots. */
	unmap_runs(page_of(v), page_of(v) + (uint32_t)(n / PAGE_SIZE));
	uint32_t first_slot = (uint32_t)(offset_of(v) / SLOT_SIZE);
	uint32_t end_slot = (uint32_t)((offset_of(v) + n) / SLOT_SIZE);
	for (uint32_t s = first_slot; s < end_slot; s++) {
		vm.stats.reserved_bytes[vm.slot_owner[s]] -= SLOT_SIZE;
		vm.slot_owner[s] = VM_FREE;
		vm.slot_first[s] = false;
	}
	note_owners(first_slot, end_slot);
	/* A reservation cut from below starts anew at the first kept slot. */
	if (end_slot < VM_SLOTS && vm.slot_owner[end_slot] != VM_FREE)
		vm.slot_first[end_slot] = true;
	return true;
}

/* ---- the locked entries: one lock for the whole map (its users are
 * the page heap, under its own lock, and set-up code) ---- */

#define LOCKED(type, call)                                 \
	do {                                               \
		mm_irq_flags_t flags_ = mm_lock(&vm_lock); \
		type result_ = call;                       \
		mm_unlock(&vm_lock, flags_);               \
		return result_;                            \
	} while (0)

uintptr_t vm_reserve(uintptr_t hint, size_t n, enum vm_owner owner)
{
	LOCKED(uintptr_t, reserve_locked(hint, n, owner));
}

bool vm_map(uintptr_t v, size_t n)
{
	LOCKED(bool, map_locked(v, n));
}

bool vm_unused(uintptr_t v, size_t n)
{
	LOCKED(bool, unused_locked(v, n));
}

bool vm_map_gaps(uintptr_t v, size_t n, size_t *mapped)
{
	LOCKED(bool, map_gaps_locked(v, n, mapped));
}

size_t vm_unused_mapped(uintptr_t v, size_t n)
{
	LOCKED(size_t, unused_mapped_locked(v, n));
}

bool vm_free(uintptr_t v, size_t n)
{
	LOCKED(bool, free_locked(v, n));
}

enum vm_owner vm_owner_at(uintptr_t va)
{
	if (va < vm.base || offset_of(va) >= VM_SPACE_SIZE)
		return VM_FREE;
	return (enum vm_owner)vm.slot_owner[offset_of(va) / SLOT_SIZE];
}

bool vm_is_mapped(uintptr_t va)
{
	if (va < vm.base || offset_of(va) >= VM_SPACE_SIZE)
		return false;
	uint32_t p = page_of(va);
	return mapped_bits[p / WORD_BITS] >> (p % WORD_BITS) & 1;
}

size_t vm_mapped_pages(uintptr_t v, size_t n)
{
	return count_mapped(page_of(v), (uint32_t)(n / PAGE_SIZE));
}

void vm_hold(void)
{
	mm_lock_irqs_off(&vm_lock);
}

void vm_unhold(void)
{
	mm_unlock_irqs_off(&vm_lock);
}

void vm_get_stats(struct vm_stats *out)
{
	mm_irq_flags_t flags = mm_lock(&vm_lock);
	*out = vm.stats;
	mm_unlock(&vm_lock, flags);
}

void vm_print_map(void)
{
	kprintf("address space (4 MiB slots):\n");
	kprintf("  %-10s  %-10s  %10s  %10s  %s\n", "start", "end", "size KiB", "mapped KiB",
	        "owner");
	uint32_t s = 0;
	while (s < VM_SLOTS) {
		uint32_t e = s + 1;
		while (e < VM_SLOTS && vm.slot_owner[e] == vm.slot_owner[s] && !vm.slot_first[e])
			e++;
		if (vm.slot_owner[s] != VM_FREE) {
			uint32_t mapped = count_mapped(s * PTE_COUNT, (e - s) * PTE_COUNT);
			kprintf("  0x%08llx  0x%08llx  %10u  %10u  %s\n",
			        (unsigned long long)s * SLOT_SIZE,
			        (unsigned long long)e * SLOT_SIZE, (e - s) * (SLOT_SIZE >> 10),
			        mapped * (PAGE_SIZE >> 10), vm_owner_name(vm.slot_owner[s]));
		}
		s = e;
	}
}

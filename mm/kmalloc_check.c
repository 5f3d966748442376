/* mm/kmalloc_check.c - kmalloc_stats and kheap_check: the whole heap
 * counted, and every invariant of its metadata verified, on every CPU. */
#include "mm/kfence.h"
#include "mm/kmalloc_internal.h"

/*
 * Holds the whole heap still: every class lock in order, then the page
 * heap's, then the other CPUs stopped where they stand.  With those locks
 * held no other CPU is inside the shared structures, or waiting for them
 * with work half done (it would hold a lower lock: all are ours); what is
 * left moving is each CPU's own lists, which the stop freezes.  Callers
 * serialize through the locks themselves.
 */
static mm_irq_flags_t held_flags[KMALLOC_MAX_CLASSES + 2];

static void hold_heap(void)
{
	for (unsigned cls = 1; cls <= class_count; cls++)
		held_flags[cls] = mm_lock(&central[cls].lock);
	held_flags[0] = ph_lock(&kernel_pageheap);
	mm_stop_other_cpus();
}

static void release_heap(void)
{
	mm_resume_other_cpus();
	ph_unlock(&kernel_pageheap, held_flags[0]);
	for (unsigned cls = class_count; cls >= 1; cls--)
		mm_unlock(&central[cls].lock, held_flags[cls]);
}

/* The CPUs whose lists are set up, in turn. */
#define for_each_cpu_with_lists(cpu)                     \
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++) \
		if (__atomic_load_n(&cpus_with_lists, __ATOMIC_ACQUIRE) & ((uintptr_t)1 << cpu))

/* Free objects of 'cls' held outside its spans: on every CPU's list and
 * on the class's transfer stack. */
static uint64_t cached_everywhere(unsigned cls)
{
	uint64_t n = central[cls].transfer_count;
	for_each_cpu_with_lists(cpu) n += cached_on(&cpu_lists(cpu)->lists[cls]);
	return n;
}

uint32_t kmalloc_cached_on(unsigned cpu, unsigned cls)
{
	if (cpu >= MM_MAX_CPUS || cls < 1 || cls > class_count ||
	    !(__atomic_load_n(&cpus_with_lists, __ATOMIC_ACQUIRE) & ((uintptr_t)1 << cpu)))
		return 0;
	const struct mm_cpu_stack *stack = &cpu_lists(cpu)->lists[cls].stack;
	void **top = __atomic_load_n(&stack->top, __ATOMIC_RELAXED);
	return top >= stack->bottom && top <= stack->end ? (uint32_t)(top - stack->bottom) : 0;
}

void kmalloc_stats(struct kmalloc_stats *out)
{
	memset(out, 0, sizeof(*out));
	struct kfence_stats sampled; /* its lock comes before the heap's */
	kfence_get_stats(&sampled);
	hold_heap();
	out->class_count = class_count;
	for (unsigned cls = 1; cls <= class_count; cls++) {
		struct kmalloc_class_stats *c = &out->classes[cls - 1];
		c->size = classes[cls].user_size;
		c->span_pages = classes[cls].pages;
		c->cached = cached_everywhere(cls);
		c->in_use = central[cls].out - c->cached - central[cls].abandoned;
		for_each_cpu_with_lists(cpu) c->frees += cpu_lists(cpu)->lists[cls].frees;
		c->mallocs = c->frees + c->in_use;
		c->spans = central[cls].spans;
		out->in_use_bytes += c->in_use * c->size;
		out->mallocs += c->mallocs;
		out->frees += c->frees;
	}
	int64_t large_bytes = 0;
	for_each_cpu_with_lists(cpu)
	{
		const struct kmalloc_cpu *k = cpu_lists(cpu);
		large_bytes += k->large.bytes;
		out->mallocs += k->large.mallocs;
		out->frees += k->large.frees;
	}
	out->large_in_use_bytes = (uint64_t)large_bytes;
	out->in_use_bytes += out->large_in_use_bytes + sampled.live_bytes;
	out->mallocs += sampled.sampled;
	out->frees += sampled.frees;
	out->bad_frees = totals.bad_frees;
	out->failures = totals.failures;
	out->reclaims = totals.reclaims;
	out->debug_reports = totals.debug_reports;
	out->broken_links = totals.broken_links;
	out->abandoned_objects = totals.abandoned;
	out->mapped_bytes = kernel_pageheap.arena.stats.mapped_bytes;
	out->released_bytes = kernel_pageheap.arena.stats.released_bytes;
	out->idle_bytes = out->mapped_bytes - out->in_use_bytes;
	release_heap();
}

static unsigned problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static unsigned problem(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kprintf("kheap_check: ");
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	return 1;
}

static bool live(uintptr_t p)
{
	return mm_bit_test(kernel_pageheap.arena.live_bits,
	                   (uint32_t)((p - kernel_pageheap.arena.start) >> QSHIFT));
}

/* A small span: its free list, carving, live bits and counts agree. */
static unsigned check_span(struct span *s)
{
	const struct class_info *ci = &classes[s->small.size_class];
	unsigned bad = 0;
	if (s->small.cpu_list != cpu_list_word(s->small.size_class))
		return problem("span %p: class %u, but its cache is another's", (void *)s->start,
		               ci->size);
	if (s->small.object_count != ci->objects || s->small.carved > s->small.object_count)
		return problem("span %p: %u objects, %u carved, class holds %u", (void *)s->start,
		               s->small.object_count, s->small.carved, ci->objects);
	uint32_t listed = 0, live_count = 0;
	void **from = NULL; /* the link that led to o: NULL for the head */
	for (void **o = s->small.free_objects; o; from = o, o = link_load(o)) {
		uintptr_t rel = (uintptr_t)o - s->start;
		if (++listed > s->small.object_count)
			return bad + problem("span %p: free list loops", (void *)s->start);
		if (rel % ci->size || rel / ci->size >= s->small.carved)
			return bad + problem("span %p: free list holds %p (link at %p)",
			                     (void *)s->start, (void *)o, (void *)from);
		if (live((uintptr_t)o))
			bad += problem("span %p: free object %p is marked live", (void *)s->start,
			               (void *)o);
	}
	for (uint32_t i = 0; i < s->small.object_count; i++) {
		uintptr_t o = s->start + (uintptr_t)i * ci->size;
		if (live(o)) {
			live_count++;
			if (i >= s->small.carved)
				bad += problem("span %p: uncarved object %p is live",
				               (void *)s->start, (void *)o);
		}
	}
	/* No bit set but at the start of a live object: kfree trusts them. */
	const uint32_t *words =
	        &kernel_pageheap.arena.live_bits[(s->start - kernel_pageheap.arena.start) / Q / 32];
	uint32_t bits_set = 0;
	for (uint32_t w = 0; w < s->npages * (PAGE_SIZE / Q / 32); w++)
		bits_set += mm_bit_count(words[w]);
	if (bits_set != live_count)
		bad += problem("span %p: %u live bits set, %u live objects", (void *)s->start,
		               bits_set, live_count);
	uint32_t in_use = s->small.carved - listed;
	if (in_use != s->small.objects_in_use ||
	    live_count + s->small.check_scratch + s->small.abandoned != in_use)
		bad += problem("span %p (class %u): %u in use by count, %u live + %u cached + "
		               "%u abandoned, %u by its lists",
		               (void *)s->start, ci->size, s->small.objects_in_use, live_count,
		               s->small.check_scratch, s->small.abandoned, in_use);
	if (!!s->small.listed != (listed || s->small.carved < s->small.object_count))
		bad += problem("span %p: on the class list: %u, free objects: %u", (void *)s->start,
		               s->small.listed, s->small.object_count - in_use);
	return bad;
}

/* The free objects of 'cls' in the slots [from, to) of a CPU list or of
 * the class's transfer stack ('holder' names which): each in a span of the
 * class, not live, tallied in its span (a second copy of one shows in its
 * span's count). */
static unsigned check_cached(void *const *from, void *const *to, unsigned cls, const char *holder)
{
	const struct arena *a = &kernel_pageheap.arena;
	unsigned bad = 0;
	for (void *const *slot = from; slot < to; slot++) {
		uintptr_t o = (uintptr_t)*slot, off = o - a->start;
		struct span *s = off < a->used - a->start ? a->pages[off >> PAGE_SHIFT].span : NULL;
		if (!s || s->state != SPAN_IN_USE || s->small.size_class != cls ||
		    (o - s->start) % classes[cls].size)
			return bad + problem("%s, class %u: cached object %p is not an object of "
			                     "the class",
			                     holder, classes[cls].size, (void *)o);
		if (live(o))
			bad += problem("%s, class %u: cached object %p is live", holder,
			               classes[cls].size, (void *)o);
		s->small.check_scratch++;
	}
	return bad;
}

/* One CPU's list of 'cls': its slots where kmalloc_cpu_init put them, and
 * its objects. */
static unsigned check_list(unsigned cpu, unsigned cls, void **slots)
{
	const struct mm_cpu_stack *stack = &cpu_lists(cpu)->lists[cls].stack;
	uint32_t capacity = kmalloc_debug ? 0 : classes[cls].cache_max;
	if (stack->bottom != slots || stack->end != slots + capacity ||
	    stack->top < stack->bottom || stack->top > stack->end)
		return problem("CPU %u, class %u: list's slots [%p, %p) with top %p, not "
		               "[%p, %p)",
		               cpu, classes[cls].size, (void *)stack->bottom, (void *)stack->end,
		               (void *)stack->top, (void *)slots, (void *)(slots + capacity));
	char holder[16];
	ksnprintf(holder, sizeof(holder), "CPU %u", cpu);
	return check_cached(stack->bottom, stack->top, cls, holder);
}

/* The transfer stack of 'cls': its count within its slots, and its
 * objects. */
static unsigned check_transfer(unsigned cls)
{
	const struct central *c = &central[cls];
	uint32_t capacity = kmalloc_debug ? 0 : classes[cls].transfer_max;
	if (c->transfer_max != capacity || c->transfer_count > c->transfer_max ||
	    (capacity && !c->transfer))
		return problem("class %u: transfer stack holds %u of %u slots at %p, not %u",
		               classes[cls].size, c->transfer_count, c->transfer_max,
		               (void *)c->transfer, capacity);
	return check_cached(c->transfer, c->transfer + c->transfer_count, cls, "transfer stack");
}

int kheap_check(void)
{
	hold_heap();
	struct arena *a = &kernel_pageheap.arena;
	unsigned bad = ph_check(&kernel_pageheap);

	/* Clear the tallies, then count the cached objects of each span. */
	for (uintptr_t p = a->start; p < a->used; p += PAGE_SIZE) {
		struct span *s = a->pages[(p - a->start) / PAGE_SIZE].span;
		if (s && s->state == SPAN_IN_USE)
			s->small.check_scratch = 0;
	}
	for_each_cpu_with_lists(cpu)
	{
		/* kmalloc_cpu_init laid the slots out class after class. */
		void **slots = cpu_lists(cpu)->lists[1].stack.bottom;
		for (unsigned cls = 1; cls <= class_count; cls++) {
			bad += check_list(cpu, cls, slots);
			slots += kmalloc_debug ? 0 : classes[cls].cache_max;
		}
	}
	for (unsigned cls = 1; cls <= class_count; cls++)
		bad += check_transfer(cls);

	/* Every small span; the central lists hold exactly the listed ones. */
	uint32_t spans[KMALLOC_MAX_CLASSES + 1] = { 0 };
	uint64_t live_total = 0;
	for (uintptr_t p = a->start; p < a->used;) {
		struct arena_page *page = &a->pages[(p - a->start) / PAGE_SIZE];
		struct span *s = page->span;
		if (!s || s->start != p) {
			if (page->cpu_list)
				bad += problem("page %p outside any span names a CPU list",
				               (void *)p);
			p += PAGE_SIZE;
			continue;
		}
		uintptr_t list = s->state == SPAN_IN_USE && s->small.size_class
		                         ? cpu_list_word(s->small.size_class)
		                         : 0;
		for (uint32_t i = 0; i < s->npages; i++)
			if (page[i].cpu_list != list) {
				bad += problem("span %p: page %u names CPU list %#lx, not %#lx",
				               (void *)s->start, i, (unsigned long)page[i].cpu_list,
				               (unsigned long)list);
				break;
			}
		if (s->state == SPAN_IN_USE && !s->small.size_class && s->small.cpu_list)
			bad += problem("large span %p names a CPU list", (void *)s->start);
		if (s->state == SPAN_IN_USE && s->small.size_class) {
			bad += check_span(s);
			spans[s->small.size_class]++;
			live_total += s->small.objects_in_use - s->small.check_scratch -
			              s->small.abandoned;
		}
		p = s->start + (uintptr_t)s->npages * PAGE_SIZE;
	}
	uint64_t counted_in_use = 0;
	for (unsigned cls = 1; cls <= class_count; cls++) {
		if (spans[cls] != central[cls].spans)
			bad += problem("class %u: %u spans found, %u counted", classes[cls].size,
			               spans[cls], central[cls].spans);
		uint32_t listed = 0, empty = 0;
		for (struct span *s = central[cls].partial; s; s = s->next) {
			if (++listed > spans[cls] || !s->small.listed ||
			    s->small.size_class != cls) {
				bad += problem("class %u: central list corrupt at %p",
				               classes[cls].size, (void *)s->start);
				break;
			}
			empty += s->small.objects_in_use == 0;
		}
		if (empty != central[cls].empty || empty > central[cls].keep_empty)
			bad += problem("class %u: %u empty spans listed, %u counted (at most %u)",
			               classes[cls].size, empty, central[cls].empty,
			               central[cls].keep_empty);
		counted_in_use +=
		        central[cls].out - cached_everywhere(cls) - central[cls].abandoned;
	}
	if (counted_in_use != live_total)
		bad += problem("%llu objects live by the spans, %llu by the counters",
		               (unsigned long long)live_total, (unsigned long long)counted_in_use);
	release_heap();
	return (int)bad;
}

unsigned kmalloc_report_leaks(void)
{
	if (!kmalloc_debug)
		return 0;
	hold_heap();
	const struct arena *a = &kernel_pageheap.arena;
	unsigned leaks = 0;
	for (uintptr_t p = a->start; p < a->used;) {
		struct span *s = a->pages[(p - a->start) / PAGE_SIZE].span;
		if (!s || s->start != p) {
			p += PAGE_SIZE;
			continue;
		}
		unsigned cls = s->small.size_class;
		uintptr_t obj;
		uint32_t size;
		void *allocated_by;
		if (s->state == SPAN_IN_USE && cls == 0 &&
		    kfence_live_object(s, &obj, &size, &allocated_by)) {
			kprintf("kmalloc: leak: object %p (%u bytes, sampled by kfence) allocated "
			        "by %p\n",
			        (void *)obj, size, allocated_by);
			leaks++;
		} else if (s->state == SPAN_IN_USE && cls == 0 && !kfence_span(s)) {
			kprintf("kmalloc: leak: large block %p (%u pages)\n", (void *)s->start,
			        s->npages);
			leaks++;
		} else if (s->state == SPAN_IN_USE && cls != 0) {
			/* (A freed sampled object's span, class 0 as well, has
			 * nothing live.) */
			for (uint32_t i = 0; i < s->small.carved; i++) {
				uintptr_t o = s->start + (uintptr_t)i * classes[cls].size;
				if (!live(o))
					continue;
				void *allocated_by, *freed_by;
				debug_callers(cls, o, &allocated_by, &freed_by);
				kprintf("kmalloc: leak: object %p (%u bytes, class %u) allocated "
				        "by %p\n",
				        (void *)o, classes[cls].user_size, cls, allocated_by);
				leaks++;
			}
		}
		p = s->start + (uintptr_t)s->npages * PAGE_SIZE;
	}
	release_heap();
	return leaks;
}

/* kernel/topology.c - finding the CPUs in the firmware's tables (topology.h). */
#include "kernel/topology.h"
#include "arch/i386/paging.h"
#include "kernel/console.h"
#include "lib/string.h"
#include "mm/vm.h"

#define BDA_EBDA_SEGMENT   0x40e /* the EBDA's segment, in the BIOS data area */
#define BDA_BASE_KIB       0x413 /* KiB of base memory below the EBDA */
#define BIOS_AREA          0xe0000
#define BIOS_AREA_END      0x100000
#define SDT_HEADER         36
#define MADT_ENTRIES       44
#define MP_CONFIG_ENTRIES  44
#define MADT_LAPIC         0
#define MADT_IOAPIC        1
#define MADT_LAPIC_ADDRESS 5
#define MP_PROCESSOR       0
#define MP_IOAPIC          2

static uint32_t rd16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t rd32(const uint8_t *p)
{
	return rd16(p) | rd16(p + 2) << 16;
}

static bool same(const uint8_t *p, const char *signature, unsigned n)
{
	return memcmp(p, signature, n) == 0;
}

bool topology_checksum_ok(const uint8_t *p, uint32_t length)
{
	uint8_t sum = 0;
	for (uint32_t i = 0; i < length; i++)
		sum = (uint8_t)(sum + p[i]);
	return sum == 0;
}

long topology_scan_rsdp(const uint8_t *base, uint32_t length)
{
	for (uint32_t off = 0; off + 20 <= length; off += 16)
		if (same(base + off, "RSD PTR ", 8) && topology_checksum_ok(base + off, 20))
			return (long)off;
	return -1;
}

long topology_scan_mp(const uint8_t *base, uint32_t length)
{
	for (uint32_t off = 0; off + 16 <= length; off += 16)
		if (same(base + off, "_MP_", 4) && base[off + 8] >= 1 &&
		    off + base[off + 8] * 16u <= length &&
		    topology_checksum_ok(base + off, base[off + 8] * 16u))
			return (long)off;
	return -1;
}

static void add_cpu(struct topology *t, uint8_t apic_id, bool enabled)
{
	if (!enabled)
		t->disabled++;
	else if (t->cpu_count == TOPOLOGY_MAX_CPUS)
		t->dropped++;
	else
		t->apic_ids[t->cpu_count++] = apic_id;
}

static void add_ioapic(struct topology *t, uint32_t base)
{
	if (t->ioapic_count++ == 0)
		t->ioapic_base = base;
}

bool topology_from_madt(const uint8_t *madt, uint32_t length, struct topology *out)
{
	if (length < MADT_ENTRIES || !same(madt, "APIC", 4) || rd32(madt + 4) != length ||
	    !topology_checksum_ok(madt, length))
		return false;
	struct topology t = { .source = "ACPI MADT", .lapic_base = rd32(madt + SDT_HEADER) };
	for (uint32_t off = MADT_ENTRIES; off < length;) {
		if (length - off < 2 || madt[off + 1] < 2 || madt[off + 1] > length - off)
			return false; /* an entry that runs past the table */
		const uint8_t *e = madt + off;
		if (e[0] == MADT_LAPIC && e[1] >= 8)
			add_cpu(&t, e[3], rd32(e + 4) & 1);
		else if (e[0] == MADT_IOAPIC && e[1] >= 12)
			add_ioapic(&t, rd32(e + 4));
		else if (e[0] == MADT_LAPIC_ADDRESS && e[1] >= 12 && rd32(e + 8) == 0)
			t.lapic_base = rd32(e + 4); /* a 64-bit override below 4 GiB */
		off += e[1];
	}
	if (t.cpu_count == 0)
		return false;
	*out = t;
	return true;
}

bool topology_from_mp(const uint8_t *config, uint32_t length, struct topology *out)
{
	if (length < MP_CONFIG_ENTRIES || !same(config, "PCMP", 4) || rd16(config + 4) != length ||
	    !topology_checksum_ok(config, length))
		return false;
	struct topology t = { .source = "MP table", .lapic_base = rd32(config + 36) };
	uint32_t entries = rd16(config + 34);
	uint32_t off = MP_CONFIG_ENTRIES;
	for (uint32_t i = 0; i < entries; i++) {
		uint32_t size = config[off] == MP_PROCESSOR ? 20 : 8;
		if (off + size > length)
			return false;
		const uint8_t *e = config + off;
		if (e[0] == MP_PROCESSOR)
			add_cpu(&t, e[1], e[3] & 1);
		else if (e[0] == MP_IOAPIC && (e[3] & 1))
			add_ioapic(&t, rd32(e + 4));
		else if (e[0] > 4)
			return false; /* not a base-table entry */
		off += size;
	}
	if (t.cpu_count == 0)
		return false;
	*out = t;
	return true;
}

/* ---- reading the tables where the firmware left them ---- */

/* One slot of address space, reserved for as long as topology_find runs,
 * through which one physical range at a time is mapped. */
static struct {
	uintptr_t base;
	size_t mapped;
} window;

static const uint8_t *map_physical(uint32_t pa, uint32_t length)
{
	uint32_t first = pa & ~(uint32_t)(PAGE_SIZE - 1);
	uint64_t end = ALIGN_UP((uint64_t)pa + length, (uint64_t)PAGE_SIZE);
	if (window.mapped || length == 0 || end - first > SLOT_SIZE)
		return NULL;
	if (!paging_map_physical(window.base, first, (size_t)(end - first), false))
		return NULL;
	window.mapped = (size_t)(end - first);
	return (const uint8_t *)(window.base + (pa - first));
}

static void unmap_physical(void)
{
	if (window.mapped)
		paging_unmap_physical(window.base, window.mapped);
	window.mapped = 0;
}

/* The table at 'pa', mapped whole: its 'header' bytes first, for its
 * length (16 bits wide in an MP table, 32 in an ACPI one, at byte 4 of
 * both); NULL when it cannot be mapped. */
static const uint8_t *map_table(uint32_t pa, uint32_t header, bool length16, uint32_t *length)
{
	const uint8_t *p = map_physical(pa, header);
	if (!p)
		return NULL;
	*length = length16 ? rd16(p + 4) : rd32(p + 4);
	unmap_physical();
	if (*length < header)
		return NULL;
	return map_physical(pa, *length);
}

/* The MADT through the RSDT the RSDP at 'rsdp' names. */
static bool find_madt(const uint8_t *rsdp, struct topology *out)
{
	uint32_t rsdt_pa = rd32(rsdp + 16), length;
	uint32_t tables[64], count = 0;
	const uint8_t *rsdt = map_table(rsdt_pa, SDT_HEADER, false, &length);
	if (!rsdt)
		return false;
	if (same(rsdt, "RSDT", 4) && topology_checksum_ok(rsdt, length))
		for (uint32_t off = SDT_HEADER; off + 4 <= length && count < 64; off += 4)
			tables[count++] = rd32(rsdt + off);
	unmap_physical();
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *h = map_physical(tables[i], SDT_HEADER);
		bool is_madt = h && same(h, "APIC", 4);
		unmap_physical();
		if (!is_madt)
			continue;
		const uint8_t *madt = map_table(tables[i], SDT_HEADER, false, &length);
		bool ok = madt && topology_from_madt(madt, length, out);
		unmap_physical();
		return ok;
	}
	return false;
}

static bool find_mp(const uint8_t *floating, struct topology *out)
{
	uint32_t config_pa = rd32(floating + 4), length;
	if (config_pa == 0)
		return false; /* a default configuration: no table to read */
	const uint8_t *config = map_table(config_pa, MP_CONFIG_ENTRIES, true, &length);
	bool ok = config && topology_from_mp(config, length, out);
	unmap_physical();
	return ok;
}

/* Where the RSDP and the MP floating pointer may lie: the first KiB of the
 * EBDA, the last KiB of base memory, and the BIOS area. */
struct area {
	uint32_t base, length;
};

static unsigned search_areas(struct area areas[3])
{
	const uint8_t *bda = map_physical(0, PAGE_SIZE);
	uint32_t ebda = bda ? rd16(bda + BDA_EBDA_SEGMENT) << 4 : 0;
	uint32_t base_kib = bda ? rd16(bda + BDA_BASE_KIB) : 0;
	unmap_physical();
	unsigned n = 0;
	if (ebda >= 0x80000 && ebda < 0xa0000)
		areas[n++] = (struct area){ ebda, 1024 };
	if (base_kib >= 512 && base_kib <= 640)
		areas[n++] = (struct area){ base_kib * 1024 - 1024, 1024 };
	areas[n++] = (struct area){ BIOS_AREA, BIOS_AREA_END - BIOS_AREA };
	return n;
}

bool topology_find(struct topology *out)
{
	*out = (struct topology){ .source = "none",
		                  .cpu_count = 1,
		                  .lapic_base = LAPIC_DEFAULT_BASE };
	window.base = vm_reserve(0, SLOT_SIZE, VM_FIRMWARE);
	if (!window.base)
		return false;
	struct area areas[3];
	unsigned n = search_areas(areas);
	bool found = false;
	/* The MADT first, in every area; then the MP table. */
	for (unsigned pass = 0; pass < 2 && !found; pass++)
		for (unsigned i = 0; i < n && !found; i++) {
			const uint8_t *p = map_physical(areas[i].base, areas[i].length);
			long at = !p          ? -1
			          : pass == 0 ? topology_scan_rsdp(p, areas[i].length)
			                      : topology_scan_mp(p, areas[i].length);
			uint8_t pointer[20];
			if (at >= 0)
				memcpy(pointer, p + at, sizeof(pointer));
			unmap_physical();
			if (at >= 0)
				found = pass == 0 ? find_madt(pointer, out) : find_mp(pointer, out);
		}
	vm_free(window.base, SLOT_SIZE);
	window.base = 0;
	return found;
}

void topology_print(const struct topology *t)
{
	kprintf("cpus: %u in the %s, APIC ids", t->cpu_count,
	        t->cpu_count && t->source[0] != 'n' ? t->source : "firmware (none found)");
	for (unsigned i = 0; i < t->cpu_count && t->source[0] != 'n'; i++)
		kprintf(" %u", t->apic_ids[i]);
	if (t->source[0] == 'n')
		kprintf(" unknown: the boot CPU alone");
	if (t->disabled)
		kprintf("; %u listed disabled", t->disabled);
	if (t->dropped)
		kprintf("; %u past the %u the kernel keeps", t->dropped, TOPOLOGY_MAX_CPUS);
	kprintf("\ncpus: local APIC at %#x, %u I/O APIC%s", t->lapic_base, t->ioapic_count,
	        t->ioapic_count == 1 ? "" : "s");
	if (t->ioapic_count)
		kprintf(" (the first at %#x)", t->ioapic_base);
	kprintf("\n");
}

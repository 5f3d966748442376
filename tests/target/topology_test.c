/*
 * tests/target/topology_test.c - suite "topology": the CPUs found in the
 * firmware's tables (kernel/topology.h), on tables built here and on the
 * ones this boot found.
 */
#include "kernel/kernel.h"
#include "lib/string.h"
#include "mm/vm.h"
#include "tests/ktest.h"

static uint8_t table[256];

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Sets the length at byte 4 (16 or 32 bits wide) and the checksum byte. */
static void seal(uint8_t *t, uint32_t length, bool length16, unsigned checksum_at)
{
	if (length16) {
		t[4] = (uint8_t)length;
		t[5] = (uint8_t)(length >> 8);
	} else {
		put32(t + 4, length);
	}
	t[checksum_at] = 0;
	uint8_t sum = 0;
	for (uint32_t i = 0; i < length; i++)
		sum = (uint8_t)(sum + t[i]);
	t[checksum_at] = (uint8_t)-sum;
}

/* A MADT: CPUs with APIC ids 0, 2 (enabled) and 5 (disabled), an I/O
 * APIC at 0xfec01000, and the local APIC moved by an override. */
static uint32_t build_madt(void)
{
	memset(table, 0, sizeof(table));
	memcpy(table, "APIC", 4);
	put32(table + 36, 0xfee00000);
	uint32_t off = 44;
	static const uint8_t cpus[3][2] = { { 0, 1 }, { 2, 1 }, { 5, 0 } };
	for (int i = 0; i < 3; i++, off += 8) {
		table[off] = 0, table[off + 1] = 8, table[off + 2] = (uint8_t)i;
		table[off + 3] = cpus[i][0];
		put32(table + off + 4, cpus[i][1]);
	}
	table[off] = 1, table[off + 1] = 12;
	put32(table + off + 4, 0xfec01000);
	off += 12;
	table[off] = 5, table[off + 1] = 12;
	put32(table + off + 4, 0xfee10000);
	off += 12;
	seal(table, off, false, 9);
	return off;
}

static void madt_lists_enabled_cpus_and_apics(struct ktest *t)
{
	uint32_t length = build_madt();
	struct topology topo;
	ASSERT_TRUE(t, topology_from_madt(table, length, &topo));
	EXPECT_STREQ(t, topo.source, "ACPI MADT");
	EXPECT_EQ(t, topo.cpu_count, 2);
	EXPECT_EQ(t, topo.apic_ids[0], 0);
	EXPECT_EQ(t, topo.apic_ids[1], 2);
	EXPECT_EQ(t, topo.disabled, 1);
	EXPECT_EQ(t, topo.ioapic_count, 1);
	EXPECT_EQ(t, topo.ioapic_base, 0xfec01000);
	EXPECT_EQ(t, topo.lapic_base, 0xfee10000); /* the override wins */
}

static void bad_madts_are_refused(struct ktest *t)
{
	struct topology topo = { .cpu_count = 99 };
	uint32_t length = build_madt();
	table[50] ^= 1; /* checksum now wrong */
	EXPECT_FALSE(t, topology_from_madt(table, length, &topo));
	length = build_madt();
	table[44 + 1] = 200; /* an entry running past the table */
	seal(table, length, false, 9);
	EXPECT_FALSE(t, topology_from_madt(table, length, &topo));
	length = build_madt();
	EXPECT_FALSE(t, topology_from_madt(table, length - 1, &topo)); /* length field */
	EXPECT_EQ(t, topo.cpu_count, 99);                              /* untouched */
}

/* An MP configuration table: processors 0 (the BSP) and 1, one disabled,
 * an I/O APIC, a bus entry. */
static void mp_table_lists_enabled_cpus(struct ktest *t)
{
	memset(table, 0, sizeof(table));
	memcpy(table, "PCMP", 4);
	put32(table + 36, 0xfee00000);
	uint32_t off = 44;
	static const uint8_t cpus[3][2] = { { 0, 3 }, { 1, 1 }, { 7, 0 } };
	for (int i = 0; i < 3; i++, off += 20) {
		table[off] = 0, table[off + 1] = cpus[i][0], table[off + 3] = cpus[i][1];
	}
	table[off] = 1, off += 8; /* a bus */
	table[off] = 2, table[off + 1] = 4, table[off + 3] = 1;
	put32(table + off + 4, 0xfec00000);
	off += 8;
	table[34] = 5; /* entries */
	seal(table, off, true, 7);
	struct topology topo;
	ASSERT_TRUE(t, topology_from_mp(table, off, &topo));
	EXPECT_STREQ(t, topo.source, "MP table");
	EXPECT_EQ(t, topo.cpu_count, 2);
	EXPECT_EQ(t, topo.apic_ids[1], 1);
	EXPECT_EQ(t, topo.disabled, 1);
	EXPECT_EQ(t, topo.ioapic_base, 0xfec00000);
	table[34] = 6; /* one entry more than there is room for */
	seal(table, off, true, 7);
	EXPECT_FALSE(t, topology_from_mp(table, off, &topo));
}

static void pointers_are_found_on_16_byte_boundaries(struct ktest *t)
{
	static uint8_t area[256];
	memset(area, 0, sizeof(area));
	memcpy(area + 0x45, "RSD PTR ", 8); /* not on a boundary */
	EXPECT_EQ(t, topology_scan_rsdp(area, sizeof(area)), -1);
	memcpy(area + 0x80, "RSD PTR ", 8);
	EXPECT_EQ(t, topology_scan_rsdp(area, sizeof(area)), -1); /* checksum */
	uint8_t sum = 0;
	for (int i = 0; i < 20; i++)
		sum = (uint8_t)(sum + area[0x80 + i]);
	area[0x88] = (uint8_t)-sum;
	EXPECT_EQ(t, topology_scan_rsdp(area, sizeof(area)), 0x80);
	memcpy(area + 0xc0, "_MP_", 4);
	area[0xc8] = 1; /* 16 bytes long */
	sum = 0;
	for (int i = 0; i < 16; i++)
		sum = (uint8_t)(sum + area[0xc0 + i]);
	area[0xca] = (uint8_t)-sum;
	EXPECT_EQ(t, topology_scan_mp(area, sizeof(area)), 0xc0);
	EXPECT_EQ(t, topology_scan_mp(area, 0xc8), -1); /* runs past the area */
}

/* Under QEMU the firmware always has a MADT or an MP table. */
static void this_boot_found_its_cpus(struct ktest *t)
{
	const struct topology *topo = &boot_topology;
	EXPECT_FALSE(t, ktest_streq(topo->source, "none"));
	EXPECT_GE(t, topo->cpu_count, 1);
	EXPECT_EQ(t, topo->lapic_base, LAPIC_DEFAULT_BASE);
	EXPECT_EQ(t, vm_owner_at(topo->lapic_base), VM_MMIO);
	/* The tables were mapped for a while, in a reservation given back. */
	struct vm_stats s;
	vm_get_stats(&s);
	EXPECT_EQ(t, s.reserved_bytes[VM_FIRMWARE], 0);
	ktest_note(t, "%u CPUs in the %s", topo->cpu_count, topo->source);
}

static const struct ktest_case topology_cases[] = {
	KTEST_CASE(madt_lists_enabled_cpus_and_apics),
	KTEST_CASE(bad_madts_are_refused),
	KTEST_CASE(mp_table_lists_enabled_cpus),
	KTEST_CASE(pointers_are_found_on_16_byte_boundaries),
	KTEST_CASE(this_boot_found_its_cpus),
};
KTEST_SUITE(topology, topology_cases, NULL, NULL);

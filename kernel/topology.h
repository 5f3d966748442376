/*
 * kernel/topology.h - finding the CPUs: ACPI's MADT first, the MP table
 * (Intel MultiProcessor Specification 1.4) when there is no MADT.
 *
 * The MADT is the primary source: SeaBIOS's MP table lists one CPU per
 * package, so that QEMU's -smp 4 shows one CPU there.  Both are found from
 * low memory (the RSDP and the MP floating pointer lie in the EBDA or the
 * BIOS area, which the kernel maps), but the tables they point at lie at
 * the top of RAM: those are mapped for the while they are read, in a
 * VM_FIRMWARE reservation, and the reservation given back.
 */
#ifndef KERNEL_TOPOLOGY_H
#define KERNEL_TOPOLOGY_H

#include <stdbool.h>
#include <stdint.h>

#define TOPOLOGY_MAX_CPUS 32

struct topology {
	const char *source; /* "ACPI MADT", "MP table", or "none" */
	unsigned cpu_count; /* enabled CPUs */
	unsigned disabled;  /* listed but not usable (flags clear) */
	unsigned dropped;   /* enabled past TOPOLOGY_MAX_CPUS */
	uint8_t apic_ids[TOPOLOGY_MAX_CPUS];
	uint32_t lapic_base;  /* the local APIC's registers */
	uint32_t ioapic_base; /* the first I/O APIC's, 0 when none is listed */
	unsigned ioapic_count;
};

/* Reads the firmware's tables into *out; false when neither is found (the
 * kernel then runs on the boot CPU alone). */
bool topology_find(struct topology *out);

/* Prints what topology_find found, in one or two lines. */
void topology_print(const struct topology *t);

/* The parsers, over tables already in memory (for the tests). */
bool topology_from_madt(const uint8_t *madt, uint32_t length, struct topology *out);
bool topology_from_mp(const uint8_t *config, uint32_t length, struct topology *out);

/* The RSDP, or the MP floating pointer, in [base, base + length) of
 * readable memory: the offset of a valid one (signature and checksum on a
 * 16-byte boundary), or -1. */
long topology_scan_rsdp(const uint8_t *base, uint32_t length);
long topology_scan_mp(const uint8_t *base, uint32_t length);

/* Whether the bytes add up to 0 mod 256, as every table's checksum makes
 * them. */
bool topology_checksum_ok(const uint8_t *p, uint32_t length);

#endif

/*
 * arch/i386/layout.h - the single source of the i386 virtual address-space map.
 *
 * Included by C, by assembly (__ASSEMBLER__) and by linker.ld (run through the C
 * preprocessor with __LINKER__ defined), so it holds only #defines.
 *
 *   0x00000000 +---------------------------+
 *              | NULL guard page (unmapped)|
 *   0x00001000 +---------------------------+
 *              | low memory, BIOS, VGA     |  identity-mapped, 4 KiB pages
 *   0x00100000 +---------------------------+  KERNEL_LOAD_ADDR
 *              | kernel image, boot stack, |
 *              | boot-time allocations     |
 *   0x00800000 +---------------------------+  KERNEL_SPACE_END
 *              | free for reservations     |  tests, obstacles, fallbacks
 *   0x10000000 +---------------------------+  ARENA_DEFAULT_BASE
 *              | the arena (grows upward,  |
 *              | one 4 MiB PDE at a time)  |
 *              |            ...            |
 *   0xFEC00000 +---------------------------+  MMIO_WINDOW_BASE
 *              | fixed MMIO window (16 MiB)|  I/O APIC at 0xFEC00000 and
 *              | devices, identity-mapped  |  local APIC at 0xFEE00000, at
 *              | where they sit            |  their physical addresses
 *   0xFFC00000 +---------------------------+  PT_WINDOW_BASE
 *              | page tables (recursive    |  PDE 1023 points at the page
 *              | page-directory entry)     |  directory itself
 *   0xFFFFFFFF +---------------------------+
 *
 * Why the kernel is identity-mapped low rather than in the higher half: the
 * arena is the point of this kernel and Go's 32-bit heap may grow to 3.5 GiB
 * and beyond; a higher-half kernel at 0xC0000000 would cut the largest
 * contiguous run of address space to 3 GiB.  Keeping the kernel in the first
 * 8 MiB leaves [8 MiB, 4 GiB - 20 MiB) as one contiguous free range.
 *
 * A virtual address splits 10/10/12: page-directory index, page-table index,
 * byte offset.
 */
#ifndef ARCH_I386_LAYOUT_H
#define ARCH_I386_LAYOUT_H

#define PAGE_SHIFT 12
#define PAGE_SIZE  (1 << PAGE_SHIFT)
/* A slot: the 4 MiB one page-directory entry covers, the unit of every
 * layer above (vm reserves address space in slots, the frame allocator
 * hands out whole slots of frames, paging maps a slot with one large
 * page when it can). */
#define SLOT_SHIFT 22
#define SLOT_SIZE  (1 << SLOT_SHIFT)
#define PDE_COUNT  1024 /* slots in the 4 GiB space */
#define PTE_COUNT  1024

#define KERNEL_LOAD_ADDR 0x00100000
/* Where the other CPUs start, in real mode: a page of low memory, which the
 * frame allocator never hands out (the first MiB is withheld). */
#define AP_TRAMPOLINE_ADDR 0x00008000
#define KERNEL_SPACE_END   0x00800000 /* first address past the kernel's region */

#define ARENA_DEFAULT_BASE 0x10000000

#define MMIO_WINDOW_BASE    0xFEC00000
#define MMIO_WINDOW_END     0xFFC00000
#define IOAPIC_DEFAULT_BASE 0xFEC00000 /* where firmware puts them: the tables say */
#define LAPIC_DEFAULT_BASE  0xFEE00000

#define PT_WINDOW_PDI  1023
#define PT_WINDOW_BASE 0xFFC00000 /* PT_WINDOW_PDI << SLOT_SHIFT */

#define KERNEL_STACK_SIZE (32 * 1024)
#define FAULT_STACK_SIZE  (8 * 1024) /* stack of the double-fault task */

/* GDT selectors */
#define GDT_KERNEL_CODE      0x08
#define GDT_KERNEL_DATA      0x10
#define GDT_MAIN_TSS         0x18
#define GDT_DOUBLE_FAULT_TSS 0x20
#define GDT_PERCPU           0x28 /* %fs: this CPU's struct percpu */
#define GDT_MM_BITS          0x30 /* %gs: mm/'s live bitmap (arch/i386/restart.h) */
/* struct percpu (arch/i386/percpu.h): mm/'s bytes first, then the fields
 * that assembly reads. */
#define PERCPU_MM_BYTES               4864
#define PERCPU_SELF                   PERCPU_MM_BYTES
#define PERCPU_DOUBLE_FAULT_STACK_TOP (PERCPU_MM_BYTES + 4) /* for trap_entry.S */

#endif

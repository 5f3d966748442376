/* kernel/smp.c - starting the other CPUs (smp.h). */
#include "kernel/smp.h"
#include "arch/i386/apic.h"
#include "arch/i386/cpu.h"
#include "arch/i386/ipi.h"
#include "arch/i386/linkage.h"
#include "arch/i386/percpu.h"
#include "arch/i386/pit.h"
#include "arch/i386/trap.h"
#include "kernel/console.h"
#include "lib/string.h"
#include "mm/kheap.h"
#include "mm/vm.h"

extern const char ap_trampoline_start[], ap_trampoline_end[], ap_trampoline_params[];
extern char kernel_stack_guard[], kernel_stack_bottom[];

/* What the trampoline reads, at ap_trampoline_params in its copy. */
struct ap_params {
	uint32_t cr3, cr4, stack_top, entry, index;
};

#define STACK_STRIDE  (KERNEL_STACK_SIZE + PAGE_SIZE) /* the guard page, then the stack */
#define START_WAIT_US 100000
_Static_assert(MAX_CPUS *STACK_STRIDE <= SLOT_SIZE, "the stacks fit one slot");

static unsigned limit = 1;
static uintptr_t stacks; /* the VM_CPU_STACKS reservation */

/* Counted in one place: ipi_cpus_online, which the calls need too. */
unsigned smp_cpus_online(void)
{
	return ipi_cpus_online;
}

unsigned smp_cpu_limit(void)
{
	return limit;
}

/* The first C an application processor runs, on its own stack. */
ASMLINKAGE void ap_main(unsigned index);
ASMLINKAGE void ap_main(unsigned index)
{
	struct percpu *cpu = &percpu_areas[index];
	trap_init_cpu(cpu);
	apic_enable_this_cpu();
	cpu->apic_id = apic_id();
	/* Its CPU lists, before anything it runs allocates. */
	if (!kmalloc_cpu_init()) {
		__atomic_store_n(&cpu->refused, "no memory for its heap's CPU lists",
		                 __ATOMIC_RELEASE);
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	__atomic_store_n(&cpu->online, true, __ATOMIC_RELEASE);
	/* Parked until another CPU posts work (arch/i386/ipi.h): an interrupt
	 * wakes the halt, runs the call, and the loop halts again.  Before each
	 * halt the CPU drops every translation and says so, so that TLB
	 * shootdowns pass it by while it sleeps (arch/i386/paging.c). */
	for (;;) {
		write_cr3(read_cr3());
		__atomic_store_n(&cpu->tlb_clean, 1, __ATOMIC_SEQ_CST);
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	}
}

static bool wait_online(struct percpu *cpu, unsigned us)
{
	for (unsigned waited = 0; waited < us; waited += 100) {
		if (__atomic_load_n(&cpu->online, __ATOMIC_ACQUIRE))
			return true;
		if (__atomic_load_n(&cpu->refused, __ATOMIC_ACQUIRE))
			return false;
		pit_delay_us(100);
	}
	return __atomic_load_n(&cpu->online, __ATOMIC_ACQUIRE);
}

/* Starts the CPU with APIC id 'target' as CPU 'index'; false (its stack
 * given back) when it does not come online. */
static bool start_cpu(unsigned index, uint8_t target)
{
	struct percpu *cpu = &percpu_areas[index];
	uintptr_t guard = stacks + index * STACK_STRIDE;
	if (!vm_map(guard + PAGE_SIZE, KERNEL_STACK_SIZE)) {
		kprintf("smp: cpu %u (APIC id %u): no memory for its stack\n", index, target);
		return false;
	}
	*cpu = (struct percpu){ .index = index,
		                .apic_id = target,
		                .stack_guard = guard,
		                .stack_bottom = guard + PAGE_SIZE };
	struct ap_params *params = (struct ap_params *)(AP_TRAMPOLINE_ADDR + (ap_trampoline_params -
	                                                                      ap_trampoline_start));
	*params = (struct ap_params){
		.cr3 = read_cr3(),
		.cr4 = read_cr4(),
		.stack_top = (uint32_t)(guard + STACK_STRIDE),
		.entry = (uint32_t)(uintptr_t)ap_main,
		.index = index,
	};
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	bool sent = apic_send_init(target);
	pit_delay_us(10000);
	for (int i = 0; i < 2 && sent; i++) {
		sent = apic_send_startup(target, AP_TRAMPOLINE_ADDR >> PAGE_SHIFT);
		pit_delay_us(200);
	}
	if (sent && wait_online(cpu, START_WAIT_US)) {
		kprintf("smp: cpu %u (APIC id %u) started; stack [%p, %p), guard page at %p\n",
		        index, target, (void *)cpu->stack_bottom, (void *)(guard + STACK_STRIDE),
		        (void *)guard);
		return true;
	}
	const char *refused = __atomic_load_n(&cpu->refused, __ATOMIC_ACQUIRE);
	kprintf("smp: cpu with APIC id %u did not start (%s); going on without it\n", target,
	        !sent     ? "the IPI was not delivered"
	        : refused ? refused
	                  : "not online after 100 ms");
	vm_unused(guard + PAGE_SIZE, KERNEL_STACK_SIZE);
	return false;
}

unsigned smp_start(const struct topology *t, unsigned max_cpus)
{
	struct percpu *boot = &percpu_areas[0];
	boot->stack_guard = (uintptr_t)kernel_stack_guard;
	boot->stack_bottom = (uintptr_t)kernel_stack_bottom;
	boot->online = true;
	if (!apic_init(t->lapic_base)) {
		kprintf("smp: no local APIC: the boot CPU alone\n");
		return ipi_cpus_online;
	}
	boot->apic_id = apic_id();
	if (max_cpus > MAX_CPUS)
		max_cpus = MAX_CPUS;
	limit = max_cpus;
	if (t->cpu_count > 1 && max_cpus > 1) {
		stacks = vm_reserve(0, SLOT_SIZE, VM_CPU_STACKS);
		memcpy((void *)AP_TRAMPOLINE_ADDR, ap_trampoline_start,
		       (size_t)(ap_trampoline_end - ap_trampoline_start));
	}
	ipi_init();
	for (unsigned i = 0; i < t->cpu_count && ipi_cpus_online < max_cpus && stacks; i++)
		if (t->apic_ids[i] != boot->apic_id && start_cpu(ipi_cpus_online, t->apic_ids[i]))
			ipi_cpus_online++;
	unsigned listed = t->cpu_count;
	kprintf("smp: %u of %u CPUs online (the boot CPU has APIC id %u)%s\n", ipi_cpus_online,
	        listed, boot->apic_id, listed > max_cpus ? "; cpus= left the others out" : "");
	return ipi_cpus_online;
}

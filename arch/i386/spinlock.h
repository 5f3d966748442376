/*
 * arch/i386/spinlock.h - ticket spinlocks.
 *
 * A CPU takes the next ticket (one lock xadd) and waits until the lock's
 * owner field reaches it: CPUs get the lock in the order they asked for it
 * (fair, unlike a test-and-set lock).  Taking the lock saves the interrupt
 * flag and clears it; releasing restores it.  The wait spins on pause,
 * which under QEMU's -icount hands the CPU to the next vCPU, and runs the
 * calls other CPUs post to this one (arch/i386/ipi.h) as it spins: a CPU
 * that holds a lock and waits for every other CPU to answer a call (a TLB
 * shootdown) is answered even by the CPUs spinning for that same lock.
 * Work so run must take no lock.
 */
#ifndef ARCH_I386_SPINLOCK_H
#define ARCH_I386_SPINLOCK_H

#include "arch/i386/cpu.h"
#include <stdint.h>

typedef struct spinlock {
	uint16_t next;           /* the next ticket to hand out */
	volatile uint16_t owner; /* the ticket that holds the lock */
} spinlock_t;

#define SPINLOCK_INIT \
	{             \
		0, 0  \
	}

void spin_wait(spinlock_t *lock, uint16_t ticket);

/* spin_lock and spin_unlock are for code that runs with interrupts off
 * already (the allocator's slow paths, entered from a fast path that
 * masked them): the same lock, without saving the flag again. */
static inline void spin_lock(spinlock_t *lock)
{
	uint16_t ticket = __atomic_fetch_add(&lock->next, 1, __ATOMIC_ACQUIRE);
	if (__builtin_expect(__atomic_load_n(&lock->owner, __ATOMIC_ACQUIRE) != ticket, 0))
		spin_wait(lock, ticket);
}

static inline void spin_unlock(spinlock_t *lock)
{
	__atomic_store_n(&lock->owner, (uint16_t)(lock->owner + 1), __ATOMIC_RELEASE);
}

static inline uint32_t spin_lock_irqsave(spinlock_t *lock)
{
	uint32_t flags = irq_save();
	spin_lock(lock);
	return flags;
}

static inline void spin_unlock_irqrestore(spinlock_t *lock, uint32_t flags)
{
	spin_unlock(lock);
	irq_restore(flags);
}

/* Whether some CPU holds the lock (for checks and tests). */
static inline int spin_is_locked(const spinlock_t *lock)
{
	return __atomic_load_n(&lock->next, __ATOMIC_RELAXED) !=
	       __atomic_load_n(&lock->owner, __ATOMIC_RELAXED);
}

#endif

/*
 * tests/host/fault_catch.h - the host tests' counterpart of the kernel's
 * fault_catch(): runs a function and reports the address of a SIGSEGV it
 * raised, so that "touching released memory faults" is checked on the host
 * as on target.
 */
#ifndef TESTS_HOST_FAULT_CATCH_H
#define TESTS_HOST_FAULT_CATCH_H

#include <stdbool.h>
#include <stdint.h>

/* True if fn(arg) faulted; *addr is then the faulting address. */
bool host_fault_catch(void (*fn)(void *), void *arg, uintptr_t *addr);

void host_read_byte(void *addr);
void host_write_byte(void *addr);

#endif

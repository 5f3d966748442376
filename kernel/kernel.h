/*
 * kernel/kernel.h - what kmain shares with the rest of the kernel and with
 * the tests: the bootloader's information, checked and copied.
 */
#ifndef KERNEL_KERNEL_H
#define KERNEL_KERNEL_H

#include "kernel/bootinfo.h"
#include "kernel/topology.h"

extern struct bootinfo boot_info;

/* The CPUs the firmware lists (kmain, after memory_init). */
extern struct topology boot_topology;

#endif

/*
 * kernel/shell.h - the serial shell: a prompt on the console once the
 * self-tests are done (boot option shell=1), for looking inside the memory
 * manager while it runs.
 *
 * Commands (help lists them): mem, vm [raw], arena, heap, cpus, alloc SIZE
 * [COUNT], free ID|all, trim, check, test [SUITE], bench [NAME], fault,
 * halt.  Blocks from alloc are kept in a numbered table until freed.  Line
 * editing: backspace, Ctrl-U erases the line, Ctrl-C abandons it; an unknown
 * command or a bad argument gets one line that says so, and the prompt
 * again.
 *
 * Input: the UART is drained into a ring buffer every millisecond by this
 * CPU's APIC timer (its 16-byte FIFO fills in 1.4 ms at 115200 baud), so
 * that what is typed while a command runs is kept; without a local APIC it
 * is drained while the shell waits for input.
 */
#ifndef KERNEL_SHELL_H
#define KERNEL_SHELL_H

#include <stdint.h>

/* Runs the shell on the boot CPU until halt (which ends the run with the
 * success exit); 'seed' is what test runs use.  Returns at once, saying
 * so, when there is no UART to read. */
void shell_run(uint64_t seed);

/* Prints the address space as "vm raw" does: stable lines, one fact each,
 * for tools/render_map.py (format in tools/render_map.py). */
void shell_print_map(void);

#endif

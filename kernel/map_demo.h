/* kernel/map_demo.h - the address-space demonstration of `make map`. */
#ifndef KERNEL_MAP_DEMO_H
#define KERNEL_MAP_DEMO_H

/* Grows, obstructs, falls back, releases; then prints the map (shell.h). */
void map_demo(void);

#endif

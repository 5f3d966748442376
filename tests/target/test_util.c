/* tests/target/test_util.c - the state the memory tests share (test_util.h). */
#include "tests/target/test_util.h"

/* One hoard for every suite: on target it holds 68 KiB of frame numbers,
 * which the kernel image would otherwise carry once per suite. */
struct frame_hoard test_hoard;

#ifndef C_TASK_FRAMES_H
#define C_TASK_FRAMES_H

#include <stddef.h>

/// Allocates `bytes` from the current task's allocator and frees them at once. Call it only
/// from code running in a Swift task. See MCPCore's `TaskFrames`.
void c_task_frames_reserve(size_t bytes);

#endif

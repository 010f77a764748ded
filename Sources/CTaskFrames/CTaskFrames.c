#include "CTaskFrames.h"

// The Swift runtime's allocator of the current task, the one async frames come from. It
// uses Swift's calling convention, which only C code compiled apart from Swift can declare
// safely (a Swift declaration of a runtime symbol is refused).
extern void *swift_task_alloc(size_t size) __attribute__((swiftcall));
extern void swift_task_dealloc(void *pointer) __attribute__((swiftcall));

void c_task_frames_reserve(size_t bytes) {
    swift_task_dealloc(swift_task_alloc(bytes));
}

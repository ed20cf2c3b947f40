/* SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0) */
/* What the programs ask of the current task, with the kernel's constants named once. */
#ifndef SONDE_TASK_H
#define SONDE_TASK_H

/* task_struct.flags: a kernel thread (include/linux/sched.h), not in BTF as a value. */
#define SONDE_PF_KTHREAD 0x00200000

/* Whether `task` is a kernel thread: it has no user memory and owns no user's socket. */
static __always_inline int sonde_is_kthread(const struct task_struct *task)
{
	return task->flags & SONDE_PF_KTHREAD;
}

#endif

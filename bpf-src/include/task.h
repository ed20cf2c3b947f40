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

/*
 * When `task`'s process started, in the clock ticks (1/100 s, USER_HZ) since boot that
 * /proc/<pid>/stat's field 22 shows: the thread group leader's start_boottime. With the
 * pid it names one process for the host's uptime (a pid is reused, never with its start);
 * user space checks it against what /proc says before trusting what /proc says.
 */
static __always_inline __u32 sonde_start_ticks(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_boottime) / 10000000ULL;
}

#endif

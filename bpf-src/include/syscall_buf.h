/* SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0) */
/*
 * Where the syscall being served keeps its bytes, read off the task's saved user
 * registers: for programs on the socket-layer tracepoints (sock_send_length,
 * sock_recv_length), which hand over the socket and a length, not the buffer. x86-64
 * only; a 32-bit task's or a kernel thread's operation has no buffer here.
 * Shared by data.bpf.c (HTTP) and dns.bpf.c (DNS on sockets).
 */
#ifndef SONDE_SYSCALL_BUF_H
#define SONDE_SYSCALL_BUF_H

#include "task.h"

/* x86-64 syscall numbers whose arguments say where the bytes are. */
enum {
	NR_READ = 0,
	NR_WRITE = 1,
	NR_READV = 19,
	NR_WRITEV = 20,
	NR_SENDFILE = 40,
	NR_SENDTO = 44,
	NR_RECVFROM = 45,
	NR_SENDMSG = 46,
	NR_RECVMSG = 47,
	NR_SENDMMSG = 307,
};

/* thread_info.status: a 32-bit task (its syscalls take other registers). */
#define SONDE_TS_COMPAT 0x0002

/*
 * Where the bytes of a vectored operation start: the first non-empty of the first two
 * iovecs of the array at `iov` in user memory (an empty first one is common: Rust's
 * empty IoSlices, writev with an empty header part). Only that iovec's bytes are
 * contiguous, so a copy stops at its end (`*len`). 0 when unreadable.
 */
static __always_inline __u64 pick_iov(__u64 iov, __u64 *len)
{
	struct iovec v = {};

	if (bpf_probe_read_user(&v, sizeof(v), (void *)iov))
		return 0;
	if (!v.iov_len && bpf_probe_read_user(&v, sizeof(v), (void *)(iov + sizeof(v))))
		return 0;
	*len = v.iov_len;
	return (__u64)v.iov_base;
}

/* pick_iov over a msghdr's iovec array. */
static __always_inline __u64 pick_msg_iov(__u64 msg, __u64 *len)
{
	struct user_msghdr m = {};

	if (bpf_probe_read_user(&m, sizeof(m), (void *)msg))
		return 0;
	return pick_iov((__u64)m.msg_iov, len);
}

/*
 * Where a task's saved user registers sit from the base of its kernel stack
 * (task_pt_regs(task) - task->stack): the same for every task (the stack's size less the
 * padding above the registers), so it is learnt from bpf_task_pt_regs() at the first call
 * and the registers are found with two loads after that, where the helper was a call on
 * every operation (each return goes through the SRSO thunk on the reference VM). 0 until
 * learnt; each object that includes this header learns its own.
 */
__u64 sonde_regs_off = 0;

/*
 * The saved user registers of `task`'s syscall (`task` is the current task), or NULL for
 * a kernel thread or a 32-bit task.
 */
static __always_inline struct pt_regs *sonde_syscall_regs(struct task_struct *task)
{
	__u64 stack, off = sonde_regs_off;
	struct pt_regs *regs;

	if (sonde_is_kthread(task) || task->thread_info.status & SONDE_TS_COMPAT)
		return 0;
	stack = (__u64)task->stack;
	if (off)
		return bpf_core_cast((void *)(stack + off), struct pt_regs);
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	/* The pointer as a number (the verifier keeps pointers out of arithmetic). */
	if (!bpf_probe_read_kernel(&off, sizeof(off), &regs))
		sonde_regs_off = off - stack;
	return regs;
}

#endif /* SONDE_SYSCALL_BUF_H */

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
 * The saved user registers of the current task's syscall, or NULL for a kernel thread or
 * a 32-bit task.
 */
static __always_inline struct pt_regs *sonde_syscall_regs(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (sonde_is_kthread(task) || task->thread_info.status & SONDE_TS_COMPAT)
		return 0;
	return (struct pt_regs *)bpf_task_pt_regs(task);
}

#endif /* SONDE_SYSCALL_BUF_H */

// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/*
 * HTTP data path: the data syscalls (write, writev, sendto, sendmsg, read, readv, recvfrom,
 * recvmsg, and sendfile's length), entry and exit, filtered in the kernel to TCP sockets
 * whose traffic is HTTP/1.x, keyed by socket cookie with the thread id. A bounded prefix
 * of each buffer is copied — never whole bodies.
 *
 * A connection is followed once one of its buffers starts like an HTTP/1 request or
 * response; from then on every data syscall on it is reported (lengths let user space
 * find where bodies end), until the connection is forgotten (LRU).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "counters.h"
#include "sock_lookup.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Bytes copied per syscall, at most SONDE_DATA_MAX; set by user space before load. */
const volatile __u32 capture_bytes = 512;
/* As in conn.bpf.c: wake the reader once this many bytes wait (0: every record). */
const volatile __u64 wakeup_bytes = 0;

enum sonde_op { SONDE_OP_WRITE, SONDE_OP_READ, SONDE_OP_WRITEV, SONDE_OP_READV, SONDE_OP_SENDMSG, SONDE_OP_RECVMSG, SONDE_OP_SENDFILE };

/* What a syscall's entry saw, until its exit. */
struct args {
	__u64 buf; /* user buffer (or the first iovec's) */
	__u32 fd;
	__u16 op;
	__u16 live; /* set at entry, cleared at exit */
};

/* Per thread (task storage): no hashing, no LRU lists and no delete on the hot path.
 * An LRU hash keyed by pid_tgid was updated and deleted on every data syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct args);
} data_args SEC(".maps");

/* Connections whose traffic is HTTP (by socket cookie). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} http_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by user space before load */
} data_events SEC(".maps");

/* The record is assembled here: too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sonde_data_event);
} data_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SONDE_DATA_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} data_drops SEC(".maps");

/* Make the skeleton generate the Rust type of the record. */
struct sonde_data_event _data_event = {};

static __always_inline void count(__u32 which)
{
	sonde_count(&data_drops, which);
}

static __always_inline void save(__u64 fd, __u64 buf, __u32 op)
{
	struct args *a = bpf_task_storage_get(&data_args, bpf_get_current_task_btf(), 0,
					      BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!a) {
		count(SONDE_DATA_DROP_ARGS_MAP_FULL);
		return;
	}
	a->buf = buf;
	a->fd = (__u32)fd;
	a->op = (__u16)op;
	a->live = 1;
}

/* The first iovec's base of an iovec array in user memory. */
static __always_inline __u64 first_iov(__u64 iov)
{
	struct iovec v = {};

	bpf_probe_read_user(&v, sizeof(v), (void *)iov);
	return (__u64)v.iov_base;
}

/* Does the buffer start like an HTTP/1 request or response? */
static __always_inline int looks_http(const __u8 *p)
{
	switch (p[0]) {
	case 'G': return p[1] == 'E' && p[2] == 'T' && p[3] == ' ';
	case 'P': return (p[1] == 'O' && p[2] == 'S' && p[3] == 'T') ||
			 (p[1] == 'U' && p[2] == 'T' && p[3] == ' ') ||
			 (p[1] == 'A' && p[2] == 'T' && p[3] == 'C');
	case 'D': return p[1] == 'E' && p[2] == 'L' && p[3] == 'E';
	case 'H': return (p[1] == 'E' && p[2] == 'A' && p[3] == 'D') ||
			 (p[1] == 'T' && p[2] == 'T' && p[3] == 'P' && p[4] == '/' && p[5] == '1');
	case 'O': return p[1] == 'P' && p[2] == 'T' && p[3] == 'I';
	}
	return 0;
}

static __always_inline int on_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct args *a = bpf_task_storage_get(&data_args, bpf_get_current_task_btf(), 0, 0);
	struct sonde_data_event *e;
	__u32 zero = 0, n, op, fd;
	__u64 buf, cookie;
	struct sock *sk;
	__u8 *known;

	if (!a || !a->live)
		return 0;
	buf = a->buf;
	fd = a->fd;
	op = a->op;
	a->live = 0;
	if (ret <= 0)
		return 0;
	sk = sonde_fd_tcp_sock(fd);
	if (!sk)
		return 0;
	cookie = sonde_sk_cookie(sk);
	if (!cookie) {
		count(SONDE_DATA_DROP_NO_COOKIE);
		return 0;
	}
	e = bpf_map_lookup_elem(&data_scratch, &zero);
	if (!e)
		return 0;
	known = bpf_map_lookup_elem(&http_conns, &cookie);
	if (op == SONDE_OP_SENDFILE) {
		if (!known)
			return 0;
		n = 0;
	} else {
		n = ret < capture_bytes ? ret : capture_bytes;
		if (n > SONDE_DATA_MAX)
			n = SONDE_DATA_MAX;
		if (bpf_probe_read_user(e->data, n, (void *)buf)) {
			count(SONDE_DATA_DROP_READ_FAILED);
			return 0;
		}
		if (!known) {
			__u8 one = 1;

			if (n < 6 || !looks_http(e->data))
				return 0;
			bpf_map_update_elem(&http_conns, &cookie, &one, BPF_ANY);
		}
	}
	e->kind = SONDE_EV_DATA;
	e->flags = 0;
	if (op == SONDE_OP_WRITE || op == SONDE_OP_WRITEV || op == SONDE_OP_SENDMSG || op == SONDE_OP_SENDFILE)
		e->flags |= SONDE_DATA_F_EGRESS;
	if (op == SONDE_OP_SENDFILE)
		e->flags |= SONDE_DATA_F_SENDFILE;
	if ((__u64)ret > n)
		e->flags |= SONDE_DATA_F_CUT;
	e->captured = n;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->fd = fd;
	e->cookie = cookie;
	e->ts_ns = bpf_ktime_get_ns();
	e->len = ret;
	/* Below the threshold no wake-up; at or above it a forced one. (A plain 0 here only
	 * wakes a consumer that has caught up: behind, it slept until its poll timeout while
	 * the user-space queue overflowed in the burst that followed.) */
	if (bpf_ringbuf_output(&data_events, e, offsetof(struct sonde_data_event, data) + n,
			       !wakeup_bytes ? 0
			       : bpf_ringbuf_query(&data_events, BPF_RB_AVAIL_DATA) < wakeup_bytes
				       ? BPF_RB_NO_WAKEUP
				       : BPF_RB_FORCE_WAKEUP))
		count(SONDE_DATA_DROP_RINGBUF_FULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int sonde_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	save(ctx->args[0], ctx->args[1], SONDE_OP_WRITE);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int sonde_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	save(ctx->args[0], ctx->args[1], SONDE_OP_WRITE);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int sonde_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	save(ctx->args[0], ctx->args[1], SONDE_OP_READ);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int sonde_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	save(ctx->args[0], ctx->args[1], SONDE_OP_READ);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_writev")
int sonde_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	save(ctx->args[0], first_iov(ctx->args[1]), SONDE_OP_WRITEV);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_readv")
int sonde_enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	save(ctx->args[0], first_iov(ctx->args[1]), SONDE_OP_READV);
	return 0;
}

static __always_inline __u64 msg_first_iov(__u64 msg)
{
	struct user_msghdr m = {};

	bpf_probe_read_user(&m, sizeof(m), (void *)msg);
	return first_iov((__u64)m.msg_iov);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int sonde_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	save(ctx->args[0], msg_first_iov(ctx->args[1]), SONDE_OP_SENDMSG);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int sonde_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	save(ctx->args[0], msg_first_iov(ctx->args[1]), SONDE_OP_RECVMSG);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendfile64")
int sonde_enter_sendfile(struct trace_event_raw_sys_enter *ctx)
{
	save(ctx->args[0], 0, SONDE_OP_SENDFILE);
	return 0;
}

#define EXIT(name)                                                                         \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                         \
	int sonde_exit_##name(struct trace_event_raw_sys_exit *ctx)                        \
	{                                                                                  \
		return on_exit(ctx->ret);                                                  \
	}

EXIT(write)
EXIT(sendto)
EXIT(read)
EXIT(recvfrom)
EXIT(writev)
EXIT(readv)
EXIT(sendmsg)
EXIT(recvmsg)
EXIT(sendfile64)

// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/*
 * HTTP data path: every byte a process moves through a TCP socket is seen where the socket
 * layer reports its length (tp_btf on the sock:sock_send_length / sock:sock_recv_length
 * tracepoints, in sock_sendmsg / sock_recvmsg), with the socket itself as argument. A
 * bounded prefix of the buffer is copied from the syscall's own arguments (its saved user
 * registers: read, write, readv, writev, recvfrom, sendto, recvmsg, sendmsg; sendfile gives
 * a length and no bytes) — never whole bodies.
 *
 * Why not the syscall tracepoints (sys_enter_read … sys_exit_sendfile64, what this file
 * used before): enabling any of them sends every syscall of every task through
 * the kernel's slow syscall path, and each of the 18 hooks costs a perf-trace record; a
 * bpftrace script only counting them cost nginx keep-alive 23 % of its throughput on the
 * reference machine (BENCHMARKS.md). These two tracepoints fire only for socket I/O, hand
 * over the socket (no fd → file → socket walk), once per operation (no entry/exit pair,
 * no per-thread argument store), and leave the syscall path alone.
 *
 * A connection is followed once one of its buffers starts like an HTTP/1 request or
 * response; from then on every data operation on it is reported (lengths let user space
 * find where bodies end), until the connection is forgotten (LRU).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "events.h"
#include "counters.h"
#include "wakeup.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Bytes copied per syscall, at most SONDE_DATA_MAX; set by user space before load. */
const volatile __u32 capture_bytes = 512;
/* As in conn.bpf.c: wake the reader once this many bytes wait (0: every record). */
const volatile __u64 wakeup_bytes = 0;
/* The reader's position at the last forced wake-up, plus one (wakeup.h). */
__u64 data_events_woken = 0;

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
};

/*
 * Bytes looked at on a socket not (yet) known to carry HTTP: what looks_http reads (a
 * shorter first operation is not taken for HTTP, as before).
 */
#define SONDE_PEEK_BYTES 6
#define SONDE_MSG_PEEK 0x2
#define SONDE_MSG_ERRQUEUE 0x2000
#define SONDE_PF_KTHREAD 0x00200000
#define SONDE_TS_COMPAT 0x0002

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

/*
 * Where the bytes of a vectored operation start: the first non-empty of the first two
 * iovecs of the array at `iov` in user memory (an empty first one is common: Rust's
 * empty IoSlices, writev with an empty header part). Only that iovec's bytes are
 * contiguous, so the copy stops at its end (`*len`). 0 when unreadable.
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

/*
 * One data operation on a socket: `ret` bytes moved (a negative errno, or 0, is nothing).
 * The socket is the tracepoint's; the buffer comes from the syscall being served, read off
 * its saved user registers: operations not made by one of the syscalls above (io_uring,
 * splice, sendmmsg, kernel sockets, 32-bit tasks) are not followed, as before.
 */
static __always_inline int on_data(struct sock *sk, int ret, int flags, int egress)
{
	struct task_struct *task;
	struct sonde_data_event *e;
	struct pt_regs *regs;
	__u32 zero = 0, n, fd;
	__u64 id, buf, cookie, nr, contiguous = ~0ULL;
	__u8 *known;

	if (ret <= 0 || !sk || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (!egress && (flags & (SONDE_MSG_PEEK | SONDE_MSG_ERRQUEUE)))
		return 0;
	cookie = sk->__sk_common.skc_cookie.counter;
	if (!cookie) {
		count(SONDE_DATA_DROP_NO_COOKIE);
		return 0;
	}
	known = bpf_map_lookup_elem(&http_conns, &cookie);
	task = bpf_get_current_task_btf();
	if (task->flags & SONDE_PF_KTHREAD || task->thread_info.status & SONDE_TS_COMPAT)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	nr = regs->orig_ax;
	fd = (__u32)regs->di;
	switch (nr) {
	case NR_READ:
	case NR_WRITE:
	case NR_RECVFROM:
	case NR_SENDTO:
		buf = regs->si;
		break;
	case NR_READV:
	case NR_WRITEV:
		buf = pick_iov(regs->si, &contiguous);
		break;
	case NR_RECVMSG:
	case NR_SENDMSG:
		buf = pick_msg_iov(regs->si, &contiguous);
		break;
	case NR_SENDFILE:
		/* Bodies only: a connection is recognised by its first bytes. */
		if (!known)
			return 0;
		buf = 0;
		break;
	default:
		return 0;
	}
	e = bpf_map_lookup_elem(&data_scratch, &zero);
	if (!e)
		return 0;
	if (nr == NR_SENDFILE) {
		n = 0;
	} else {
		n = (__u32)ret < capture_bytes ? (__u32)ret : capture_bytes;
		if (n > contiguous)
			n = contiguous;
		if (n > SONDE_DATA_MAX)
			n = SONDE_DATA_MAX;
		if (!known) {
			__u8 one = 1;

			/* Any other socket (a database, TLS, the agent's own export) is only
			 * looked at: its first 6 bytes, never a whole capture of someone else's
			 * traffic (the 512-byte copy was also ~20 of the ~370 ns this program
			 * costs per operation there). An unreadable buffer there is no loss. */
			if (n < SONDE_PEEK_BYTES ||
			    bpf_probe_read_user(e->data, SONDE_PEEK_BYTES, (void *)buf) ||
			    !looks_http(e->data))
				return 0;
			bpf_map_update_elem(&http_conns, &cookie, &one, BPF_ANY);
		}
		if (bpf_probe_read_user(e->data, n, (void *)buf)) {
			count(SONDE_DATA_DROP_READ_FAILED);
			return 0;
		}
	}
	id = bpf_get_current_pid_tgid();
	e->kind = SONDE_EV_DATA;
	e->flags = 0;
	if (egress)
		e->flags |= SONDE_DATA_F_EGRESS;
	if (nr == NR_SENDFILE)
		e->flags |= SONDE_DATA_F_SENDFILE;
	if ((__u32)ret > n)
		e->flags |= SONDE_DATA_F_CUT;
	e->captured = n;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->fd = fd;
	e->cookie = cookie;
	e->ts_ns = bpf_ktime_get_ns();
	e->len = ret;
	if (bpf_ringbuf_output(&data_events, e, offsetof(struct sonde_data_event, data) + n,
			       sonde_wakeup(&data_events, &data_events_woken, wakeup_bytes)))
		count(SONDE_DATA_DROP_RINGBUF_FULL);
	return 0;
}

/* After the protocol's sendmsg: `ret` bytes queued from the caller's buffer. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(sonde_sock_send, struct sock *sk, int ret, int flags)
{
	return on_data(sk, ret, flags, 1);
}

/* After the protocol's recvmsg: `ret` bytes copied into the caller's buffer. */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(sonde_sock_recv, struct sock *sk, int ret, int flags)
{
	return on_data(sk, ret, flags, 0);
}

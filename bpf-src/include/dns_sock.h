/* SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0) */
/*
 * DNS on socket operations (see dns.bpf.c): the maps, the watched ports and the send and
 * receive steps. dns.bpf.c runs the steps from its own tracepoint programs; with HTTP
 * capture on, data.bpf.c runs them from its programs on the same two tracepoints
 * instead (one dispatch per operation, not two), on dns.bpf.c's maps (reuse_fd).
 */
#ifndef SONDE_DNS_SOCK_H
#define SONDE_DNS_SOCK_H

#include "events.h"
#include "counters.h"
#include "wakeup.h"
#include "syscall_buf.h"
#include "task.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef SONDE_MSG_PEEK
#define SONDE_MSG_PEEK 0x2
#endif
#ifndef SONDE_MSG_ERRQUEUE
#define SONDE_MSG_ERRQUEUE 0x2000
#endif

/* Watched ports (host order), set by user space before load; 0 ends the list. */
const volatile __u16 dns_ports[SONDE_DNS_PORTS_MAX] = { 53 };
/* As in conn.bpf.c: wake the reader once this many bytes wait (0: every record). */
const volatile __u64 dns_wakeup_bytes = 0;
/* The reader's position at the last forced wake-up, plus one (wakeup.h). */
__u64 dns_events_woken = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized by user space before load */
} dns_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SONDE_DNS_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dns_drops SEC(".maps");

static __always_inline void dns_count(__u32 which)
{
	sonde_count(&dns_drops, which);
}

static __always_inline int dns_watched(__u16 port)
{
	for (int i = 0; i < SONDE_DNS_PORTS_MAX; i++) {
		if (!dns_ports[i])
			return 0;
		if (dns_ports[i] == port)
			return 1;
	}
	return 0;
}

/*
 * A query's owner: the sending task (pid, tid, comm) in the event's cgroup. Answers have
 * none; user space gives them the owner of the query they answer.
 */
static __always_inline void dns_query_owner(struct sonde_dns_event *e)
{
	__u64 id = bpf_get_current_pid_tgid();

	e->owner.pid = id >> 32;
	e->owner.tid = (__u32)id;
	e->owner.start = sonde_start_ticks((struct task_struct *)bpf_get_current_task());
	e->owner.cgroup_id = e->cgroup_id;
	bpf_get_current_comm(e->owner.comm, sizeof(e->owner.comm));
}

/* Entries of a sendmmsg vector looked at for the one being sent. */
#define SONDE_MMSG_SCAN 4

/* One end of a lookup, as a DNS event reports it. */
struct dns_peer {
	__u8 addr[16];
	__u16 port; /* host order */
	__u8 family;
	__u8 set;
	__u32 _pad;
};

/*
 * Where an unconnected UDP socket's answers come from (socket storage). `src`: the source of
 * the datagram being received, noted by the recvmsg4/6 hook (only for a watched port) just
 * before sock_recv_length reports the receive, and taken by it. `to`: the server its last
 * query went to, for receives that do not ask the source (recv, read: a stub resolver
 * with one server).
 */
struct dns_from {
	struct dns_peer src;
	struct dns_peer to;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct dns_from);
} dns_from SEC(".maps");

/* A socket operation's message: its bytes (`buf`, or the iovec array `iov` of a vectored
 * operation) and the address the caller named (0 if none). */
struct dns_msg {
	__u64 buf;
	__u64 iov;
	__u64 name;
};

/*
 * Where a message is put together before it goes up: a vectored operation's first two
 * iovecs end to end (DNS over TCP is written as the 2-byte length and the message, dig's
 * writev), each at most SONDE_DNS_MAX.
 */
struct dns_scratch {
	__u8 data[2 * SONDE_DNS_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_scratch);
} dns_scratch SEC(".maps");

/*
 * The entry of a sendmmsg vector being sent: the kernel writes each entry's msg_len after
 * sending it, so it is the first one whose msg_len is still 0 (callers zero the vector:
 * glibc's resolver, libuv, BIND's dig). 0 when none of the first SONDE_MMSG_SCAN is.
 */
static __always_inline __u64 current_mmsg(__u64 vec)
{
	for (int i = 0; i < SONDE_MMSG_SCAN; i++) {
		__u64 e = vec + i * sizeof(struct mmsghdr);
		__u32 len;

		if (bpf_probe_read_user(&len, sizeof(len),
					(void *)(e + offsetof(struct mmsghdr, msg_len))))
			return 0;
		if (!len)
			return e;
	}
	return 0;
}

/* Where the current syscall's message is (see struct dns_msg); 0 if not one of ours. */
static __always_inline int user_msg(struct dns_msg *m)
{
	struct pt_regs *regs = sonde_syscall_regs(bpf_get_current_task_btf());
	struct user_msghdr h = {};
	__u64 msg;

	if (!regs)
		return 0;
	switch (regs->orig_ax) {
	case NR_READ:
	case NR_WRITE:
		m->buf = regs->si;
		return 1;
	case NR_SENDTO:
	case NR_RECVFROM:
		m->buf = regs->si;
		m->name = regs->r8;
		return 1;
	case NR_READV:
	case NR_WRITEV:
		m->iov = regs->si;
		return 1;
	case NR_SENDMSG:
	case NR_RECVMSG:
		msg = regs->si;
		break;
	case NR_SENDMMSG:
		msg = current_mmsg(regs->si);
		if (!msg)
			return 0;
		break;
	default:
		return 0;
	}
	if (bpf_probe_read_user(&h, sizeof(h), (void *)msg))
		return 0;
	m->name = (__u64)h.msg_name;
	m->iov = (__u64)h.msg_iov;
	return m->iov != 0;
}

/* min(n, SONDE_DNS_MAX), in the register the verifier sees bounded (clang may otherwise
 * hand the helper the unclamped copy). */
static __always_inline __u32 clamp_len(__u64 n)
{
	__u32 r = n < SONDE_DNS_MAX ? n : SONDE_DNS_MAX;

	asm volatile("" : "+r"(r));
	if (r > SONDE_DNS_MAX)
		r = SONDE_DNS_MAX;
	return r;
}

/*
 * The first `ret` bytes of the message into `dst`: a plain buffer's first SONDE_DNS_MAX,
 * or a vectored one's first two iovecs (the second only when the first holds less than
 * `ret`), each up to SONDE_DNS_MAX. Returns the bytes copied, or -1 if unreadable.
 */
static __always_inline int copy_msg(const struct dns_msg *m, __u32 ret, __u8 *dst)
{
	struct iovec v = {};
	__u32 n0, n1;

	if (!m->iov) {
		n0 = clamp_len(ret);
		return bpf_probe_read_user(dst, n0, (void *)m->buf) ? -1 : (int)n0;
	}
	if (bpf_probe_read_user(&v, sizeof(v), (void *)m->iov))
		return -1;
	n0 = clamp_len(v.iov_len < ret ? v.iov_len : ret);
	if (n0 && bpf_probe_read_user(dst, n0, v.iov_base))
		return -1;
	if (v.iov_len >= ret)
		return n0;
	n1 = ret - v.iov_len;
	if (bpf_probe_read_user(&v, sizeof(v), (void *)(m->iov + sizeof(v))))
		return -1;
	n1 = clamp_len(n1 < v.iov_len ? n1 : v.iov_len);
	if (n1 && bpf_probe_read_user(dst + n0, n1, v.iov_base))
		return -1;
	return n0 + n1;
}

/*
 * An IPv4-mapped IPv6 address (a dual-stack socket talking IPv4) as the IPv4 address the
 * packets carry, as the packet path reports it. Returns the family to report.
 */
static __always_inline __u8 unmap(__u8 *a)
{
	__u32 *w = (__u32 *)a;

	if (w[0] || w[1] || w[2] != bpf_htonl(0xffff))
		return AF_INET6;
	w[0] = w[3];
	w[1] = w[2] = w[3] = 0;
	return AF_INET;
}

/* A sockaddr in user memory: its port (host order, 0 if unreadable or not IP) and address. */
static __always_inline __u16 user_sockaddr(__u64 name, __u8 *family, __u8 *addr)
{
	struct sockaddr_in6 sa = {};

	if (!name || bpf_probe_read_user(&sa, sizeof(sa), (void *)name))
		return 0;
	if (sa.sin6_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&sa;

		*family = AF_INET;
		__builtin_memcpy(addr, &in->sin_addr, 4);
		return bpf_ntohs(in->sin_port);
	}
	if (sa.sin6_family == AF_INET6) {
		__builtin_memcpy(addr, &sa.sin6_addr, 16);
		*family = unmap(addr);
		return bpf_ntohs(sa.sin6_port);
	}
	return 0;
}

/*
 * One message through `sk` (`ret` bytes from or into the current syscall's buffer): a query
 * sent (`egress`) or an answer received. `rport` is the remote port, the socket's when it is
 * connected; else `from` (receives) or the syscall's msg_name (sends) names the remote end.
 */
static __always_inline int socket_capture(struct sock *sk, int ret, int egress, __u16 rport,
					  const struct dns_peer *from)
{
	struct sonde_dns_event *e;
	struct dns_scratch *scratch;
	struct dns_msg m = {};
	__u8 local[16] = {}, remote[16] = {};
	__u8 lfamily, rfamily, proto = sk->sk_protocol;
	__u16 flags = egress ? SONDE_DNS_F_EGRESS : 0;
	__u32 zero = 0, n;
	int got;

	if (!user_msg(&m)) {
		if (rport || from)
			dns_count(SONDE_DNS_DROP_NO_BUFFER);
		return 0;
	}
	if (sk->__sk_common.skc_family == AF_INET) {
		__builtin_memcpy(local, &sk->__sk_common.skc_rcv_saddr, 4);
		__builtin_memcpy(remote, &sk->__sk_common.skc_daddr, 4);
		lfamily = rfamily = AF_INET;
	} else {
		__builtin_memcpy(local, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(remote, &sk->__sk_common.skc_v6_daddr, 16);
		lfamily = unmap(local);
		rfamily = unmap(remote);
	}
	if (!rport) {
		if (from) {
			rfamily = from->family;
			__builtin_memcpy(remote, from->addr, 16);
			rport = from->port;
		} else {
			struct dns_from *f;

			rport = user_sockaddr(m.name, &rfamily, remote);
			if (!dns_watched(rport))
				return 0; /* an unconnected socket sending elsewhere */
			f = bpf_sk_storage_get(&dns_from, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
			if (f) {
				__builtin_memcpy(f->to.addr, remote, 16);
				f->to.port = rport;
				f->to.family = rfamily;
				f->to.set = 1;
			} else {
				dns_count(SONDE_DNS_DROP_NO_STORAGE);
			}
		}
	}
	/* An unbound local end (0.0.0.0 or ::) takes the family of the remote one. */
	if (lfamily != rfamily) {
		__u32 *w = (__u32 *)local;

		if (w[0] || w[1] || w[2] || w[3])
			return 0; /* a v4-mapped socket end talking IPv6: not a DNS client */
		lfamily = rfamily;
	}
	scratch = bpf_map_lookup_elem(&dns_scratch, &zero);
	if (!scratch)
		return 0;
	got = copy_msg(&m, ret, scratch->data);
	if (got <= 0) {
		dns_count(SONDE_DNS_DROP_LOAD_FAILED);
		return 0;
	}
	n = got;
	/* As on packets: the client's side only (a query leaving, an answer arriving). */
	if (proto == IPPROTO_UDP && (n < 3 || !!(scratch->data[2] & 0x80) == !!egress)) {
		dns_count(SONDE_DNS_DROP_SERVER_SIDE);
		return 0;
	}
	n = clamp_len(n);
	if (n < (__u32)ret) {
		flags |= SONDE_DNS_F_TRUNCATED;
		dns_count(SONDE_DNS_DROP_TRUNCATED);
	}
	e = bpf_ringbuf_reserve(&dns_events, sizeof(*e), 0);
	if (!e) {
		dns_count(SONDE_DNS_DROP_RINGBUF_FULL);
		return 0;
	}
	if (bpf_probe_read_kernel(e->data, n, scratch->data)) {
		dns_count(SONDE_DNS_DROP_LOAD_FAILED);
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	if (proto == IPPROTO_TCP)
		flags |= SONDE_DNS_F_TCP;
	e->kind = SONDE_EV_DNS_PACKET;
	e->family = rfamily;
	e->len = ret > 0xffff ? 0xffff : ret;
	e->captured = n;
	e->_pad = 0;
	e->cookie = bpf_get_socket_cookie(sk);
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->ts_ns = bpf_ktime_get_ns();
	__builtin_memset(&e->owner, 0, sizeof(e->owner));
	if (egress) {
		e->sport = sk->__sk_common.skc_num;
		e->dport = rport;
		__builtin_memcpy(e->saddr, local, 16);
		__builtin_memcpy(e->daddr, remote, 16);
		dns_query_owner(e);
		flags |= SONDE_DNS_F_OWNER;
	} else {
		e->sport = rport;
		e->dport = sk->__sk_common.skc_num;
		__builtin_memcpy(e->saddr, remote, 16);
		__builtin_memcpy(e->daddr, local, 16);
	}
	e->flags = flags;
	bpf_ringbuf_submit(e, sonde_wakeup(&dns_events, &dns_events_woken, dns_wakeup_bytes));
	return 0;
}

/*
 * What a socket operation on any socket of the host costs when it is not DNS: the protocol,
 * the family and the remote port (an unconnected UDP socket also has its send's msg_name
 * read, or its receive's noted source looked up).
 */
static __always_inline int ip_socket(struct sock *sk, __u8 *proto)
{
	__u16 family = sk->__sk_common.skc_family;

	*proto = sk->sk_protocol;
	return (*proto == IPPROTO_UDP || *proto == IPPROTO_TCP) &&
	       (family == AF_INET || family == AF_INET6);
}

/* After the protocol's sendmsg: `ret` bytes sent from the caller's buffer. */
static __always_inline int sonde_dns_send_step(struct sock *sk, int ret)
{
	__u16 rport;
	__u8 proto;

	if (ret <= 0 || !sk || !ip_socket(sk, &proto))
		return 0;
	rport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (rport ? !dns_watched(rport) : proto != IPPROTO_UDP)
		return 0;
	return socket_capture(sk, ret, 1, rport, 0);
}

/* After the protocol's recvmsg: `ret` bytes copied into the caller's buffer. */
static __always_inline int sonde_dns_recv_step(struct sock *sk, int ret, int flags)
{
	struct dns_peer *from = 0;
	struct dns_from *f;
	__u16 rport;
	__u8 proto;

	if (ret <= 0 || !sk || (flags & (SONDE_MSG_PEEK | SONDE_MSG_ERRQUEUE)) ||
	    !ip_socket(sk, &proto))
		return 0;
	rport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (rport) {
		if (!dns_watched(rport))
			return 0;
	} else {
		if (proto != IPPROTO_UDP)
			return 0;
		f = bpf_sk_storage_get(&dns_from, sk, 0, 0);
		if (!f)
			return 0;
		if (f->src.set) {
			f->src.set = 0;
			from = &f->src;
		} else if (f->to.set) {
			from = &f->to;
		} else {
			return 0;
		}
	}
	return socket_capture(sk, ret, 0, rport, from);
}

#endif /* SONDE_DNS_SOCK_H */

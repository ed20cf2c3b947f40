// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/*
 * DNS capture, from the client's side: each query a local socket sends to a watched port
 * and each answer it receives goes to the ring buffer (the message, bounded, with the
 * socket cookie, cgroup and both ends' addresses). Two ways to see them; user space loads
 * one (bpf/dns.rs):
 *
 * - On sockets (Linux 6.3 and later; the default): tp_btf on sock:sock_send_length and
 *   sock:sock_recv_length, the socket layer's report of each operation's length, with the
 *   socket. The message is copied from the syscall's own buffer (syscall_buf.h). Other
 *   traffic costs one early exit per socket operation: the protocol and the socket's remote
 *   port. An unconnected UDP socket (musl, dnsmasq's upstream side) names its server in
 *   each send (read from the syscall's msg_name) and learns it of each answer only
 *   in user memory the kernel fills after the tracepoint, so the cgroup recvmsg4/6 hooks
 *   (run for UDP receives that ask for the source address) note it in socket storage
 *   first. Not seen: io_uring, recvmmsg (a UDP answer read so is counted,
 *   SONDE_DNS_DROP_NO_BUFFER, where a watched port says so), an unconnected socket's
 *   answer read without asking its source.
 * - On packets (older kernels): cgroup_skb ingress and egress on the cgroup-v2 root. Every
 *   packet of the host goes through them, ~120 ns a packet here (BENCHMARKS.md), which is
 *   why sockets come first.
 *
 * Attribution: a query leaves in the sending task's context (on sockets by definition; on
 * packets, udp_sendmsg and the first transmission of tcp_sendmsg run the egress hook
 * synchronously), so queries carry the task's pid and comm. User space gives answers the
 * owner of the query they answer. The packet programs never drop or alter a packet: they
 * return 1.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "events.h"
#include "counters.h"
#include "wakeup.h"
#include "syscall_buf.h"

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Watched ports (host order), set by user space before load; 0 ends the list. */
const volatile __u16 dns_ports[SONDE_DNS_PORTS_MAX] = { 53 };
/* As in conn.bpf.c: wake the reader once this many bytes wait (0: every record). */
const volatile __u64 wakeup_bytes = 0;
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

/* Make the skeleton generate the Rust type of the record. */
struct sonde_dns_event _dns_event = {};

static __always_inline void count(__u32 which)
{
	sonde_count(&dns_drops, which);
}

static __always_inline int watched(__u16 port)
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
 * The fast exit, before any header is loaded: the packet's socket says its ports (two
 * context loads, no helper call). A TCP or connected UDP socket's packets carry exactly
 * those ports, so one whose ports are both unwatched is done with here: this is every
 * packet of the host's ordinary traffic, and the per-packet cost of DNS capture. An
 * unconnected socket (remote port 0: a UDP server, a resolver using sendto, a listener
 * receiving a SYN) leaves the decision to the headers. (A connected UDP socket that
 * sendto()s another address is the one case the socket cannot speak for; resolvers
 * either connect to the server they query or do not connect at all.)
 */
static __always_inline int socket_unwatched(struct __sk_buff *skb)
{
	/* The ctx rewrite loads the network-order port and, on little-endian hosts,
	 * shifts it into the upper 16 bits. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__u16 remote = bpf_ntohs((__u16)(skb->remote_port >> 16));
#else
	__u16 remote = bpf_ntohs((__u16)skb->remote_port);
#endif

	if (!remote)
		return 0;
	return !watched((__u16)skb->local_port) && !watched(remote);
}

static __always_inline int capture(struct __sk_buff *skb, __u16 egress)
{
	struct sonde_dns_event *e;
	__u8 saddr[16] = {}, daddr[16] = {};
	__u32 l4, payload, len;
	__u16 sport, dport, flags = egress ? SONDE_DNS_F_EGRESS : 0;
	__u8 proto, family;

	if (socket_unwatched(skb))
		return 1;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 1;
		proto = ip.protocol;
		if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
			return 1;
		if (ip.frag_off & bpf_htons(0x1fff)) {
			count(SONDE_DNS_DROP_UNPARSED_L3); /* a non-first fragment has no ports */
			return 1;
		}
		l4 = ip.ihl * 4;
		__builtin_memcpy(saddr, &ip.saddr, 4);
		__builtin_memcpy(daddr, &ip.daddr, 4);
		family = AF_INET;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		proto = ip6.nexthdr;
		if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
			return 1; /* extension headers are not followed */
		l4 = sizeof(ip6);
		__builtin_memcpy(saddr, &ip6.saddr, 16);
		__builtin_memcpy(daddr, &ip6.daddr, 16);
		family = AF_INET6;
	} else {
		return 1;
	}

	if (proto == IPPROTO_UDP) {
		struct udphdr uh;

		if (bpf_skb_load_bytes(skb, l4, &uh, sizeof(uh)))
			return 1;
		sport = bpf_ntohs(uh.source);
		dport = bpf_ntohs(uh.dest);
		payload = l4 + sizeof(uh);
	} else {
		struct tcphdr th;

		if (bpf_skb_load_bytes(skb, l4, &th, sizeof(th)))
			return 1;
		sport = bpf_ntohs(th.source);
		dport = bpf_ntohs(th.dest);
		payload = l4 + th.doff * 4;
		flags |= SONDE_DNS_F_TCP;
	}
	if (!watched(sport) && !watched(dport))
		return 1;
	if (skb->len <= payload)
		return 1; /* no payload: a handshake or a bare ACK */
	len = skb->len - payload;
	/*
	 * Lookups are the client's view: a query leaving (QR=0 on egress) and an answer
	 * arriving (QR=1 on ingress). A local DNS server's side of the same exchange (on
	 * loopback, every packet is seen at both ends) is skipped here, before any copy.
	 * TCP segments need not start a message, so user space sorts those out.
	 */
	if (proto == IPPROTO_UDP) {
		__u8 flags_hi;

		if (bpf_skb_load_bytes(skb, payload + 2, &flags_hi, 1))
			return 1;
		if (!!(flags_hi & 0x80) == !!egress) {
			count(SONDE_DNS_DROP_SERVER_SIDE);
			return 1;
		}
	}

	e = bpf_ringbuf_reserve(&dns_events, sizeof(*e), 0);
	if (!e) {
		count(SONDE_DNS_DROP_RINGBUF_FULL);
		return 1;
	}
	e->len = len > 0xffff ? 0xffff : len;
	if (len > SONDE_DNS_MAX) {
		len = SONDE_DNS_MAX;
		flags |= SONDE_DNS_F_TRUNCATED;
		count(SONDE_DNS_DROP_TRUNCATED);
	}
	if (len == 0 || bpf_skb_load_bytes(skb, payload, e->data, len)) {
		count(SONDE_DNS_DROP_LOAD_FAILED);
		bpf_ringbuf_discard(e, 0);
		return 1;
	}
	e->kind = SONDE_EV_DNS_PACKET;
	e->family = family;
	e->sport = sport;
	e->dport = dport;
	e->captured = len;
	e->_pad = 0;
	e->cookie = bpf_get_socket_cookie(skb);
	e->cgroup_id = bpf_skb_cgroup_id(skb);
	e->ts_ns = bpf_ktime_get_ns();
	__builtin_memcpy(e->saddr, saddr, 16);
	__builtin_memcpy(e->daddr, daddr, 16);
	__builtin_memset(&e->owner, 0, sizeof(e->owner));
	if (egress) {
		__u64 id = bpf_get_current_pid_tgid();

		e->owner.pid = id >> 32;
		e->owner.tid = (__u32)id;
		e->owner.cgroup_id = e->cgroup_id;
		bpf_get_current_comm(e->owner.comm, sizeof(e->owner.comm));
		flags |= SONDE_DNS_F_OWNER;
	}
	e->flags = flags;
	bpf_ringbuf_submit(e, sonde_wakeup(&dns_events, &dns_events_woken, wakeup_bytes));
	return 1;
}

SEC("cgroup_skb/egress")
int sonde_dns_egress(struct __sk_buff *skb)
{
	return capture(skb, 1);
}

SEC("cgroup_skb/ingress")
int sonde_dns_ingress(struct __sk_buff *skb)
{
	return capture(skb, 0);
}

/* ---- on sockets ------------------------------------------------------------------------ */

#define SONDE_MSG_PEEK 0x2
#define SONDE_MSG_ERRQUEUE 0x2000
/* Entries of a sendmmsg vector looked at for the one being sent. */
#define SONDE_MMSG_SCAN 4

/*
 * The source of the datagram an unconnected UDP socket is receiving, noted by the recvmsg4/6
 * hook (only for a watched port) just before sock_recv_length reports the receive.
 */
struct dns_from {
	__u8 addr[16];
	__u16 port; /* host order */
	__u8 family;
	__u8 valid; /* set by the hook, taken by the receive */
	__u32 _pad;
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
	struct pt_regs *regs = sonde_syscall_regs();
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
					  const struct dns_from *from)
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
			count(SONDE_DNS_DROP_NO_BUFFER);
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
			rport = user_sockaddr(m.name, &rfamily, remote);
			if (!watched(rport))
				return 0; /* an unconnected socket sending elsewhere */
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
		count(SONDE_DNS_DROP_LOAD_FAILED);
		return 0;
	}
	n = got;
	/* As on packets: the client's side only (a query leaving, an answer arriving). */
	if (proto == IPPROTO_UDP && (n < 3 || !!(scratch->data[2] & 0x80) == !!egress)) {
		count(SONDE_DNS_DROP_SERVER_SIDE);
		return 0;
	}
	n = clamp_len(n);
	if (n < (__u32)ret) {
		flags |= SONDE_DNS_F_TRUNCATED;
		count(SONDE_DNS_DROP_TRUNCATED);
	}
	e = bpf_ringbuf_reserve(&dns_events, sizeof(*e), 0);
	if (!e) {
		count(SONDE_DNS_DROP_RINGBUF_FULL);
		return 0;
	}
	if (bpf_probe_read_kernel(e->data, n, scratch->data)) {
		count(SONDE_DNS_DROP_LOAD_FAILED);
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
		__u64 id = bpf_get_current_pid_tgid();

		e->sport = sk->__sk_common.skc_num;
		e->dport = rport;
		__builtin_memcpy(e->saddr, local, 16);
		__builtin_memcpy(e->daddr, remote, 16);
		e->owner.pid = id >> 32;
		e->owner.tid = (__u32)id;
		e->owner.cgroup_id = e->cgroup_id;
		bpf_get_current_comm(e->owner.comm, sizeof(e->owner.comm));
		flags |= SONDE_DNS_F_OWNER;
	} else {
		e->sport = rport;
		e->dport = sk->__sk_common.skc_num;
		__builtin_memcpy(e->saddr, remote, 16);
		__builtin_memcpy(e->daddr, local, 16);
	}
	e->flags = flags;
	bpf_ringbuf_submit(e, sonde_wakeup(&dns_events, &dns_events_woken, wakeup_bytes));
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
SEC("tp_btf/sock_send_length")
int BPF_PROG(sonde_dns_send, struct sock *sk, int ret, int flags)
{
	__u16 rport;
	__u8 proto;

	if (ret <= 0 || !sk || !ip_socket(sk, &proto))
		return 0;
	rport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (rport ? !watched(rport) : proto != IPPROTO_UDP)
		return 0;
	return socket_capture(sk, ret, 1, rport, 0);
}

/* After the protocol's recvmsg: `ret` bytes copied into the caller's buffer. */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(sonde_dns_recv, struct sock *sk, int ret, int flags)
{
	struct dns_from *from = 0;
	__u16 rport;
	__u8 proto;

	if (ret <= 0 || !sk || (flags & (SONDE_MSG_PEEK | SONDE_MSG_ERRQUEUE)) ||
	    !ip_socket(sk, &proto))
		return 0;
	rport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (rport) {
		if (!watched(rport))
			return 0;
	} else {
		if (proto != IPPROTO_UDP)
			return 0;
		from = bpf_sk_storage_get(&dns_from, sk, 0, 0);
		if (!from || !from->valid)
			return 0;
		from->valid = 0;
	}
	return socket_capture(sk, ret, 0, rport, from);
}

/*
 * A UDP receive that asks for the source address (recvfrom, recvmsg with msg_name), after
 * the kernel filled it in: a watched source is noted for sock_recv_length, which runs next
 * on the same socket.
 */
static __always_inline int note_source(struct bpf_sock_addr *ctx, __u8 family)
{
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	struct dns_from *f;

	if (!watched(port) || !ctx->sk)
		return 1;
	f = bpf_sk_storage_get(&dns_from, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!f) {
		count(SONDE_DNS_DROP_NO_STORAGE);
		return 1;
	}
	__builtin_memset(f->addr, 0, sizeof(f->addr));
	if (family == AF_INET) {
		__u32 a = ctx->user_ip4;

		__builtin_memcpy(f->addr, &a, 4);
	} else {
		__u32 a[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
			       ctx->user_ip6[3] };

		__builtin_memcpy(f->addr, a, 16);
		family = unmap(f->addr);
	}
	f->family = family;
	f->port = port;
	f->valid = 1;
	return 1;
}

SEC("cgroup/recvmsg4")
int sonde_dns_recvmsg4(struct bpf_sock_addr *ctx)
{
	return note_source(ctx, AF_INET);
}

SEC("cgroup/recvmsg6")
int sonde_dns_recvmsg6(struct bpf_sock_addr *ctx)
{
	return note_source(ctx, AF_INET6);
}

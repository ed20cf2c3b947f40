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
 *   first; a receive that does not ask it (recv, read) takes the server of the socket's
 *   last query. Not seen: io_uring, recvmmsg (a UDP answer read so is counted,
 *   SONDE_DNS_DROP_NO_BUFFER, where a watched port says so).
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
#include "dns_sock.h"
#include "owner.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Make the skeleton generate the Rust type of the record. */
struct sonde_dns_event _dns_event = {};
/* And the values of the enums it shares with user space (events.h). */
enum sonde_dns_flags _dns_flags = 0;
enum sonde_dns_drop _dns_drop = 0;

/* ---- on packets ------------------------------------------------------------------------ */

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
static __always_inline int socket_undns_watched(struct __sk_buff *skb)
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
	return !dns_watched((__u16)skb->local_port) && !dns_watched(remote);
}

static __always_inline int capture(struct __sk_buff *skb, __u16 egress)
{
	struct sonde_dns_event *e;
	__u8 saddr[16] = {}, daddr[16] = {};
	__u32 l4, payload, len;
	__u16 sport, dport, flags = egress ? SONDE_DNS_F_EGRESS : 0;
	__u8 proto, family;

	if (socket_undns_watched(skb))
		return 1;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 1;
		proto = ip.protocol;
		if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
			return 1;
		if (ip.frag_off & bpf_htons(0x1fff)) {
			dns_count(SONDE_DNS_DROP_UNPARSED_L3); /* a non-first fragment has no ports */
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
	if (!dns_watched(sport) && !dns_watched(dport))
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
			dns_count(SONDE_DNS_DROP_SERVER_SIDE);
			return 1;
		}
	}

	e = bpf_ringbuf_reserve(&dns_events, sizeof(*e), 0);
	if (!e) {
		dns_count(SONDE_DNS_DROP_RINGBUF_FULL);
		return 1;
	}
	e->len = len > 0xffff ? 0xffff : len;
	if (len > SONDE_DNS_MAX) {
		len = SONDE_DNS_MAX;
		flags |= SONDE_DNS_F_TRUNCATED;
		dns_count(SONDE_DNS_DROP_TRUNCATED);
	}
	if (len == 0 || bpf_skb_load_bytes(skb, payload, e->data, len)) {
		dns_count(SONDE_DNS_DROP_LOAD_FAILED);
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
		dns_query_owner(e);
		flags |= SONDE_DNS_F_OWNER;
	}
	e->flags = flags;
	bpf_ringbuf_submit(e, sonde_wakeup(&dns_events, &dns_events_woken, dns_wakeup_bytes));
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

/* ---- on sockets (include/dns_sock.h) ------------------------------------------------------ */

/* After the protocol's sendmsg: `ret` bytes sent from the caller's buffer (loaded when
 * HTTP capture is off; with it on, data.bpf.c's send program runs the same step). */
SEC("tp_btf/sock_send_length")
int BPF_PROG(sonde_dns_send, struct sock *sk, int ret, int flags)
{
	return sonde_dns_send_step(sk, ret);
}

/*
 * Set by user space: this object's receive program also takes accepted sockets' owners
 * (owner.h, on conn.bpf.c's maps, shared with reuse_fd), in place of conn.bpf.c's own
 * receive program: one program per receive, not two (and with one program a tracepoint
 * calls it directly, where two are called in turn through the tracepoint's list).
 */
const volatile __u8 owner_steps = 0;

/*
 * After the protocol's recvmsg: `ret` bytes copied into the caller's buffer (as above). A
 * failed receive (EAGAIN) moves nothing: it leaves first, and an owner is taken at the
 * first receive that returns.
 */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(sonde_dns_recv, struct sock *sk, int ret, int flags)
{
	if (ret < 0 || !sk)
		return 0;
	if (owner_steps && sk->sk_protocol == IPPROTO_TCP)
		sonde_owner_first_recv(sk);
	return sonde_dns_recv_step(sk, ret, flags);
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

	if (!dns_watched(port) || !ctx->sk)
		return 1;
	f = bpf_sk_storage_get(&dns_from, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!f) {
		dns_count(SONDE_DNS_DROP_NO_STORAGE);
		return 1;
	}
	__builtin_memset(f->src.addr, 0, sizeof(f->src.addr));
	if (family == AF_INET) {
		__u32 a = ctx->user_ip4;

		__builtin_memcpy(f->src.addr, &a, 4);
	} else {
		__u32 a[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
			       ctx->user_ip6[3] };

		__builtin_memcpy(f->src.addr, a, 16);
		family = unmap(f->src.addr);
	}
	f->src.family = family;
	f->src.port = port;
	f->src.set = 1;
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

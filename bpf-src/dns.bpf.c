// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/*
 * DNS capture: cgroup_skb ingress and egress on the cgroup-v2 root, which sees every
 * socket of every network namespace. For UDP or TCP packets to or from a watched port,
 * the DNS message (bounded) goes to the ring buffer with the socket cookie and cgroup.
 *
 * Attribution: a query leaves in the sending task's context (udp_sendmsg and the first
 * transmission of tcp_sendmsg run the egress hook synchronously), so egress packets carry
 * the task's pid and comm. Answers arrive in softirq; user space gives them the owner of
 * the query they answer. The programs never drop or alter a packet: they return 1.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "counters.h"
#include "wakeup.h"

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

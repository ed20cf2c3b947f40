// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/*
 * Packets the kernel dropped, by the kernel's own reason and the packet's transport.
 *
 * `tp_btf/kfree_skb` runs for every packet freed on the host, dropped or not: the common
 * case (SKB_CONSUMED, a packet delivered) leaves at the first compare. Packets that are not
 * IPv4 or IPv6 (UNIX sockets' and netlink's buffers, whose reasons are on the same enum)
 * leave at the second. A drop then costs one map lookup and one add on this CPU's slot.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "counters.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMPV6_ 58

/* The contract's enum, for the skeleton's constants. */
enum sonde_skb_drop _skb_drop = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SONDE_SKB_REASONS * SONDE_SKB_TRANSPORTS);
	__type(key, __u32);
	__type(value, __u64);
} skb_drops SEC(".maps");

/* The transport of the packet's network header, when it has one set. */
static __always_inline __u32 transport_of(struct sk_buff *skb, __u16 proto)
{
	__u16 nh = skb->network_header;
	unsigned char *head = skb->head;
	__u8 next = 0;

	/* (u16)~0: not set. */
	if (nh == (__u16)~0U || !head)
		return SONDE_SKB_TRANSPORT_OTHER;
	/* IPv4's protocol is byte 9 of its header, IPv6's next header byte 6 (an extension
	 * header, if any, is taken as "other"). */
	if (bpf_probe_read_kernel(&next, 1, head + nh + (proto == bpf_htons(ETH_P_IP) ? 9 : 6)))
		return SONDE_SKB_TRANSPORT_OTHER;
	switch (next) {
	case IPPROTO_TCP:
		return SONDE_SKB_TRANSPORT_TCP;
	case IPPROTO_UDP:
		return SONDE_SKB_TRANSPORT_UDP;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6_:
		return SONDE_SKB_TRANSPORT_ICMP;
	default:
		return SONDE_SKB_TRANSPORT_OTHER;
	}
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(sonde_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason,
	     struct sock *rx_sk)
{
	__u32 r = (__u32)reason;
	__u16 proto;

	/* SKB_NOT_DROPPED_YET (0) and SKB_CONSUMED (1): not drops. */
	if (r <= 1)
		return 0;
	proto = skb->protocol;
	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return 0;
	if (r >= SONDE_SKB_REASONS)
		r = SONDE_SKB_REASONS - 1;
	sonde_count(&skb_drops, r * SONDE_SKB_TRANSPORTS + transport_of(skb, proto));
	return 0;
}

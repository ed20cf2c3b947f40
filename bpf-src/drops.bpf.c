// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/*
 * Packets the kernel dropped, by the kernel's own reason, the packet's transport and
 * direction, and the tracked TCP connection they belong to.
 *
 * `tp_btf/kfree_skb` runs for every packet freed on the host, dropped or not: the common
 * case (SKB_CONSUMED, a packet delivered) leaves at the first compare. Packets that are not
 * IPv4 or IPv6 (UNIX sockets' and netlink's buffers, whose reasons are on the same enum)
 * leave at the second.
 *
 * A drop is then attributed, best first:
 * - to its socket's connection: the socket the kernel names (`rx_sk`, set where TCP or
 *   UDP looked the socket up before dropping), else the one the packet carries
 *   (`skb->sk`: the sender's on the way out, and on the way in the established socket
 *   early demux found before netfilter's input hook ran). A TCP socket conn.bpf.c tracks
 *   gets the drop in `conn_drops`, which goes out with the connection's records;
 * - else to the host: `skb_drops`, by reason, transport and direction.
 * Nothing is counted twice: a connection's drop is not in `skb_drops`.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "counters.h"
#include "sock_lookup.h"
#include "task.h"
#include "owner.h"
#include "conn_drops.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMPV6_ 58
#define E2BIG 7

/* The contract's enums and record, for the skeleton's constants and types. */
enum sonde_skb_drop _skb_drop = 0;
enum sonde_skb_loss _skb_loss = 0;
struct sonde_conn_drops _conn_drops = {};

/* Drops no tracked connection took: [reason][transport][direction]. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SONDE_SKB_REASONS * SONDE_SKB_TRANSPORTS * SONDE_SKB_DIRECTIONS);
	__type(key, __u32);
	__type(value, __u64);
} skb_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SONDE_SKB_LOSS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} skb_losses SEC(".maps");

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

/*
 * Adds a drop to slot `key` (reason | direction << 16) of a connection's drops: the slot
 * already holding it, else the first free one, claimed with a compare-and-swap (two CPUs
 * may drop packets of one connection at once). False if all are taken by other pairs.
 */
static __always_inline bool add_to_slot(struct sonde_conn_drops *d, __u32 key)
{
	for (int i = 0; i < SONDE_CONN_DROP_SLOTS; i++) {
		__u32 k = d->key[i];

		if (!k) {
			k = __sync_val_compare_and_swap(&d->key[i], 0, key);
			if (!k) {
				d->first_ns[i] = bpf_ktime_get_ns();
				k = key;
			}
		}
		if (k == key) {
			__sync_fetch_and_add(&d->count[i], 1);
			return true;
		}
	}
	__sync_fetch_and_add(&d->unslotted, 1);
	return false;
}

/* The drop is one of a tracked TCP connection's (then counted there): true. */
static __always_inline bool conn_drop(struct sock *sk, __u32 key)
{
	struct sonde_conn_drops *d;
	__u8 state;
	__u64 cookie;

	/* Request and time-wait socks are not tracked, and have no full-socket fields. */
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_NEW_SYN_RECV || state == TCP_TIME_WAIT || state == TCP_LISTEN)
		return false;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return false;
	/* A tracked socket has its cookie: conn.bpf.c made it. Not generated here. */
	cookie = sonde_sk_cookie(sk);
	if (!cookie || !bpf_map_lookup_elem(&conns, &cookie))
		return false;
	d = bpf_map_lookup_elem(&conn_drops, &cookie);
	if (!d) {
		struct sonde_conn_drops zero = {};

		/* NOEXIST: another CPU may have made it; E2BIG: full. */
		if (bpf_map_update_elem(&conn_drops, &cookie, &zero, BPF_NOEXIST) == -E2BIG) {
			sonde_count(&skb_losses, SONDE_SKB_LOSS_CONN_DROPS_FULL);
			return false;
		}
		d = bpf_map_lookup_elem(&conn_drops, &cookie);
		if (!d)
			return false;
	}
	return add_to_slot(d, key);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(sonde_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason,
	     struct sock *rx_sk)
{
	__u32 r = (__u32)reason, transport, dir;
	struct sock *sk;
	__u16 proto;

	/* SKB_NOT_DROPPED_YET (0) and SKB_CONSUMED (1): not drops. */
	if (r <= 1)
		return 0;
	proto = skb->protocol;
	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return 0;
	if (r >= SONDE_SKB_REASONS)
		r = SONDE_SKB_REASONS - 1;
	transport = transport_of(skb, proto);
	dir = skb->skb_iif ? SONDE_SKB_DIR_RECEIVE : SONDE_SKB_DIR_TRANSMIT;
	sk = rx_sk ? rx_sk : skb->sk;
	if (sk && transport == SONDE_SKB_TRANSPORT_TCP && conn_drop(sk, r | dir << 16))
		return 0;
	sonde_count(&skb_drops,
		    (r * SONDE_SKB_TRANSPORTS + transport) * SONDE_SKB_DIRECTIONS + dir);
	return 0;
}

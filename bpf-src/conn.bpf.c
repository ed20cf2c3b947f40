// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/*
 * TCP connection lifecycle, IPv4 and IPv6, keyed by socket cookie.
 *
 * - connect(): CLOSE -> SYN_SENT runs in the connecting task, so the owner is taken there.
 * - accept(): the child socket is created in softirq (SYN_RECV), where `current` is
 *   whatever task was interrupted; it gets the listener's owner as a fallback, and the
 *   real owner is taken in process context: at the socket's first receive
 *   (tp_btf/sock_recv_length, Linux 6.3 and later), or on older kernels when
 *   accept()/accept4() returns its fd. The receive hook costs a socket operation one
 *   storage check (owner.h; with HTTP capture on, data.bpf.c's receive program runs it
 *   and this one is not loaded). The accept one is a syscall tracepoint, and attaching any of those
 *   sends every syscall of every task through the kernel's slow path (+55 ns each on the
 *   reference machine: bench/hook-cost.sh); user space loads one or the other.
 * - close: TCP_CLOSE stamps the end; when the socket is destroyed (after any RST an
 *   abortive close sends) the counters are read from the tcp_sock once and one record
 *   goes to the ring buffer. Nothing runs per packet.
 *
 * Every place a record or a connection can be lost bumps a `drops` counter.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "counters.h"
#include "wakeup.h"
#include "sock_lookup.h"
#include "task.h"
#include "owner.h"
#include "conn_drops.h"

#define AF_INET 2
#define AF_INET6 10
#define E2BIG 7

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Ring-buffer wake-ups: the consumer is woken once this many bytes are waiting; below
 * it, records wait for the consumer's own poll timeout. Set by user space before load.
 */
const volatile __u64 wakeup_bytes = 0;

/* Long-lived connections are reported every this many nanoseconds (0: never). */
const volatile __u64 report_interval_ns = 30000000000ULL;

struct listen_key {
	__u32 netns;
	__u16 port;
	__u16 _pad;
};


struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct listen_key);
	__type(value, struct sonde_owner);
} listeners SEC(".maps");

/*
 * Every listening socket, by cookie (one per socket: SO_REUSEPORT groups share a port):
 * what the inventory needs and the periodic pass reports (SONDE_EV_LISTEN*).
 */
struct listen_sock {
	__u64 sk; /* the struct sock, valid until it leaves TCP_LISTEN (the entry goes then) */
	__u64 start_ns;
	struct sonde_owner owner;
	__u32 drops; /* sk_drops when last reported */
	__u8 announced; /* SONDE_EV_LISTEN sent */
	__u8 flags;	/* enum sonde_listen_flags */
	__u16 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* a host with few listeners holds few entries */
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct listen_sock);
} listen_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by user space before load */
} events SEC(".maps");

/*
 * The walk at start: the listening ports of the namespace being walked (the iterator
 * visits listeners before connections), so a connection on one is the server side.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct listen_key);
	__type(value, __u8);
} walk_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SONDE_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Make the skeleton generate Rust types for the records. */
struct sonde_conn_event _conn_event = {};
struct sonde_proc_event _proc_event = {};
struct sonde_walk_rec _walk_rec = {};
struct sonde_listen_event _listen_event = {};
enum sonde_listen_flags _listen_flags = 0;
enum sonde_walk_kind _walk_kind = 0;
/* And the values of the enums it shares with user space (events.h). */
enum sonde_event_kind _event_kind = 0;
enum sonde_direction _direction = 0;
enum sonde_conn_flags _conn_flags = 0;
enum sonde_drop _drop = 0;

static __always_inline void count_drop(__u32 which)
{
	sonde_count(&drops, which);
}

/* The reader's position at the last forced wake-up, plus one (wakeup.h). */
__u64 events_woken = 0;

static __always_inline __u64 wakeup_flags(void)
{
	return sonde_wakeup(&events, &events_woken, wakeup_bytes);
}

static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/*
 * The local port. At TCP_CLOSE the tracepoint fires after inet_put_port() has zeroed
 * skc_num, but inet_sport keeps the bound port for the socket's whole life.
 */
static __always_inline __u16 sk_lport(const struct sock *sk)
{
	return bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
}

static __always_inline void track(const struct sock *sk, __u8 direction)
{
	__u64 cookie = bpf_get_socket_cookie((void *)sk);
	struct conn c = {
		.sk = (__u64)sk,
		.start_ns = bpf_ktime_get_ns(),
		.direction = direction,
		.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)),
	};
	long err;

	if (direction == SONDE_DIR_CLIENT) {
		fill_owner(&c.owner);
	} else {
		struct listen_key lk = {
			.netns = sk_netns(sk),
			.port = sk_lport(sk),
		};
		struct sonde_owner *lo = bpf_map_lookup_elem(&listeners, &lk);

		if (lo) {
			c.owner = *lo;
			c.flags |= SONDE_F_OWNER_LISTENER;
		}
	}
	/* NOEXIST: a simultaneous open (SYN_SENT -> SYN_RECV) keeps its client entry. */
	err = bpf_map_update_elem(&conns, &cookie, &c, BPF_NOEXIST);
	if (err) {
		if (err == -E2BIG)
			count_drop(SONDE_DROP_CONN_MAP_FULL);
		return;
	}
	/*
	 * Every accepted socket waits for its first receive in process context, whether or not
	 * its listener's owner is known: a listener opened before the agent started has none
	 * in `listeners` unless user space found it at start, and its connections were all
	 * pid 0 when the mark depended on it.
	 */
	if (direction == SONDE_DIR_SERVER)
		bpf_sk_storage_get(&owner_pending, (struct sock *)sk, 0,
				   BPF_SK_STORAGE_GET_F_CREATE);
}

/*
 * A listener's record, from its socket (read with bpf_probe_read_kernel: the periodic pass
 * holds only the stored pointer, see report_one).
 */
static __always_inline void fill_listen_event(struct sonde_listen_event *e, __u8 kind,
					      const struct sock *sk, const struct listen_sock *l,
					      __u64 cookie, __u32 drops)
{
	e->kind = kind;
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->flags = l->flags;
	e->_pad = 0;
	e->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->_pad2 = 0;
	e->netns = sk_netns(sk);
	e->backlog = BPF_CORE_READ(sk, sk_max_ack_backlog);
	e->drops = drops;
	e->_pad3 = 0;
	e->cookie = cookie;
	e->start_ns = l->start_ns;
	e->ts_ns = bpf_ktime_get_ns();
	if (e->family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
	} else {
		__builtin_memset(e->addr, 0, sizeof(e->addr));
		bpf_core_read(e->addr, 4, &sk->__sk_common.skc_rcv_saddr);
	}
	e->owner = l->owner;
}

/* The listener's drop count (tcp_listendrop and the receive path's discards on it). */
static __always_inline __u32 listen_drops(const struct sock *sk)
{
	return BPF_CORE_READ(sk, sk_drops.counter);
}

/* Sends one listener record; false if the ring is full (counted). */
static __always_inline bool send_listen(__u8 kind, const struct sock *sk,
					const struct listen_sock *l, __u64 cookie, __u32 drops)
{
	struct sonde_listen_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_drop(SONDE_DROP_RINGBUF_FULL);
		return false;
	}
	fill_listen_event(e, kind, sk, l, cookie, drops);
	bpf_ringbuf_submit(e, wakeup_flags());
	return true;
}

static __always_inline void on_listen(const struct sock *sk)
{
	struct listen_key lk = {
		.netns = sk_netns(sk),
		.port = sk_lport(sk),
	};
	struct sonde_owner o = {};
	struct listen_sock l = {
		.sk = (__u64)sk,
		.start_ns = bpf_ktime_get_ns(),
	};
	__u64 cookie = bpf_get_socket_cookie((void *)sk);

	fill_owner(&o);
	if (bpf_map_update_elem(&listeners, &lk, &o, BPF_ANY) == -E2BIG)
		count_drop(SONDE_DROP_LISTEN_MAP_FULL);
	/* Announced by the periodic pass, once listen() has set the backlog. */
	l.owner = o;
	l.drops = listen_drops(sk);
	if (bpf_map_update_elem(&listen_socks, &cookie, &l, BPF_ANY) == -E2BIG)
		count_drop(SONDE_DROP_LISTEN_MAP_FULL);
}

static __always_inline void on_unlisten(const struct sock *sk)
{
	struct listen_key lk = {
		.netns = sk_netns(sk),
		.port = sk_lport(sk),
	};
	__u64 cookie = bpf_get_socket_cookie((void *)sk);
	struct listen_sock *l = bpf_map_lookup_elem(&listen_socks, &cookie);

	bpf_map_delete_elem(&listeners, &lk);
	if (!l)
		return;
	if (!l->announced)
		l->flags |= SONDE_LISTEN_F_UNANNOUNCED;
	send_listen(SONDE_EV_UNLISTEN, sk, l, cookie, listen_drops(sk));
	bpf_map_delete_elem(&listen_socks, &cookie);
}

/*
 * TCP_CLOSE: remember when and from where. The record is sent when the socket is
 * destroyed, because an abortive close (unread data, SO_LINGER 0) enters TCP_CLOSE
 * *before* it sends its RST.
 */
static __always_inline void on_close(const struct sock *sk, int oldstate)
{
	__u64 cookie = bpf_get_socket_cookie((void *)sk);
	struct conn *c = bpf_map_lookup_elem(&conns, &cookie);

	if (c && !c->close_ns) {
		c->close_ns = bpf_ktime_get_ns();
		c->last_state = oldstate;
	}
}

/*
 * Fills a record from the socket's counters; shared by the close and the periodic report.
 * True if the connection has a `conn_drops` entry.
 */
static __always_inline bool fill_conn_event(struct sonde_conn_event *e, const struct sock *sk,
					    const struct conn *c, __u64 cookie, __u8 kind, __u64 end_ns)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	struct sonde_conn_drops *d;
	__u64 sent, retrans, received;
	unsigned long sk_flags;

	e->kind = kind;
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->direction = c->direction;
	e->last_state = c->last_state;
	e->flags = c->flags;
	e->lport = sk_lport(sk);
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (!e->rport)
		e->rport = c->rport; /* zeroed by a failed connect()'s disconnect */
	e->_pad0 = 0;
	e->sk_err = BPF_CORE_READ(sk, sk_err);
	e->netns = sk_netns(sk);
	e->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	e->min_rtt_us = BPF_CORE_READ(tp, rtt_min.s[0].v);
	e->segs_out = BPF_CORE_READ(tp, segs_out);
	e->segs_in = BPF_CORE_READ(tp, segs_in);
	e->total_retrans = BPF_CORE_READ(tp, total_retrans);
	e->cookie = cookie;
	e->start_ns = c->start_ns;
	e->end_ns = end_ns;

	/* bytes_sent counts every transmission; bytes_retrans the repeats. */
	sent = BPF_CORE_READ(tp, bytes_sent);
	retrans = BPF_CORE_READ(tp, bytes_retrans);
	e->bytes_sent = sent > retrans ? sent - retrans : 0;
	/* bytes_received advances with rcv_nxt, which the peer's FIN moves by one. */
	received = BPF_CORE_READ(tp, bytes_received);
	sk_flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
	if (sk_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE))) {
		e->flags |= SONDE_F_FIN_RECEIVED;
		if (received)
			received -= 1;
	}
	e->bytes_received = received;

	if (e->family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&e->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		__builtin_memset(e->laddr, 0, sizeof(e->laddr));
		__builtin_memset(e->raddr, 0, sizeof(e->raddr));
		bpf_core_read(e->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(e->raddr, 4, &sk->__sk_common.skc_daddr);
	}
	e->owner = c->owner;
	/* The drops drops.bpf.c found on it, if any (an entry exists only after one). */
	d = bpf_map_lookup_elem(&conn_drops, &cookie);
	if (!d) {
		__builtin_memset(&e->drops, 0, sizeof(e->drops));
		return false;
	}
	e->drops = *d;
	return true;
}

static __always_inline void on_destroy(const struct sock *sk)
{
	__u64 cookie = bpf_get_socket_cookie((void *)sk);
	struct conn *c = bpf_map_lookup_elem(&conns, &cookie);
	struct sonde_conn_event *e;

	if (!c)
		return; /* opened before Sonde attached, or already reported */

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(SONDE_DROP_RINGBUF_FULL);
		bpf_map_delete_elem(&conn_drops, &cookie);
		bpf_map_delete_elem(&conns, &cookie);
		return;
	}
	if (fill_conn_event(e, sk, c, cookie, SONDE_EV_CONN_CLOSE,
			    c->close_ns ? c->close_ns : bpf_ktime_get_ns()))
		bpf_map_delete_elem(&conn_drops, &cookie);
	bpf_ringbuf_submit(e, wakeup_flags());
	bpf_map_delete_elem(&conns, &cookie);
}

/*
 * Periodic reports. User space runs this program (BPF_PROG_TEST_RUN) about once a second;
 * it walks the tracked connections and reports those open for longer than the interval
 * and not reported within it. No per-packet hook is involved. The stored sock pointer is
 * read with bpf_probe_read_kernel: the entry is deleted in tcp_destroy_sock, before the
 * socket is freed, and TCP socks are SLAB_TYPESAFE_BY_RCU, so a racing destroy can at
 * worst make one report stale, never unsafe.
 */
static long report_one(struct bpf_map *map, __u64 *cookie, struct conn *c, __u64 *now)
{
	struct sonde_conn_event *e;

	if (c->close_ns || !(c->flags & SONDE_F_ESTABLISHED) || !c->sk)
		return 0;
	if (*now - c->start_ns < report_interval_ns)
		return 0;
	if (c->last_report_ns && *now - c->last_report_ns < report_interval_ns)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(SONDE_DROP_RINGBUF_FULL);
		return 1; /* the buffer is full: stop this pass, the next one retries */
	}
	fill_conn_event(e, (const struct sock *)c->sk, c, *cookie, SONDE_EV_CONN_UPDATE, *now);
	bpf_ringbuf_submit(e, wakeup_flags());
	c->last_report_ns = *now;
	return 0;
}

/*
 * The periodic pass over the listeners: announces a new one (its backlog is set by now),
 * reports one whose drop count grew. The stored pointer is valid: the entry is deleted
 * when the socket leaves TCP_LISTEN, before it can be freed (and TCP socks are
 * SLAB_TYPESAFE_BY_RCU, read with bpf_probe_read_kernel: a race is a stale read at worst).
 */
static long poll_listener(struct bpf_map *map, __u64 *cookie, struct listen_sock *l, void *ctx)
{
	const struct sock *sk = (const struct sock *)l->sk;
	__u32 drops;

	if (!sk)
		return 0;
	drops = listen_drops(sk);
	if (!l->announced) {
		if (!send_listen(SONDE_EV_LISTEN, sk, l, *cookie, drops))
			return 1;
		l->announced = 1;
		l->drops = drops;
	} else if (drops != l->drops) {
		if (!send_listen(SONDE_EV_LISTEN_UPDATE, sk, l, *cookie, drops))
			return 1;
		l->drops = drops;
	}
	return 0;
}

SEC("syscall")
int sonde_report(void *ctx)
{
	__u64 now = bpf_ktime_get_ns();

	if (report_interval_ns)
		bpf_for_each_map_elem(&conns, report_one, &now, 0);
	bpf_for_each_map_elem(&listen_socks, poll_listener, 0, 0);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sonde_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u16 family;
	__u64 cookie;
	struct conn *c;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;

	switch (newstate) {
	case TCP_SYN_SENT:
		track(sk, SONDE_DIR_CLIENT);
		break;
	case TCP_SYN_RECV:
		track(sk, SONDE_DIR_SERVER);
		break;
	case TCP_ESTABLISHED:
		cookie = bpf_get_socket_cookie((void *)sk);
		c = bpf_map_lookup_elem(&conns, &cookie);
		if (c)
			c->flags |= SONDE_F_ESTABLISHED;
		break;
	case TCP_LISTEN:
		on_listen(sk);
		break;
	case TCP_CLOSE:
		if (oldstate == TCP_LISTEN)
			on_unlisten(sk);
		else if (oldstate != TCP_CLOSE)
			on_close(sk, oldstate);
		break;
	}
	return 0;
}

static __always_inline void set_flag(const struct sock *sk, __u16 flag)
{
	__u64 cookie;
	struct conn *c;
	__u8 state;

	if (!sk)
		return;
	/* Time-wait and request socks are not tracked (and have no full sock fields). */
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return;
	cookie = bpf_get_socket_cookie((void *)sk);
	c = bpf_map_lookup_elem(&conns, &cookie);
	if (c)
		c->flags |= flag;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(sonde_destroy_sock, struct sock *sk)
{
	on_destroy(sk);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(sonde_send_reset, const struct sock *sk, const struct sk_buff *skb, int reason)
{
	set_flag(sk, SONDE_F_RST_SENT);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(sonde_receive_reset, struct sock *sk)
{
	set_flag(sk, SONDE_F_RST_RECEIVED);
	return 0;
}

/*
 * A receive on a socket still owned by its listener: the task receiving is the one
 * accept() returned the socket to (owner.h). With HTTP capture on, data.bpf.c's receive
 * program does this on the same maps, and with DNS seen on sockets dns.bpf.c's does:
 * then user space loads this one but does not attach it (one program per receive, not
 * two). A failed receive (EAGAIN) is left alone, as there.
 */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(sonde_owner_recv, struct sock *sk, int ret, int flags)
{
	if (ret >= 0)
		sonde_owner_first_recv(sk);
	return 0;
}

/* accept()/accept4() returned fd: the calling task owns the accepted socket (before 6.3). */
static __always_inline int on_accept_exit(long fd)
{
	struct sock *sk = sonde_fd_tcp_sock(fd);
	struct conn *c;
	__u64 cookie;

	if (!sk)
		return 0;
	/* The cookie was generated when the child was tracked; 0 means it never was. */
	cookie = sonde_sk_cookie(sk);
	if (!cookie)
		return 0;
	c = bpf_map_lookup_elem(&conns, &cookie);
	if (!c)
		return 0;
	take_owner(c);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int sonde_accept4_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int sonde_accept_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

static __always_inline void emit_proc(__u8 kind, struct task_struct *p)
{
	struct sonde_proc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_drop(SONDE_DROP_RINGBUF_FULL);
		return;
	}
	e->kind = kind;
	e->_pad[0] = e->_pad[1] = e->_pad[2] = 0;
	e->pid = BPF_CORE_READ(p, tgid);
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->start = sonde_start_ticks(p);
	e->ts_ns = bpf_ktime_get_ns();
	BPF_CORE_READ_STR_INTO(&e->comm, p, comm);
	/*
	 * An exec wakes the reader at once: user space reads /proc/<pid> (executable,
	 * command line, OTEL_SERVICE_NAME) while the process still runs, and a short-lived
	 * client may be gone after a batching delay.
	 */
	bpf_ringbuf_submit(e, kind == SONDE_EV_PROC_EXEC ? BPF_RB_FORCE_WAKEUP : wakeup_flags());
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sonde_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	emit_proc(SONDE_EV_PROC_EXEC, p);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sonde_exit, struct task_struct *p)
{
	/* One record per process, not per thread. */
	if (BPF_CORE_READ(p, pid) != BPF_CORE_READ(p, tgid))
		return 0;
	emit_proc(SONDE_EV_PROC_EXIT, p);
	return 0;
}

/*
 * The sockets of the network namespace this iterator is opened in, at start (user space
 * opens one in each namespace; struct sonde_walk_rec). Run once, before any connection is
 * accepted under the agent.
 * - Listeners, for user space to name their owners: a listener opened after attach is
 *   seen by on_listen, which user space's entries never replace.
 * - Connections open before attach (ESTABLISHED and the closing states a full socket
 *   passes through): put in `conns` here, while the iterator holds the socket, so its
 *   destroy finds the entry (an entry written by user space could outlive its socket);
 *   reported from then on like any other, flagged SONDE_F_PREEXISTING, with their
 *   counters at this moment for user space to subtract. Start time: now (observed from).
 *   A connection on a port this namespace listens on is the server side. TIME_WAIT and
 *   request sockets are not full sockets: no counters, nothing left to report.
 */
static __always_inline int walk_connection(struct bpf_iter__tcp *ctx, struct sock *sk,
					   struct tcp_sock *tp, struct sonde_walk_rec *r)
{
	__u64 cookie = bpf_get_socket_cookie(sk);
	struct listen_key lk = { .netns = r->netns, .port = r->port };
	struct conn c = {
		.sk = (__u64)sk,
		.start_ns = bpf_ktime_get_ns(),
		.flags = SONDE_F_ESTABLISHED | SONDE_F_PREEXISTING,
		.rport = bpf_ntohs(sk->__sk_common.skc_dport),
	};
	__u64 sent, retrans;
	long err;

	c.direction = bpf_map_lookup_elem(&walk_ports, &lk) ? SONDE_DIR_SERVER : SONDE_DIR_CLIENT;
	/* NOEXIST: a connection the hooks saw open after attach keeps its entry. */
	err = bpf_map_update_elem(&conns, &cookie, &c, BPF_NOEXIST);
	if (err) {
		if (err == -E2BIG)
			count_drop(SONDE_DROP_CONN_MAP_FULL);
		return 0;
	}
	r->kind = SONDE_WALK_CONNECTION;
	r->direction = c.direction;
	r->cookie = cookie;
	sent = tp->bytes_sent;
	retrans = tp->bytes_retrans;
	r->bytes_sent = sent > retrans ? sent - retrans : 0;
	r->bytes_received = tp->bytes_received;
	r->segs_out = tp->segs_out;
	r->segs_in = tp->segs_in;
	r->total_retrans = tp->total_retrans;
	bpf_seq_write(ctx->meta->seq, r, sizeof(*r));
	return 0;
}

SEC("iter/tcp")
int sonde_walk(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct sonde_walk_rec r = {};
	struct tcp_sock *tp;
	struct sock *sk;
	__u8 one = 1;

	if (!skc)
		return 0;
	switch (skc->skc_state) {
	case TCP_LISTEN:
	case TCP_ESTABLISHED:
	case TCP_FIN_WAIT1:
	case TCP_FIN_WAIT2:
	case TCP_CLOSE_WAIT:
	case TCP_CLOSING:
	case TCP_LAST_ACK:
		break;
	default:
		return 0;
	}
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	sk = (struct sock *)tp;
	r.ino = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
	r.netns = sk_netns(sk);
	r.port = skc->skc_num;
	r.family = skc->skc_family;
	if (skc->skc_state != TCP_LISTEN)
		return walk_connection(ctx, sk, tp, &r);
	{
		struct listen_key lk = { .netns = r.netns, .port = r.port };
		struct listen_sock l = {
			.sk = (__u64)sk,
			.start_ns = bpf_ktime_get_ns(),
			.flags = SONDE_LISTEN_F_PREEXISTING,
		};

		bpf_map_update_elem(&walk_ports, &lk, &one, BPF_ANY);
		/* Announced by the next periodic pass; its owner is user space's to name (by
		 * the socket's inode, from this record). NOEXIST: one seen by on_listen keeps its
		 * entry. */
		r.cookie = bpf_get_socket_cookie(sk);
		if (bpf_map_update_elem(&listen_socks, &r.cookie, &l, BPF_NOEXIST) == -E2BIG)
			count_drop(SONDE_DROP_LISTEN_MAP_FULL);
	}
	r.kind = SONDE_WALK_LISTENER;
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

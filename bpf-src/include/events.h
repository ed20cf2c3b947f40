/* SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0) */
/*
 * The kernel/user contract: every record the BPF programs put in a ring buffer, every
 * counter they keep, and the limits both sides agree on. Rust reads these through the
 * skeleton's generated types (collector/src/kernel/contract.rs), with size assertions: records
 * through a global of their type in the object that sends them, and every enum here
 * through a global of its type too (`_kinds` and the like), so that its values reach
 * Rust as the skeleton's constants, not as copies.
 */
#ifndef SONDE_EVENTS_H
#define SONDE_EVENTS_H

#define SONDE_COMM_LEN 16

/* Kinds of ring-buffer records; every record starts with a `__u8 kind`. */
enum sonde_event_kind {
	SONDE_EV_CONN_CLOSE = 1, /* a tracked TCP connection closed (sent at socket destruction) */
	SONDE_EV_PROC_EXEC = 2,	 /* a process called execve: refresh its cached identity */
	SONDE_EV_PROC_EXIT = 3,	 /* a process (thread-group leader) exited */
	SONDE_EV_CONN_UPDATE = 4, /* periodic report of a long-lived connection (same layout as CLOSE) */
	SONDE_EV_DNS_PACKET = 5,  /* a DNS message on a watched port (dns.bpf.c) */
	SONDE_EV_DATA = 6,	  /* bytes a data syscall moved on an HTTP connection (data.bpf.c) */
	SONDE_EV_HTTP = 7,	  /* an HTTP exchange the kernel timed, sent up as an exemplar (data.bpf.c) */
	SONDE_EV_LISTEN = 8,	  /* a listening TCP socket, first seen by the periodic pass */
	SONDE_EV_LISTEN_UPDATE = 9, /* a listener's drop count grew */
	SONDE_EV_UNLISTEN = 10,	  /* a listener stopped listening (closed, or shut down) */
};

/* Who opened the connection, seen from the owning process. */
enum sonde_direction {
	SONDE_DIR_UNKNOWN = 0,
	SONDE_DIR_CLIENT = 1, /* connect() */
	SONDE_DIR_SERVER = 2, /* accepted */
};

/* Facts about a connection, gathered by the hooks; user space derives the close reason. */
enum sonde_conn_flags {
	SONDE_F_ESTABLISHED = 1 << 0,	 /* reached ESTABLISHED */
	SONDE_F_RST_SENT = 1 << 1,	 /* this side sent a RST */
	SONDE_F_RST_RECEIVED = 1 << 2,	 /* the peer sent a RST */
	SONDE_F_FIN_RECEIVED = 1 << 3,	 /* the peer's FIN arrived (SOCK_DONE) */
	SONDE_F_OWNER_LISTENER = 1 << 4, /* owner taken from the listener, accept() not seen */
	SONDE_F_OWNER_ACCEPT = 1 << 5,	 /* owner taken in process context (first receive, or accept()) */
	SONDE_F_PREEXISTING = 1 << 6,	 /* open before the probes attached: found by the walk at start */
};

/* Where the kernel side can lose data; indexes of the `drops` per-CPU array. */
enum sonde_drop {
	SONDE_DROP_RINGBUF_FULL = 0,
	SONDE_DROP_CONN_MAP_FULL = 1,
	SONDE_DROP_LISTEN_MAP_FULL = 2,
	SONDE_DROP_MAX = 3,
};

/*
 * Packet drops (drops.bpf.c): a per-CPU array of counters indexed by
 * `reason * SONDE_SKB_TRANSPORTS + transport`. Reasons at or past SONDE_SKB_REASONS (and
 * the subsystems' reasons, which carry a subsystem id in their high bits) share the last
 * reason slot; user space names every slot from the running kernel's BTF.
 */
enum sonde_skb_drop {
	SONDE_SKB_REASONS = 256,
	SONDE_SKB_TRANSPORT_OTHER = 0,
	SONDE_SKB_TRANSPORT_TCP = 1,
	SONDE_SKB_TRANSPORT_UDP = 2,
	SONDE_SKB_TRANSPORT_ICMP = 3,
	SONDE_SKB_TRANSPORTS = 4,
	/* The packet's direction: it arrived on an interface (skb_iif set: received, or
	 * forwarded), else the host sent it. */
	SONDE_SKB_DIR_TRANSMIT = 0,
	SONDE_SKB_DIR_RECEIVE = 1,
	SONDE_SKB_DIRECTIONS = 2,
	/* Per-connection drop slots: distinct (reason, direction) pairs one connection keeps. */
	SONDE_CONN_DROP_SLOTS = 4,
};

/* Where drops.bpf.c loses detail (never a count); indexes of its `skb_losses` array. */
enum sonde_skb_loss {
	/* A tracked connection's drop that found `conn_drops` full: counted for the host. */
	SONDE_SKB_LOSS_CONN_DROPS_FULL = 0,
	SONDE_SKB_LOSS_MAX = 1,
};

/*
 * The drops of one tracked connection (drops.bpf.c writes `conn_drops`, conn.bpf.c copies
 * them into the connection's records). A slot is claimed by the first drop of its
 * (reason, direction) and keeps it; a drop of a fifth pair is counted in `unslotted` and,
 * by its reason, for the host.
 */
struct sonde_conn_drops {
	__u32 key[SONDE_CONN_DROP_SLOTS]; /* reason | direction << 16 (a reason is >= 2); 0: free */
	__u32 count[SONDE_CONN_DROP_SLOTS];
	__u64 first_ns[SONDE_CONN_DROP_SLOTS]; /* CLOCK_MONOTONIC of the slot's first drop */
	__u32 unslotted;
	__u32 _pad;
};

/* What a `sonde_walk_rec` is. */
enum sonde_walk_kind {
	SONDE_WALK_LISTENER = 0,
	SONDE_WALK_CONNECTION = 1,
};

/*
 * A socket found at start by conn.bpf.c's `sonde_walk` iterator (one network namespace per
 * run). A listener: user space names its owner from the processes holding the socket's
 * inode and fills `listeners`, so that a server started before the agent has an owner to
 * fall back on. A connection (ESTABLISHED or closing): the iterator has put it in `conns`
 * (flagged SONDE_F_PREEXISTING, reported from then on like any other); the record carries
 * its counters at that moment, which user space subtracts from its reports (what the
 * connection moved before the agent started is not counted again), and its inode, for
 * its owner.
 */
struct sonde_walk_rec {
	__u64 ino;   /* the socket's inode number (/proc/PID/fd/N -> "socket:[ino]") */
	__u32 netns; /* network namespace inode number */
	__u16 port;  /* local port, host order */
	__u16 family;
	__u8 kind;	/* enum sonde_walk_kind */
	__u8 direction; /* a connection's: enum sonde_direction */
	__u8 _pad[6];
	/* A connection's, at the walk: */
	__u64 cookie;
	__u64 bytes_sent; /* without retransmissions, as sonde_conn_event counts them */
	__u64 bytes_received;
	__u32 segs_out;
	__u32 segs_in;
	__u32 total_retrans;
	__u32 _pad2;
};

/* enum sonde_listen_flags: facts about a listener record. */
enum sonde_listen_flags {
	SONDE_LISTEN_F_PREEXISTING = 1 << 0, /* listening before the probes attached (the walk) */
	SONDE_LISTEN_F_UNANNOUNCED = 1 << 1, /* an UNLISTEN of one no LISTEN was sent for */
};

/* The process that owns a socket, taken in process context (syscall time). */
struct sonde_owner {
	__u64 cgroup_id; /* cgroup v2 id of the task at that moment */
	__u32 pid;	 /* tgid: the process */
	__u32 tid;	 /* the thread */
	__u32 ppid;	 /* parent's tgid */
	__u32 start;	 /* the process's start, clock ticks since boot (task.h): with pid,
			    the process's identity (a pid is reused, never with its start) */
	char comm[SONDE_COMM_LEN];
};

/*
 * SONDE_EV_LISTEN, SONDE_EV_LISTEN_UPDATE, SONDE_EV_UNLISTEN (conn.bpf.c): one listening
 * TCP socket. LISTEN is sent by the periodic pass the first time it sees the socket (its
 * backlog is set after the state change); UPDATE when its drop count grew; UNLISTEN when it
 * leaves TCP_LISTEN. `drops` is the socket's sk_drops (tcp_listendrop: accept queue
 * overflows and other refused handshakes) in total; user space counts the growth from the
 * first record it got.
 */
struct sonde_listen_event {
	__u8 kind;
	__u8 family;
	__u8 flags; /* enum sonde_listen_flags */
	__u8 _pad;
	__u16 port; /* host order */
	__u16 _pad2;
	__u32 netns;
	__u32 backlog; /* sk_max_ack_backlog */
	__u32 drops;
	__u32 _pad3;
	__u64 cookie;
	__u64 start_ns; /* CLOCK_MONOTONIC: listen(), or the walk for one open before */
	__u64 ts_ns;	/* CLOCK_MONOTONIC: this record */
	__u8 addr[16];	/* IPv4 in the first 4 bytes */
	struct sonde_owner owner;
};

/*
 * SONDE_EV_CONN_CLOSE: one per tracked connection, when its socket is destroyed.
 * SONDE_EV_CONN_UPDATE: the same, for a connection still open; counters are totals so far.
 */
struct sonde_conn_event {
	__u8 kind;	/* SONDE_EV_CONN_CLOSE */
	__u8 family;	/* AF_INET or AF_INET6 */
	__u8 direction; /* enum sonde_direction */
	__u8 last_state; /* TCP state before CLOSE */
	__u16 flags;	/* enum sonde_conn_flags */
	__u16 lport;	/* local port, host order */
	__u16 rport;	/* remote port, host order */
	__u16 _pad0;
	__u32 sk_err;	/* sk->sk_err at close: ECONNREFUSED, ETIMEDOUT, ... */
	__u32 netns;	/* network namespace inode */
	__u32 srtt_us;	/* smoothed RTT, microseconds */
	__u32 min_rtt_us;
	__u32 segs_out;
	__u32 segs_in;
	__u32 total_retrans;
	__u64 cookie;	/* socket cookie */
	__u64 start_ns; /* CLOCK_MONOTONIC: connect() or the accepted child's creation */
	__u64 end_ns;	/* CLOCK_MONOTONIC: entering TCP_CLOSE */
	__u64 bytes_sent;     /* payload bytes sent once (bytes_sent - bytes_retrans) */
	__u64 bytes_received; /* payload bytes received (FIN not counted) */
	__u8 laddr[16];	/* IPv4 in the first 4 bytes */
	__u8 raddr[16];
	struct sonde_owner owner;
	struct sonde_conn_drops drops; /* all zero when it had none */
};

/* SONDE_EV_PROC_EXEC and SONDE_EV_PROC_EXIT. */
struct sonde_proc_event {
	__u8 kind;
	__u8 _pad[3];
	__u32 pid;
	__u32 ppid;
	__u32 start; /* as sonde_owner.start */
	__u64 ts_ns;
	char comm[SONDE_COMM_LEN];
};

/* ---- dns.bpf.c ---------------------------------------------------------------------- */

/* DNS message bytes copied per packet; longer messages are cut and flagged. */
#define SONDE_DNS_MAX 1472
/* Ports watched for DNS, set by user space before load (0 = unused slot). */
#define SONDE_DNS_PORTS_MAX 8

enum sonde_dns_flags {
	SONDE_DNS_F_EGRESS = 1 << 0,	/* leaving a local socket (else arriving at one) */
	SONDE_DNS_F_TCP = 1 << 1,	/* TCP payload (2-byte length framing), else UDP */
	SONDE_DNS_F_TRUNCATED = 1 << 2, /* the message was longer than SONDE_DNS_MAX */
	SONDE_DNS_F_OWNER = 1 << 3,	/* owner taken from the sending task (egress) */
};

/* Where dns.bpf.c can lose or skip data; indexes of its `dns_drops` per-CPU array. */
enum sonde_dns_drop {
	SONDE_DNS_DROP_RINGBUF_FULL = 0,
	SONDE_DNS_DROP_TRUNCATED = 1,	/* counted, not dropped: the copy was cut */
	SONDE_DNS_DROP_UNPARSED_L3 = 2, /* IPv6 extension headers or IPv4 fragments: not followed */
	SONDE_DNS_DROP_LOAD_FAILED = 3, /* the payload could not be copied (skb or user memory) */
	SONDE_DNS_DROP_SERVER_SIDE = 4, /* skipped, not lost: a local server's side of a lookup */
	SONDE_DNS_DROP_NO_BUFFER = 5,	/* socket path: a watched socket's operation without a
					 * syscall buffer (io_uring, recvmmsg, a kernel socket) */
	SONDE_DNS_DROP_NO_STORAGE = 6,	/* socket path: no socket storage for an answer's source */
	SONDE_DNS_DROP_MAX = 7,
};

/* SONDE_EV_DNS_PACKET */
struct sonde_dns_event {
	__u8 kind;   /* SONDE_EV_DNS_PACKET */
	__u8 family; /* AF_INET or AF_INET6 */
	__u16 flags; /* enum sonde_dns_flags */
	__u16 sport; /* host order */
	__u16 dport;
	__u16 len;	/* message bytes on the wire (this packet's payload) */
	__u16 captured; /* bytes in data[] */
	__u32 _pad;
	__u64 cookie;	 /* socket cookie (0: none) */
	__u64 cgroup_id; /* cgroup v2 id of the socket */
	__u64 ts_ns;	 /* CLOCK_MONOTONIC */
	__u8 saddr[16];
	__u8 daddr[16];
	struct sonde_owner owner; /* valid with SONDE_DNS_F_OWNER */
	__u8 data[SONDE_DNS_MAX];
};

/* ---- data.bpf.c ----------------------------------------------------------------------- */

/* Bytes copied per data syscall at most; the capture length below it is set at load. */
#define SONDE_DATA_MAX 1024

enum sonde_data_flags {
	SONDE_DATA_F_EGRESS = 1 << 0,	/* written by the process (else read) */
	SONDE_DATA_F_SENDFILE = 1 << 1, /* sendfile(): a length, no bytes */
	SONDE_DATA_F_CUT = 1 << 2,	/* the syscall moved more than was copied */
	SONDE_DATA_F_GAP = 1 << 3,	/* operations of the connection were not sent since the
					   last record: a new exchange starts here */
};

enum sonde_data_drop {
	SONDE_DATA_DROP_RINGBUF_FULL = 0,
	SONDE_DATA_DROP_EXEMPLAR_RINGBUF_FULL = 1, /* an exchange the kernel counted whose exemplar
						      record found no room (its count stands) */
	SONDE_DATA_DROP_READ_FAILED = 2,   /* a followed connection's bytes could not be read */
	SONDE_DATA_DROP_NO_STORAGE = 3,	   /* no socket storage for a new HTTP connection */
	SONDE_DATA_DROP_SERIES_FULL = 4,   /* an exchange timed in the kernel found no series slot */
	SONDE_DATA_DROP_NETNS_FULL = 5,	   /* a network namespace the sweep by namespace cannot
					      visit: its idle connections are counted late */
	SONDE_DATA_DROP_FLUSH_BUSY = 6,	   /* exchanges a flush could not take its turn for */
	SONDE_DATA_DROP_PIPELINED = 7,	   /* a request that came while the kernel timed another
					      (the connection is handed to the agent) */
	SONDE_DATA_DROP_UNPARSED = 8,	   /* an exchange whose response did not start with a
					      status line the kernel could read: not counted */
	SONDE_DATA_HANDED_PIPELINED = 9,   /* not a loss: connections handed to the agent's
					      parser because they pipeline */
	SONDE_DATA_DROP_MAX = 10,
};

/* SONDE_EV_DATA: a header and `captured` bytes (the record is only as long as that). */
struct sonde_data_event {
	__u8 kind; /* SONDE_EV_DATA */
	__u8 flags; /* enum sonde_data_flags */
	__u16 captured;
	__u32 pid;
	__u32 tid;
	__u32 fd;
	__u64 cookie;
	__u64 ts_ns; /* CLOCK_MONOTONIC at syscall exit */
	__u64 len;   /* bytes the syscall moved */
	__u8 data[SONDE_DATA_MAX];
};

/*
 * In-kernel HTTP: past the rate of exchanges followed byte by byte (`parse_per_cpu`), the
 * kernel itself times and counts an exchange, from its request line and status line, into
 * a per-CPU duration histogram per series. An exchange of a histogram bucket that has no
 * exemplar yet in the current generation is also sent up (SONDE_EV_HTTP), to become a span.
 */
#define SONDE_HTTP_BOUNDS 14		     /* the histogram's bounds (semconv HTTP_BUCKETS) */
#define SONDE_HTTP_BUCKETS (SONDE_HTTP_BOUNDS + 1) /* and the bucket past the last bound */
#define SONDE_HTTP_LINE 64		     /* request-line bytes kept per exchange */

enum sonde_http_role {
	SONDE_HTTP_SERVER = 1, /* the local process read the request */
	SONDE_HTTP_CLIENT = 2, /* the local process wrote it */
};

/* The methods the kernel recognises a request by (looks_http); 0: any other. */
enum sonde_http_method {
	SONDE_HTTP_GET = 1,
	SONDE_HTTP_HEAD = 2,
	SONDE_HTTP_POST = 3,
	SONDE_HTTP_PUT = 4,
	SONDE_HTTP_DELETE = 5,
	SONDE_HTTP_OPTIONS = 6,
	SONDE_HTTP_PATCH = 7,
};

/* A series of the kernel's duration histograms. */
struct sonde_http_key {
	__u32 pid;     /* the process that read (server) or wrote (client) the request */
	__u8 gen;      /* the generation user space had set: it reads and clears the other one */
	__u8 role;     /* enum sonde_http_role */
	__u8 method;   /* enum sonde_http_method */
	__u8 version;  /* HTTP/1.<version> of the request line */
	__u16 status;  /* final status code; 0: none came */
	__u16 port;    /* client: the server's port (host order); server: 0 */
	__u8 addr[16]; /* client: the server's address, IPv4 as ::ffff:a.b.c.d; server: 0 */
};

/* One series' per-CPU histogram (nanoseconds). */
struct sonde_http_hist {
	__u64 counts[SONDE_HTTP_BUCKETS];
	__u64 sum_ns;
	__u64 min_ns;
	__u64 max_ns;
	__u32 exemplars; /* bit per bucket: an exemplar of it was sent up */
	__u32 _pad;
};

/* SONDE_EV_HTTP: one exchange timed in the kernel, to be exported as a span (exemplar). */
struct sonde_http_event {
	__u8 kind; /* SONDE_EV_HTTP */
	__u8 line_len; /* bytes in line[] */
	__u16 _pad;
	__u32 tid;
	struct sonde_http_key key; /* gen: 0 */
	__u64 cookie;
	__u64 start_ns; /* CLOCK_MONOTONIC: the request's first byte read (server) or written */
	__u64 end_ns;	/* the response's last byte written (server) or read; else the close */
	__u8 line[SONDE_HTTP_LINE]; /* the request line's first bytes */
};

#endif /* SONDE_EVENTS_H */

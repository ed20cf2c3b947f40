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
 * response (its state then lives in socket storage, freed with the socket); one that has
 * not in its first SONDE_HTTP_LOOKS operations is looked at no more. Each exchange
 * on it is then either
 *  - followed byte by byte: every data operation from its request to the next one is sent
 *    up (lengths let user space find where bodies end), up to `parse_per_cpu` exchanges a
 *    second per CPU (http.parse_per_second; 0: all, the only mode before in-kernel HTTP);
 *  - or timed and counted here: the request line's first 64 bytes give the method and
 *    version, the response's first 12 bytes the status, its last operation the end (on
 *    the socket's TCP clock, op_clock), and the exchange is counted in the connection's
 *    storage (struct http_acc), which goes into a per-CPU duration histogram of its series
 *    (http_series) when the series changes, at the close and in the sweep. Its bucket's
 *    first exchange in a generation is sent up as an exemplar (SONDE_EV_HTTP).
 *    Operations in between (bodies, later writes) only move the clock.
 * The kernel times one exchange at a time. A connection that pipelines (a request comes
 * while another is open, or one operation holds a request after the first one's head:
 * looked for on a connection's longest operations so far, see sonde_second_request) is handed to
 * the agent's parser for good: every later exchange is followed byte by byte, whatever the
 * parse budget, and counted there; the request the kernel could not time is counted as
 * lost (kernel_http_pipelined). A response whose status line cannot be read is not counted
 * (kernel_http_unparsed).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "counters.h"
#include "wakeup.h"
#include "task.h"
#include "owner.h"
#include "syscall_buf.h"
#include "dns_sock.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Whether these programs also run the DNS capture's socket steps (dns_sock.h, on
 * dns.bpf.c's maps), in place of dns.bpf.c's own programs on the same tracepoints: set by
 * user space when DNS is captured on sockets.
 */
const volatile __u8 dns_steps = 0;
/* Bytes copied per syscall, at most SONDE_DATA_MAX; set by user space before load. */
const volatile __u32 capture_bytes = 512;
/* As in conn.bpf.c: wake the reader once this many bytes wait (0: every record). */
const volatile __u64 wakeup_bytes = 0;
/* The reader's position at the last forced wake-up, plus one (wakeup.h). */
__u64 data_events_woken = 0;

/*
 * Bytes looked at on a socket not (yet) known to carry HTTP: what looks_http reads (a
 * shorter first operation is not taken for HTTP, as before).
 */
#define SONDE_PEEK_BYTES 6
/*
 * Operations of a connection looked at for an HTTP start before it is taken for another
 * protocol (a database's, TLS, the agent's own export) and looked at no more: HTTP/1
 * starts at a connection's first operation each way.
 */
#define SONDE_HTTP_LOOKS 4
#define AF_INET 2
#define E2BIG 7
#define SONDE_MSG_PEEK 0x2
#define SONDE_MSG_ERRQUEUE 0x2000

/*
 * Exchanges followed byte by byte (sent up as data records, parsed in user space) per CPU
 * per window of 2^30 ns; past it the kernel times and counts exchanges itself. 0: every exchange is
 * followed byte by byte (no in-kernel HTTP). Set by user space before load.
 */
const volatile __u32 parse_per_cpu = 0;
/* The duration histogram's bounds in nanoseconds (semconv HTTP_BUCKETS), set before load. */
const volatile __u64 bounds_ns[SONDE_HTTP_BOUNDS] = {};
/* A response with nothing more written (read) for this long is complete (sonde_http_sweep). */
const volatile __u64 quiet_ns = 2000000000ULL;
/*
 * The sweep runs once in each network namespace (sonde_http_sweep_tcp), so new HTTP
 * connections note theirs in http_netns: set by user space when the kernel refuses the
 * iterator over the storage map's elements.
 */
const volatile __u8 sweep_by_netns = 0;

enum http_state {
	HTTP_IDLE = 0,	   /* no exchange open */
	HTTP_REQUEST = 1,  /* a request came (went), no final response yet */
	HTTP_RESPONSE = 2, /* its final response is being written (read) */
};

/*
 * A connection's exchanges not yet in the series map, all of one series: the key's fields
 * that vary per exchange are in `struct http_acc_key` beside it (http_conn's first cache
 * line), role and peer are the connection's. An exchange is
 * counted where the connection's state already is; the series map is looked up only to
 * flush (another series comes, the sweep before each read of the map, the close) and when
 * an exemplar may be due.
 *
 * Counted with plain adds, not atomic ones (three locked adds were ~25 ns of each side's
 * exchange here): an exchange's end is claimed with a compare-and-swap (http_end), so one
 * writer counts at a time. The counts only grow; a flush moves what they gained since
 * the flush before (`taken_*`). Flushes take turns under `flushing`: the sweep (on the
 * agent's CPU, while the connection may be counting), the close, and the writer when the
 * series changes (which also changes the key, under it). A flush that reads a count while
 * the writer adds to it sees it before or after the add, and the next flush moves the
 * rest: a count is never lost or moved twice, though one exchange's sum may go one flush
 * before its count. min and max are of the exchanges since the last flush; a flush that
 * races the writer may leave that one exchange's duration out of min and max, or give it
 * to the next flush's.
 */
struct http_acc {
	__u64 n; /* exchanges counted, ever */
	__u64 sum_ns;
	__u64 min_ns; /* since the last flush (0: none) */
	__u64 max_ns;
	__u64 counts[SONDE_HTTP_BUCKETS];
	__u32 flushing; /* a flush runs (flush_lock) */
	__u32 _pad;
	/* What the flushes took of n, counts and sum_ns (written under `flushing` only). */
	__u64 taken_n;
	__u64 taken_counts[SONDE_HTTP_BUCKETS];
	__u64 taken_sum_ns;
};

/* The series an accumulator's counts are of: its key's fields that vary per exchange. */
struct http_acc_key {
	__u32 pid;
	__u8 method;
	__u8 version;
	__u16 status;
	__u32 gen;	 /* the generation `exemplars` is about */
	__u32 exemplars; /* buckets whose series is known to have their exemplar in `gen` */
};

/*
 * What the kernel knows of a connection that carries HTTP (socket-local storage). Laid
 * out by cache line, for the lines a request touches: a storage element's value starts
 * 8 bytes into a line (after `bpf_local_storage_data.smap`, which every lookup reads), so
 * its bytes 0–55 share that line: the exchange's state and its accumulator's key, read
 * by every operation. Bytes 56–119 are the request line, one whole line written per
 * request; the counts of a request's exchange (n, sum, min, max and the lowest buckets)
 * start at byte 120, on the next line: three lines a request.
 */
struct http_conn {
	__u32 state; /* enum http_state; claimed with a compare-and-swap at the end */
	__u8 role;   /* enum sonde_http_role; 0 until a request went by */
	__u8 method;
	__u8 version;
	__u8 captured; /* the open exchange is followed byte by byte */
	__u8 gap;      /* operations were left out since the last data record */
	__u8 line_len;
	__u16 status;
	__u32 pid;
	__u32 tid;
	/* The longest request-direction operation (bytes) found to hold no second request:
	 * shorter ones are not looked at again (sonde_second_request). */
	__u16 single_len;
	__u8 handed; /* pipelines: every exchange is followed byte by byte (the agent's) */
	__u8 _pad0;
	__u64 start_ns;
	__u64 last_ns; /* the response's latest operation */
	struct http_acc_key key;
	__u8 line[SONDE_HTTP_LINE];
	struct http_acc acc;
};

_Static_assert(__builtin_offsetof(struct http_conn, line) == 56,
	       "the request line fills one cache line");
_Static_assert(__builtin_offsetof(struct http_conn, acc) == 120,
	       "the counts start a cache line");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct http_conn);
} http_conns SEC(".maps");

/*
 * The kernel's duration histograms, per series (user space reads and clears a generation).
 * Not preallocated: a value is 160 bytes per possible CPU, and a host holds a few dozen
 * series, not the bound.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct sonde_http_key);
	__type(value, struct sonde_http_hist);
} http_series SEC(".maps");

/* [0]: the generation new counts go to (user space flips it, then reads the other). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} http_gen SEC(".maps");

/*
 * Network namespaces that hold HTTP connections (by inode number), each with a process in
 * it when its first connection was seen: where user space runs sonde_http_sweep_tcp
 * (sweep_by_netns only). Only written when a connection gets its storage.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} http_netns SEC(".maps");

/* Exchanges this CPU sent up byte by byte in the current window (take_parse_budget). */
#define SONDE_PARSE_WINDOW_SHIFT 30
struct parse_budget {
	__u64 second;
	__u32 used;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct parse_budget);
} parse_budgets SEC(".maps");

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

/* Make the skeleton generate the Rust types of the records and maps. */
struct sonde_data_event _data_event = {};
struct sonde_http_event _http_event = {};
struct sonde_http_key _http_key = {};
struct sonde_http_hist _http_hist = {};
/* And the values of the enums it shares with user space (events.h). */
enum sonde_data_flags _data_flags = 0;
enum sonde_data_drop _data_drop = 0;
enum sonde_http_role _http_role = 0;
enum sonde_http_method _http_method = 0;

static __always_inline void count(__u32 which)
{
	sonde_count(&data_drops, which);
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

/* The method of a request line (looks_http said it starts one); 0: a status line. */
static __always_inline __u8 request_method(const __u8 *p)
{
	switch (p[0]) {
	case 'G': return SONDE_HTTP_GET;
	case 'P': return p[1] == 'O' ? SONDE_HTTP_POST :
			 p[1] == 'U' ? SONDE_HTTP_PUT : SONDE_HTTP_PATCH;
	case 'D': return SONDE_HTTP_DELETE;
	case 'H': return p[1] == 'E' ? SONDE_HTTP_HEAD : 0;
	case 'O': return SONDE_HTTP_OPTIONS;
	}
	return 0;
}

/* 0x80 in each byte of `x` that is zero, 0 in the others: exact per byte (no carry leaves a
 * byte whose top bit is masked off before the add). */
static __always_inline __u64 zero_bytes(__u64 x)
{
	const __u64 lows = 0x7f7f7f7f7f7f7f7fULL;

	return ~(((x & lows) + lows) | x | lows);
}

/* The index of the lowest byte of `m` (non-zero) with its top bit set. */
static __always_inline __u32 lowest_byte(__u64 m)
{
	m &= -m;
	return (m > 0x80) + (m > 0x8000) + (m > 0x800000) + (m > 0x80000000ULL) +
	       (m > 0x8000000000ULL) + (m > 0x800000000000ULL) + (m > 0x80000000000000ULL);
}

/*
 * HTTP/1.<minor> of a request line: the digit before its first CR or LF at or after byte
 * 9 (1 when past the bytes kept). `p` holds SONDE_HTTP_LINE bytes, zero past what was read.
 * Eight bytes at a time: a byte of x is 0 where x ^ 0x0d.. has a CR; (v - 0x01..) & ~v &
 * 0x80.. marks zero bytes, exactly at the lowest one (a borrow only runs upwards). A line
 * of 30 bytes takes 3 words, where a byte loop took 22 turns.
 */
static __always_inline __u8 line_version(const __u8 *p)
{
	const __u64 ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	__u64 x, cr, lf, t;
	__u32 i;

	for (__u32 k = 1; k < SONDE_HTTP_LINE / 8; k++) {
		__builtin_memcpy(&x, p + k * 8, 8);
		if (k == 1)
			x &= ~0xffULL; /* byte 8: the earliest the version's end can be is 9 */
		cr = x ^ (ones * '\r');
		lf = x ^ (ones * '\n');
		t = (((cr - ones) & ~cr) | ((lf - ones) & ~lf)) & highs;
		if (!t)
			continue;
		/* The lowest marked byte is exact (a borrow only runs upwards). */
		i = k * 8 + lowest_byte(t);
		return p[i - 1] == '0' ? 0 : 1;
	}
	return 1;
}

/* The code of a status line ("HTTP/1.x NNN"); 0 when the bytes are not one. */
static __always_inline __u16 status_code(const __u8 *p, __u32 n)
{
	__u8 a, b, c;

	if (n < 12 || p[0] != 'H' || p[1] != 'T' || p[2] != 'T' || p[3] != 'P' || p[4] != '/' ||
	    p[8] != ' ')
		return 0;
	a = p[9] - '0';
	b = p[10] - '0';
	c = p[11] - '0';
	if (a > 9 || b > 9 || c > 9)
		return 0;
	return a * 100 + b * 10 + c;
}

/* No end of a head in the bytes looked at. */
#define SONDE_NO_END 0xffffffffU

/*
 * Where the head that starts at `p` ends: the index just past its empty line (an LF
 * followed by CR LF, or by a bare LF), among the first `len` bytes; SONDE_NO_END when not
 * there. `bytes` holds `words` 8-byte words; a line feed is looked for in all but the last,
 * which only completes a pattern that starts in the one before. Eight bytes a turn: the
 * word shifted by one and two bytes (from it and the next) are compared with CR and LF at
 * once. Bytes past `len` may be stale: a pattern that reaches them is past `len` too.
 */
static __always_inline __u32 head_end(const __u8 *bytes, __u32 len, __u32 words)
{
	/* 8-aligned (a map value's field at a multiple of 8): one load a word, not eight. */
	const __u8 *p = __builtin_assume_aligned(bytes, 8);
	const __u64 ones = 0x0101010101010101ULL;
	__u64 cur, next, lf, w1, w2, crlf = 0, t = 0;
	__u32 k, end;

	/*
	 * One path through each turn (both branches leave the loop): the verifier walks the
	 * turns in a line, where a branch that stayed in the loop doubled its paths a turn
	 * (an agent took seconds to load).
	 */
	__builtin_memcpy(&cur, p, 8);
	for (k = 0; k + 1 < words; k++) {
		if (k * 8 >= len)
			return SONDE_NO_END;
		__builtin_memcpy(&next, p + (k + 1) * 8, 8);
		lf = zero_bytes(cur ^ (ones * '\n'));
		w1 = (cur >> 8) | (next << 56);
		w2 = (cur >> 16) | (next << 48);
		crlf = lf & zero_bytes(w1 ^ (ones * '\r')) & zero_bytes(w2 ^ (ones * '\n'));
		t = crlf | (lf & zero_bytes(w1 ^ (ones * '\n')));
		if (t)
			break;
		cur = next;
	}
	if (!t)
		return SONDE_NO_END;
	t &= -t;
	end = k * 8 + lowest_byte(t) + ((crlf & t) ? 3 : 2);
	return end <= len ? end : SONDE_NO_END;
}

/*
 * Whether the first `len` bytes of the record scratch, which start with a request line,
 * hold another request after the first one's head. A head that does not end there, or
 * bytes after it that do not start a request (a body), say no: a pipelined request behind
 * a body, or behind a head longer than what was read, is not seen (clients pipeline
 * idempotent requests, which have none).
 */
static __always_inline int heads_after_first(struct sonde_data_event *e, __u32 len)
{
	__u8 next[SONDE_PEEK_BYTES];
	__u32 end;

	end = head_end(e->data, len, SONDE_DATA_MAX / 8);
	if (end > SONDE_DATA_MAX - SONDE_PEEK_BYTES || end + SONDE_PEEK_BYTES > len)
		return 0;
	__builtin_memcpy(next, e->data + end, SONDE_PEEK_BYTES);
	return looks_http(next) && request_method(next);
}

/*
 * Whether the `avail` bytes at `buf`, which start with a request line, hold another
 * request after the first one's head (pipelining: wrk's pipeline scripts write a dozen at
 * once): read (up to SONDE_DATA_MAX bytes) into the record scratch, unused until the
 * operation's record is assembled.
 *
 * Global functions, this and the two below: the verifier checks each once, not once for
 * every path that reaches it (inlined, the scan's 127-turn loop made the data programs'
 * load 8 times slower). Each runs for a connection's longest operations only, for one
 * call more.
 */
__noinline int sonde_second_request(__u64 buf, __u32 avail)
{
	struct sonde_data_event *e;
	__u32 zero = 0, len;

	e = bpf_map_lookup_elem(&data_scratch, &zero);
	if (!e)
		return 0;
	len = avail < SONDE_DATA_MAX ? avail : SONDE_DATA_MAX;
	if (!len || bpf_probe_read_user(e->data, len, (void *)buf))
		return 0;
	return heads_after_first(e, len);
}

/* sonde_second_request on the `len` bytes already read into the record scratch (every
 * exchange followed byte by byte: http.parse_per_second 0); -1 when they do not start a
 * request (a response, a body), which says nothing of the connection's requests. */
__noinline int sonde_scratch_pipelines(__u32 len)
{
	struct sonde_data_event *e;
	__u32 zero = 0;

	e = bpf_map_lookup_elem(&data_scratch, &zero);
	if (!e || len < SONDE_PEEK_BYTES || len > SONDE_DATA_MAX)
		return -1;
	if (!looks_http(e->data) || !request_method(e->data))
		return -1;
	return heads_after_first(e, len);
}

/* Records a pipelining connection's operation goes up in at most: its first 8 KiB. */
#define SONDE_HANDED_RECORDS 8

/*
 * The rest of a pipelining connection's operation after its first record (the scratch
 * holds that record's header): its bytes from `off` on, SONDE_DATA_MAX a record, in up to
 * SONDE_HANDED_RECORDS in all; the last one's length counts what is left uncaptured. One
 * read can hold a dozen requests, or their responses, each head of which is counted.
 */
__noinline int sonde_data_rest(__u64 buf, __u32 avail, __u32 ret, __u32 off)
{
	struct sonde_data_event *e;
	__u32 zero = 0, n, last;

	e = bpf_map_lookup_elem(&data_scratch, &zero);
	if (!e)
		return 0;
	e->flags &= ~(SONDE_DATA_F_GAP | SONDE_DATA_F_CUT);
	for (__u32 i = 1; i < SONDE_HANDED_RECORDS; i++) {
		if (off >= avail || off >= ret)
			break;
		n = avail - off;
		if (n > SONDE_DATA_MAX)
			n = SONDE_DATA_MAX;
		if (bpf_probe_read_user(e->data, n, (void *)(buf + off))) {
			count(SONDE_DATA_DROP_READ_FAILED);
			return 0;
		}
		last = i == SONDE_HANDED_RECORDS - 1 || off + n >= avail;
		e->captured = n;
		e->len = last ? ret - off : n;
		if (e->len > n)
			e->flags |= SONDE_DATA_F_CUT;
		if (bpf_ringbuf_output(&data_events, e, offsetof(struct sonde_data_event, data) + n,
				       sonde_wakeup(&data_events, &data_events_woken, wakeup_bytes)))
			count(SONDE_DATA_DROP_RINGBUF_FULL);
		off += n;
	}
	return 0;
}

/* The connection pipelines: from its next exchange on, every one is the agent's. */
static __always_inline void hand_over(struct http_conn *c)
{
	if (c->handed)
		return;
	c->handed = 1;
	count(SONDE_DATA_HANDED_PIPELINED);
}

/*
 * The socket's cookie, made now if nothing asked for it before (a connection opened before
 * the agent started: conn.bpf.c makes one at connect and accept). Reading the field first
 * spares the helper call on every other operation.
 */
static __always_inline __u64 sock_cookie(struct sock *sk)
{
	__u64 cookie = sk->__sk_common.skc_cookie.counter;

	return cookie ? cookie : bpf_get_socket_cookie(sk);
}

/*
 * Whether this CPU may follow one more exchange byte by byte in the current window of
 * 2^30 ns (1.07 s; parse_per_cpu is per window): a shift, where a second would be a 64-bit
 * division per request (BPF has no multiply-high for the compiler to divide by a constant).
 */
static __always_inline __u8 take_parse_budget(__u64 now)
{
	struct parse_budget *b;
	__u32 zero = 0;
	__u64 second = now >> SONDE_PARSE_WINDOW_SHIFT;

	b = bpf_map_lookup_elem(&parse_budgets, &zero);
	if (!b)
		return 0;
	if (b->second != second) {
		b->second = second;
		b->used = 0;
	}
	if (b->used >= parse_per_cpu)
		return 0;
	b->used++;
	return 1;
}

/* A per-CPU array never written: the zeroed value a new series starts from. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sonde_http_hist);
} http_hist_zero SEC(".maps");

/* The generation new counts go to (user space flips it before it reads the other). */
static __always_inline __u32 current_gen(void)
{
	__u32 zero = 0, *gen = bpf_map_lookup_elem(&http_gen, &zero);

	return gen ? *gen : 0;
}

/* Adds `n` to the loss counter `which`. */
static __always_inline void count_n(__u32 which, __u64 n)
{
	__u64 *x = bpf_map_lookup_elem(&data_drops, &which);

	if (x)
		*x += n;
}

/*
 * The series `c`'s accumulated exchanges belong to, in generation `gen`, created empty
 * when new (NULL: the map is full). `key` is filled in.
 */
static __always_inline struct sonde_http_hist *series_of(struct sock *sk, const struct http_conn *c,
							 __u32 gen, struct sonde_http_key *key)
{
	struct sonde_http_hist *h, *fresh;
	__u32 zero = 0;

	key->pid = c->key.pid;
	key->gen = (__u8)gen;
	key->role = c->role;
	key->method = c->key.method;
	key->version = c->key.version;
	key->status = c->key.status;
	if (c->role == SONDE_HTTP_CLIENT) {
		key->port = bpf_ntohs(sk->__sk_common.skc_dport);
		if (sk->__sk_common.skc_family == AF_INET) {
			__u32 a4 = sk->__sk_common.skc_daddr;

			key->addr[10] = 0xff;
			key->addr[11] = 0xff;
			__builtin_memcpy(&key->addr[12], &a4, 4);
		} else {
			BPF_CORE_READ_INTO(&key->addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		}
	}
	h = bpf_map_lookup_elem(&http_series, key);
	if (h)
		return h;
	fresh = bpf_map_lookup_elem(&http_hist_zero, &zero);
	if (fresh)
		bpf_map_update_elem(&http_series, key, fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&http_series, key);
}

/*
 * Turns a flush may wait for another to end: the sweep's flush of one connection takes
 * ~0.2 µs. Past them (the flush that holds it was interrupted on this CPU, under this one),
 * the caller's exchanges are counted as lost.
 */
#define SONDE_FLUSH_TRIES 256

/* Takes `a`'s flush turn within `tries` attempts: 1 when taken. */
static __always_inline int flush_lock(struct http_acc *a, __u32 tries)
{
	for (__u32 i = 0; i < tries; i++)
		if (!a->flushing && __sync_val_compare_and_swap(&a->flushing, 0, 1) == 0)
			return 1;
	return 0;
}

/* Gives the turn back: a plain store is a release on x86's ordering, the only one the
 * syscall-register reads (syscall_buf.h) support. */
static __always_inline void flush_unlock(struct http_acc *a)
{
	asm volatile("" ::: "memory");
	a->flushing = 0;
}

/*
 * Moves what `c`'s counts gained since the last flush into their series of generation
 * `gen`; the caller holds the flush turn.
 */
static __always_inline void http_flush_locked(struct sock *sk, struct http_conn *c, __u32 gen)
{
	struct sonde_http_key key = {};
	struct sonde_http_hist *h;
	struct http_acc *a = &c->acc;
	__u64 n, now, min, max, sum;

	now = a->n;
	n = now - a->taken_n;
	if (!n)
		return;
	a->taken_n = now;
	min = a->min_ns;
	max = a->max_ns;
	a->min_ns = 0;
	a->max_ns = 0;
	/* Taken whether or not a series slot is found: a full map is counted as loss. */
	h = series_of(sk, c, gen, &key);
	for (__u32 b = 0; b < SONDE_HTTP_BUCKETS; b++) {
		now = a->counts[b];
		if (h)
			h->counts[b] += now - a->taken_counts[b];
		a->taken_counts[b] = now;
	}
	now = a->sum_ns;
	sum = now - a->taken_sum_ns;
	a->taken_sum_ns = now;
	if (!h) {
		count_n(SONDE_DATA_DROP_SERIES_FULL, n);
		return;
	}
	h->sum_ns += sum;
	if (min && (!h->min_ns || min < h->min_ns))
		h->min_ns = min;
	if (max > h->max_ns)
		h->max_ns = max;
}

/*
 * http_flush_locked with the turn taken: waited for (the close: a connection's last
 * flush), or not (the sweep: whoever holds the turn is flushing it now).
 */
static __always_inline void http_flush(struct sock *sk, struct http_conn *c, __u32 gen,
				       __u32 tries)
{
	struct http_acc *a = &c->acc;

	if (a->n == a->taken_n)
		return;
	if (!flush_lock(a, tries)) {
		if (tries > 1)
			count_n(SONDE_DATA_DROP_FLUSH_BUSY, a->n - a->taken_n);
		return;
	}
	http_flush_locked(sk, c, gen);
	flush_unlock(a);
}

/*
 * The open exchange of `c` ends: a final response's last operation, or `end_ns` (the close,
 * without one). One caller wins the state (a sweep may race the connection's own next
 * request); an exchange followed byte by byte is user space's, else it is counted here
 * (in the connection's accumulator) and, when its bucket has no exemplar yet in this
 * generation, sent up to become one.
 */
static __always_inline void http_end(struct sock *sk, struct http_conn *c, __u64 end_ns)
{
	struct sonde_http_key key = {};
	struct sonde_http_event *ev;
	struct sonde_http_hist *h;
	struct http_acc *a = &c->acc;
	struct http_acc_key *k = &c->key;
	__u32 was = c->state, gen, b;
	__u16 status;
	__u64 d;

	if (was == HTTP_IDLE || __sync_val_compare_and_swap(&c->state, was, HTTP_IDLE) != was)
		return;
	if (c->captured)
		return;
	if (was == HTTP_RESPONSE)
		end_ns = c->last_ns;
	d = end_ns > c->start_ns ? end_ns - c->start_ns : 0;
	status = was == HTTP_RESPONSE ? c->status : 0;
	gen = current_gen();
	if (k->pid != c->pid || k->method != c->method || k->version != c->version ||
	    k->status != status || k->gen != gen) {
		/* Another series: what the counts hold goes to the one they are of, and the key
		 * changes, with the turn held (a sweep may be reading both). */
		if (!flush_lock(a, SONDE_FLUSH_TRIES)) {
			count(SONDE_DATA_DROP_FLUSH_BUSY);
			return;
		}
		http_flush_locked(sk, c, gen);
		k->pid = c->pid;
		k->method = c->method;
		k->version = c->version;
		k->status = status;
		k->gen = gen;
		k->exemplars = 0;
		flush_unlock(a);
	}
	for (b = 0; b < SONDE_HTTP_BOUNDS; b++)
		if (d <= bounds_ns[b])
			break;
	if (b >= SONDE_HTTP_BUCKETS)
		return;
	a->counts[b]++;
	a->sum_ns += d;
	if (!a->min_ns || d < a->min_ns)
		a->min_ns = d;
	if (d > a->max_ns)
		a->max_ns = d;
	a->n++;
	if (k->exemplars & (1U << b))
		return;
	/* Only now the series: most exchanges land in a bucket known to have its exemplar. */
	h = series_of(sk, c, gen, &key);
	if (!h) {
		count(SONDE_DATA_DROP_SERIES_FULL);
		return;
	}
	k->exemplars |= 1U << b;
	if (h->exemplars & (1U << b))
		return;
	ev = bpf_ringbuf_reserve(&data_events, sizeof(*ev), 0);
	if (!ev) {
		count(SONDE_DATA_DROP_EXEMPLAR_RINGBUF_FULL);
		return;
	}
	ev->kind = SONDE_EV_HTTP;
	ev->line_len = c->line_len < SONDE_HTTP_LINE ? c->line_len : SONDE_HTTP_LINE;
	ev->_pad = 0;
	ev->tid = c->tid;
	ev->key = key;
	ev->key.gen = 0;
	ev->cookie = sock_cookie(sk);
	ev->start_ns = c->start_ns;
	ev->end_ns = end_ns;
	__builtin_memcpy(ev->line, c->line, SONDE_HTTP_LINE);
	bpf_ringbuf_submit(ev, sonde_wakeup(&data_events, &data_events_woken, wakeup_bytes));
	h->exemplars |= 1U << b;
}

/*
 * The network namespace of a new HTTP connection, for the sweep by namespace: kept with
 * the process that made it, unless one is known already.
 */
static __always_inline void note_netns(struct sock *sk)
{
	__u32 inum = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	__u32 pid = bpf_get_current_pid_tgid() >> 32;

	if (bpf_map_lookup_elem(&http_netns, &inum))
		return;
	if (bpf_map_update_elem(&http_netns, &inum, &pid, BPF_NOEXIST) == -E2BIG)
		count(SONDE_DATA_DROP_NETNS_FULL);
}

/*
 * Whether an operation on `sk`, a TCP socket without HTTP storage, is still looked at for
 * an HTTP start; counts it. Counted in the connection's entry of conn.bpf.c's map (no
 * memory of its own): past SONDE_HTTP_LOOKS operations, an operation costs that hash
 * lookup where finding the syscall's buffer and reading its first bytes were a helper call
 * and a user-memory read (a non-HTTP exchange +1,470 -> +961 ns in bench/hook-cost.sh). A
 * connection conn.bpf.c does not track (open before the agent started) is looked at on
 * every operation, as before.
 */
static __always_inline int http_worth_a_look(struct sock *sk)
{
	__u64 cookie = sk->__sk_common.skc_cookie.counter;
	struct conn *t;

	if (!cookie)
		return 1;
	t = bpf_map_lookup_elem(&conns, &cookie);
	if (!t)
		return 1;
	if (t->http_looks >= SONDE_HTTP_LOOKS)
		return 0;
	t->http_looks++;
	return 1;
}

/*
 * Where the syscall being served keeps its bytes, from its saved user registers (0 when
 * it is not one of the syscalls above, or made by a kernel thread or a 32-bit task).
 * `*contiguous`: how many bytes from there belong to the same buffer; `*nr`: the syscall.
 */
static __always_inline __u64 user_buffer(struct task_struct *task, __u64 *nr, __u32 *fd,
					 __u64 *contiguous)
{
	struct pt_regs *regs = sonde_syscall_regs(task);

	if (!regs)
		return 0;
	*nr = regs->orig_ax;
	*fd = (__u32)regs->di;
	switch (*nr) {
	case NR_READ:
	case NR_WRITE:
	case NR_RECVFROM:
	case NR_SENDTO:
		return regs->si;
	case NR_READV:
	case NR_WRITEV:
		return pick_iov(regs->si, contiguous);
	case NR_RECVMSG:
	case NR_SENDMSG:
		return pick_msg_iov(regs->si, contiguous);
	}
	return 0;
}

/*
 * The time of an operation on `sk`: TCP's own clock of the socket (tcp_clock_cache,
 * ktime_get_ns() as TCP last read it), not a clock read. TCP refreshes it when it
 * transmits (tcp_write_xmit, run also for a corked write) and when a read consumes data
 * (tcp_rcv_space_adjust), so at these tracepoints it is within microseconds of now
 * (measured 2–12 µs behind; a send's is its transmit, before the loopback delivery that
 * runs inside it). An autocorked write, left queued behind segments still in the qdisc,
 * gets the transmit before it. A clock read costs ~75 ns here (the clocksource read is an
 * indirect call, under retpolines); this is one load.
 */
static __always_inline __u64 op_clock(struct sock *sk)
{
	return bpf_core_cast(sk, struct tcp_sock)->tcp_clock_cache;
}

/* Whether an operation goes the way requests do (or no request went by yet). */
static __always_inline int request_direction(const struct http_conn *c, int egress)
{
	return !c->role || (c->role == SONDE_HTTP_SERVER) != egress;
}

/*
 * The in-kernel exchange state of a connection, moved by one operation. A request starts
 * on the request direction's first operation after the previous exchange (its first bytes
 * a request line); the response's first operation gives the status (interim 1xx ones
 * aside), its later ones the end. Reads at most the request line's first 64 bytes and a
 * status line's first 12, once per exchange each.
 */
static __always_inline void http_step(struct sock *sk, struct http_conn *c,
				      struct task_struct *task, __u64 buf, __u32 avail, int egress)
{
	__u32 n;

	if (request_direction(c, egress)) {
		__u8 line[SONDE_HTTP_LINE] __attribute__((aligned(8))) = {};
		__u64 now;
		__u8 method;

		if (!buf)
			return;
		if (c->state == HTTP_REQUEST) {
			__u8 peek[SONDE_PEEK_BYTES];

			/* A request while another is open (its body, or the rest of its head, do
			 * not start like one): pipelined. The open one stays the kernel's (its
			 * response comes first; this one's stretches its end), this one is lost
			 * unless followed, and the agent takes the connection from its next
			 * exchange. */
			if (c->handed || avail < SONDE_PEEK_BYTES ||
			    bpf_probe_read_user(peek, SONDE_PEEK_BYTES, (void *)buf) ||
			    !looks_http(peek) || !request_method(peek))
				return;
			if (!c->captured)
				count(SONDE_DATA_DROP_PIPELINED);
			hand_over(c);
			return;
		}
		n = avail < SONDE_HTTP_LINE ? avail : SONDE_HTTP_LINE;
		if (n < SONDE_PEEK_BYTES || bpf_probe_read_user(line, n, (void *)buf) ||
		    !looks_http(line))
			return;
		method = request_method(line);
		if (!method)
			return;
		now = op_clock(sk);
		http_end(sk, c, now);
		c->role = egress ? SONDE_HTTP_CLIENT : SONDE_HTTP_SERVER;
		c->method = method;
		c->version = line_version(line);
		c->status = 0;
		/* The task that made the syscall (user_buffer found its buffer): its ids are
		 * two loads, where bpf_get_current_pid_tgid() is a call. */
		c->pid = task->tgid;
		c->tid = task->pid;
		c->start_ns = now;
		c->last_ns = now;
		c->line_len = n;
		__builtin_memcpy(c->line, line, SONDE_HTTP_LINE);
		/* Looked at when longer than any operation found to hold one request: on a
		 * keep-alive connection of alike requests, its first. */
		if (!c->handed && avail > c->single_len) {
			if (sonde_second_request(buf, avail))
				hand_over(c);
			else
				c->single_len = avail < 0xffff ? avail : 0xffff;
		}
		c->captured = c->handed || take_parse_budget(now);
		c->state = HTTP_REQUEST;
		return;
	}
	/* The response direction. */
	if (c->state == HTTP_RESPONSE) {
		c->last_ns = op_clock(sk);
	} else if (c->state == HTTP_REQUEST) {
		__u8 line[12];
		__u16 status = 0;

		if (buf) {
			n = avail < 12 ? avail : 12;
			if (n == 12 && !bpf_probe_read_user(line, 12, (void *)buf))
				status = status_code(line, n);
			/* 100 Continue, 103 Early Hints: not the answer. */
			if (status >= 100 && status < 200 && status != 101)
				return;
		}
		if (!status && !c->captured) {
			/* No status line where the response starts (one split before its 12th
			 * byte, or bytes the kernel lost its place in): not counted, and the agent
			 * takes the connection from its next exchange. */
			count(SONDE_DATA_DROP_UNPARSED);
			c->state = HTTP_IDLE;
			hand_over(c);
			return;
		}
		c->status = status;
		c->last_ns = op_clock(sk);
		c->state = HTTP_RESPONSE;
	}
}

/*
 * Whether http_step needs an operation's bytes: a request may start (the request
 * direction: none open, or one open on a connection not yet known to pipeline, where a
 * second request is looked for) or a status line come (the response direction, a request
 * open). The other operations (a response's later writes, a pipelining connection's request
 * bodies) only move the clock, and their buffer is not even looked up.
 */
static __always_inline int http_wants_bytes(const struct http_conn *c, int egress)
{
	if (request_direction(c, egress))
		return c->state != HTTP_REQUEST || !c->handed;
	return c->state == HTTP_REQUEST;
}

/*
 * After http_step: whether the operation goes up byte by byte (its exchange is followed so);
 * if not, the next record that does follows a gap.
 */
static __always_inline int http_goes_up(struct http_conn *c)
{
	if (c->captured && c->state != HTTP_IDLE)
		return 1;
	c->gap = 1;
	return 0;
}

/*
 * One data operation on a socket: `ret` bytes moved (a negative errno is nothing; 0 on a
 * receive is the end of the peer's stream). The socket is the tracepoint's; the buffer
 * comes from the syscall being served, read off its saved user registers: operations not
 * made by one of the syscalls above (io_uring, splice, sendmmsg, kernel sockets, 32-bit
 * tasks) are not followed, as before.
 */
static __always_inline int on_data(struct sock *sk, struct http_conn *c, int ret, int flags,
				   int egress)
{
	struct sonde_data_event *e;
	struct task_struct *task;
	__u32 zero = 0, n, fd = 0;
	__u64 id, buf, cookie, nr = ~0ULL, contiguous = ~0ULL, avail;
	int stepped = 0, more;

	if (!egress && (flags & (SONDE_MSG_PEEK | SONDE_MSG_ERRQUEUE)))
		return 0;
	if (ret == 0) {
		if (!egress && c && parse_per_cpu)
			http_end(sk, c, bpf_ktime_get_ns());
		return 0;
	}
	if (c && parse_per_cpu && !http_wants_bytes(c, egress)) {
		http_step(sk, c, 0, 0, 0, egress);
		if (!http_goes_up(c))
			return 0;
		stepped = 1;
	}
	if (!c && !http_worth_a_look(sk))
		return 0;
	task = bpf_get_current_task_btf();
	buf = user_buffer(task, &nr, &fd, &contiguous);
	if (!buf && nr != NR_SENDFILE)
		return 0;
	if (!c) {
		__u8 peek[SONDE_PEEK_BYTES];

		/* Any other socket (a database, TLS, the agent's own export) is only looked at:
		 * its first 6 bytes, never a whole capture of someone else's traffic (the
		 * 512-byte copy was also ~20 of the ~370 ns this program costs per operation
		 * there). An unreadable buffer there is no loss. A sendfile has no bytes: a
		 * connection is recognised by its first bytes. */
		if (!buf || ret < SONDE_PEEK_BYTES || contiguous < SONDE_PEEK_BYTES ||
		    bpf_probe_read_user(peek, SONDE_PEEK_BYTES, (void *)buf) || !looks_http(peek))
			return 0;
		c = bpf_sk_storage_get(&http_conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!c) {
			count(SONDE_DATA_DROP_NO_STORAGE);
			return 0;
		}
		/* The receive program takes an accepted socket's owner only while it has no
		 * storage: one that sends first (its storage made here) has it taken now. */
		if (egress)
			sonde_owner_first_recv(sk);
		if (sweep_by_netns)
			note_netns(sk);
	}
	avail = (__u64)ret < contiguous ? (__u64)ret : contiguous;
	if (parse_per_cpu && !stepped) {
		http_step(sk, c, task, buf, avail, egress);
		if (!http_goes_up(c))
			return 0;
	}
	cookie = sock_cookie(sk);
	e = bpf_map_lookup_elem(&data_scratch, &zero);
	if (!e)
		return 0;
	e->flags = 0;
	if (nr == NR_SENDFILE) {
		n = 0;
		e->flags |= SONDE_DATA_F_SENDFILE;
	} else {
		/* A pipelining connection's operations carry many heads: all of what fits. */
		n = c->handed ? SONDE_DATA_MAX : capture_bytes;
		if (avail < n)
			n = avail;
		if (n > SONDE_DATA_MAX)
			n = SONDE_DATA_MAX;
		if (bpf_probe_read_user(e->data, n, (void *)buf)) {
			count(SONDE_DATA_DROP_READ_FAILED);
			return 0;
		}
		/* Every exchange is the agent's: whether a connection pipelines is looked for
		 * here, in the bytes just read, for the agent's parser to have all its heads. */
		if (!parse_per_cpu && !c->handed && avail > c->single_len) {
			int pipelines = sonde_scratch_pipelines(n);

			if (pipelines > 0)
				hand_over(c);
			else if (!pipelines)
				c->single_len = avail < 0xffff ? avail : 0xffff;
		}
	}
	/* A pipelining connection's operation longer than one record goes up in several. */
	more = c->handed && nr != NR_SENDFILE && avail > n;
	if (c->gap) {
		e->flags |= SONDE_DATA_F_GAP;
		c->gap = 0;
	}
	id = bpf_get_current_pid_tgid();
	e->kind = SONDE_EV_DATA;
	if (egress)
		e->flags |= SONDE_DATA_F_EGRESS;
	e->len = more ? n : ret;
	if (e->len > n)
		e->flags |= SONDE_DATA_F_CUT;
	e->captured = n;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->fd = fd;
	e->cookie = cookie;
	e->ts_ns = bpf_ktime_get_ns();
	if (bpf_ringbuf_output(&data_events, e, offsetof(struct sonde_data_event, data) + n,
			       sonde_wakeup(&data_events, &data_events_woken, wakeup_bytes)))
		count(SONDE_DATA_DROP_RINGBUF_FULL);
	if (more)
		sonde_data_rest(buf, avail, ret, n);
	return 0;
}

/* After the protocol's sendmsg: `ret` bytes queued from the caller's buffer. DNS queries
 * are seen here too (dns_sock.h), in place of dns.bpf.c's send program. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(sonde_sock_send, struct sock *sk, int ret, int flags)
{
	struct http_conn *c = 0;

	if (ret < 0 || !sk)
		return 0;
	if (sk->sk_protocol == IPPROTO_TCP)
		c = bpf_sk_storage_get(&http_conns, sk, 0, 0);
	/* A connection that carries HTTP carries no DNS. */
	if (!c && dns_steps)
		sonde_dns_send_step(sk, ret);
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	return on_data(sk, c, ret, flags, 1);
}

/*
 * After the protocol's recvmsg: `ret` bytes copied into the caller's buffer. Also where an
 * accepted socket's owner is taken (owner.h) while HTTP capture is on, in place of
 * conn.bpf.c's own receive program, and DNS answers are seen (dns_sock.h), in place of
 * dns.bpf.c's: one program on every receive, not three. A failed receive moves nothing
 * (an event loop's read that finds the socket empty, EAGAIN, once per request): it leaves
 * first, and the owner is taken at the first receive that returns. A connection with HTTP
 * storage had its owner taken before the storage was made (here, or in the send that made
 * it), and carries no DNS: neither step looks at it again.
 */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(sonde_sock_recv, struct sock *sk, int ret, int flags)
{
	struct http_conn *c = 0;

	if (ret < 0 || !sk)
		return 0;
	if (sk->sk_protocol == IPPROTO_TCP)
		c = bpf_sk_storage_get(&http_conns, sk, 0, 0);
	if (!c) {
		if (dns_steps)
			sonde_dns_recv_step(sk, ret, flags);
		if (sk->sk_protocol != IPPROTO_TCP)
			return 0;
		sonde_owner_first_recv(sk);
	}
	return on_data(sk, c, ret, flags, 0);
}

/* The local side closes (or the socket dies): an exchange still open ends there. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sonde_http_close, struct sock *sk, int oldstate, int newstate)
{
	struct http_conn *c;

	if (!parse_per_cpu || sk->sk_protocol != IPPROTO_TCP ||
	    (newstate != TCP_FIN_WAIT1 && newstate != TCP_LAST_ACK && newstate != TCP_CLOSE))
		return 0;
	c = bpf_sk_storage_get(&http_conns, sk, 0, 0);
	if (c) {
		http_end(sk, c, bpf_ktime_get_ns());
		http_flush(sk, c, current_gen(), SONDE_FLUSH_TRIES);
	}
	return 0;
}

/*
 * What the sweep does to one connection: a response with nothing more written (read) for
 * `quiet_ns` is complete, on a connection kept open and idle; its accumulated exchanges go
 * into their series.
 */
static __always_inline void http_sweep_one(struct sock *sk)
{
	struct http_conn *c;
	__u64 now;

	c = bpf_sk_storage_get(&http_conns, sk, 0, 0);
	if (!c)
		return;
	if (c->state == HTTP_RESPONSE) {
		now = bpf_ktime_get_ns();
		if (now - c->last_ns >= quiet_ns)
			http_end(sk, c, now);
	}
	http_flush(sk, c, current_gen(), 1);
}

/*
 * Run by user space before it flips the generation and reads the histograms, over every
 * connection with HTTP storage, in every network namespace.
 */
SEC("iter/bpf_sk_storage_map")
int sonde_http_sweep(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	if (ctx->sk && ctx->value)
		http_sweep_one(ctx->sk);
	return 0;
}

/*
 * The same sweep where the kernel refuses iterators over a map's elements (EPERM on the
 * reference VM's 6.18 since 2026-12; iterators over tasks and sockets load there): every
 * TCP socket of the namespace the iterator is opened in, so user space opens one in each
 * namespace of http_netns. A time-wait or request socket is not a full socket: skipped.
 */
SEC("iter/tcp")
int sonde_http_sweep_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (tp)
		http_sweep_one((struct sock *)tp);
	return 0;
}

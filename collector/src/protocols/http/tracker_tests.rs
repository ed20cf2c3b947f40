#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::connection::PENDING_ROOM;
use super::test_support::*;
use super::tracker::CONNECTION_BYTES;
use super::*;
use crate::protocols::http::wire::{Body, Method};

const C: u64 = 1;
const GET: &[u8] = b"GET /a HTTP/1.1\r\nHost: svc\r\n\r\n";
const OK5: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

fn tracker() -> HttpTracker {
    HttpTracker::new(128, Duration::from_secs(30))
}

/// Feeds segments; returns every exchange they completed.
fn feed(t: &mut HttpTracker, segs: Vec<HttpSegment>) -> Vec<Exchange> {
    segs.into_iter().flat_map(|s| t.segment(s)).collect()
}

fn status(x: &Exchange) -> Option<u16> {
    x.response.map(|r| r.status)
}

#[test]
fn server_exchange_runs_from_request_read_to_response_write() {
    let mut t = tracker();
    assert!(t.segment(seg(1_000, C, false, GET)).is_empty());
    assert_eq!(t.stats().pending_requests, 1);
    let done = t.segment(seg(1_000 + 3 * MS, C, true, OK5));
    assert_eq!(done.len(), 1);
    let x = &done[0];
    assert_eq!((x.role, x.cookie, status(x)), (Role::Server, C, Some(200)));
    assert_eq!(
        (x.start_unix_nanos, x.end_unix_nanos),
        (1_000, 1_000 + 3 * MS)
    );
    assert_eq!(x.duration_nanos(), 3 * MS);
    assert_eq!((x.pid, x.tid), (PID, PID + 1));
    assert_eq!(x.request.path, "/a");
    assert_eq!(x.request.host.as_deref(), Some("svc"));
    let s = t.stats();
    assert_eq!(
        (s.requests, s.responses, s.exchanges, s.pending_requests),
        (1, 1, 1, 0)
    );
}

#[test]
fn client_exchange_runs_from_request_write_to_response_read() {
    let mut t = tracker();
    let mut w = seg(10, C, true, GET);
    w.tid = 99;
    t.segment(w);
    let done = t.segment(seg(20, C, false, OK5));
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].role, done[0].tid), (Role::Client, 99));
    assert_eq!((done[0].start_unix_nanos, done[0].end_unix_nanos), (10, 20));
}

#[test]
fn head_split_over_reads_starts_at_the_first_piece() {
    let mut t = tracker();
    let (a, b) = GET.split_at(9);
    let (b, c) = b.split_at(10);
    feed(
        &mut t,
        vec![
            seg(1, C, false, a),
            seg(2, C, false, b),
            seg(3, C, false, c),
        ],
    );
    let done = t.segment(seg(9, C, true, OK5));
    assert_eq!(done[0].start_unix_nanos, 1);
    assert_eq!(t.stats().requests, 1);
}

#[test]
fn response_completes_when_content_length_bytes_moved_even_uncaptured() {
    let mut t = tracker();
    t.segment(seg(1, C, false, GET));
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n";
    // Head and 1000 body bytes in one write, 64 bytes captured.
    let first = t.segment(cut(2, C, true, &head[..], head.len() as u64 + 1000));
    assert!(first.is_empty());
    // sendfile: nothing captured.
    assert!(t.segment(cut(3, C, true, b"", 8_999)).is_empty());
    let done = t.segment(cut(4, C, true, b"x", 1));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].end_unix_nanos, 4);
    assert_eq!(t.stats().truncated_captures, 2);
}

#[test]
fn chunked_response_ends_at_the_last_chunk() {
    let mut t = tracker();
    t.segment(seg(1, C, false, GET));
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert!(t.segment(seg(2, C, true, head)).is_empty());
    // A 4096-byte chunk: only its size line captured.
    assert!(t
        .segment(cut(3, C, true, b"1000\r\n", 6 + 4096 + 2))
        .is_empty());
    let done = t.segment(seg(4, C, true, b"3\r\nabc\r\n0\r\n\r\n"));
    assert_eq!((done.len(), done[0].end_unix_nanos), (1, 4));
    // nginx's last write: data, CRLF and the last chunk together, beyond the capture.
    t.segment(seg(5, C, false, GET));
    t.segment(seg(6, C, true, head));
    let done = t.segment(cut(7, C, true, b"10\r\n", 4 + 16 + 2 + 5));
    assert_eq!((done.len(), done[0].end_unix_nanos), (1, 7));
    assert_eq!(t.stats().framing_lost, 0);
}

#[test]
fn keep_alive_and_pipelining_answer_in_order() {
    let mut t = tracker();
    let two = [GET, b"GET /b HTTP/1.1\r\nHost: svc\r\n\r\n"].concat();
    t.segment(seg(1, C, false, &two));
    assert_eq!(t.stats().pipelined, 1);
    let resp404 = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    let done = t.segment(seg(5, C, true, &[OK5, &resp404[..]].concat()));
    assert_eq!(done.len(), 2);
    assert_eq!(
        (done[0].request.path.as_str(), status(&done[0])),
        ("/a", Some(200))
    );
    assert_eq!(
        (done[1].request.path.as_str(), status(&done[1])),
        ("/b", Some(404))
    );
    // Keep-alive: another one later on the same connection.
    t.segment(seg(10, C, false, GET));
    assert_eq!(t.segment(seg(11, C, true, OK5)).len(), 1);
    assert_eq!(t.stats().exchanges, 3);
}

#[test]
fn expect_continue_interim_is_not_the_answer() {
    let mut t = tracker();
    let post = b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    t.segment(seg(1, C, false, post));
    assert!(t
        .segment(seg(2, C, true, b"HTTP/1.1 100 Continue\r\n\r\n"))
        .is_empty());
    t.segment(seg(3, C, false, b"data"));
    let done = t.segment(seg(4, C, true, OK5));
    assert_eq!((done.len(), status(&done[0])), (1, Some(200)));
    assert!(done[0].request.expect_continue);
    let s = t.stats();
    assert_eq!((s.continue_responses, s.responses), (1, 1));
}

#[test]
fn head_and_no_body_statuses_have_no_body() {
    let mut t = tracker();
    let head_req = b"HEAD /a HTTP/1.1\r\nHost: svc\r\n\r\n";
    let reqs = [&head_req[..], GET, GET].concat();
    t.segment(seg(1, C, false, &reqs));
    let resps = [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"[..],
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 500\r\n\r\n",
    ]
    .concat();
    let done = t.segment(seg(2, C, true, &resps));
    let got: Vec<_> = done
        .iter()
        .map(|x| (x.request.method.clone(), status(x)))
        .collect();
    assert_eq!(
        got,
        [
            (Method::Head, Some(200)),
            (Method::Get, Some(304)),
            (Method::Get, Some(204))
        ]
    );
}

#[test]
fn body_until_close_ends_at_the_last_write() {
    let mut t = tracker();
    t.segment(seg(1, C, false, GET));
    assert!(t
        .segment(seg(2, C, true, b"HTTP/1.0 200 OK\r\n\r\npart1"))
        .is_empty());
    assert!(t.segment(seg(3, C, true, b"part2")).is_empty());
    let done = t.close(C, 50);
    assert_eq!((done.len(), done[0].end_unix_nanos), (1, 3));
    assert_eq!(done[0].response.unwrap().body, Body::UntilClose);
    let s = t.stats();
    assert_eq!(
        (s.incomplete_responses, s.closed_connections, s.connections),
        (0, 1, 0)
    );
}

#[test]
fn close_and_expiry_flush_unanswered_requests() {
    let mut t = tracker();
    t.segment(seg(1, C, false, GET));
    t.segment(seg(2, 2, false, GET));
    let done = t.close(C, 9);
    assert_eq!(
        (done.len(), done[0].response, done[0].end_unix_nanos),
        (1, None, 9)
    );
    // Connection 2 is idle since 2 ns: not expired yet, then expired.
    assert!(t.expire(2 + 29 * 1_000 * MS).is_empty());
    let done = t.expire(2 + 30 * 1_000 * MS);
    assert_eq!((done.len(), done[0].cookie, done[0].response), (1, 2, None));
    let s = t.stats();
    assert_eq!(
        (s.unanswered, s.expired_connections, s.connections),
        (2, 1, 0)
    );
    assert!(t.close(C, 10).is_empty(), "closing twice is harmless");
}

#[test]
fn a_full_table_evicts_the_least_recently_active() {
    let mut t = HttpTracker::new(2, Duration::from_secs(30));
    t.segment(seg(1, 1, false, GET));
    t.segment(seg(2, 2, false, GET));
    t.segment(seg(3, 1, true, b"HTTP/1.1 102 Processing\r\n\r\n"));
    let evicted = t.segment(seg(4, 3, false, GET));
    assert_eq!(
        (evicted.len(), evicted[0].cookie, evicted[0].response),
        (1, 2, None)
    );
    let s = t.stats();
    assert_eq!(
        (s.evicted_connections, s.connections, s.interim_responses),
        (1, 2, 1)
    );
}

#[test]
fn activity_moves_a_connection_back_in_the_idle_order() {
    // Segments only move a connection's last activity; its place in the idle index
    // catches up when it reaches the front. Expiry and eviction must still see it.
    let mut t = HttpTracker::new(8, Duration::from_nanos(10));
    t.segment(seg(1, 1, false, GET));
    t.segment(seg(2, 2, false, GET));
    assert_eq!(t.segment(seg(9, 1, true, OK5)).len(), 1);
    // At 15: connection 2 (idle since 2) expires, connection 1 (active at 9) stays.
    let out = t.expire(15);
    assert_eq!((out.len(), out[0].cookie), (1, 2));
    assert_eq!(
        (t.stats().expired_connections, t.stats().connections),
        (1, 1)
    );
    assert!(
        t.expire(18).is_empty(),
        "seen at 9: not idle for 10 ns before 19"
    );
    assert!(t.expire(19).is_empty(), "answered: nothing waits on it");
    assert_eq!(
        (t.stats().expired_connections, t.stats().connections),
        (2, 0)
    );
}

#[test]
fn garbage_is_counted_and_tracking_resumes() {
    let mut t = tracker();
    // Not a request on an unknown socket: no state.
    t.segment(seg(1, 5, false, b"\x16\x03\x01\x00\xf4"));
    t.segment(seg(1, 6, true, OK5));
    assert_eq!((t.stats().ignored_segments, t.stats().connections), (2, 0));
    // A tracked connection gets garbage, then a request again.
    t.segment(seg(2, C, false, GET));
    t.segment(seg(3, C, true, OK5));
    t.segment(seg(4, C, false, b"GET /x HTTP/1.1\r\nBad Header\r\n\r\n"));
    t.segment(seg(5, C, false, b"more garbage"));
    t.segment(seg(
        6,
        C,
        true,
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    ));
    t.segment(seg(7, C, false, GET));
    let done = t.segment(seg(8, C, true, OK5));
    assert_eq!((done.len(), done[0].start_unix_nanos), (1, 7));
    let s = t.stats();
    assert_eq!(
        (s.parse_errors, s.unmatched_responses, s.exchanges),
        (1, 1, 2)
    );
}

#[test]
fn a_request_after_a_broken_partial_head_is_not_lost() {
    let mut t = tracker();
    // A head that never ends, then a whole request: the request is not swallowed.
    t.segment(seg(1, C, false, b"GET / HTTP/1.1\r\nHo"));
    t.segment(seg(2, C, false, GET));
    let done = t.segment(seg(3, C, true, OK5));
    assert_eq!((done.len(), done[0].start_unix_nanos), (1, 2));
    // Garbage after a partial head: dropped, and the next request is found.
    t.segment(seg(4, C, false, b"GET / HT"));
    t.segment(seg(5, C, false, b"\x7f"));
    t.segment(seg(6, C, false, GET));
    let done = t.segment(seg(7, C, true, OK5));
    assert_eq!((done.len(), done[0].start_unix_nanos), (1, 6));
    assert_eq!(t.stats().parse_errors, 2);
}

#[test]
fn head_cut_by_the_capture_keeps_its_start_line() {
    let mut t = tracker();
    let head = b"HTTP/1.1 503 Service Unavailable\r\nServer: x\r\nContent-Length: 3\r\n\r\nbye";
    t.segment(seg(1, C, false, GET));
    // 50 bytes captured: status line and Server only.
    assert!(t
        .segment(cut(2, C, true, &head[..50], head.len() as u64))
        .is_empty());
    assert!(
        t.segment(cut(3, C, true, b"", 10)).is_empty(),
        "framing unknown"
    );
    t.segment(seg(4, C, false, GET));
    let done = t.segment(seg(5, C, true, OK5));
    assert_eq!(done.len(), 2, "the next response ends the cut one");
    assert_eq!((status(&done[0]), done[0].end_unix_nanos), (Some(503), 3));
    assert_eq!((status(&done[1]), done[1].end_unix_nanos), (Some(200), 5));
    let s = t.stats();
    assert_eq!((s.truncated_heads, s.incomplete_responses), (1, 1));
}

#[test]
fn cut_heads_without_a_body_complete_at_once() {
    let mut t = tracker();
    let head = b"HTTP/1.1 304 Not Modified\r\nServer: x\r\nETag: \"abc\"\r\n\r\n";
    t.segment(seg(1, C, false, GET));
    let done = t.segment(cut(2, C, true, &head[..30], head.len() as u64));
    assert_eq!(
        (done.len(), status(&done[0]), done[0].end_unix_nanos),
        (1, Some(304), 2)
    );
    // A cut request: its body (if any) is skipped until a syscall starts a request.
    let post = b"POST /p HTTP/1.1\r\nHost: svc\r\nContent-Length: 4\r\n\r\nbody";
    t.segment(cut(3, C, false, &post[..20], post.len() as u64));
    t.segment(seg(4, C, false, b"more body bytes"));
    let done = t.segment(seg(5, C, true, OK5));
    assert_eq!(
        (done.len(), done[0].request.method.clone()),
        (1, Method::Post)
    );
    let s = t.stats();
    assert_eq!(
        (s.truncated_heads, s.parse_errors, s.incomplete_responses),
        (2, 0, 0)
    );
}

#[test]
fn upgrade_ends_http_on_the_connection() {
    let mut t = tracker();
    t.segment(seg(
        1,
        C,
        false,
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    ));
    let done = t.segment(seg(
        2,
        C,
        true,
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x05hello",
    ));
    assert_eq!(status(&done[0]), Some(101));
    t.segment(seg(3, C, false, b"GET / HTTP/1.1\r\n\r\n"));
    t.segment(seg(4, C, true, OK5));
    let s = t.stats();
    assert_eq!(
        (s.upgrades, s.requests, s.parse_errors, s.exchanges),
        (1, 1, 0, 1)
    );
}

#[test]
fn bounds_hold() {
    let mut t = tracker();
    // An endless head: at most 8 KiB buffered, then dropped.
    t.segment(seg(1, C, false, b"GET / HTTP/1.1\r\n"));
    for i in 0..60 {
        t.segment(seg(
            2 + i,
            C,
            false,
            format!("X-{i}: {}\r\n", "v".repeat(250)).as_bytes(),
        ));
        assert!(t.buffered() <= 8 * 1024);
    }
    assert_eq!(t.stats().oversized_heads, 1);
    // Pipelining deeper than 64 requests.
    let many = GET.repeat(70);
    t.segment(seg(300, 2, false, &many));
    let s = t.stats();
    assert_eq!((s.pipeline_overflow, s.pending_requests), (6, 64));
}

/// After a burst of connections has closed, the next expiry gives the table's memory back.
#[test]
fn the_table_shrinks_after_a_burst_has_closed() {
    let mut t = HttpTracker::new(100_000, Duration::from_secs(30));
    for cookie in 1..=20_000u64 {
        t.segment(seg(cookie, cookie, false, GET));
    }
    let grown = t.table_capacity();
    assert!(grown >= 20_000);
    for cookie in 1..=20_000u64 {
        t.close(cookie, 30_000);
    }
    t.segment(seg(40_000, 1, false, GET));
    t.expire(40_000);
    assert_eq!(t.stats().connections, 1);
    let now = t.table_capacity();
    assert!(now <= tracker::SHRINK_SLACK + 8, "{now} slots of {grown}");
}

#[test]
fn a_gap_ends_what_was_open_at_the_last_segment_and_starts_afresh() {
    let mut t = tracker();
    // A response without framing: its body runs until the close.
    const UNTIL_CLOSE: &[u8] = b"HTTP/1.0 200 OK\r\n\r\nbody";
    assert!(feed(
        &mut t,
        vec![seg(10, C, false, GET), seg(20, C, true, UNTIL_CLOSE)]
    )
    .is_empty());
    // The kernel counted the next exchanges itself; the one it sends up next says so.
    let mut next = seg(500, C, false, GET);
    next.gap = true;
    let done = t.segment(next);
    assert_eq!(done.len(), 1, "the open exchange ends at the gap");
    assert_eq!((done[0].start_unix_nanos, done[0].end_unix_nanos), (10, 20));
    assert_eq!(status(&done[0]), Some(200));
    let done = t.segment(seg(530, C, true, OK5));
    assert_eq!(done.len(), 1, "the exchange after the gap pairs as usual");
    assert_eq!(
        (done[0].start_unix_nanos, done[0].end_unix_nanos),
        (500, 530)
    );
    assert_eq!(t.stats().gaps, 1);
    // A gap on a connection not tracked is just a start.
    let mut fresh = seg(600, C + 1, false, GET);
    fresh.gap = true;
    assert!(t.segment(fresh).is_empty());
    assert_eq!((t.stats().gaps, t.stats().connections), (1, 2));
}

#[test]
fn split_heads_are_held_within_one_budget_for_every_connection() {
    // Three connections each start a request head and stop mid-way (a slow client, or a
    // scanner trickling bytes): a budget for three connections, two heads, and the room
    // a new connection keeps for its first request holds two heads; the third is counted,
    // and frees nothing it never took. Completing a head gives its bytes back.
    let mut partial = b"GET /a HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    partial.resize(PENDING_ROOM + 100, b'p');
    let per_head = partial.len();
    let budget = 3 * CONNECTION_BYTES + 2 * per_head + PENDING_ROOM;
    let mut t = HttpTracker::new(16, Duration::from_secs(30)).with_memory_budget(budget);
    for cookie in 1..=3 {
        t.segment(seg(10, cookie, false, &partial));
    }
    assert_eq!(t.memory_used(), 3 * CONNECTION_BYTES + 2 * per_head);
    assert_eq!(t.stats().budget_heads, 1);
    assert_eq!(t.stats().evicted_connections, 0);
    assert_eq!(t.stats().heads_lost, 0, "counted under its own reason only");
    // A closed connection gives back what it held.
    t.close(2, 11);
    assert_eq!(t.memory_used(), 2 * CONNECTION_BYTES + per_head);
    // The first connection's head completes: its bytes go back to the budget, and the
    // request waits for its response, holding its own.
    t.segment(seg(12, 1, false, b"1\r\n\r\n"));
    assert_eq!(t.stats().requests, 1);
    let waiting = t.memory_used() - 2 * CONNECTION_BYTES;
    assert!(waiting > 0 && waiting < 512, "{waiting}");
    t.close(1, 13);
    t.close(3, 13);
    assert_eq!(t.memory_used(), 0);
}

#[test]
fn a_connection_the_budget_has_no_room_for_evicts_the_least_recently_active() {
    let mut probe = HttpTracker::new(16, Duration::from_secs(30));
    probe.segment(seg(10, 1, false, GET));
    let waiting = probe.memory_used() - CONNECTION_BYTES;
    assert!(waiting < CONNECTION_BYTES, "{waiting}");
    // Room for two connections with a request each, and for the first request of a
    // second one.
    let mut t = HttpTracker::new(16, Duration::from_secs(30))
        .with_memory_budget(2 * CONNECTION_BYTES + waiting + PENDING_ROOM);
    t.segment(seg(10, 1, false, GET));
    t.segment(seg(20, 2, false, GET));
    // Connection 1 answers later than 2 was last seen: 2 is now the least recent.
    t.segment(seg(30, 1, true, OK5));
    let out = t.segment(seg(40, 3, false, GET));
    assert_eq!(out.len(), 1, "2's request comes out unanswered");
    let st = t.stats();
    assert_eq!((st.connections, st.evicted_connections), (2, 1));
    assert_eq!(st.budget_connections, 0, "room was made");
    // 1 is still tracked: its next exchange pairs.
    t.segment(seg(50, 1, false, GET));
    assert_eq!(t.segment(seg(60, 1, true, OK5)).len(), 1);
}

#[test]
fn a_budget_smaller_than_one_connection_tracks_nothing_and_says_so() {
    let mut t =
        HttpTracker::new(16, Duration::from_secs(30)).with_memory_budget(CONNECTION_BYTES - 1);
    assert!(t.segment(seg(10, 1, false, GET)).is_empty());
    assert_eq!(
        (t.stats().connections, t.stats().budget_connections),
        (0, 1)
    );
    assert_eq!(t.memory_used(), 0);
}

#[test]
fn waiting_requests_past_the_budget_are_counted_not_kept() {
    // Room for the connection and one waiting request: a client pipelining three has
    // two counted under the budget, and the one kept pairs with the first response.
    let mut probe = HttpTracker::new(16, Duration::from_secs(30));
    probe.segment(seg(10, 1, false, GET));
    let one = probe.memory_used() - CONNECTION_BYTES;
    let mut t =
        HttpTracker::new(16, Duration::from_secs(30)).with_memory_budget(CONNECTION_BYTES + one);
    let three = [GET, GET, GET].concat();
    t.segment(seg(10, 1, false, &three));
    let st = t.stats();
    assert_eq!(
        (st.requests, st.pending_requests, st.budget_requests),
        (3, 1, 2)
    );
    assert_eq!(t.segment(seg(20, 1, true, OK5)).len(), 1);
    assert_eq!(t.memory_used(), CONNECTION_BYTES);
}

#[test]
fn a_tracked_connection_costs_what_the_documentation_says() {
    // config/sonde.yaml (pipeline.memory_limit) quotes it.
    assert_eq!(CONNECTION_BYTES, 392);
}

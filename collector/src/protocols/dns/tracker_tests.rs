#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;
use crate::protocols::dns::test_support::*;
use crate::protocols::dns::wire::{Rcode, RecordType};

const CLIENT: &str = "10.0.0.5:40000";
const RESOLVER: &str = "10.0.0.53:53";

fn tracker() -> DnsTracker {
    DnsTracker::new(1024, Duration::from_secs(5))
}

fn answered(l: &Lookup) -> (Rcode, usize, bool) {
    match &l.outcome {
        Outcome::Answered {
            rcode,
            answers,
            truncated,
        } => (*rcode, answers.len(), *truncated),
        Outcome::Timeout => panic!("timed out: {l:?}"),
    }
}

#[test]
fn query_then_response_is_one_lookup() {
    let mut t = tracker();
    assert!(t
        .packet(udp(1_000, true, CLIENT, RESOLVER, 42, golden("a_query")))
        .is_empty());
    assert_eq!(t.stats().pending, 1);
    let done = t.packet(udp(1_000 + 3 * MS, false, RESOLVER, CLIENT, 0, golden("a")));
    assert_eq!(done.len(), 1);
    let l = &done[0];
    assert_eq!(
        (l.start_unix_nanos, l.end_unix_nanos),
        (1_000, 1_000 + 3 * MS)
    );
    assert_eq!(l.duration_nanos(), 3 * MS);
    assert_eq!(l.owner.pid, 42, "the owner comes from the query");
    assert_eq!(
        (l.client, l.resolver, l.tcp),
        (addr(CLIENT), addr(RESOLVER), false)
    );
    assert_eq!(l.question.name, "www.example.test");
    assert_eq!(l.question.qtype, RecordType::A);
    assert_eq!(answered(l), (Rcode::NOERROR, 1, false));
    let s = t.stats();
    assert_eq!((s.queries, s.answered, s.pending, s.packets), (1, 1, 0, 2));
}

#[test]
fn loopback_double_sighting_is_one_lookup() {
    // On lo every packet is seen leaving the sender and arriving at the receiver.
    let (client, server) = ("127.0.0.1:40000", "127.0.0.1:5353");
    let mut t = tracker();
    let mut done = Vec::new();
    done.extend(t.packet(udp(10, true, client, server, 42, golden("a_query"))));
    done.extend(t.packet(udp(11, false, client, server, 0, golden("a_query"))));
    done.extend(t.packet(udp(20, true, server, client, 99, golden("a"))));
    done.extend(t.packet(udp(21, false, server, client, 0, golden("a"))));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].owner.pid, 42);
    assert_eq!((done[0].start_unix_nanos, done[0].end_unix_nanos), (10, 21));
    let s = t.stats();
    assert_eq!(
        (s.ignored_messages, s.unmatched_responses, s.pending),
        (2, 0, 0)
    );
}

#[test]
fn server_side_copies_alone_create_nothing() {
    // A DNS server on this host: queries arrive, responses leave.
    let mut t = tracker();
    assert!(t
        .packet(udp(1, false, CLIENT, RESOLVER, 0, golden("a_query")))
        .is_empty());
    assert!(t
        .packet(udp(2, true, RESOLVER, CLIENT, 7, golden("a")))
        .is_empty());
    assert_eq!(t.stats().pending, 0);
    assert_eq!(t.stats().ignored_messages, 2);
    assert!(t.expire(u64::MAX).is_empty());
}

#[test]
fn unanswered_query_times_out() {
    let mut t = tracker();
    t.packet(udp(SEC, true, CLIENT, RESOLVER, 42, golden("a_query")));
    assert!(t.expire(6 * SEC - 1).is_empty());
    let out = t.expire(6 * SEC);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].outcome, Outcome::Timeout);
    assert_eq!(out[0].end_unix_nanos, 6 * SEC);
    assert_eq!(out[0].owner.pid, 42);
    // A late response no longer matches.
    assert!(t
        .packet(udp(7 * SEC, false, RESOLVER, CLIENT, 0, golden("a")))
        .is_empty());
    let s = t.stats();
    assert_eq!((s.timeouts, s.unmatched_responses, s.pending), (1, 1, 0));
}

#[test]
fn response_must_match_the_whole_key() {
    let mut t = tracker();
    t.packet(udp(1, true, CLIENT, RESOLVER, 42, golden("a_query")));
    // Another client port, another resolver, another id, another transport: no match.
    assert!(t
        .packet(udp(2, false, RESOLVER, "10.0.0.5:40001", 0, golden("a")))
        .is_empty());
    assert!(t
        .packet(udp(2, false, "10.0.0.54:53", CLIENT, 0, golden("a")))
        .is_empty());
    let other_id = with_id(golden("a"), 7);
    assert!(t
        .packet(udp(2, false, RESOLVER, CLIENT, 0, other_id))
        .is_empty());
    assert!(t
        .packet(tcp(2, false, RESOLVER, CLIENT, 5, &framed(&golden("a"))))
        .is_empty());
    assert_eq!(t.stats().unmatched_responses, 4);
    assert_eq!(
        t.packet(udp(3, false, RESOLVER, CLIENT, 0, golden("a")))
            .len(),
        1
    );
}

#[test]
fn retransmitted_query_keeps_the_first_timestamp() {
    let mut t = tracker();
    t.packet(udp(SEC, true, CLIENT, RESOLVER, 42, golden("a_query")));
    t.packet(udp(2 * SEC, true, CLIENT, RESOLVER, 42, golden("a_query")));
    let done = t.packet(udp(2 * SEC + MS, false, RESOLVER, CLIENT, 0, golden("a")));
    assert_eq!(done[0].start_unix_nanos, SEC);
    assert_eq!(t.stats().duplicate_queries, 1);
}

#[test]
fn full_table_evicts_the_oldest_query() {
    let mut t = DnsTracker::new(2, Duration::from_secs(5));
    for (i, id) in [1u16, 2, 3].into_iter().enumerate() {
        let q = with_id(golden("a_query"), id);
        t.packet(udp(i as u64, true, CLIENT, RESOLVER, 42, q));
    }
    let s = t.stats();
    assert_eq!((s.pending, s.pending_evicted), (2, 1));
    let response = |id| udp(10, false, RESOLVER, CLIENT, 0, with_id(golden("a"), id));
    assert!(t.packet(response(1)).is_empty(), "the oldest was evicted");
    assert_eq!(t.packet(response(2)).len(), 1);
    assert_eq!(t.packet(response(3)).len(), 1);
    assert_eq!(t.stats().unmatched_responses, 1);
}

#[test]
fn tcp_messages_split_across_chunks() {
    // dig +tcp +keepopen: two queries and two responses on one connection (real bytes),
    // cut into uneven chunks; the client socket's cookie keys both directions.
    let queries = std::fs::read(
        crate::protocols::dns::wire::golden_tests::golden_dir().join("tcp_a.client.stream"),
    )
    .unwrap();
    let responses = std::fs::read(
        crate::protocols::dns::wire::golden_tests::golden_dir().join("tcp_a.server.stream"),
    )
    .unwrap();
    let mut t = tracker();
    let mut done = Vec::new();
    for (i, chunk) in queries.chunks(7).enumerate() {
        done.extend(t.packet(tcp(i as u64, true, CLIENT, RESOLVER, 77, chunk)));
    }
    assert_eq!(t.stats().pending, 2);
    for (i, chunk) in responses.chunks(50).enumerate() {
        done.extend(t.packet(tcp(100 + i as u64, false, RESOLVER, CLIENT, 77, chunk)));
    }
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|l| l.tcp && l.owner.pid == 42));
    let names: Vec<_> = done
        .iter()
        .map(|l| (l.question.name.as_str(), l.question.qtype))
        .collect();
    assert_eq!(
        names,
        [
            ("www.example.test", RecordType::A),
            ("dual.example.test", RecordType::AAAA)
        ]
    );
    let s = t.stats();
    assert_eq!(
        (s.tcp_streams, s.tcp_reassembly_errors, s.parse_errors),
        (0, 0, 0)
    );
}

#[test]
fn tcp_streams_are_keyed_by_tuple_without_a_cookie() {
    let q = framed(&query_for(&golden("tcp_big_tcp0")));
    let r = framed(&golden("tcp_big_tcp0"));
    let mut t = tracker();
    t.packet(tcp(1, true, CLIENT, RESOLVER, 0, &q));
    // Interleave another connection's partial chunk: it must not disturb this one.
    t.packet(tcp(2, false, RESOLVER, "10.0.0.5:40009", 0, &r[..100]));
    assert!(t
        .packet(tcp(3, false, RESOLVER, CLIENT, 0, &r[..300]))
        .is_empty());
    assert_eq!(t.stats().tcp_streams, 2);
    let done = t.packet(tcp(4, false, RESOLVER, CLIENT, 0, &r[300..]));
    assert_eq!(done.len(), 1);
    assert_eq!(answered(&done[0]).1, 29 + 11);
    // The other connection's partial message is dropped once idle.
    t.expire(10 * SEC);
    let s = t.stats();
    assert_eq!((s.tcp_streams, s.tcp_streams_evicted), (0, 1));
}

#[test]
fn truncated_udp_answer_then_tcp_retry_are_two_lookups() {
    let udp_answer = golden("tc_udp");
    let tcp_answer = golden("tcp_big_tcp0");
    let mut t = tracker();
    t.packet(udp(1, true, CLIENT, RESOLVER, 42, query_for(&udp_answer)));
    let first = t.packet(udp(2, false, RESOLVER, CLIENT, 0, udp_answer));
    t.packet(tcp(
        3,
        true,
        "10.0.0.5:40002",
        RESOLVER,
        8,
        &framed(&query_for(&tcp_answer)),
    ));
    let second = t.packet(tcp(
        4,
        false,
        RESOLVER,
        "10.0.0.5:40002",
        8,
        &framed(&tcp_answer),
    ));
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_eq!(answered(&first[0]), (Rcode::NOERROR, 29, true));
    assert_eq!(answered(&second[0]), (Rcode::NOERROR, 40, false));
    assert!(second[0].tcp && !first[0].tcp);
}

#[test]
fn tcp_framing_error_and_cut_capture_are_counted() {
    let mut t = tracker();
    // A frame announcing 3 bytes cannot be DNS.
    t.packet(tcp(1, false, RESOLVER, CLIENT, 9, &[0, 3, 1, 2, 3]));
    assert_eq!(t.stats().tcp_reassembly_errors, 1);
    // A cut capture: the partial message is dropped instead of desynchronising the stream.
    let r = framed(&golden("tcp_big_tcp0"));
    let mut cut = tcp(2, false, RESOLVER, CLIENT, 9, &r[..200]);
    cut.truncated = true;
    t.packet(cut);
    let s = t.stats();
    assert_eq!((s.truncated_captures, s.tcp_streams), (1, 0));
}

#[test]
fn unparsable_response_still_ends_its_lookup() {
    let mut t = tracker();
    t.packet(udp(1, true, CLIENT, RESOLVER, 42, golden("a_query")));
    let mut response = golden("a");
    response.truncate(40); // cut inside the answer
    let done = t.packet(udp(2, false, RESOLVER, CLIENT, 0, response));
    assert_eq!(answered(&done[0]), (Rcode::NOERROR, 0, false));
    assert_eq!(t.stats().parse_errors, 1);
    // Junk that is not even a header is only counted.
    assert!(t
        .packet(udp(3, false, RESOLVER, CLIENT, 0, vec![1, 2, 3]))
        .is_empty());
    assert_eq!(t.stats().parse_errors, 2);
}

#[test]
fn nxdomain_refused_and_servfail_are_answers() {
    let mut t = tracker();
    for (i, case) in ["nxdomain", "refused", "servfail"].into_iter().enumerate() {
        let client = format!("10.0.0.5:{}", 41000 + i);
        let response = golden(case);
        t.packet(udp(1, true, &client, RESOLVER, 42, query_for(&response)));
        let done = t.packet(udp(2, false, RESOLVER, &client, 0, response));
        let (rcode, _, _) = answered(&done[0]);
        assert!(rcode.is_error(), "{case}");
    }
}

#[test]
fn ipv6_transport() {
    let (client, resolver) = ("[2001:db8::5]:40000", "[2001:db8::53]:53");
    let mut t = tracker();
    t.packet(udp(1, true, client, resolver, 42, golden("aaaa_query")));
    let done = t.packet(udp(2, false, resolver, client, 0, golden("aaaa")));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].resolver, addr(resolver));
    assert_eq!(done[0].question.qtype, RecordType::AAAA);
}

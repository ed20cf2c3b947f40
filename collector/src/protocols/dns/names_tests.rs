#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::protocols::dns::test_support::*;
use crate::protocols::dns::wire::{parse, Question, Rcode, Record, RecordData, RecordType};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A lookup by `pid` answered with the golden response `case`.
fn lookup_from(case: &str, pid: u32) -> Lookup {
    let m = parse(&golden(case)).unwrap();
    Lookup {
        start_unix_nanos: 0,
        end_unix_nanos: 1,
        owner: owner(pid),
        client: addr("10.0.0.5:40000"),
        resolver: addr("10.0.0.53:53"),
        tcp: false,
        id: m.id,
        question: m.questions[0].clone(),
        outcome: Outcome::Answered {
            rcode: m.rcode,
            answers: m.answers,
            truncated: m.truncated,
        },
    }
}

/// A lookup by `pid` of `name` answered with one A record.
fn a_lookup(pid: u32, name: &str, addr4: [u8; 4], ttl: u32) -> Lookup {
    let mut l = lookup_from("a", pid);
    l.question = Question {
        name: name.into(),
        qtype: RecordType::A,
        class: 1,
    };
    l.outcome = Outcome::Answered {
        rcode: Rcode::NOERROR,
        answers: vec![Record {
            name: name.into(),
            rtype: RecordType::A,
            class: 1,
            ttl,
            data: RecordData::A(Ipv4Addr::from(addr4)),
        }],
        truncated: false,
    };
    l
}

#[test]
fn cname_chain_maps_the_address_to_the_question_name() {
    let mut c = NameCache::new(16);
    c.learn(&lookup_from("cname_chain", 42), 0);
    assert_eq!(
        c.name_for(42, ip("192.0.2.20"), 0),
        Some("alias2.example.test")
    );
    assert_eq!(
        c.name_for(7, ip("192.0.2.20"), 0),
        Some("alias2.example.test")
    );
    assert_eq!(c.name_for(42, ip("192.0.2.21"), 0), None);
}

#[test]
fn every_address_of_an_answer_is_learned() {
    let mut c = NameCache::new(16);
    c.learn(&lookup_from("multi_a", 42), 0);
    c.learn(&lookup_from("dual_aaaa", 42), 0);
    assert_eq!(
        c.name_for(42, ip("192.0.2.41"), 0),
        Some("multi.example.test")
    );
    assert_eq!(
        c.name_for(42, ip("192.0.2.42"), 0),
        Some("multi.example.test")
    );
    assert_eq!(
        c.name_for(42, ip("2001:db8::30"), 0),
        Some("dual.example.test")
    );
    assert_eq!(c.len(), 3);
}

#[test]
fn ttl_is_honoured_within_bounds() {
    let mut c = NameCache::new(16);
    // dnsmasq answers with TTL 0: kept for the 5-second minimum.
    c.learn(&lookup_from("a", 42), SEC);
    assert_eq!(
        c.name_for(42, ip("192.0.2.20"), 6 * SEC - 1),
        Some("www.example.test")
    );
    assert_eq!(c.name_for(42, ip("192.0.2.20"), 6 * SEC), None);
    // A TTL in the middle is taken as is; a day is cut to an hour.
    c.learn(&a_lookup(42, "mid.test", [192, 0, 2, 1], 60), 0);
    assert!(c.name_for(42, ip("192.0.2.1"), 60 * SEC - 1).is_some());
    assert!(c.name_for(42, ip("192.0.2.1"), 60 * SEC).is_none());
    c.learn(&a_lookup(42, "day.test", [192, 0, 2, 2], 86_400), 0);
    assert!(c.name_for(42, ip("192.0.2.2"), 3600 * SEC - 1).is_some());
    assert!(c.name_for(42, ip("192.0.2.2"), 3600 * SEC).is_none());
}

#[test]
fn a_process_gets_its_own_name_first() {
    let mut c = NameCache::new(16);
    // Two names on one address (shared hosting, a CDN): each process asked for its own.
    c.learn(&a_lookup(1, "one.test", [192, 0, 2, 7], 300), 0);
    c.learn(&a_lookup(2, "two.test", [192, 0, 2, 7], 300), 0);
    let shared = ip("192.0.2.7");
    assert_eq!(c.name_for(1, shared, 0), Some("one.test"));
    assert_eq!(c.name_for(2, shared, 0), Some("two.test"));
    // Anyone else, or an unknown process, gets the most recent.
    assert_eq!(c.name_for(3, shared, 0), Some("two.test"));
    assert_eq!(c.name_for(0, shared, 0), Some("two.test"));
}

#[test]
fn own_name_expired_falls_back_to_a_fresh_one() {
    let mut c = NameCache::new(16);
    c.learn(&a_lookup(1, "one.test", [192, 0, 2, 7], 10), 0);
    c.learn(&a_lookup(2, "two.test", [192, 0, 2, 7], 300), 0);
    assert_eq!(c.name_for(1, ip("192.0.2.7"), 20 * SEC), Some("two.test"));
}

#[test]
fn failures_teach_nothing() {
    let mut c = NameCache::new(16);
    c.learn(&lookup_from("nxdomain", 42), 0);
    c.learn(&lookup_from("refused", 42), 0);
    c.learn(&lookup_from("nodata", 42), 0);
    let mut timeout = a_lookup(42, "t.test", [192, 0, 2, 9], 300);
    timeout.outcome = Outcome::Timeout;
    c.learn(&timeout, 0);
    assert!(c.is_empty());
}

#[test]
fn bounded_evicting_the_oldest() {
    let mut c = NameCache::new(2);
    for i in 1..=3u8 {
        c.learn(
            &a_lookup(42, &format!("n{i}.test"), [192, 0, 2, i], 300),
            u64::from(i),
        );
    }
    assert_eq!(c.len(), 2);
    assert_eq!(c.name_for(42, ip("192.0.2.1"), 10), None);
    assert_eq!(c.name_for(42, ip("192.0.2.3"), 10), Some("n3.test"));
    assert_eq!(c.evicted(), 2, "one address and one (pid, address) pair");
    // Relearning refreshes an entry: it is no longer the oldest.
    c.learn(&a_lookup(42, "n2.test", [192, 0, 2, 2], 300), 20);
    c.learn(&a_lookup(42, "n4.test", [192, 0, 2, 4], 300), 21);
    assert_eq!(c.name_for(42, ip("192.0.2.2"), 30), Some("n2.test"));
    assert_eq!(c.name_for(42, ip("192.0.2.3"), 30), None);
}

#[test]
fn expired_entries_make_room_before_fresh_ones_are_evicted() {
    let mut c = NameCache::new(2);
    c.learn(&a_lookup(42, "old.test", [192, 0, 2, 1], 5), 0);
    c.learn(&a_lookup(42, "keep.test", [192, 0, 2, 2], 300), 0);
    c.learn(&a_lookup(42, "new.test", [192, 0, 2, 3], 300), 10 * SEC);
    assert_eq!(c.name_for(42, ip("192.0.2.2"), 10 * SEC), Some("keep.test"));
    assert_eq!(c.name_for(42, ip("192.0.2.3"), 10 * SEC), Some("new.test"));
    assert_eq!(c.evicted(), 0);
}

#[test]
fn churn_stays_bounded() {
    let mut c = NameCache::new(64);
    for i in 0..10_000u32 {
        let b = i.to_be_bytes();
        c.learn(
            &a_lookup(i % 7, "churn.test", [10, b[1], b[2], b[3]], 300),
            u64::from(i),
        );
        assert!(c.len() <= 64);
    }
    assert!(c.any.order.len() <= 2 * 64 + 16);
    assert!(c.by_pid.order.len() <= 2 * 64 + 16);
}

#[test]
fn relearning_the_same_names_keeps_the_queue_to_the_names_held() {
    let mut c = NameCache::new(65_536);
    for i in 0..100_000u64 {
        let n = u8::try_from(i % 3).unwrap();
        c.learn(&a_lookup(42, "hot.test", [192, 0, 2, n], 300), i);
    }
    assert_eq!(c.len(), 3);
    assert!(c.any.order.len() <= 2 * 3 + 16, "{}", c.any.order.len());
    assert!(c.by_pid.order.len() <= 2 * 3 + 16);
    assert!(c.any.order.capacity() < 1024, "{}", c.any.order.capacity());
    assert_eq!(c.name_for(42, ip("192.0.2.2"), 100_000), Some("hot.test"));
}

#[test]
fn tracked_lookup_teaches_the_cache_with_the_chain_ttl() {
    // A real forwarded answer: www.fwd.test CNAME (TTL 60) edge.cdn.fwd.test A x2 (TTL 300).
    let mut t = crate::protocols::dns::DnsTracker::new(16, std::time::Duration::from_secs(5));
    let (client, resolver) = ("10.0.0.5:40000", "10.0.0.53:53");
    t.packet(udp(
        SEC,
        true,
        client,
        resolver,
        42,
        golden("forwarded_cname_ttl_query"),
    ));
    let done = t.packet(udp(
        SEC + MS,
        false,
        resolver,
        client,
        0,
        golden("forwarded_cname_ttl"),
    ));
    let mut c = NameCache::new(16);
    c.learn(&done[0], done[0].end_unix_nanos);
    let learned_at = SEC + MS;
    for a in ["192.0.2.50", "192.0.2.51"] {
        assert_eq!(c.name_for(42, ip(a), learned_at), Some("www.fwd.test"));
        assert_eq!(
            c.name_for(42, ip(a), learned_at + 60 * SEC - 1),
            Some("www.fwd.test")
        );
        assert_eq!(
            c.name_for(42, ip(a), learned_at + 60 * SEC),
            None,
            "the CNAME's TTL bounds it"
        );
    }
}

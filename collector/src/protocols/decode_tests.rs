#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv6Addr};

use super::tcp::record::{ECONNREFUSED, ECONNRESET, EHOSTUNREACH, ETIMEDOUT};
use super::tcp::{classify, CloseReason, Direction};
use super::*;
use crate::decode::clock_nanos;
use crate::decode::{AF_INET, AF_INET6};
use crate::kernel::contract as types;
use crate::kernel::contract::{F_ESTABLISHED, F_RST_RECEIVED, F_RST_SENT};

fn raw_conn() -> sonde_conn_event {
    let mut e = sonde_conn_event {
        kind: types::EV_CONN_CLOSE,
        family: AF_INET,
        direction: 1,
        last_state: 7,
        flags: F_ESTABLISHED,
        lport: 43210,
        rport: 8080,
        netns: 4026531840,
        srtt_us: 52,
        min_rtt_us: 20,
        segs_out: 5,
        segs_in: 6,
        total_retrans: 1,
        cookie: 77,
        start_ns: 1_000,
        end_ns: 2_501_000,
        bytes_sent: 1000,
        bytes_received: 2500,
        ..Default::default()
    };
    e.laddr[..4].copy_from_slice(&[10, 1, 0, 1]);
    e.raddr[..4].copy_from_slice(&[10, 1, 0, 2]);
    e.owner.pid = 42;
    e.owner.tid = 43;
    e.owner.ppid = 1;
    for (d, s) in e.owner.comm.iter_mut().zip(b"curl") {
        *d = *s as i8;
    }
    e
}

fn bytes_of<T: plain::Plain>(v: &T) -> &[u8] {
    // SAFETY: `T` is a Plain `#[repr(C)]` struct; viewing its memory as bytes for its
    // own size is sound, and the slice borrows `v`.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

#[test]
fn decodes_an_ipv4_client_close() {
    let raw = raw_conn();
    let clock = Clock::with_offset(1_700_000_000_000_000_000);
    let KernelEvent::ConnClose(r) = decode(bytes_of(&raw), &clock).unwrap() else {
        panic!("not a close");
    };
    assert_eq!(r.local, "10.1.0.1:43210".parse().unwrap());
    assert_eq!(r.remote, "10.1.0.2:8080".parse().unwrap());
    assert_eq!(r.direction, Direction::Client);
    assert_eq!(r.server_port(), 8080);
    assert_eq!(r.start_unix_nanos, 1_700_000_000_000_001_000);
    assert_eq!(r.duration_nanos(), 2_500_000);
    assert_eq!((r.bytes_sent, r.bytes_received), (1000, 2500));
    assert_eq!((r.segs_out, r.segs_in, r.retransmits), (5, 6, 1));
    assert_eq!(r.reason, CloseReason::Fin);
    assert_eq!(r.owner.comm, "curl");
    assert_eq!((r.owner.pid, r.owner.tid, r.owner.ppid), (42, 43, 1));
    assert_eq!(r.network_type(), "ipv4");
}

#[test]
fn decodes_a_periodic_update() {
    let mut raw = raw_conn();
    raw.kind = types::EV_CONN_UPDATE;
    let ev = decode(bytes_of(&raw), &Clock::with_offset(0)).unwrap();
    assert!(matches!(ev, KernelEvent::ConnUpdate(r) if r.bytes_sent == 1000));
}

#[test]
fn decodes_ipv6_and_unmaps_v4_mapped_addresses() {
    let mut raw = raw_conn();
    raw.family = AF_INET6;
    raw.direction = 2;
    raw.laddr = "fd00:7::1".parse::<Ipv6Addr>().unwrap().octets();
    raw.raddr = "::ffff:10.1.0.9".parse::<Ipv6Addr>().unwrap().octets();
    let KernelEvent::ConnClose(r) = decode(bytes_of(&raw), &Clock::with_offset(0)).unwrap() else {
        panic!("not a close");
    };
    assert_eq!(r.local.ip(), "fd00:7::1".parse::<IpAddr>().unwrap());
    assert_eq!(r.remote.ip(), "10.1.0.9".parse::<IpAddr>().unwrap());
    assert_eq!(r.direction, Direction::Server);
    assert_eq!(r.server_port(), 43210);
}

#[test]
fn bad_records_are_typed_errors() {
    let clock = Clock::with_offset(0);
    assert_eq!(decode(&[], &clock), Err(DecodeError::Empty));
    assert_eq!(
        decode(&[99, 0, 0], &clock),
        Err(DecodeError::UnknownKind(99))
    );
    let raw = raw_conn();
    let short = &bytes_of(&raw)[..100];
    assert!(matches!(
        decode(short, &clock),
        Err(DecodeError::Truncated {
            kind: 1,
            len: 100,
            ..
        })
    ));
    let mut raw = raw_conn();
    raw.family = 1;
    assert_eq!(decode(bytes_of(&raw), &clock), Err(DecodeError::Family(1)));
}

#[test]
fn decodes_process_events() {
    let mut raw = sonde_proc_event {
        kind: types::EV_PROC_EXIT,
        pid: 9,
        start: 31_337,
        ..Default::default()
    };
    assert_eq!(
        decode(bytes_of(&raw), &Clock::with_offset(0)),
        Ok(KernelEvent::ProcExit {
            pid: 9,
            start: 31_337,
            comm: String::new()
        })
    );
    raw.kind = types::EV_PROC_EXEC;
    raw.ppid = 1;
    raw.comm[..3].copy_from_slice(&[b'd' as i8, b'i' as i8, b'g' as i8]);
    assert_eq!(
        decode(bytes_of(&raw), &Clock::with_offset(0)),
        Ok(KernelEvent::ProcExec {
            pid: 9,
            ppid: 1,
            start: 31_337,
            comm: "dig".into()
        })
    );
}

#[test]
fn close_reasons() {
    use Direction::*;
    let est = F_ESTABLISHED;
    assert_eq!(classify(est, 0, Client), CloseReason::Fin);
    assert_eq!(classify(est | F_RST_SENT, 0, Server), CloseReason::RstSent);
    assert_eq!(
        classify(est | F_RST_RECEIVED, 0, Client),
        CloseReason::RstReceived
    );
    assert_eq!(classify(est, ECONNRESET, Client), CloseReason::RstReceived);
    assert_eq!(
        classify(est | F_RST_SENT, ECONNRESET, Server),
        CloseReason::RstSent
    );
    assert_eq!(classify(est, ETIMEDOUT, Client), CloseReason::Timeout);
    assert_eq!(classify(0, ECONNREFUSED, Client), CloseReason::Refused);
    assert_eq!(classify(F_RST_RECEIVED, 0, Client), CloseReason::Refused);
    assert_eq!(classify(0, ETIMEDOUT, Client), CloseReason::ConnectTimeout);
    assert_eq!(classify(0, EHOSTUNREACH, Client), CloseReason::Failed);
    assert_eq!(classify(0, 0, Server), CloseReason::Other);
    assert!(CloseReason::Refused.is_failed_connect());
    assert!(!CloseReason::RstSent.is_failed_connect());
    assert!(CloseReason::RstSent.is_error());
    assert!(!CloseReason::Fin.is_error());
}

#[test]
fn clock_maps_monotonic_to_wall_time() {
    let clock = Clock::measure();
    let mono = clock_nanos(libc::CLOCK_MONOTONIC) as u64;
    let wall = clock_nanos(libc::CLOCK_REALTIME) as u64;
    let mapped = clock.to_unix_nanos(mono);
    assert!(mapped.abs_diff(wall) < 50_000_000, "{mapped} vs {wall}");
}

#[test]
fn decodes_a_dns_query_on_egress() {
    let mut raw = sonde_dns_event {
        kind: types::EV_DNS_PACKET,
        family: AF_INET,
        flags: types::DNS_F_EGRESS | types::DNS_F_OWNER,
        sport: 40000,
        dport: 53,
        len: 3,
        captured: 3,
        cookie: 5,
        ts_ns: 10,
        ..Default::default()
    };
    raw.saddr[..4].copy_from_slice(&[127, 0, 0, 1]);
    raw.daddr[..4].copy_from_slice(&[127, 0, 0, 53]);
    raw.data[..3].copy_from_slice(&[1, 2, 3]);
    raw.owner.pid = 77;
    let KernelEvent::DnsPacket(p) = decode(bytes_of(&raw), &Clock::with_offset(100)).unwrap()
    else {
        panic!("not a DNS packet");
    };
    assert!(p.egress && !p.tcp && !p.truncated);
    assert_eq!(p.dst, "127.0.0.53:53".parse().unwrap());
    assert_eq!(p.payload, vec![1, 2, 3]);
    assert_eq!(p.owner.pid, 77);
    assert_eq!(p.ts_unix_nanos, 110);
    // A capture length past the buffer is clamped, not trusted.
    raw.captured = u16::MAX;
    raw.flags = 0;
    let KernelEvent::DnsPacket(p) = decode(bytes_of(&raw), &Clock::with_offset(0)).unwrap() else {
        panic!("not a DNS packet");
    };
    assert_eq!(p.payload.len(), raw.data.len());
    assert_eq!(p.owner.pid, 0, "ingress packets carry no owner");
}

#[test]
fn decodes_a_variable_length_data_record() {
    let mut raw = crate::kernel::contract::sonde_data_event {
        kind: types::EV_DATA,
        flags: types::DATA_F_EGRESS,
        captured: 5,
        pid: 10,
        tid: 11,
        fd: 3,
        cookie: 77,
        ts_ns: 5,
        len: 900,
        ..Default::default()
    };
    raw.data[..5].copy_from_slice(b"GET /");
    // Only the header and the captured bytes travel.
    let bytes = &bytes_of(&raw)[..types::DATA_HEADER + 5];
    let KernelEvent::Data(d) = decode(bytes, &Clock::with_offset(1)).unwrap() else {
        panic!("not a data record");
    };
    assert_eq!(
        (d.pid, d.tid, d.cookie, d.len, d.ts_unix_nanos),
        (10, 11, 77, 900, 6)
    );
    assert!(d.egress && !d.sendfile);
    assert_eq!(d.data, b"GET /");
    // A record claiming more bytes than it carries is an error, not a panic.
    assert!(matches!(
        decode(&bytes[..types::DATA_HEADER + 2], &Clock::with_offset(0)),
        Err(DecodeError::Truncated { kind: 6, .. })
    ));
    assert!(decode(&bytes[..20], &Clock::with_offset(0)).is_err());
}

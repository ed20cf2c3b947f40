//! Ring-buffer record decoding: the bytes the kernel writes → owned `KernelEvent`s.
//!
//! `cargo bench -p sonde-collector --bench decode`; criterion reports each case in records
//! per second ("elem/s"). The records are built like the decode unit tests build them: the
//! generated `#[repr(C)]` types filled in, viewed as bytes (data records cut to their
//! header plus the captured bytes, as they travel). Every case is decoded once and checked
//! before it is timed.

use std::hint::black_box;
use std::net::Ipv6Addr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sonde::decode::Clock;
use sonde::kernel::contract::{self as types, sonde_conn_event, sonde_data_event, sonde_dns_event};
use sonde::protocols::{decode, KernelEvent};

/// A curl request as captured on the wire (the data record's payload).
const REQUEST: &[u8] = include_bytes!("../testdata/http1/req_real_curl_get.bin");
/// An A query from dnsmasq's tests (the DNS record's payload).
const DNS_QUERY: &[u8] = include_bytes!("../testdata/dns/a_query.bin");

/// A loopback client connection closed after a short exchange, as conn.bpf.c reports it.
fn conn(ipv6: bool) -> sonde_conn_event {
    let mut e = sonde_conn_event {
        kind: types::EV_CONN_CLOSE,
        family: if ipv6 { 10 } else { 2 },
        direction: 1,
        last_state: 7,
        flags: 1,
        lport: 43210,
        rport: 8080,
        netns: 4_026_531_840,
        srtt_us: 52,
        min_rtt_us: 20,
        segs_out: 5,
        segs_in: 6,
        total_retrans: 1,
        cookie: 77,
        start_ns: 1_000,
        end_ns: 2_501_000,
        bytes_sent: 64,
        bytes_received: 64,
        ..Default::default()
    };
    if ipv6 {
        e.laddr = Ipv6Addr::new(0xfd00, 7, 0, 0, 0, 0, 0, 1).octets();
        e.raddr = Ipv6Addr::new(0xfd00, 7, 0, 0, 0, 0, 0, 2).octets();
    } else {
        e.laddr[..4].copy_from_slice(&[127, 0, 0, 1]);
        e.raddr[..4].copy_from_slice(&[127, 0, 0, 1]);
    }
    e.owner.pid = 4242;
    e.owner.tid = 4242;
    e.owner.ppid = 1;
    for (d, s) in e.owner.comm.iter_mut().zip(b"python3") {
        *d = *s as i8;
    }
    e
}

/// A read of `payload` on an HTTP connection: the header and the captured bytes only.
fn data(payload: &[u8]) -> Vec<u8> {
    let mut e = sonde_data_event {
        kind: types::EV_DATA,
        captured: payload.len() as u16,
        pid: 10,
        tid: 11,
        fd: 3,
        cookie: 77,
        ts_ns: 5,
        len: payload.len() as u64,
        ..Default::default()
    };
    e.data[..payload.len()].copy_from_slice(payload);
    bytes_of(&e)[..types::DATA_HEADER + payload.len()].to_vec()
}

/// A DNS query leaving a stub resolver's socket.
fn dns(payload: &[u8]) -> sonde_dns_event {
    let mut e = sonde_dns_event {
        kind: types::EV_DNS_PACKET,
        family: 2,
        flags: types::DNS_F_EGRESS | types::DNS_F_OWNER,
        sport: 40000,
        dport: 53,
        len: payload.len() as u16,
        captured: payload.len() as u16,
        cookie: 5,
        ts_ns: 10,
        ..Default::default()
    };
    e.saddr[..4].copy_from_slice(&[127, 0, 0, 1]);
    e.daddr[..4].copy_from_slice(&[127, 0, 0, 53]);
    e.data[..payload.len()].copy_from_slice(payload);
    e.owner.pid = 77;
    e
}

fn bytes_of<T: plain::Plain>(v: &T) -> &[u8] {
    // SAFETY: `T` is a Plain `#[repr(C)]` struct; viewing its memory as bytes for its
    // own size is sound, and the slice borrows `v`.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

fn bench(c: &mut Criterion) {
    let clock = Clock::with_offset(1_700_000_000_000_000_000);
    let conn4 = conn(false);
    let conn6 = conn(true);
    let request = data(REQUEST);
    let full = data(&[b'x'; types::DATA_MAX as usize]);
    let query = dns(DNS_QUERY);
    let cases: [(&str, &[u8]); 5] = [
        ("conn_close_ipv4", bytes_of(&conn4)),
        ("conn_close_ipv6", bytes_of(&conn6)),
        ("data_http_request", &request),
        ("data_1024_bytes", &full),
        ("dns_query", bytes_of(&query)),
    ];
    for (case, record) in cases {
        let ok = match decode(record, &clock) {
            Ok(KernelEvent::ConnClose(r)) => r.bytes_sent == 64 && r.owner.comm == "python3",
            Ok(KernelEvent::Data(d)) => d.data.len() + types::DATA_HEADER == record.len(),
            Ok(KernelEvent::DnsPacket(p)) => p.payload == DNS_QUERY,
            other => panic!("{case}: {other:?}"),
        };
        assert!(ok, "{case} decoded wrongly");
        let mut group = c.benchmark_group(format!("decode/{case}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("sonde", |b| {
            b.iter(|| decode(black_box(record), black_box(&clock)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! DNS parse throughput: Sonde's hand-written parser against hickory-proto, on real
//! messages captured from dnsmasq (collector/testdata/dns).
//!
//! `cargo bench -p sonde-collector --bench dns_parse`; criterion reports each case in
//! messages per second ("elem/s"). Both sides decode into owned values: Sonde reads the
//! header, questions and answers (what correlation needs); hickory-proto reads every
//! section, which is what a general-purpose library has to do.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sonde::protocols::dns::wire as dns;

/// (case, message): a typical query, an A answer, a two-CNAME chain ending in an A.
const CASES: [(&str, &[u8]); 3] = [
    ("query", include_bytes!("../testdata/dns/a_query.bin")),
    ("a_answer", include_bytes!("../testdata/dns/a.bin")),
    (
        "cname_chain",
        include_bytes!("../testdata/dns/cname_chain.bin"),
    ),
];

fn parse(c: &mut Criterion) {
    for (case, msg) in CASES {
        // Both parsers must accept the message, or the comparison means nothing.
        assert!(dns::parse(msg).is_ok(), "sonde rejects {case}");
        assert!(
            hickory_proto::op::Message::from_vec(msg).is_ok(),
            "hickory-proto rejects {case}"
        );
        let mut group = c.benchmark_group(format!("dns_parse/{case}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("sonde", |b| b.iter(|| dns::parse(black_box(msg))));
        group.bench_function("sonde_check", |b| b.iter(|| dns::check(black_box(msg))));
        group.bench_function("hickory_proto", |b| {
            b.iter(|| hickory_proto::op::Message::from_vec(black_box(msg)))
        });
        group.finish();
    }
    let (_, chain) = CASES[2];
    c.bench_function("dns_parse/cname_chain/sonde_resolved_addresses", |b| {
        b.iter(|| dns::parse(black_box(chain)).map(|m| m.resolved_addresses()))
    });
}

criterion_group!(benches, parse);
criterion_main!(benches);

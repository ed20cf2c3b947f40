#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::golden_tests::golden;
use super::*;

fn ip4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse::<Ipv4Addr>().unwrap())
}

#[test]
fn real_query_and_a_answer() {
    let q = parse(&golden("a_query")).unwrap();
    assert!(!q.is_response);
    assert!(q.recursion_desired);
    assert_eq!(q.questions.len(), 1);
    assert_eq!(q.questions[0].name, "www.example.test");
    assert_eq!(q.questions[0].qtype, RecordType::A);
    assert!(q.answers.is_empty());

    let r = parse(&golden("a")).unwrap();
    assert!(r.is_response);
    assert_eq!(r.id, q.id);
    assert_eq!(r.rcode, Rcode::NOERROR);
    assert_eq!(r.answers.len(), 1);
    assert_eq!(
        r.answers[0].data,
        RecordData::A(Ipv4Addr::new(192, 0, 2, 20))
    );
    assert_eq!(
        r.resolved_addresses(),
        vec![(ip4("192.0.2.20"), r.answers[0].ttl)]
    );
}

#[test]
fn real_aaaa_answer() {
    let r = parse(&golden("aaaa")).unwrap();
    let want: Ipv6Addr = "2001:db8::10".parse().unwrap();
    assert_eq!(r.answers[0].data, RecordData::Aaaa(want));
    assert_eq!(r.resolved_addresses()[0].0, IpAddr::V6(want));
}

#[test]
fn cname_chain_resolves_to_the_question_name() {
    let r = parse(&golden("cname_chain")).unwrap();
    assert_eq!(r.questions[0].name, "alias2.example.test");
    let kinds: Vec<_> = r.answers.iter().map(|a| a.rtype).collect();
    assert_eq!(kinds, [RecordType::CNAME, RecordType::CNAME, RecordType::A]);
    let addrs: Vec<IpAddr> = r
        .resolved_addresses()
        .into_iter()
        .map(|(ip, _)| ip)
        .collect();
    assert_eq!(addrs, [ip4("192.0.2.20")]);
}

#[test]
fn chain_ttl_is_the_smallest_link() {
    let rec = |name: &str, ttl, data| Record {
        name: name.into(),
        rtype: RecordType::A,
        class: 1,
        ttl,
        data,
    };
    let answers = vec![
        rec("a.test", 30, RecordData::Cname("b.test".into())),
        rec("b.test", 600, RecordData::A(Ipv4Addr::new(192, 0, 2, 1))),
        rec(
            "other.test",
            600,
            RecordData::A(Ipv4Addr::new(192, 0, 2, 2)),
        ),
    ];
    assert_eq!(
        resolved_addresses("a.test", &answers),
        vec![(ip4("192.0.2.1"), 30)]
    );
    assert_eq!(
        resolved_addresses("b.test", &answers),
        vec![(ip4("192.0.2.1"), 600)]
    );
    assert!(resolved_addresses("c.test", &answers).is_empty());
}

#[test]
fn cname_loop_is_bounded_and_keeps_the_address() {
    let r = parse(&golden("hostile_cname_loop")).unwrap();
    assert_eq!(r.resolved_addresses(), vec![(ip4("192.0.2.99"), 60)]);
}

#[test]
fn long_cname_chain_stops_after_the_limit() {
    let hops = MAX_CNAME_CHAIN + 5;
    let mut answers: Vec<Record> = (0..hops)
        .map(|i| Record {
            name: format!("n{i}.test"),
            rtype: RecordType::CNAME,
            class: 1,
            ttl: 60,
            data: RecordData::Cname(format!("n{}.test", i + 1)),
        })
        .collect();
    let addr = |i: usize| Record {
        name: format!("n{i}.test"),
        rtype: RecordType::A,
        class: 1,
        ttl: 60,
        data: RecordData::A(Ipv4Addr::new(192, 0, 2, i as u8)),
    };
    answers.push(addr(MAX_CNAME_CHAIN));
    answers.push(addr(hops));
    let got = resolved_addresses("n0.test", &answers);
    assert_eq!(got, vec![(ip4(&format!("192.0.2.{MAX_CNAME_CHAIN}")), 60)]);
}

#[test]
fn names_are_lowercase_and_escaped() {
    let r = parse(&golden("mixed_case")).unwrap();
    assert_eq!(r.questions[0].name, "www.example.test");
    let r = parse(&golden("hostile_escapes")).unwrap();
    assert_eq!(r.questions[0].name, r"a\046b.x\092y.s\032p.\255z.test");
}

#[test]
fn rcodes_from_real_servers() {
    assert_eq!(parse(&golden("nxdomain")).unwrap().rcode, Rcode::NXDOMAIN);
    assert_eq!(parse(&golden("refused")).unwrap().rcode, Rcode::REFUSED);
    assert!(Rcode::NXDOMAIN.is_error());
    assert!(!Rcode::NOERROR.is_error());
    let tc = parse(&golden("tc_udp")).unwrap();
    assert!(tc.truncated);
}

#[test]
fn hostile_inputs_give_typed_errors() {
    let err = |case: &str| parse(&golden(case)).unwrap_err();
    assert_eq!(err("hostile_empty"), DnsError::TooShort { len: 0 });
    assert_eq!(err("hostile_short_header"), DnsError::TooShort { len: 11 });
    assert_eq!(
        err("hostile_pointer_loop"),
        DnsError::PointerLoop { at: 12 }
    );
    assert_eq!(
        err("hostile_pointer_chain_33"),
        DnsError::PointerLoop { at: 101 }
    );
    assert!(matches!(
        err("hostile_pointer_self"),
        DnsError::ForwardPointer { at: 12, target: 12 }
    ));
    assert!(matches!(
        err("hostile_forward_pointer"),
        DnsError::ForwardPointer { at: 12, target: 16 }
    ));
    assert!(matches!(
        err("hostile_pointer_out_of_bounds"),
        DnsError::PointerOutOfBounds {
            at: 12,
            target: 255
        }
    ));
    assert_eq!(
        err("hostile_label_64"),
        DnsError::LabelTooLong { at: 12, len: 64 }
    );
    assert_eq!(err("hostile_name_256"), DnsError::NameTooLong { at: 12 });
    assert!(matches!(
        err("hostile_bad_label_type"),
        DnsError::BadLabelType { byte: 0x80, .. }
    ));
    assert!(matches!(
        err("hostile_qdcount_65535"),
        DnsError::TooManyRecords {
            section: Section::Question,
            count: 65535,
            remaining: 0
        }
    ));
    assert!(matches!(
        err("hostile_ancount_65535"),
        DnsError::TooManyRecords {
            section: Section::Answer,
            count: 65535,
            ..
        }
    ));
    assert!(matches!(
        err("hostile_truncated_rdata"),
        DnsError::Truncated { .. }
    ));
    assert!(matches!(
        err("hostile_a_rdlength_5"),
        DnsError::BadRdataLength { len: 5, .. }
    ));
    assert!(matches!(
        err("hostile_cname_rdata_mismatch"),
        DnsError::BadRdataLength { .. }
    ));
}

#[test]
fn boundary_inputs_parse() {
    let r = parse(&golden("hostile_name_255")).unwrap();
    assert_eq!(r.questions[0].name.len(), 253);
    let r = parse(&golden("hostile_pointer_chain_32")).unwrap();
    assert_eq!(r.answers[1].name, ".");
    let r = parse(&golden("hostile_chaos_class_a")).unwrap();
    assert_eq!(r.answers[0].data, RecordData::Other { len: 2 });
}

#[test]
fn check_accepts_real_traffic_and_rejects_junk() {
    for case in [
        "a_query",
        "aaaa_query",
        "ptr_query",
        "a",
        "cname_chain",
        "tc_udp",
    ] {
        assert!(check(&golden(case)), "{case}");
    }
    for case in [
        "hostile_empty",
        "hostile_short_header",
        "hostile_qdcount_65535",
    ] {
        assert!(!check(&golden(case)), "{case}");
    }
    // opcode 3 is unassigned; 15 questions is fine, 17 is not.
    let mut q = golden("a_query");
    q[2] = (q[2] & 0x87) | (3 << 3);
    assert!(!check(&q));
    let mut q = vec![0u8; 12 + 17 * 5];
    q[5] = 17;
    assert!(!check(&q));
    q[5] = 16;
    assert!(check(&q));
}

#[test]
fn only_the_answer_section_is_read() {
    // A capture cut inside the additional section (EDNS OPT) still parses.
    let full = golden("a");
    let h = header(&full).unwrap();
    assert_eq!(h.additional_count, 1);
    let cut = &full[..full.len() - 5];
    assert_eq!(parse(cut).unwrap().answers, parse(&full).unwrap().answers);
}

#[test]
fn every_prefix_of_every_golden_message_is_handled() {
    for (case, bytes) in super::golden_tests::golden_cases() {
        for end in 0..bytes.len() {
            // Must return, whatever it says; a prefix never yields more answers.
            if let (Ok(cut), Ok(full)) = (parse(&bytes[..end]), parse(&bytes)) {
                assert!(
                    cut.answers.len() <= full.answers.len(),
                    "{case} cut at {end}"
                );
            }
        }
    }
}

#[test]
fn type_and_rcode_names() {
    assert_eq!(RecordType::A.name(), "A");
    assert_eq!(RecordType::HTTPS.name(), "HTTPS");
    assert_eq!(RecordType(65).name(), "HTTPS");
    assert_eq!(RecordType::SVCB.name(), "SVCB");
    assert_eq!(RecordType::ANY.name(), "ANY");
    assert_eq!(RecordType(4242).name(), "TYPE4242");
    assert_eq!(Rcode::SERVFAIL.name(), "SERVFAIL");
    assert_eq!(Rcode(12).name(), "RCODE12");
    assert_eq!(Rcode::REFUSED.to_string(), "REFUSED");
}

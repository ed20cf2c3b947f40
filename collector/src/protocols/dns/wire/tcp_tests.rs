#![allow(clippy::unwrap_used)]

use super::*;
use crate::protocols::dns::wire::golden_tests::{golden, golden_dir};

fn stream(name: &str) -> Vec<u8> {
    std::fs::read(golden_dir().join(format!("{name}.stream"))).unwrap()
}

fn push_all(r: &mut TcpReassembler, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    chunks.iter().flat_map(|c| r.push(c).unwrap()).collect()
}

#[test]
fn real_stream_in_one_chunk_gives_every_message() {
    // dig +tcp +keepopen: two responses on one connection.
    let mut r = TcpReassembler::new();
    let got = r.push(&stream("tcp_a.server")).unwrap();
    assert_eq!(got, vec![golden("tcp_a_tcp0"), golden("tcp_a_tcp1")]);
    assert_eq!(r.buffered(), 0);
    // The client side: two queries.
    let queries = TcpReassembler::new().push(&stream("tcp_a.client")).unwrap();
    assert_eq!(queries.len(), 2);
    assert!(queries
        .iter()
        .all(|q| crate::protocols::dns::wire::check(q)));
}

#[test]
fn real_stream_split_at_every_offset() {
    for name in ["tcp_a.server", "tcp_big.server"] {
        let s = stream(name);
        let whole = TcpReassembler::new().push(&s).unwrap();
        for cut in 0..=s.len() {
            let mut r = TcpReassembler::new();
            let got = push_all(&mut r, &[&s[..cut], &s[cut..]]);
            assert_eq!(got, whole, "{name} cut at {cut}");
        }
    }
}

#[test]
fn byte_by_byte() {
    let s = stream("tcp_big.server");
    let mut r = TcpReassembler::new();
    let chunks: Vec<&[u8]> = s.chunks(1).collect();
    let got = push_all(&mut r, &chunks);
    assert_eq!(got, vec![golden("tcp_big_tcp0")]);
    assert_eq!(got[0].len(), 685);
}

#[test]
fn partial_message_is_held_until_complete() {
    let s = stream("tcp_big.server");
    let mut r = TcpReassembler::new();
    assert!(r.push(&s[..300]).unwrap().is_empty());
    assert_eq!(r.buffered(), 300);
    assert_eq!(r.push(&s[300..]).unwrap().len(), 1);
    assert_eq!(r.buffered(), 0);
}

#[test]
fn frame_too_short_is_an_error_and_resets() {
    let mut r = TcpReassembler::new();
    r.push(&[0x00]).unwrap();
    assert_eq!(
        r.push(&[0x05, 1, 2]),
        Err(DnsTcpError::FrameTooShort { len: 5 })
    );
    assert_eq!(r.buffered(), 0);
    // The next chunk starts a new frame: a whole real stream goes through.
    assert_eq!(r.push(&stream("tcp_a.server")).unwrap().len(), 2);
}

#[test]
fn frame_over_the_limit_is_an_error_and_resets() {
    let s = stream("tcp_big.server");
    let mut r = TcpReassembler::with_limit(512);
    assert_eq!(
        r.push(&s),
        Err(DnsTcpError::FrameTooLarge {
            len: 685,
            limit: 512
        })
    );
    assert_eq!(r.buffered(), 0);
    assert_eq!(r.push(&stream("tcp_a.server")).unwrap().len(), 2);
    // The default limit holds the largest message up to 64 KiB, prefix included.
    let mut r = TcpReassembler::new();
    let mut big = vec![0xFF, 0xFE];
    big.resize(2 + 0xFFFE, 0);
    assert_eq!(r.push(&big).unwrap().len(), 1);
    assert_eq!(
        r.push(&[0xFF, 0xFF]),
        Err(DnsTcpError::FrameTooLarge {
            len: 0xFFFF,
            limit: MAX_BUFFERED
        })
    );
}

#[test]
fn empty_chunks_are_harmless() {
    let mut r = TcpReassembler::new();
    assert!(r.push(&[]).unwrap().is_empty());
    let s = stream("tcp_a.server");
    let got = push_all(&mut r, &[&s[..1], &[], &s[1..]]);
    assert_eq!(got.len(), 2);
}

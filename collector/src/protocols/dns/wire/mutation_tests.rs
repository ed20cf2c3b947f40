//! Mutation "fuzzing" without a fuzzing toolchain: the golden messages are mutated many
//! times with a seeded pseudo-random generator (bit flips, byte overwrites, truncations,
//! insertions, deletions, compression-pointer and count rewrites, splices), and every
//! result goes through `check`, `header` and `parse`, which must return without panicking.
//!
//! A failure prints the seed, the round and the input. `SONDE_FUZZ_SEED=<n>` replays a
//! seed; `SONDE_FUZZ_ROUNDS=<n>` changes the number of mutants per golden message.

#![allow(clippy::unwrap_used)]

use super::golden_tests::golden_cases;
use super::*;
use crate::protocols::dns::wire::tcp::TcpReassembler;
use crate::testing::Rng;

const INTERESTING: [u8; 10] = [
    0x00,
    0x01,
    0x3F,
    0x40,
    0x7F,
    0x80,
    0xC0,
    0xC0 | 0x3F,
    0xFF,
    12,
];

/// Applies one random mutation to `m`; `donor` is another golden message for splices.
fn mutate(rng: &mut Rng, m: &mut Vec<u8>, donor: &[u8]) {
    let len = m.len();
    match rng.below(10) {
        0 if len > 0 => {
            let i = rng.below(len);
            m[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            m[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 if len > 0 => {
            let i = rng.below(len);
            m[i] = rng.byte();
        }
        3 => m.truncate(rng.below(len + 1)),
        4 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            m.splice(at..at, bytes);
        }
        5 if len > 0 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(8)).min(len);
            m.drain(at..end);
        }
        // A compression pointer anywhere, to anywhere (often backwards, sometimes not).
        6 if len >= 2 => {
            let at = rng.below(len - 1);
            let target = match rng.below(3) {
                0 => rng.below(at + 1),
                1 => rng.below(len + 16),
                _ => 12,
            };
            m[at] = 0xC0 | ((target >> 8) as u8 & 0x3F);
            m[at + 1] = target as u8;
        }
        // A section count: small, huge, or off by one.
        7 if len >= 12 => {
            let field = 4 + 2 * rng.below(4);
            let old = u16::from_be_bytes([m[field], m[field + 1]]);
            let new = match rng.below(3) {
                0 => rng.next_u64() as u16,
                1 => old.wrapping_add(1),
                _ => old.wrapping_sub(1),
            };
            m[field..field + 2].copy_from_slice(&new.to_be_bytes());
        }
        // Splice a slice of another message in.
        8 if !donor.is_empty() => {
            let from = rng.below(donor.len());
            let to = (from + 1 + rng.below(32)).min(donor.len());
            let at = rng.below(len + 1);
            m.splice(at..at, donor[from..to].iter().copied());
        }
        // Duplicate a slice of itself (repeated labels, records).
        _ if len > 0 => {
            let from = rng.below(len);
            let to = (from + 1 + rng.below(24)).min(len);
            let slice = m[from..to].to_vec();
            let at = rng.below(len + 1);
            m.splice(at..at, slice);
        }
        _ => m.push(rng.byte()),
    }
}

/// The outcome's name, to see that the mutants reach every corner of the parser.
fn kind(result: &Result<Message, DnsError>) -> &'static str {
    match result {
        Ok(_) => "Ok",
        Err(DnsError::TooShort { .. }) => "TooShort",
        Err(DnsError::Truncated { .. }) => "Truncated",
        Err(DnsError::PointerLoop { .. }) => "PointerLoop",
        Err(DnsError::ForwardPointer { .. }) => "ForwardPointer",
        Err(DnsError::PointerOutOfBounds { .. }) => "PointerOutOfBounds",
        Err(DnsError::LabelTooLong { .. }) => "LabelTooLong",
        Err(DnsError::NameTooLong { .. }) => "NameTooLong",
        Err(DnsError::BadLabelType { .. }) => "BadLabelType",
        Err(DnsError::TooManyRecords { .. }) => "TooManyRecords",
        Err(DnsError::BadRdataLength { .. }) => "BadRdataLength",
    }
}

/// What must hold for any input, beyond not panicking. Returns the outcome's kind.
fn exercise(input: &[u8]) -> &'static str {
    let plausible = check(input);
    let parsed = parse(input);
    if plausible {
        assert!(header(input).is_ok());
    }
    let kind = kind(&parsed);
    if let Ok(m) = parsed {
        // Work and output are bounded by the input.
        assert!(m.questions.len() * 5 + m.answers.len() * 11 <= input.len());
        for name in m
            .questions
            .iter()
            .map(|q| &q.name)
            .chain(m.answers.iter().map(|r| &r.name))
        {
            assert!(!name.is_empty() && name.len() <= 255 * 4, "{name:?}");
        }
        let _ = m.resolved_addresses();
    }
    kind
}

fn seed() -> u64 {
    std::env::var("SONDE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_D0D5)
}

fn rounds() -> usize {
    std::env::var("SONDE_FUZZ_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000)
}

#[test]
fn mutated_golden_messages_never_panic() {
    let cases = golden_cases();
    let seed = seed();
    let rounds = rounds();
    let mut rng = Rng::new(seed);
    let mut inputs = 0usize;
    let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
    let started = std::time::Instant::now();
    for round in 0..rounds {
        for (i, (case, base)) in cases.iter().enumerate() {
            let donor = &cases[(i + 1 + round) % cases.len()].1;
            let mut m = base.clone();
            for _ in 0..1 + rng.below(4) {
                mutate(&mut rng, &mut m, donor);
            }
            let result = std::panic::catch_unwind(|| exercise(&m));
            match result {
                Ok(kind) => *kinds.entry(kind).or_default() += 1,
                Err(panic) => {
                    eprintln!(
                    "DNS parser panicked: SONDE_FUZZ_SEED={seed} round {round}, base case {case}, input {m:02x?}"
                );
                    std::panic::resume_unwind(panic);
                }
            }
            inputs += 1;
        }
    }
    eprintln!(
        "{inputs} mutated DNS messages parsed in {:?} (seed {seed}): {kinds:?}",
        started.elapsed()
    );
    assert!(inputs >= rounds * cases.len());
    // Every error the parser has, and plenty of successes, or the mutator has gone blind.
    assert_eq!(kinds.len(), 11, "outcomes reached: {kinds:?}");
    assert!(
        kinds["Ok"] * 10 >= inputs,
        "too few mutants parse: {kinds:?}"
    );
}

#[test]
fn random_chunking_of_mutated_tcp_streams_never_panics() {
    let seed = seed();
    let mut rng = Rng::new(seed ^ 0x7C9);
    let cases = golden_cases();
    for round in 0..rounds() / 5 {
        // A stream of framed golden messages, some prefixes mutated, cut at random points.
        let mut stream = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let (_, m) = &cases[rng.below(cases.len())];
            let mut len = (m.len() as u16).to_be_bytes();
            if rng.below(8) == 0 {
                len = (rng.next_u64() as u16).to_be_bytes();
            }
            stream.extend_from_slice(&len);
            stream.extend_from_slice(m);
        }
        let mut r = TcpReassembler::with_limit(1 + rng.below(70_000));
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len());
            let result = std::panic::catch_unwind(|| {
                let mut r = r.clone();
                let out = r.push(&rest[..n]);
                (r, out)
            });
            let Ok((next, out)) = result else {
                panic!("TcpReassembler panicked: SONDE_FUZZ_SEED={seed} round {round}");
            };
            r = next;
            for msg in out.into_iter().flatten() {
                let _ = exercise(&msg);
            }
            assert!(r.buffered() <= crate::protocols::dns::wire::tcp::MAX_BUFFERED);
            rest = &rest[n..];
        }
    }
}

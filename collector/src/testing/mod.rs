//! What unit tests across the crate share (one place, not borrowed from a sibling's test
//! module): golden files ([`golden`]) and a seedable generator for mutation tests ([`Rng`]).
//! A protocol's own fixtures stay in its `test_support.rs`.
//!
//! Layout of tests, everywhere: a module's unit tests are its child `tests` module (and
//! `golden_tests`, `mutation_tests`, ... by kind where a parser has them); under 150 lines
//! inline at the bottom of the file, longer in a file beside it: `<name>_tests.rs` for
//! `<name>.rs` (through `#[path]`), `<kind>_tests.rs` or `tests.rs` in the folder of a
//! `mod.rs`. End-to-end tests with real traffic are in `integration-tests/`.

pub(crate) mod golden;

/// SplitMix64: tiny, seedable, good enough to drive mutations.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator started at `seed` (the same seed gives the same sequence).
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A random byte.
    pub(crate) fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
}

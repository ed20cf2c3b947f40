//! AFL++ target: [`sonde_fuzz::dns_tracker`].
fn main() {
    afl::fuzz!(|data: &[u8]| {
        sonde_fuzz::dns_tracker(data);
    });
}

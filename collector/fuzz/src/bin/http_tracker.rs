//! AFL++ target: [`sonde_fuzz::http_tracker`].
fn main() {
    afl::fuzz!(|data: &[u8]| {
        sonde_fuzz::http_tracker(data);
    });
}

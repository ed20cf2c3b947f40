//! AFL++ target: [`sonde_fuzz::http_chunked`].
fn main() {
    afl::fuzz!(|data: &[u8]| {
        sonde_fuzz::http_chunked(data);
    });
}

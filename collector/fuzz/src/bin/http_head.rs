//! AFL++ target: [`sonde_fuzz::http_head`].
fn main() {
    afl::fuzz!(|data: &[u8]| {
        sonde_fuzz::http_head(data);
    });
}

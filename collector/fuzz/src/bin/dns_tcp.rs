//! AFL++ target: [`sonde_fuzz::dns_tcp`].
fn main() {
    afl::fuzz!(|data: &[u8]| {
        sonde_fuzz::dns_tcp(data);
    });
}

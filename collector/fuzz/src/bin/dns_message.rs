//! AFL++ target: [`sonde_fuzz::dns_message`].
fn main() {
    afl::fuzz!(|data: &[u8]| {
        sonde_fuzz::dns_message(data);
    });
}

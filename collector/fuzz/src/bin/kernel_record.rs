//! AFL++ target: [`sonde_fuzz::kernel_record`].
fn main() {
    afl::fuzz!(|data: &[u8]| {
        sonde_fuzz::kernel_record(data);
    });
}

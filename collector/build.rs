//! Compiles every `bpf-src/*.bpf.c` into a libbpf skeleton in OUT_DIR.
//!
//! clang 14 needs `-mcpu=v3` for the bounded-length `bpf_probe_read_user` calls; CO-RE
//! relocations come from the committed `bpf-src/include/vmlinux.h` (see bpf-src/README.md).

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const PROGRAMS: &[&str] = &["conn", "dns", "data", "drops"];

fn main() {
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let bpf_src = manifest.join("..").join("bpf-src");
    let include = bpf_src.join("include");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => panic!("sonde: no BPF target mapping for architecture {other}"),
        Err(_) => "x86",
    };
    for name in PROGRAMS {
        let src = bpf_src.join(format!("{name}.bpf.c"));
        SkeletonBuilder::new()
            .source(&src)
            .clang_args([
                "-mcpu=v3".into(),
                format!("-D__TARGET_ARCH_{arch}").into(),
                "-I".into(),
                include.clone().into_os_string(),
                "-Wall".into(),
            ])
            .build_and_generate(out.join(format!("{name}.skel.rs")))
            .unwrap_or_else(|e| panic!("sonde: building {}: {e:#}", src.display()));
        println!("cargo:rerun-if-changed={}", src.display());
    }
    // A folder: cargo scans every file in it (events.h, owner.h, task.h, …).
    println!("cargo:rerun-if-changed={}", include.display());
}

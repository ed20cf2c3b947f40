//! What the kernel and the process must offer before the probes load.

use std::fs;
use std::path::Path;

use super::BpfError;

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// What preflight did to the system, so `main` can say so.
#[derive(Debug, Default)]
pub struct Preflight {
    /// Pseudo-filesystems Sonde mounted itself, as `(fs, path)`.
    pub mounted: Vec<(&'static str, &'static str)>,
}

/// Checks privileges and BTF, and mounts tracefs and bpffs when they are missing.
pub fn run() -> Result<Preflight, BpfError> {
    check_privileges()?;
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err(BpfError::NoBtf);
    }
    let mut done = Preflight::default();
    // libbpf resolves classic tracepoint ids through tracefs.
    if !Path::new("/sys/kernel/tracing/events").exists()
        && !Path::new("/sys/kernel/debug/tracing/events").exists()
    {
        mount("tracefs", "/sys/kernel/tracing")?;
        done.mounted.push(("tracefs", "/sys/kernel/tracing"));
    }
    if !is_bpffs("/sys/fs/bpf") {
        mount("bpf", "/sys/fs/bpf")?;
        done.mounted.push(("bpf", "/sys/fs/bpf"));
    }
    Ok(done)
}

fn check_privileges() -> Result<(), BpfError> {
    let effective = effective_caps().unwrap_or(0);
    let has = |cap: u32| effective & (1u64 << cap) != 0;
    let bpf_ok = has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
    if bpf_ok && (has(CAP_NET_ADMIN) || has(CAP_SYS_ADMIN)) {
        return Ok(());
    }
    let missing: Vec<&str> = [
        (CAP_BPF, "CAP_BPF"),
        (CAP_PERFMON, "CAP_PERFMON"),
        (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
    ]
    .into_iter()
    .filter(|(cap, _)| !has(*cap) && !has(CAP_SYS_ADMIN))
    .map(|(_, name)| name)
    .collect();
    Err(BpfError::NotPrivileged {
        effective,
        missing: missing.join(", "),
    })
}

/// The `CapEff` mask of this process.
fn effective_caps() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    parse_cap_eff(&status)
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

fn is_bpffs(path: &str) -> bool {
    fs::read_to_string("/proc/self/mounts")
        .map(|m| m.lines().any(|l| is_mount_of(l, "bpf", path)))
        .unwrap_or(false)
}

fn is_mount_of(line: &str, fs: &str, path: &str) -> bool {
    let mut fields = line.split_whitespace();
    let _source = fields.next();
    fields.next() == Some(path) && fields.next() == Some(fs)
}

fn mount(fs: &'static str, path: &'static str) -> Result<(), BpfError> {
    let err = |source| BpfError::Mount { fs, path, source };
    let c_fs = std::ffi::CString::new(fs).map_err(|e| err(e.into()))?;
    let c_path = std::ffi::CString::new(path).map_err(|e| err(e.into()))?;
    // SAFETY: all three pointers are valid NUL-terminated strings that outlive the call;
    // a null `data` pointer is allowed by mount(2).
    let rc = unsafe {
        libc::mount(
            c_fs.as_ptr(),
            c_path.as_ptr(),
            c_fs.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(err(std::io::Error::last_os_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_effective_capability_mask() {
        let status = "Name:\tsonde\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_eff("Name: x\n"), None);
    }

    #[test]
    fn recognises_a_bpffs_mount_line() {
        assert!(is_mount_of(
            "bpf /sys/fs/bpf bpf rw,relatime 0 0",
            "bpf",
            "/sys/fs/bpf"
        ));
        assert!(!is_mount_of(
            "none /sys/fs/bpf tmpfs rw 0 0",
            "bpf",
            "/sys/fs/bpf"
        ));
    }
}

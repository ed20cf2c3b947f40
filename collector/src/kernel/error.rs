//! Errors of the kernel stage: preparing, loading and attaching any protocol's probes.

/// What went wrong while preparing, loading or attaching the probes.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The process lacks the privileges to load BPF.
    #[error(
        "sonde needs root, or the capabilities CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN; \
         missing here: {missing} (effective mask {effective:#x}); run it with sudo or \
         grant them (see otel-examples/systemd)"
    )]
    NotPrivileged {
        /// The effective capability mask read from /proc/self/status.
        effective: u64,
        /// The capabilities that are missing, comma-separated.
        missing: String,
    },
    /// A tracepoint a capture attaches to is not in this kernel.
    #[error(
        "{what} needs the kernel tracepoint {tracepoint} (Linux {since} or later), which this \
         kernel does not have ({path} is missing)"
    )]
    MissingTracepoint {
        /// The capture.
        what: &'static str,
        /// `group:name`.
        tracepoint: &'static str,
        /// The first kernel release with it.
        since: &'static str,
        /// Where tracefs lists it.
        path: String,
    },
    /// The kernel exposes no BTF, so CO-RE relocations cannot be resolved.
    #[error(
        "the kernel exposes no BTF at /sys/kernel/btf/vmlinux: Sonde needs a kernel built \
         with CONFIG_DEBUG_INFO_BTF=y (every major distribution since 2020 ships one)"
    )]
    NoBtf,
    /// A pseudo-filesystem is missing and could not be mounted.
    #[error("{fs} is not mounted at {path} and mounting it failed ({source}); mount it with `mount -t {fs} {fs} {path}`")]
    Mount {
        /// `tracefs` or `bpf`.
        fs: &'static str,
        /// Where it was expected.
        path: &'static str,
        /// Why mounting failed.
        source: std::io::Error,
    },
    /// No cgroup-v2 hierarchy is mounted, so the DNS capture has nowhere to attach.
    #[error(
        "no cgroup2 filesystem is mounted (see /proc/self/mounts): the DNS capture attaches \
         to the cgroup-v2 root; mount one (`mount -t cgroup2 none /sys/fs/cgroup/unified`) \
         or disable DNS (dns.enabled: false)"
    )]
    NoCgroup2,
    /// The watched DNS port list is empty or too long.
    #[error("dns.ports has {0} entries; between 1 and 8 ports can be watched")]
    DnsPorts(usize),
    /// libbpf refused to open, load or attach a program.
    #[error("{what}: {source}")]
    Libbpf {
        /// The step that failed, with the program or map it concerned.
        what: String,
        /// libbpf's error.
        source: libbpf_rs::Error,
    },
    /// Reading from a BPF file descriptor failed.
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
}

impl BpfError {
    pub(crate) fn libbpf(what: impl Into<String>) -> impl FnOnce(libbpf_rs::Error) -> BpfError {
        let what = what.into();
        move |source| BpfError::Libbpf { what, source }
    }
}

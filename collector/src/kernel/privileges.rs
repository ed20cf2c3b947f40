//! Least privilege after start: once every probe is attached and every listener bound,
//! the agent keeps only the capabilities its running parts use, and drops the rest from
//! every set (bounding too, when it may), so a bug in the parsers of untrusted bytes
//! cannot load programs, change the network or the cgroups, or regain them by `exec`.
//!
//! Kept, when the agent was given them:
//! - `CAP_SYS_PTRACE`, `CAP_DAC_READ_SEARCH`: `/proc/<pid>/exe`, `environ` and
//!   `ns/net` of other users' processes (process names, `OTEL_SERVICE_NAME`, the
//!   namespaces the HTTP sweep visits);
//! - `CAP_SYS_ADMIN`, only while the HTTP sweep by namespace runs (kernels that refuse
//!   map iterators): entering another network namespace (`setns`) needs it;
//! - `CAP_BPF`, only before Linux 6.5: those kernels check it on every `bpf()` command
//!   (map reads, the periodic report's test run) when unprivileged BPF is off, which it is
//!   by default; 6.5 moved the check to map creation and program load.
//!
//! Capabilities belong to threads: [`drop_to`] changes the calling thread's, so it must
//! run before any other thread starts (threads started later inherit them).

use std::collections::HashSet;

use caps::{CapSet, Capability};

/// What the running agent will do that needs a capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Needs {
    /// The HTTP sweep enters other network namespaces.
    pub enter_namespaces: bool,
}

/// What [`drop_to`] kept and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Kept (lower-case names without `cap_`, sorted).
    pub kept: Vec<String>,
    /// How many permitted capabilities were dropped.
    pub dropped: usize,
    /// Whether the bounding set was cut down too (needs `CAP_SETPCAP`; under a systemd
    /// unit or a container runtime it is already what they allowed).
    pub bounding: bool,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "capabilities kept: {} ({} dropped)",
            if self.kept.is_empty() {
                "none".to_owned()
            } else {
                self.kept.join(", ")
            },
            self.dropped
        )
    }
}

/// The capabilities the running agent keeps, of `permitted`, on a kernel of `release`.
pub fn keep(needs: Needs, release: &str, permitted: &HashSet<Capability>) -> HashSet<Capability> {
    let mut keep = HashSet::from([Capability::CAP_SYS_PTRACE, Capability::CAP_DAC_READ_SEARCH]);
    if needs.enter_namespaces {
        keep.insert(Capability::CAP_SYS_ADMIN);
    }
    if kernel_before(release, (6, 5)) {
        keep.insert(Capability::CAP_BPF);
    }
    keep.retain(|c| permitted.contains(c));
    keep
}

/// Whether `release` (`uname -r`, e.g. `6.1.0-18-amd64`) is older than `major.minor`; an
/// unreadable one counts as older (keeping more is the safe side).
fn kernel_before(release: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) < (major, minor),
        _ => true,
    }
}

/// Drops from the calling thread every capability but what [`keep`] says: bounding (when
/// it holds `CAP_SETPCAP`), ambient, inheritable, effective and permitted.
pub fn drop_to(needs: Needs) -> Result<Dropped, caps::errors::CapsError> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let permitted = caps::read(None, CapSet::Permitted)?;
    let kept = keep(needs, release.trim(), &permitted);
    let bounding = caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP)?;
    if bounding {
        for cap in caps::read(None, CapSet::Bounding)? {
            if !kept.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap)?;
            }
        }
    }
    caps::clear(None, CapSet::Ambient)?;
    caps::clear(None, CapSet::Inheritable)?;
    caps::set(None, CapSet::Effective, &kept)?;
    caps::set(None, CapSet::Permitted, &kept)?;
    let mut names: Vec<String> = kept
        .iter()
        .map(|c| {
            c.to_string()
                .to_ascii_lowercase()
                .trim_start_matches("cap_")
                .to_owned()
        })
        .collect();
    names.sort();
    Ok(Dropped {
        kept: names,
        dropped: permitted.len() - kept.len(),
        bounding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_is_what_the_running_parts_use_of_what_was_given() {
        let all = caps::all();
        let base = HashSet::from([Capability::CAP_SYS_PTRACE, Capability::CAP_DAC_READ_SEARCH]);
        assert_eq!(keep(Needs::default(), "6.18.0", &all), base);
        let sweep = Needs {
            enter_namespaces: true,
        };
        let with_admin = keep(sweep, "6.18.0-1-amd64", &all);
        assert!(with_admin.contains(&Capability::CAP_SYS_ADMIN) && with_admin.len() == 3);
        let old = keep(Needs::default(), "6.1.0-18-amd64", &all);
        assert!(
            old.contains(&Capability::CAP_BPF) && old.len() == 3,
            "{old:?}"
        );
        assert!(keep(Needs::default(), "garbage", &all).contains(&Capability::CAP_BPF));
        // Never more than was given (the systemd unit's five, say).
        let unit = HashSet::from([Capability::CAP_BPF, Capability::CAP_SYS_PTRACE]);
        assert_eq!(
            keep(sweep, "6.18.0", &unit),
            HashSet::from([Capability::CAP_SYS_PTRACE])
        );
    }
}

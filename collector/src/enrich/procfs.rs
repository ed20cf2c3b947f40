//! What `/proc/<pid>` says of one process, read by the reader threads ([`super::reader`]),
//! never by the pipeline: reading another process's `cmdline` or `environ` takes its
//! memory-map lock, which a process stuck in a page fault (a hung NFS or FUSE mount) can
//! hold for good.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::config::CommandLine;
use crate::redact::redact_args;

use super::process::ProcessInfo;

/// Environment variables read from a process, at most this many bytes of its environ.
const ENVIRON_MAX: usize = 64 * 1024;

/// What `/proc/<pid>/stat` says of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// The kernel's task name (15 bytes at most).
    pub comm: String,
    /// Parent process id.
    pub ppid: u32,
    /// Start time, clock ticks since boot (field 22), cut to 32 bits as the kernel's
    /// records carry it (`sonde_owner.start`): with the pid, the process's identity.
    pub start: u32,
}

/// `pid (comm) state ppid … starttime …`; the comm may hold spaces and parentheses, so it
/// runs to the last `)`.
pub fn parse_stat(s: &str) -> Option<ProcStat> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_owned();
    // After the comm: field 3 (state) onwards; starttime is field 22.
    let mut rest = s.get(close + 1..)?.split_ascii_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    let start: u64 = rest.nth(22 - 5)?.parse().ok()?;
    Some(ProcStat {
        comm,
        ppid,
        start: start as u32,
    })
}

/// `/proc/<pid>/stat`, parsed.
pub fn read_stat(proc_root: &Path, pid: u32) -> Option<ProcStat> {
    parse_stat(&fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?)
}

/// How the reader threads read a process.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The procfs root (`/proc`; another in tests).
    pub proc_root: PathBuf,
    /// Command lines are cut at this many bytes.
    pub command_line_max: usize,
    /// What of a command line is kept.
    pub command_line: CommandLine,
}

/// A process as `/proc` showed it, with the stat it was read under.
#[derive(Debug, Clone)]
pub struct Read {
    /// Its stat: the start time it was read under, the comm it had then.
    pub stat: ProcStat,
    /// Who it is.
    pub info: ProcessInfo,
}

/// Reads process `pid`, the one that started at `start` (0: whichever holds the pid now).
/// `None` when that process is gone (exited, or its pid now names another).
pub fn read_process(opts: &ReadOptions, pid: u32, start: u32) -> Option<Read> {
    let dir = opts.proc_root.join(pid.to_string());
    let stat = read_stat(&opts.proc_root, pid)?;
    if start != 0 && stat.start != start {
        return None;
    }
    let exe_path = fs::read_link(dir.join("exe")).ok().map(|p| {
        p.to_string_lossy()
            .trim_end_matches(" (deleted)")
            .to_owned()
    });
    let exe_name = exe_path
        .as_deref()
        .and_then(|p| p.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .map_or_else(|| stat.comm.clone(), str::to_owned);
    let command_line = match opts.command_line {
        CommandLine::Off => None,
        mode => fs::read(dir.join("cmdline"))
            .ok()
            .and_then(|raw| command_line(&raw, opts.command_line_max, mode)),
    };
    let container_id = fs::read_to_string(dir.join("cgroup"))
        .ok()
        .and_then(|c| container_id_from_cgroup(&c));
    let env_service = read_prefix(&dir.join("environ"), ENVIRON_MAX)
        .and_then(|env| service_name_from_environ(&env));
    // The pid may have been reused while it was read: what was read is another's.
    if read_stat(&opts.proc_root, pid)?.start != stat.start {
        return None;
    }
    Some(Read {
        info: ProcessInfo {
            pid,
            ppid: stat.ppid,
            service_name: env_service.clone().unwrap_or_else(|| exe_name.clone()),
            service_name_from_env: env_service.is_some(),
            exe_name,
            exe_path,
            command_line,
            container_id,
        },
        stat,
    })
}

fn read_prefix(path: &Path, max: usize) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    fs::File::open(path)
        .ok()?
        .take(max as u64)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

/// NUL-separated argv → one line as it is, capped at `max` bytes on a char boundary.
pub fn parse_cmdline(raw: &[u8], max: usize) -> Option<String> {
    command_line(raw, max, CommandLine::Full)
}

/// NUL-separated argv → one line, secrets redacted unless `mode` is full, capped at `max`
/// bytes on a char boundary (after redaction, so a cut never reveals a value).
pub fn command_line(raw: &[u8], max: usize, mode: CommandLine) -> Option<String> {
    let mut joined: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if joined.is_empty() {
        return None;
    }
    if mode != CommandLine::Full {
        joined = redact_args(&joined);
    }
    let mut line = joined.join(" ");
    if line.len() > max {
        let mut cut = max;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    Some(line)
}

/// `OTEL_SERVICE_NAME`, else `service.name` inside `OTEL_RESOURCE_ATTRIBUTES`.
pub fn service_name_from_environ(environ: &[u8]) -> Option<String> {
    let mut from_attrs = None;
    for var in environ.split(|&b| b == 0) {
        let var = String::from_utf8_lossy(var);
        if let Some(v) = var.strip_prefix("OTEL_SERVICE_NAME=") {
            if !v.trim().is_empty() {
                return Some(v.trim().to_owned());
            }
        } else if let Some(attrs) = var.strip_prefix("OTEL_RESOURCE_ATTRIBUTES=") {
            from_attrs = attrs.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim() == "service.name" && !v.trim().is_empty()).then(|| v.trim().to_owned())
            });
        }
    }
    from_attrs
}

/// The container id in a `/proc/<pid>/cgroup` file: the 64-hex-digit id that Docker,
/// containerd, CRI-O and Podman put in the cgroup path (`docker-<id>.scope`,
/// `cri-containerd-<id>.scope`, `crio-<id>.scope`, `libpod-<id>.scope`, `/docker/<id>`,
/// `/kubepods/.../<id>`).
pub fn container_id_from_cgroup(cgroup: &str) -> Option<String> {
    for line in cgroup.lines() {
        // hierarchy-id:controllers:path
        let path = line.splitn(3, ':').nth(2)?;
        for part in path.rsplit('/') {
            let part = part.strip_suffix(".scope").unwrap_or(part);
            let id = part.rsplit(['-', ':']).next().unwrap_or(part);
            if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Some(id.to_ascii_lowercase());
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_stat;

    #[test]
    fn a_stat_line_gives_comm_parent_and_start_even_with_parentheses_in_the_name() {
        let line = "4242 (nginx: worker) S 4241 4241 4241 0 -1 4194624 120 0 0 0 0 0 0 0 20 0 1 \
                    0 987654 10 1 18446744073709551615";
        let st = parse_stat(line).unwrap();
        assert_eq!(
            (st.comm.as_str(), st.ppid, st.start),
            ("nginx: worker", 4241, 987_654)
        );
        let odd = parse_stat("7 (a) b) (c) R 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 1 1").unwrap();
        assert_eq!((odd.comm.as_str(), odd.ppid, odd.start), ("a) b) (c", 1, 5));
        // A start past 32 bits is cut as the kernel's records cut it.
        let long = "9 (x) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 4294967301 1 1";
        assert_eq!(parse_stat(long).unwrap().start, 5);
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("4242 (short) S 1 2 3").is_none());
    }
}

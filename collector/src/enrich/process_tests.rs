#![allow(clippy::unwrap_used)]

use std::fs;

use super::*;

const ID: &str = "3f5a1c2b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";

#[test]
fn container_ids_from_the_runtimes_cgroup_paths() {
    for path in [
        format!("0::/system.slice/docker-{ID}.scope"),
        format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-{ID}.scope"),
        format!("0::/machine.slice/libpod-{ID}.scope/container"),
        format!("12:memory:/docker/{ID}"),
        format!("0::/kubepods/besteffort/pod0f1e/{ID}"),
        format!("0::/system.slice/crio-{ID}.scope"),
    ] {
        assert_eq!(container_id_from_cgroup(&path).as_deref(), Some(ID), "{path}");
    }
    assert_eq!(
        container_id_from_cgroup("0::/user.slice/user-0.slice/session-1.scope"),
        None
    );
    assert_eq!(container_id_from_cgroup("garbage"), None);
    assert_eq!(container_id_from_cgroup(""), None);
}

#[test]
fn command_lines_are_joined_and_capped() {
    assert_eq!(
        parse_cmdline(b"nginx\0-g\0daemon off;\0", 100).as_deref(),
        Some("nginx -g daemon off;")
    );
    assert_eq!(parse_cmdline(b"abcdef\0", 3).as_deref(), Some("abc"));
    assert_eq!(parse_cmdline("é\0".as_bytes(), 1).as_deref(), Some(""));
    assert_eq!(parse_cmdline(b"", 10), None);
}

#[test]
fn service_name_prefers_otel_service_name() {
    assert_eq!(
        service_name_from_environ(b"PATH=/bin\0OTEL_RESOURCE_ATTRIBUTES=a=b,service.name=attrs\0OTEL_SERVICE_NAME=checkout\0").as_deref(),
        Some("checkout")
    );
    assert_eq!(
        service_name_from_environ(
            b"OTEL_RESOURCE_ATTRIBUTES=deployment.environment=prod, service.name = cart\0"
        )
        .as_deref(),
        Some("cart")
    );
    assert_eq!(
        service_name_from_environ(b"OTEL_SERVICE_NAME=\0HOME=/root\0"),
        None
    );
}

fn fake_proc(dir: &std::path::Path, pid: u32, comm: &str, env: &[u8]) {
    let p = dir.join(pid.to_string());
    fs::create_dir_all(&p).unwrap();
    fake_stat(dir, pid, comm, 1000);
    fs::write(p.join("cmdline"), format!("/usr/bin/{comm}\0--flag\0")).unwrap();
    fs::write(
        p.join("cgroup"),
        format!("0::/system.slice/docker-{ID}.scope\n"),
    )
    .unwrap();
    fs::write(p.join("environ"), env).unwrap();
}

/// `/proc/<pid>/stat` of a process named `comm`, child of 7, started at `start`.
fn fake_stat(dir: &std::path::Path, pid: u32, comm: &str, start: u32) {
    let line =
        format!("{pid} ({comm}) S 7 {pid} {pid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 1 1\n");
    fs::write(dir.join(pid.to_string()).join("stat"), line).unwrap();
}

fn owner(pid: u32, comm: &str) -> Owner {
    Owner {
        pid,
        comm: comm.into(),
        ppid: 3,
        ..Default::default()
    }
}

#[test]
fn cache_reads_proc_and_falls_back_to_comm() {
    let dir = std::env::temp_dir().join(format!("sonde-proc-test-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fake_proc(&dir, 100, "nginx", b"OTEL_SERVICE_NAME=web\0");
    let mut cache = ProcessCache::with_proc_root(dir.clone(), 2, 64);

    let p = cache.lookup(&owner(100, "nginx"));
    assert_eq!((p.pid, p.ppid), (100, 7));
    assert_eq!(p.service_name, "web");
    assert!(p.service_name_from_env);
    assert_eq!(p.command_line.as_deref(), Some("/usr/bin/nginx --flag"));
    assert_eq!(p.container_id.as_deref(), Some(ID));

    // Gone from /proc: named by comm, parent from the kernel record.
    let gone = cache.lookup(&owner(200, "curl"));
    assert_eq!(
        (
            gone.exe_name.as_str(),
            gone.service_name.as_str(),
            gone.ppid
        ),
        ("curl", "curl", 3)
    );

    // Bounded: a third pid evicts the oldest.
    cache.lookup(&owner(300, "dig"));
    assert_eq!(cache.len(), 2);

    // Exit: kept through the grace period, then forgotten.
    let now = Instant::now();
    cache.on_exit(300, 0, "dig", now);
    assert_eq!(cache.len(), 2);
    cache.expire(now + EXIT_GRACE + Duration::from_secs(1));
    assert_eq!(cache.len(), 1);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_reused_pid_is_read_again() {
    let dir = std::env::temp_dir().join(format!("sonde-proc-reuse-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fake_proc(&dir, 100, "python3", b"");
    let mut cache = ProcessCache::with_proc_root(dir.clone(), 8, 64);
    assert_eq!(cache.lookup(&owner(100, "python3")).exe_name, "python3");
    fake_proc(&dir, 100, "redis-server", b"");
    assert_eq!(
        cache.lookup(&owner(100, "redis-server")).exe_name,
        "redis-server"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_process_gone_before_its_first_lookup_is_named_by_its_exit() {
    // A client started before the agent: its HTTP records name only its pid, and are read
    // after it exited (its /proc entry gone).
    let dir = std::env::temp_dir().join(format!("sonde-proc-exited-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let mut cache = ProcessCache::with_proc_root(dir.clone(), 8, 64);
    let now = Instant::now();
    cache.on_exit(4242, 0, "python3", now);
    let by_pid = Owner {
        pid: 4242,
        tid: 4243,
        ..Owner::default()
    };
    assert_eq!(cache.lookup(&by_pid).service_name, "python3");
    // Forgotten with the grace period.
    cache.expire(now + EXIT_GRACE + Duration::from_secs(1));
    assert_eq!(cache.lookup(&by_pid).service_name, "unknown_service");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn unknown_owner_is_unknown_service() {
    let (mut cache, _replies) = ProcessCache::new(4, 64, CommandLine::Redacted);
    let p = cache.lookup(&Owner::default());
    assert_eq!(p.service_name, "unknown_service");
    assert!(cache.is_empty());
}

#[test]
fn an_exec_names_a_process_gone_before_its_worker_thread_is_seen() {
    let mut cache = ProcessCache::with_proc_root(PathBuf::from("/nonexistent"), 8, 64);
    cache.on_exec(500, 0, 4, "dig");
    let worker = Owner {
        pid: 500,
        tid: 501,
        comm: "isc-net-0000".into(),
        ..Default::default()
    };
    let p = cache.lookup(&worker);
    assert_eq!((p.exe_name.as_str(), p.ppid), ("dig", 4));
    // The main thread under another name is another program: a reused pid.
    let main = Owner {
        pid: 500,
        tid: 500,
        comm: "bash".into(),
        ..Default::default()
    };
    assert_eq!(cache.lookup(&main).exe_name, "bash");
}

fn by_start(pid: u32, start: u32, comm: &str) -> Owner {
    Owner {
        pid,
        tid: pid,
        start,
        comm: comm.into(),
        ..Default::default()
    }
}

#[test]
fn a_reused_pid_is_told_by_its_start_even_under_the_same_name() {
    // Two `python3` with different OTEL_SERVICE_NAME hold pid 100 one after the other: the
    // name cannot tell them apart, their start can.
    let dir = std::env::temp_dir().join(format!("sonde-proc-start-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fake_proc(&dir, 100, "python3", b"OTEL_SERVICE_NAME=first\0");
    fake_stat(&dir, 100, "python3", 500);
    let mut cache = ProcessCache::with_proc_root(dir.clone(), 8, 64);
    let first = by_start(100, 500, "python3");
    assert!(!cache.must_wait(&first), "read at once (inline)");
    assert_eq!(cache.lookup(&first).service_name, "first");

    let now = Instant::now();
    cache.on_exit(100, 500, "python3", now);
    fake_proc(&dir, 100, "python3", b"OTEL_SERVICE_NAME=second\0");
    fake_stat(&dir, 100, "python3", 700);
    let second = by_start(100, 700, "python3");
    assert_eq!(cache.lookup(&second).service_name, "second");
    // The first one's records still in flight keep its name through the grace period.
    assert_eq!(cache.lookup(&first).service_name, "first");
    cache.expire(now + EXIT_GRACE + Duration::from_secs(1));
    assert_eq!(cache.lookup(&second).service_name, "second");

    // A read under a start /proc does not show finds the process gone: named by its record.
    let stale = by_start(100, 600, "python3");
    let p = cache.lookup(&stale);
    assert_eq!(
        (p.service_name.as_str(), p.command_line.as_deref()),
        ("python3", None)
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn with_reader_threads_events_wait_for_the_read_and_a_late_one_is_settled() {
    let (mut cache, mut replies) = ProcessCache::new(8, 64, CommandLine::Redacted);
    let me = std::fs::read_to_string("/proc/self/stat").unwrap();
    let stat = crate::enrich::procfs::parse_stat(&me).unwrap();
    let owner = Owner {
        pid: std::process::id(),
        tid: std::process::id(),
        start: stat.start,
        comm: stat.comm.clone(),
        ..Default::default()
    };
    assert!(cache.must_wait(&owner), "not read yet: wait");
    assert!(cache.must_wait(&owner), "still in flight: one read");
    assert_eq!(cache.reads_in_flight(), 1);
    let reply = replies.blocking_recv().unwrap();
    cache.on_reply(reply);
    assert!(!cache.must_wait(&owner));
    assert!(cache.lookup(&owner).exe_path.is_some(), "read from /proc");

    // A process whose read is given up on is named by its record until the reply comes.
    let ghost = Owner {
        pid: u32::MAX - 1,
        tid: u32::MAX - 1,
        start: 9,
        comm: "ghost".into(),
        ..Default::default()
    };
    assert!(cache.must_wait(&ghost));
    cache.settle(&ghost);
    assert!(!cache.must_wait(&ghost));
    assert_eq!(cache.lookup(&ghost).service_name, "ghost");
    cache.on_reply(replies.blocking_recv().unwrap());
    assert_eq!(cache.reads_in_flight(), 0);
    assert_eq!(cache.lookup(&ghost).service_name, "ghost");
}

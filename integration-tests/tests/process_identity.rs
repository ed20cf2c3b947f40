//! Naming processes without trusting them: one process whose memory map is locked for good
//! (what a hung NFS or FUSE mount does to `ps`) must not hold up anyone else's signals, and
//! a pid reused by another process under the same name must not lend it the first one's
//! service name. Ground truth: the clients' own record of each connection, and the pids
//! they ran under. Root only.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::resource::v1::Resource;
use sonde_integration_tests::otlp::{attr_int, attr_str};
use sonde_integration_tests::{fixture, require_root, spawn_ready, Agent, Receiver, Running};
use sonde_semconv::attr as a;
use sonde_semconv::event;
use sonde_semconv::metric as m;
use sonde_semconv::resource as r;

const PYTHON: &str = "/usr/bin/python3";
const LOAD_SERVICE: &str = "sonde-identity-load";

fn service(res: &Resource) -> String {
    attr_str(&res.attributes, r::SERVICE_NAME).unwrap_or_default()
}

fn start_agent(receiver: &Receiver) -> Agent {
    let agent = Agent::start(
        &[],
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                receiver.grpc_endpoint().as_str(),
            ),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
        ],
    )
    .unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    agent
}

/// Client-side flow records: (service, pid, local port) each.
fn client_flows(receiver: &Receiver) -> Vec<(String, i64, u16)> {
    receiver
        .log_records()
        .into_iter()
        .filter(|(_, rec)| {
            rec.event_name == event::TCP_FLOW
                && attr_str(&rec.attributes, a::CONNECTION_DIRECTION).as_deref() == Some("client")
        })
        .filter_map(|(res, rec)| {
            let port = attr_int(&rec.attributes, a::NETWORK_LOCAL_PORT)?;
            let pid = attr_int(&res.attributes, r::PROCESS_PID).unwrap_or(-1);
            Some((service(&res), pid, u16::try_from(port).ok()?))
        })
        .collect()
}

fn unix_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

/// A FUSE mount that never answers a read, and a process stuck on it, cleaned up on drop
/// (before the agent stops: until then reading the process's command line blocks, `ps`'s
/// and `pgrep`'s too).
struct Stalled {
    fs: Option<Running>,
    process: Option<Running>,
    mountpoint: PathBuf,
}

impl Stalled {
    fn start(dir: &Path, port: u16) -> Stalled {
        let mountpoint = dir.join("mnt");
        std::fs::create_dir_all(&mountpoint).unwrap();
        let binary = dir.join("locked_mm");
        let built = Command::new("cc")
            .args(["-O2", "-pthread", "-o"])
            .arg(&binary)
            .arg(fixture("locked_mm.c"))
            .status()
            .unwrap();
        assert!(built.success(), "cc locked_mm.c");
        let mut stalled = Stalled {
            fs: None,
            process: None,
            mountpoint: mountpoint.clone(),
        };
        let mut fs = Command::new(PYTHON);
        fs.arg(fixture("stall_fs.py")).arg(&mountpoint);
        stalled.fs = Some(spawn_ready(fs, "mounted", Duration::from_secs(10)).unwrap());
        let mut process = Command::new(&binary);
        process
            .arg(mountpoint.join("page"))
            .args(["127.0.0.1", &port.to_string(), "100"]);
        stalled.process = Some(spawn_ready(process, "stalled", Duration::from_secs(10)).unwrap());
        stalled
    }

    fn pid(&self) -> u32 {
        self.process.as_ref().map_or(0, Running::id)
    }
}

impl Drop for Stalled {
    fn drop(&mut self) {
        // The file system's server first: its end fails the pending read, which lets go of
        // the lock. Until then the stuck thread cannot even be killed (it waits for the
        // page uninterruptibly), and waiting for the process would never return.
        drop(self.fs.take());
        drop(self.process.take());
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mountpoint)
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
#[ignore = "needs root (loads BPF, mounts FUSE)"]
fn root_a_process_with_a_locked_memory_map_holds_up_no_one_elses_flows() {
    require_root();
    const RATE: u32 = 1000;
    const SECONDS: u32 = 8;
    let dir = std::env::temp_dir().join(format!("sonde-locked-mm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    // Stuck before the agent starts, as it would be on a host with a hung mount: the agent
    // meets it at its first connection.
    let stalled = Stalled::start(&dir, port);
    // The proof that the lock is held: reading its command line does not return.
    let probe = Command::new("timeout")
        .args(["2", "cat"])
        .arg(format!("/proc/{}/cmdline", stalled.pid()))
        .status()
        .unwrap();
    assert_eq!(
        probe.code(),
        Some(124),
        "cat /proc/<pid>/cmdline should hang"
    );
    let receiver = Receiver::start().unwrap();
    let agent = start_agent(&receiver);

    let log = dir.join("load.log");
    let mut load = Command::new(PYTHON);
    load.arg(fixture("conn_load.py"))
        .args([&port.to_string(), &RATE.to_string(), &SECONDS.to_string()])
        .arg(&log)
        .env("OTEL_SERVICE_NAME", LOAD_SERVICE);
    let load = spawn_ready(load, "listening", Duration::from_secs(10)).unwrap();

    // When each of the load's flows reached the receiver, by local port (a port comes back
    // for a later connection: its n-th flow is its n-th connection).
    let mut seen: HashMap<u16, Vec<i128>> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(u64::from(SECONDS) + 15);
    let mut expected: Option<BTreeMap<u16, Vec<i128>>> = None;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = unix_nanos();
        let mut counts: HashMap<u16, usize> = HashMap::new();
        for (svc, _, local) in client_flows(&receiver) {
            if svc == LOAD_SERVICE {
                *counts.entry(local).or_default() += 1;
            }
        }
        for (local, n) in counts {
            let times = seen.entry(local).or_default();
            while times.len() < n {
                times.push(now);
            }
        }
        if expected.is_none() {
            expected = load_log(&log, (RATE * SECONDS) as usize);
        }
        if let Some(exp) = &expected {
            if exp
                .iter()
                .all(|(p, closes)| seen.get(p).map_or(0, Vec::len) >= closes.len())
            {
                break;
            }
        }
    }
    drop(load);
    let expected = expected.expect("the load client finished and wrote its log");
    let stalled_pid = i64::from(stalled.pid());
    let stalled_flows = client_flows(&receiver)
        .into_iter()
        .filter(|(_, pid, _)| *pid == stalled_pid)
        .count();
    drop(stalled);
    let late = receiver.latest_cumulative_sum(m::agent::PROCESS_METADATA_LATE.name, |_| true);
    agent.stop().unwrap();

    let connections: usize = expected.values().map(Vec::len).sum();
    let lost: Vec<_> = expected
        .iter()
        .filter(|(p, closes)| seen.get(p).map_or(0, Vec::len) < closes.len())
        .map(|(p, _)| p)
        .collect();
    assert!(
        lost.is_empty(),
        "connections from {} of {} ports never reported (first: {:?})",
        lost.len(),
        expected.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(connections, (RATE * SECONDS) as usize);
    let mut delays: Vec<i128> = expected
        .iter()
        .flat_map(|(p, closes)| closes.iter().zip(&seen[p]).map(|(closed, at)| at - closed))
        .collect();
    delays.sort_unstable();
    let p99 = delays[delays.len() * 99 / 100];
    eprintln!(
        "{} flows; delay p50 {} ms, p99 {} ms, max {} ms; the stalled process: {stalled_flows} \
         flows, metadata late {late}",
        delays.len(),
        delays[delays.len() / 2] / 1_000_000,
        p99 / 1_000_000,
        delays[delays.len() - 1] / 1_000_000,
    );
    assert!(p99 < 2_000_000_000, "p99 delay {} ms", p99 / 1_000_000);
    assert!(
        stalled_flows > 0,
        "the stalled process's own flows went out"
    );
    assert!(late >= 1.0, "its late metadata was counted ({late})");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The load client's log once it holds all `n` connections: close times by local port,
/// in order.
fn load_log(log: &Path, n: usize) -> Option<BTreeMap<u16, Vec<i128>>> {
    let text = std::fs::read_to_string(log).ok()?;
    if text.lines().count() != n {
        return None;
    }
    let mut out: BTreeMap<u16, Vec<i128>> = BTreeMap::new();
    for line in text.lines() {
        let (port, at) = line.split_once(' ')?;
        out.entry(port.parse().ok()?)
            .or_default()
            .push(at.parse().ok()?);
    }
    Some(out)
}

/// Runs `python3 -c CONNECT` under `service`, which connects to `port` once and prints
/// its local port; returns (pid, local port).
fn connect_once(port: u16, service: &str) -> (u32, u16) {
    const CONNECT: &str = "import socket,sys\n\
        s=socket.create_connection(('127.0.0.1',int(sys.argv[1])))\n\
        print(s.getsockname()[1],flush=True)\ns.close()";
    let child = Command::new(PYTHON)
        .args(["-c", CONNECT, &port.to_string()])
        .env("OTEL_SERVICE_NAME", service)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let local = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (pid, local)
}

/// A `python3` under `service` that forks until its child gets pid `pid` (the kernel hands
/// out `ns_last_pid` + 1 next, as CRIU restores a process, unless another fork takes it
/// first): the child, which no exec announces, connects to `port` once and lives on a
/// second, as a worker would. Its local port.
fn connect_from_a_fork_as(pid: u32, port: u16, service: &str) -> Option<u16> {
    const FORK: &str = "import os,socket,sys,time\n\
        want,port=int(sys.argv[1]),int(sys.argv[2])\n\
        for _ in range(200):\n\
        \x20   open('/proc/sys/kernel/ns_last_pid','w').write(str(want-1))\n\
        \x20   child=os.fork()\n\
        \x20   if child==0:\n\
        \x20       if os.getpid()!=want: os._exit(3)\n\
        \x20       s=socket.create_connection(('127.0.0.1',port))\n\
        \x20       print(s.getsockname()[1],flush=True); s.close(); time.sleep(1); os._exit(0)\n\
        \x20   if os.waitstatus_to_exitcode(os.waitpid(child,0)[1])==0: sys.exit(0)\n\
        sys.exit(1)";
    let out = Command::new(PYTHON)
        .args(["-c", FORK, &pid.to_string(), &port.to_string()])
        .env("OTEL_SERVICE_NAME", service)
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
#[ignore = "needs root (loads BPF, sets ns_last_pid)"]
fn root_a_reused_pid_carries_each_process_own_service_name() {
    require_root();
    let receiver = Receiver::start().unwrap();
    let agent = start_agent(&receiver);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || for _ in listener.incoming() {});

    // Two python3 processes, one after the other under the same pid, within seconds (the
    // agent keeps an exited process 30 s for records in flight); the second is a fork,
    // whose pid no exec announces, of a parent with another OTEL_SERVICE_NAME.
    let (pid, first_port) = connect_once(port, "sonde-reuse-first");
    let second_port = connect_from_a_fork_as(pid, port, "sonde-reuse-second")
        .expect("a fork got the first process's pid");
    let wanted = [
        (first_port, "sonde-reuse-first"),
        (second_port, "sonde-reuse-second"),
    ];
    let found = receiver.wait_until(Duration::from_secs(15), |_| {
        let flows = client_flows(&receiver);
        wanted
            .iter()
            .all(|(p, _)| flows.iter().any(|(_, _, local)| local == p))
    });
    let flows = client_flows(&receiver);
    agent.stop().unwrap();
    assert!(found, "both flows reported: {flows:?}");
    for (local, svc) in wanted {
        let named: Vec<_> = flows
            .iter()
            .filter(|(_, _, l)| *l == local)
            .map(|(s, p, _)| (s.as_str(), *p))
            .collect();
        assert!(
            named.iter().all(|&(s, p)| s == svc && p == i64::from(pid)),
            "the flow from port {local} (pid {pid}) is named {named:?}, not {svc}"
        );
    }
}

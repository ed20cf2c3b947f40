//! Every dashboard panel returns data: the real `sonde` with HTTP capture and its
//! Prometheus endpoint, TCP (with retransmits, resets and refused connects), HTTP (server,
//! client, proxy, 5xx) and DNS (NOERROR, NXDOMAIN, SERVFAIL) traffic between two network
//! namespaces, a real Prometheus scraping the agent, then every PromQL query of every panel
//! of `otel-examples/grafana/dashboards/*.json` (template variables set to "All", Grafana's
//! interval variables to concrete durations) must return at least one finite value. Each
//! variable's `label_values` query must find values too. Root only.
//!
//! LogQL and TraceQL panels cannot run here (no Loki, no Tempo); `cargo test -p
//! sonde-otel-examples` checks them structurally.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use sonde_integration_tests::netns::{add_drop_rule, add_drop_rule_on, remove_drop_rule};
use sonde_integration_tests::prometheus::{Prometheus, Sample};
use sonde_integration_tests::{
    fixture, require_root, spawn_ready, Agent, NetnsPair, Running, Side,
};
use sonde_otel_examples::dashboards::{FILTERS, REMOTE};
use sonde_otel_examples::dashboards_dir;
use sonde_otel_examples::promql::{parse_label_values, substitute};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;
use sonde_semconv::prometheus::{label_name, TARGET_INFO};
use sonde_semconv::MetricDef;

const PYTHON: &str = "/usr/bin/python3";
const READY: Duration = Duration::from_secs(10);
/// The remote name the client connections resolve (dnsmasq answers it).
const NAME: &str = "www.sonde.test";
/// A 64-hex-digit id in a docker-style cgroup name: Sonde reads it as `container.id`.
const CONTAINER: &str = "5eb1c7e3d6a2f4b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6";

/// What Grafana would put in for the variables: every filter "All", intervals long enough
/// to span both rounds of traffic.
fn vars() -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("__rate_interval", "1m"),
        ("__interval", "15s"),
        ("__range", "10m"),
        (REMOTE, ".*"),
    ];
    v.extend(FILTERS.iter().map(|(name, _)| (*name, ".*")));
    v
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A cgroup-v2 directory named like a Docker container's, removed on drop.
struct FakeContainer(PathBuf);

impl FakeContainer {
    fn create() -> FakeContainer {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        let root = mounts
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.get(2) == Some(&"cgroup2")).then(|| f[1].to_owned())
            })
            .expect("a cgroup-v2 mount");
        let dir = Path::new(&root)
            .join(format!("sonde-dash-{}", std::process::id()))
            .join(format!("docker-{CONTAINER}.scope"));
        std::fs::create_dir_all(&dir).unwrap();
        let _dir = RemoveOnDrop(dir.clone());
        FakeContainer(dir)
    }

    /// `sh -c` that moves itself into this cgroup, then execs `ip netns exec ns args...`.
    fn command(&self, ns: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "echo $$ > {}/cgroup.procs && exec ip netns exec \"$@\"",
                self.0.display()
            ))
            .arg("sh")
            .arg(ns)
            .args(args);
        cmd
    }
}

impl Drop for FakeContainer {
    fn drop(&mut self) {
        // The processes in it have exited by now; an empty cgroup can be removed.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(parent) = self.0.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// A directory removed on drop, even when the test panics.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ok(out: std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// One round of every kind of traffic the panels show.
fn traffic(pair: &NetnsPair, container: &FakeContainer) {
    let a = pair.ns(Side::A).to_owned();
    let dig = |args: &[&str]| {
        let server = format!("@{}", pair.addr(Side::B));
        let mut all = vec![server.as_str(), "+time=1", "+tries=1"];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&pair.output(Side::A, "dig", &all).unwrap().stdout).into_owned()
    };
    assert!(dig(&[NAME, "A"]).contains("status: NOERROR"));
    assert!(dig(&["a.nx.sonde.test", "A"]).contains("status: NXDOMAIN"));
    assert!(dig(&["x.broken.test", "A"]).contains("status: SERVFAIL"));

    // HTTP through the name: curl resolves it (client metrics get server.address), the
    // backend answers 200, 404 and 500, the proxy calls the backend.
    for path in ["/ok", "/ok", "/missing", "/fail", "/slow"] {
        let url = format!("http://{NAME}:9500{path}");
        pair.output(
            Side::A,
            "curl",
            &["-s", "-o", "/dev/null", "--max-time", "10", &url],
        )
        .unwrap();
    }
    let url = format!("http://{NAME}:9501/proxy");
    ok(
        pair.output(
            Side::A,
            "curl",
            &["-sf", "-o", "/dev/null", "--max-time", "10", &url],
        )
        .unwrap(),
        "curl proxy",
    );

    // TCP from the "container": a bulk send over 20 % loss (retransmits), a peer that
    // resets (its reset can land before a busy client returns from connect(), which then
    // fails with ECONNRESET itself), and a refused connect, all to the resolved name. 3 MB, as the netns
    // selftest sends: over veth GSO makes 300 KB a handful of segments, and with 20 %
    // loss one run in a few lost none of them (no retransmit, a failed test).
    let script = format!(
        "import socket\n\
         c = socket.create_connection(('{NAME}', 9300)); c.sendall(b'x' * 3000000)\n\
         c.shutdown(socket.SHUT_WR); c.recv(10); c.close()\n\
         try:\n    r = socket.create_connection(('{NAME}', 9301)); r.recv(10)\nexcept ConnectionResetError:\n    pass\n\
         try:\n    socket.create_connection(('{NAME}', 9399), timeout=5)\nexcept ConnectionRefusedError:\n    pass\n"
    );
    // B's input drops a fifth of the TCP packets (the sink's connection has drops), A's
    // output a fifth of what the client sends to the sink (the client's connection has
    // drops, with the remote's name; a local output drop is sent again at once, so it
    // does not slow the transfer as lost ACKs do).
    add_drop_rule(pair.ns(Side::B), 20).unwrap();
    add_drop_rule_on(pair.ns(Side::A), "output", 20, "tcp dport 9300").unwrap();
    let out = container
        .command(&a, &[PYTHON, "-c", &script])
        .output()
        .unwrap();
    remove_drop_rule(pair.ns(Side::A)).unwrap();
    remove_drop_rule(pair.ns(Side::B)).unwrap();
    ok(out, "tcp client");

    // A listener whose backlog of 1 is full: handshakes past it are dropped (and retried).
    let fill = format!(
        "import socket, time\nsocks = []\nfor i in range(5):\n    s = socket.socket()\n    \
         s.setblocking(False)\n    s.connect_ex(('{}', 9302))\n    socks.append(s)\n\
         time.sleep(1.5)\nfor s in socks:\n    s.close()\n",
        pair.addr(Side::B)
    );
    ok(
        pair.output(Side::A, PYTHON, &["-c", &fill]).unwrap(),
        "listen overflow",
    );
}

fn finite(samples: &[Sample]) -> bool {
    samples.iter().any(|s| s.value.is_finite())
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_every_dashboard_query_returns_data() {
    require_root();
    let pair = NetnsPair::create("dash", 76).unwrap();
    let b = pair.addr(Side::B).to_string();
    let dir = std::env::temp_dir().join(format!("sonde-dash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // DNS: dnsmasq in B answers the name, NXDOMAIN for nx.sonde.test, SERVFAIL through a
    // broken upstream for broken.test; A resolves through it.
    let conf = dir.join("dnsmasq.conf");
    std::fs::write(
        &conf,
        format!(
            "no-resolv\nno-hosts\nbind-interfaces\nlisten-address={b}\nport=53\ncache-size=0\n\
             host-record={NAME},{b}\naddress=/nx.sonde.test/\nserver=/broken.test/{b}#5300\n"
        ),
    )
    .unwrap();
    let etc = PathBuf::from("/etc/netns").join(&pair.a);
    std::fs::create_dir_all(&etc).unwrap();
    let _etc = RemoveOnDrop(etc.clone());
    std::fs::write(etc.join("resolv.conf"), format!("nameserver {b}\n")).unwrap();

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let config = dir.join("sonde.yaml");
    std::fs::write(
        &config,
        "console: off\nprometheus:\n  refresh: 1s\nhttp:\n  enabled: true\n  routes:\n    \
         templates: [\"/ok\", \"/missing\", \"/fail\", \"/slow\", \"/proxy\"]\n",
    )
    .unwrap();
    let agent = Agent::start(
        &[
            "--config",
            config.to_str().unwrap(),
            "--prometheus-listen",
            &listen,
        ],
        &[("OTEL_METRIC_EXPORT_INTERVAL", "1000")],
    )
    .unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    assert!(
        agent.wait_for_line(
            &format!("prometheus endpoint on http://{listen}/metrics"),
            Duration::from_secs(10)
        ),
        "{:?}",
        agent.lines()
    );
    let prom = Prometheus::start(&[listen.as_str()]).unwrap();

    let _upstream = spawn_ready(
        pair.command(
            Side::B,
            PYTHON,
            &[&fixture("dns_servfail_upstream.py"), &b, "5300"],
        ),
        "listening",
        READY,
    )
    .unwrap();
    let _dnsmasq = Running(
        pair.command(
            Side::B,
            "dnsmasq",
            &[
                "--keep-in-foreground",
                &format!("--conf-file={}", conf.display()),
            ],
        )
        .spawn()
        .unwrap(),
    );
    let _backend = spawn_ready(
        pair.command(
            Side::B,
            PYTHON,
            &[&fixture("http_app.py"), "backend", "9500"],
        ),
        "listening",
        READY,
    )
    .unwrap();
    let _proxy = spawn_ready(
        pair.command(
            Side::B,
            PYTHON,
            &[&fixture("http_app.py"), "proxy", "9501", &b, "9500"],
        ),
        "listening",
        READY,
    )
    .unwrap();
    let _sink = spawn_ready(
        pair.command(
            Side::B,
            PYTHON,
            &[&fixture("tcp_server.py"), "9300", "sink"],
        ),
        "listening",
        READY,
    )
    .unwrap();
    let _rst = spawn_ready(
        pair.command(Side::B, PYTHON, &[&fixture("tcp_server.py"), "9301", "rst"]),
        "listening",
        READY,
    )
    .unwrap();
    let _full = spawn_ready(
        pair.command(Side::B, PYTHON, &[&fixture("listener.py"), &b, "9302", "1"]),
        "listening",
        READY,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let container = FakeContainer::create();

    // Two rounds a few scrapes apart, so every counter and bucket has grown within the
    // rate window (a series seen once has no rate).
    traffic(&pair, &container);
    let settle = Duration::from_secs(30);
    prom.wait_for("sonde_tcp_retransmits_total", settle, |s| {
        s.iter().any(|x| x.value > 0.0)
    })
    .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    traffic(&pair, &container);
    let grown = |def: &MetricDef, suffix: &str, filter: &str| {
        format!(
            "sum(rate({}{suffix}{{{filter}}}[1m])) > 0",
            def.prometheus_name()
        )
    };
    let client = format!(
        "{}=\"{}\"",
        label_name(a::CONNECTION_DIRECTION),
        a::DIRECTION_CLIENT
    );
    let servfail = format!("{}=\"SERVFAIL\"", label_name(a::DNS_RESPONSE_CODE));
    let failed = format!("{}!=\"\"", label_name(a::ERROR_TYPE));
    let overflow = format!(
        "{}=\"{}\"",
        label_name(a::DROP_REASON),
        a::DROP_REASON_LISTEN_OVERFLOW
    );
    for q in [
        grown(&m::NETWORK_DROPS, "", &client),
        grown(&m::NETWORK_DROPS, "", &overflow),
        grown(&m::TCP_RETRANSMITS, "", &client),
        grown(&m::TCP_RESETS, "", &client),
        grown(&m::TCP_CONNECTIONS_FAILED, "", ""),
        grown(&m::DNS_RESPONSES, "", &servfail),
        grown(&m::HTTP_CLIENT_DURATION, "_count", ""),
        grown(&m::HTTP_SERVER_DURATION, "_count", &failed),
        grown(&m::TCP_SRTT, "_count", &client),
    ] {
        if let Err(e) = prom.wait_for(&q, settle, |s| !s.is_empty()) {
            let metric = q.split(['(', '{', '[']).nth(2).unwrap_or_default();
            panic!("{e:#}\nthe series: {:?}", prom.query(metric));
        }
    }

    let vars = vars();
    let mut failures = Vec::new();
    let mut ran = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dashboards_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let d: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for p in d["panels"].as_array().unwrap() {
            if p["datasource"]["type"] != "prometheus" {
                continue;
            }
            for t in p["targets"].as_array().unwrap() {
                let expr = substitute(t["expr"].as_str().unwrap(), &vars);
                ran += 1;
                let where_ = format!(
                    "{name} / {} / {}",
                    p["title"].as_str().unwrap(),
                    t["refId"].as_str().unwrap()
                );
                match prom.query(&expr) {
                    Ok(s) if finite(&s) => {}
                    Ok(s) => failures.push(format!(
                        "{where_}: no finite value from {expr}\n  got {s:?}"
                    )),
                    Err(e) => failures.push(format!("{where_}: {e:#}\n  query {expr}")),
                }
            }
        }
        for v in d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["type"] == "query")
        {
            let q = v["query"]["query"].as_str().unwrap();
            let (selector, label) = parse_label_values(q).unwrap();
            let expr = format!(
                "count by ({label}) ({})",
                substitute(&selector.unwrap(), &vars)
            );
            ran += 1;
            match prom.query(&expr) {
                Ok(s)
                    if s.iter()
                        .any(|x| x.labels.get(&label).is_some_and(|v| !v.is_empty())) => {}
                Ok(s) => failures.push(format!(
                    "{name} / variable ${}: no value of {label} from {expr}\n  got {s:?}",
                    v["name"]
                )),
                Err(e) => failures.push(format!("{name} / variable ${}: {e:#}", v["name"])),
            }
        }
    }
    eprintln!(
        "[dashboards] {ran} queries over {} dashboards, {} failed",
        files.len(),
        failures.len()
    );
    assert!(ran >= 50, "only {ran} queries");
    assert!(
        failures.is_empty(),
        "{} of {ran} dashboard queries returned no data:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The latency panels ask for exemplars: the endpoint serves them and Prometheus keeps them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let ex = prom
        .query_exemplars(
            "http_server_request_duration_seconds_bucket",
            now - 600.0,
            now,
        )
        .unwrap();
    assert!(
        ex.iter().any(|e| e.labels.contains_key("trace_id")),
        "no exemplar with trace_id: {ex:?}"
    );
    // The container filter has something to match.
    let c = prom
        .query(&format!(
            "count({TARGET_INFO}{{{}=\"{CONTAINER}\"}})",
            label_name(sonde_semconv::resource::CONTAINER_ID)
        ))
        .unwrap();
    assert!(finite(&c), "no series of the fake container");
    agent.stop().unwrap();
}

//! Services and connections that predate the agent, end to end. An agent is almost always
//! started after the services it watches: nginx with two workers (pre-forked: the master
//! opened the listening socket, the workers accept), a python server and a python
//! pre-fork server, all in another network namespace and all started before `sonde`; and
//! a keep-alive connection to nginx opened before `sonde` and used after. The ground truth
//! is what the servers logged themselves: which process accepted each connection, what
//! each request got. Root only.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use sonde_integration_tests::agent::stop_and_count_lost;
use sonde_integration_tests::nginx::{by_status, http_counts_by_status, Nginx, Request};
use sonde_integration_tests::otlp::{
    attr_bool, attr_int, attr_str, latest_cumulative_sum, latest_histogram_count,
};
use sonde_integration_tests::{
    fixture, require_root, spawn_ready, Agent, NetnsPair, Receiver, Running, Side,
};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;
use sonde_semconv::resource as r;

const PYTHON: &str = "/usr/bin/python3";
const NGINX_PORT: u16 = 8080;
const SINGLE_PORT: u16 = 9400;
const PREFORK_PORT: u16 = 9401;
const SINGLE_SERVICE: &str = "sonde-predate-single";
const PREFORK_SERVICE: &str = "sonde-predate-prefork";
const KA_CLIENT_SERVICE: &str = "sonde-predate-ka-client";

fn service(res: &Resource) -> String {
    attr_str(&res.attributes, r::SERVICE_NAME).unwrap_or_default()
}

fn pid(res: &Resource) -> i64 {
    attr_int(&res.attributes, r::PROCESS_PID).unwrap_or(-1)
}

/// A python `conn_server.py` on side B, started before the agent; it logs to `log`.
fn conn_server(pair: &NetnsPair, port: u16, log: &Path, workers: u32, svc: &str) -> Running {
    let mut cmd = pair.command(
        Side::B,
        PYTHON,
        &[
            &fixture("conn_server.py"),
            &port.to_string(),
            log.to_str().unwrap(),
            &workers.to_string(),
        ],
    );
    cmd.env("OTEL_SERVICE_NAME", svc);
    spawn_ready(cmd, "listening", Duration::from_secs(10)).unwrap()
}

/// The pids that accepted each connection, by the client's port (a port may come back).
type Accepted = BTreeMap<u16, Vec<u32>>;

fn accepted(pairs: impl Iterator<Item = (u16, u32)>) -> Accepted {
    let mut out = Accepted::new();
    for (port, pid) in pairs {
        out.entry(port).or_default().push(pid);
    }
    out
}

/// `conn_server.py`'s log: who accepted each connection.
fn conn_server_log(log: &Path) -> Accepted {
    accepted(
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (pid, port) = l.split_once(' ').unwrap();
                (port.parse().unwrap(), pid.parse().unwrap())
            }),
    )
}

/// curl from side A fetching every URL of `urls` over HTTP/1.1, `Connection: close`
/// (one connection each), four at a time if `parallel`; every answer must be a 200.
fn curl_each(pair: &NetnsPair, urls: &[String], parallel: bool) {
    let mut args: Vec<&str> = vec![
        "--http1.1",
        "-s",
        "--max-time",
        "20",
        "-H",
        "Connection: close",
        "-w",
        "%{http_code}\n",
    ];
    if parallel {
        args.extend(["--parallel", "--parallel-max", "4"]);
    }
    for url in urls {
        args.extend(["-o", "/dev/null", url]);
    }
    let out = pair.output(Side::A, "curl", &args).unwrap();
    let codes = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl failed ({}): {codes}",
        out.status
    );
    assert_eq!(
        codes.lines().filter(|c| *c == "200").count(),
        urls.len(),
        "curl got {codes}"
    );
}

/// A server started before the agent, and who accepted each of its connections.
struct Truth {
    what: &'static str,
    port: u16,
    service: &'static str,
    /// The pid its own log names for each connection, by the client's port.
    accepted: Accepted,
    /// The process that opened the listening socket.
    listener: u32,
}

impl Truth {
    fn connections(&self) -> usize {
        self.accepted.values().map(Vec::len).sum()
    }
}

/// The server-side reports of connections to `addr:port`: (resource, attributes, client
/// port).
fn server_side<'a>(
    items: impl Iterator<Item = (&'a Resource, &'a [KeyValue])>,
    addr: &str,
    port: u16,
) -> Vec<(&'a Resource, &'a [KeyValue], u16)> {
    items
        .filter(|(_, at)| {
            attr_int(at, a::SERVER_PORT) == Some(i64::from(port))
                && attr_str(at, a::SERVER_ADDRESS).as_deref() == Some(addr)
                && attr_str(at, a::CONNECTION_DIRECTION).as_deref() == Some(a::DIRECTION_SERVER)
        })
        .map(|(res, at)| {
            let peer = attr_int(at, a::NETWORK_PEER_PORT).unwrap_or(0);
            (res, at, u16::try_from(peer).unwrap_or(0))
        })
        .collect()
}

/// What is wrong with the server-side reports (`kind`: flow records or spans) of the
/// connections `truth` logged: a connection missing or reported twice, or named after
/// another process than the one that accepted it.
fn misnamed(kind: &str, truth: &Truth, reports: &[(&Resource, &[KeyValue], u16)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut named: BTreeMap<String, usize> = BTreeMap::new();
    for (res, at, peer) in reports {
        *named
            .entry(format!("{}[{}]", service(res), pid(res)))
            .or_default() += 1;
        let Some(want) = truth.accepted.get(peer) else {
            problems.push(format!(
                "{}: a {kind} from client port {peer} the server did not log",
                truth.what
            ));
            continue;
        };
        let attr_pid = attr_int(at, a::PROCESS_PID).unwrap_or(-1);
        let accepted_by = |p: i64| want.iter().any(|&w| i64::from(w) == p);
        if !accepted_by(pid(res)) || !accepted_by(attr_pid) || service(res) != truth.service {
            problems.push(format!(
                "{}: the {kind} of client port {peer} names {}[{}] (attribute pid {attr_pid}), \
                 {want:?} accepted it",
                truth.what,
                service(res),
                pid(res)
            ));
        }
    }
    let mut reported = Accepted::new();
    for (res, _, peer) in reports {
        reported.entry(*peer).or_default().push(pid(res) as u32);
    }
    let per_port = |m: &Accepted| -> BTreeMap<u16, usize> {
        m.iter().map(|(port, pids)| (*port, pids.len())).collect()
    };
    if per_port(&reported) != per_port(&truth.accepted) {
        problems.push(format!(
            "{}: {} {kind}s for {} connections logged",
            truth.what,
            reports.len(),
            truth.connections()
        ));
    }
    // At most the first few of a wrong run, and how it was named overall.
    problems.truncate(4);
    if !problems.is_empty() {
        problems.push(format!("{}: {kind}s by process: {named:?}", truth.what));
    }
    problems
}

/// Closed-connection flow records of every service.
fn flow_records(rx: &Receiver) -> Vec<(Resource, Vec<KeyValue>)> {
    rx.log_records()
        .into_iter()
        .filter(|(_, l)| {
            l.event_name == sonde_semconv::event::TCP_FLOW
                && attr_bool(&l.attributes, a::TCP_FLOW_ONGOING) != Some(true)
        })
        .map(|(res, l)| (res, l.attributes))
        .collect()
}

/// The keep-alive connection opened before the agent, at its close: found by the walk at
/// start (flagged preexisting), both sides named, and its bytes counted from the start
/// exactly as nginx logged the requests after it (`after`), not the one before.
fn preexisting_flows(rx: &Receiver, local_port: u16, after: &[Request]) -> Vec<String> {
    let requested: u64 = after.iter().map(|r| r.request_length).sum();
    let answered: u64 = after.iter().map(|r| r.bytes_sent).sum();
    let workers: BTreeSet<i64> = after.iter().map(|r| i64::from(r.pid)).collect();
    let port = |at: &[KeyValue], key| attr_int(at, key) == Some(i64::from(local_port));
    let find = |client: bool| {
        let key = if client {
            a::NETWORK_LOCAL_PORT
        } else {
            a::NETWORK_PEER_PORT
        };
        rx.wait_until(Duration::from_secs(10), |rx| {
            flow_records(rx).iter().any(|(_, at)| port(at, key))
        });
        flow_records(rx).into_iter().find(|(_, at)| port(at, key))
    };
    let mut problems = Vec::new();
    for (client, want_sent, want_received) in
        [(true, requested, answered), (false, answered, requested)]
    {
        let side = if client { "client" } else { "server" };
        let Some((res, at)) = find(client) else {
            problems.push(format!(
                "no {side}-side flow record of the connection opened before start"
            ));
            continue;
        };
        let got = (
            attr_bool(&at, a::TCP_PREEXISTING),
            attr_int(&at, a::TCP_BYTES_SENT),
            attr_int(&at, a::TCP_BYTES_RECEIVED),
        );
        let want = (
            Some(true),
            i64::try_from(want_sent).ok(),
            i64::try_from(want_received).ok(),
        );
        if got != want {
            problems.push(format!(
                "{side} side (preexisting, bytes sent, received): {got:?}, want {want:?} \
                 (nginx logged the requests after start)"
            ));
        }
        let named = if client {
            service(&res) == KA_CLIENT_SERVICE
        } else {
            workers.contains(&pid(&res))
        };
        if !named {
            problems.push(format!(
                "{side} side named {}[{}]; the client is {KA_CLIENT_SERVICE}, nginx's workers \
                 {workers:?}",
                service(&res),
                pid(&res)
            ));
        }
    }
    problems
}

/// Server `tcp.connection` spans of every service.
fn connection_spans(rx: &Receiver) -> Vec<(Resource, Vec<KeyValue>)> {
    rx.spans()
        .into_iter()
        .filter(|(_, s)| {
            s.kind == SpanKind::Server as i32 && s.name == sonde_semconv::span::TCP_CONNECTION
        })
        .map(|(res, s)| (res, s.attributes))
        .collect()
}

fn as_refs(v: &[(Resource, Vec<KeyValue>)]) -> impl Iterator<Item = (&Resource, &[KeyValue])> {
    v.iter().map(|(res, at)| (res, at.as_slice()))
}

/// Server-side `sonde.tcp.connections.opened` of connections from `peer` to `port`, by
/// service.
fn opened_by_service(rx: &Receiver, peer: &str, port: u16) -> BTreeMap<String, u64> {
    let metrics = rx.metrics_named(m::TCP_CONNECTIONS_OPENED.name);
    let services: BTreeSet<String> = metrics.iter().map(|(res, _)| service(res)).collect();
    services
        .into_iter()
        .map(|svc| {
            let of_svc: Vec<_> = metrics
                .iter()
                .filter(|(res, _)| service(res) == svc)
                .cloned()
                .collect();
            let n = latest_cumulative_sum(&of_svc, |at| {
                attr_int(at, a::SERVER_PORT) == Some(i64::from(port))
                    && attr_str(at, a::NETWORK_PEER_ADDRESS).as_deref() == Some(peer)
                    && attr_str(at, a::CONNECTION_DIRECTION).as_deref() == Some(a::DIRECTION_SERVER)
            });
            (svc, n as u64)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Client-side request counts to `port` by (service, server.address, status), whoever
/// made them: where the requests went if not where they were expected.
fn client_series(rx: &Receiver, port: u16) -> BTreeMap<(String, String, i64), u64> {
    let metrics = rx.metrics_named(m::HTTP_CLIENT_DURATION.name);
    let mut keys = BTreeSet::new();
    for (res, metric) in &metrics {
        if let Some(Data::Histogram(h)) = &metric.data {
            for p in &h.data_points {
                if attr_int(&p.attributes, a::SERVER_PORT) == Some(i64::from(port)) {
                    keys.insert((
                        service(res),
                        attr_str(&p.attributes, a::SERVER_ADDRESS).unwrap_or_default(),
                        attr_int(&p.attributes, a::HTTP_RESPONSE_STATUS_CODE).unwrap_or(0),
                    ));
                }
            }
        }
    }
    keys.into_iter()
        .map(|(svc, addr, status)| {
            let of_svc: Vec<_> = metrics
                .iter()
                .filter(|(res, _)| service(res) == svc)
                .cloned()
                .collect();
            let n = latest_histogram_count(&of_svc, |at| {
                attr_int(at, a::SERVER_PORT) == Some(i64::from(port))
                    && attr_str(at, a::SERVER_ADDRESS).unwrap_or_default() == addr
                    && attr_int(at, a::HTTP_RESPONSE_STATUS_CODE).unwrap_or(0) == status
            });
            ((svc, addr, status), n)
        })
        .collect()
}

/// Servers started before the agent: nginx (two workers), a python server and a python
/// pre-fork server, on side B; then the agent; then connections from side A. Every
/// server-side flow record and connection span names the process that accepted the
/// connection, by the servers' own logs; the TCP metrics count them under the right
/// service; none is left unattributed.
fn servers_started_before_the_agent(netns: &str, octet: u8, yaml: &str) {
    let started = Instant::now();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create(netns, octet).unwrap();
    let b = pair.addr(Side::B).to_string();
    let client = pair.addr(Side::A).to_string();
    let dir = std::env::temp_dir().join(format!("sonde-{netns}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let single_log = dir.join("single.log");
    let prefork_log = dir.join("prefork.log");

    // Named by its executable, as an nginx usually is: its flows are told apart from
    // another nginx's on the host by address and port.
    let nginx = Nginx::start(&pair, Side::B, &format!("{b}:{NGINX_PORT}"), 2, netns, None).unwrap();
    let single = conn_server(&pair, SINGLE_PORT, &single_log, 0, SINGLE_SERVICE);
    let prefork = conn_server(&pair, PREFORK_PORT, &prefork_log, 2, PREFORK_SERVICE);
    // Every listening socket exists before the agent starts.
    let (agent, config) = Agent::start_exporting_to(&receiver, netns, yaml).unwrap();

    let urls = |port: u16, n: usize| vec![format!("http://{b}:{port}/ok"); n];
    curl_each(&pair, &urls(NGINX_PORT, 24), true);
    curl_each(&pair, &urls(SINGLE_PORT, 10), false);
    curl_each(&pair, &urls(PREFORK_PORT, 16), true);

    // Connection: close, so one request per connection.
    let nginx_accepted = accepted(
        nginx
            .access_log()
            .unwrap()
            .iter()
            .map(|req| (req.remote_port, req.pid)),
    );
    let truths = [
        Truth {
            what: "nginx (2 workers)",
            port: NGINX_PORT,
            service: "nginx",
            accepted: nginx_accepted,
            listener: nginx.master_pid(),
        },
        Truth {
            what: "python server",
            port: SINGLE_PORT,
            service: SINGLE_SERVICE,
            accepted: conn_server_log(&single_log),
            listener: single.id(),
        },
        Truth {
            what: "python pre-fork server",
            port: PREFORK_PORT,
            service: PREFORK_SERVICE,
            accepted: conn_server_log(&prefork_log),
            listener: prefork.id(),
        },
    ];
    for t in &truths {
        let mut per_pid: BTreeMap<u32, usize> = BTreeMap::new();
        for p in t.accepted.values().flatten() {
            *per_pid.entry(*p).or_default() += 1;
        }
        eprintln!(
            "[test] {}: listener {}, connections accepted per pid {per_pid:?}",
            t.what, t.listener
        );
    }
    assert_eq!(truths[0].connections(), 24, "nginx's access log");
    assert_eq!(truths[1].connections(), 10, "the python server's log");
    assert_eq!(truths[2].connections(), 16, "the pre-fork server's log");
    assert!(
        !truths[2]
            .accepted
            .values()
            .flatten()
            .any(|&p| p == truths[2].listener),
        "the pre-fork server's listener accepted a connection itself"
    );

    // Every connection's server-side flow record and span arrive, whoever they name.
    let arrived = receiver.wait_until(Duration::from_secs(30), |rx| {
        let flows = flow_records(rx);
        let spans = connection_spans(rx);
        truths.iter().all(|t| {
            server_side(as_refs(&flows), &b, t.port).len() >= t.connections()
                && server_side(as_refs(&spans), &b, t.port).len() >= t.connections()
        })
    });
    // The TCP metrics have been exported after the flows (they count at the same time).
    let counted = receiver.wait_until(Duration::from_secs(if arrived { 10 } else { 1 }), |rx| {
        truths.iter().all(|t| {
            opened_by_service(rx, &client, t.port).values().sum::<u64>() >= t.connections() as u64
        })
    });
    std::thread::sleep(Duration::from_secs(2));

    let flows = flow_records(&receiver);
    let spans = connection_spans(&receiver);
    let mut problems = Vec::new();
    if !arrived || !counted {
        problems.push(format!(
            "not every connection was reported in 30 s (flows and spans arrived: {arrived}, \
             metrics: {counted})"
        ));
    }
    for t in &truths {
        problems.extend(misnamed(
            "flow record",
            t,
            &server_side(as_refs(&flows), &b, t.port),
        ));
        problems.extend(misnamed(
            "span",
            t,
            &server_side(as_refs(&spans), &b, t.port),
        ));
        let opened = opened_by_service(&receiver, &client, t.port);
        let want = BTreeMap::from([(t.service.to_owned(), t.connections() as u64)]);
        if opened != want {
            problems.push(format!(
                "{}: server-side {} by service {opened:?}, want {want:?}",
                t.what,
                m::TCP_CONNECTIONS_OPENED.name
            ));
        }
    }
    let unattributed =
        receiver.latest_cumulative_sum(m::agent::CONNECTIONS_UNATTRIBUTED.name, |_| true);
    if receiver
        .metrics_named(m::agent::CONNECTIONS_UNATTRIBUTED.name)
        .is_empty()
    {
        problems.push(format!(
            "{} is not exported",
            m::agent::CONNECTIONS_UNATTRIBUTED.name
        ));
    } else if unattributed != 0.0 {
        problems.push(format!(
            "{} = {unattributed}",
            m::agent::CONNECTIONS_UNATTRIBUTED.name
        ));
    }
    problems.extend(stop_and_count_lost(agent, &receiver));
    eprintln!("[test] took {:?}", started.elapsed());
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));

    drop((single, prefork, nginx));
    let _ = std::fs::remove_file(config);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_servers_started_before_the_agent_name_every_accepted_connection() {
    require_root();
    servers_started_before_the_agent("pre", 91, "http:\n  enabled: false\n");
}

/// The same with HTTP capture on, whose receive program takes the owner in place of
/// conn.bpf.c's.
#[test]
#[ignore = "needs root: loads BPF"]
fn root_with_http_on_servers_started_before_the_agent_name_every_accepted_connection() {
    require_root();
    servers_started_before_the_agent("preh", 92, "http:\n  enabled: true\n");
}

/// A keep-alive connection to nginx opened (and used once) before the agent started, used
/// 30 more times after: every one of those requests is counted by status, on the server
/// side (nginx) and the client side (python's http.client), exactly as nginx's access log
/// has them from the agent's start on, while the connection stays open and idle.
fn keepalive_opened_before_the_agent(netns: &str, octet: u8, yaml: &str) {
    let started = Instant::now();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create(netns, octet).unwrap();
    let b = pair.addr(Side::B).to_string();
    // A name of its own: the server's HTTP metrics carry no address to tell it apart from
    // another nginx on the host.
    let nginx_service = format!("nginx-{netns}");
    let nginx = Nginx::start(
        &pair,
        Side::B,
        &format!("{b}:{NGINX_PORT}"),
        1,
        netns,
        Some(&nginx_service),
    )
    .unwrap();

    let mut cmd = pair.command(
        Side::A,
        PYTHON,
        &[&fixture("keepalive_client.py"), &b, &NGINX_PORT.to_string()],
    );
    cmd.env("OTEL_SERVICE_NAME", KA_CLIENT_SERVICE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut client = Running(cmd.spawn().unwrap());
    let client_pid = client.id();
    let mut stdin = client.0.stdin.take().unwrap();
    let mut stdout = BufReader::new(client.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let local_port: u16 = line
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("the client said {line:?}"))
        .trim()
        .parse()
        .unwrap();

    let (agent, config) = Agent::start_exporting_to(&receiver, netns, yaml).unwrap();
    // What nginx served before the agent was ready is not Sonde's to count.
    let before = nginx.access_log().unwrap().len();
    writeln!(stdin, "go").unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert!(
        line.starts_with(&format!("done {local_port} ")),
        "the client said {line:?}"
    );

    let after = nginx.access_log().unwrap().split_off(before);
    assert!(
        after.iter().all(|req| req.remote_port == local_port),
        "a request on another connection: {after:?}"
    );
    let logged = by_status(&after);
    assert_eq!(logged, BTreeMap::from([(200, 20), (404, 10)]), "access log");

    let server = |rx: &Receiver| {
        http_counts_by_status(rx, m::HTTP_SERVER_DURATION.name, &nginx_service, |_| true)
    };
    let client_side = |rx: &Receiver| {
        http_counts_by_status(rx, m::HTTP_CLIENT_DURATION.name, KA_CLIENT_SERVICE, |at| {
            attr_str(at, a::SERVER_ADDRESS).as_deref() == Some(b.as_str())
        })
    };
    let equal = receiver.wait_until(Duration::from_secs(15), |rx| {
        server(rx) == logged && client_side(rx) == logged
    });
    let mut problems = Vec::new();
    if !equal {
        problems.push(format!(
            "after the agent started nginx logged {logged:?} on the connection opened before; \
             Sonde counted server side ({nginx_service}) {:?}, client side ({KA_CLIENT_SERVICE}) {:?}",
            server(&receiver),
            client_side(&receiver)
        ));
        problems.push(format!(
            "every client-side count to port {NGINX_PORT}: {:?}",
            client_series(&receiver, NGINX_PORT)
        ));
        let mut named: BTreeMap<String, usize> = BTreeMap::new();
        for (res, span) in receiver.spans() {
            if span.kind == SpanKind::Client as i32
                && attr_int(&span.attributes, a::SERVER_PORT) == Some(i64::from(NGINX_PORT))
            {
                let who = format!(
                    "{}[{}] exe {} (service name from {})",
                    service(&res),
                    pid(&res),
                    attr_str(&res.attributes, r::PROCESS_EXECUTABLE_NAME).unwrap_or_default(),
                    attr_str(&res.attributes, r::SONDE_SERVICE_NAME_SOURCE).unwrap_or_default()
                );
                *named.entry(who).or_default() += 1;
            }
        }
        problems.push(format!(
            "client spans to port {NGINX_PORT} by process (the client is pid {client_pid}): \
             {named:?}"
        ));
    }
    // The client kept its connection open and idle while Sonde counted; now it closes.
    writeln!(stdin, "close").unwrap();
    assert!(client.0.wait().unwrap().success());
    problems.extend(preexisting_flows(&receiver, local_port, &after));
    problems.extend(stop_and_count_lost(agent, &receiver));
    eprintln!("[test] took {:?}", started.elapsed());
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    drop(nginx);
    let _ = std::fs::remove_file(config);
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_keepalive_connection_opened_before_the_agent_is_counted_from_its_next_request() {
    require_root();
    keepalive_opened_before_the_agent("preka", 93, "http:\n  enabled: true\n");
}

/// The same with every request parsed by the agent.
#[test]
#[ignore = "needs root: loads BPF"]
fn root_keepalive_connection_opened_before_the_agent_is_parsed_from_its_next_request() {
    require_root();
    keepalive_opened_before_the_agent(
        "prekp",
        94,
        "http:\n  enabled: true\n  parse_per_second: 0\n",
    );
}

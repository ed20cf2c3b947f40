//! DNS, end to end: dnsmasq in one network namespace, dig and python's getaddrinfo in the
//! other, the real `sonde`, and what an OTLP receiver decoded. Root only.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use sonde_integration_tests::agent::stop_and_count_lost;
use sonde_integration_tests::otlp::{attr, attr_int, attr_str, latest_histogram_count};
use sonde_integration_tests::{fixture, require_root, Agent, NetnsPair, Receiver, Side};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;
use sonde_semconv::resource as r;

const PYTHON: &str = "/usr/bin/python3";

/// Processes killed on drop.
struct Kill(Vec<Child>);

impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_listening(child: &mut Child) {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "listening");
}

fn dig(pair: &NetnsPair, args: &[&str]) -> String {
    dig_at(pair, &pair.addr(Side::B).to_string(), args)
}

fn dig_at(pair: &NetnsPair, resolver: &str, args: &[&str]) -> String {
    let server = format!("@{resolver}");
    let mut all = vec![server.as_str(), "+time=1", "+tries=1"];
    all.extend_from_slice(args);
    let out = pair.output(Side::A, "dig", &all).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lookups(rx: &Receiver) -> Vec<(Resource, Vec<KeyValue>)> {
    rx.log_records()
        .into_iter()
        .filter(|(_, l)| l.event_name == sonde_semconv::event::DNS_LOOKUP)
        .map(|(res, l)| (res, l.attributes))
        .collect()
}

fn of(
    all: &[(Resource, Vec<KeyValue>)],
    name: &str,
    qtype: &str,
) -> Vec<(Resource, Vec<KeyValue>)> {
    all.iter()
        .filter(|(_, at)| {
            attr_str(at, a::DNS_QUESTION_NAME).as_deref() == Some(name)
                && attr_str(at, a::DNS_QUESTION_TYPE).as_deref() == Some(qtype)
        })
        .cloned()
        .collect()
}

fn answers(at: &[KeyValue]) -> Vec<String> {
    match attr(at, a::DNS_ANSWERS).and_then(|v| v.value.as_ref()) {
        Some(Value::ArrayValue(arr)) => arr
            .values
            .iter()
            .filter_map(|v| match &v.value {
                Some(Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

fn exe(res: &Resource) -> String {
    attr_str(&res.attributes, r::PROCESS_EXECUTABLE_NAME).unwrap_or_default()
}

/// dnsmasq on side B with the configuration file `conf`, in the foreground.
fn dnsmasq(pair: &NetnsPair, conf: &std::path::Path) -> Child {
    pair.command(
        Side::B,
        "dnsmasq",
        &[
            "--keep-in-foreground",
            &format!("--conf-file={}", conf.display()),
        ],
    )
    .spawn()
    .unwrap()
}

/// `query[TYPE] name from` lines in dnsmasq's log.
fn dnsmasq_queries(log: &str, name: &str, qtype: &str) -> usize {
    let needle = format!("query[{qtype}] {name} from");
    log.lines().filter(|l| l.contains(&needle)).count()
}

/// On sockets (the default on Linux 6.3+): dig's sendmmsg and recvmsg on a connected
/// socket, its TCP writev of length and message, glibc's send and recvfrom, IPv6.
#[test]
#[ignore = "needs root: loads BPF"]
fn root_dns_lookups_errors_latency_and_names_on_flows() {
    lookups_errors_latency_and_names_on_flows("sockets", false, "dns", 74);
}

/// The same with HTTP capture on, whose programs then run the DNS socket steps in place of
/// dns.bpf.c's own (include/dns_sock.h).
#[test]
#[ignore = "needs root: loads BPF"]
fn root_dns_with_http_on_lookups_errors_latency_and_names_on_flows() {
    lookups_errors_latency_and_names_on_flows("sockets", true, "dnh", 84);
}

/// The same on packets (`dns.capture: packets`, what older kernels get).
#[test]
#[ignore = "needs root: loads BPF"]
fn root_dns_on_packets_lookups_errors_latency_and_names_on_flows() {
    lookups_errors_latency_and_names_on_flows("packets", false, "dnp", 83);
}

fn lookups_errors_latency_and_names_on_flows(capture: &str, http: bool, netns: &str, index: u8) {
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create(netns, index).unwrap();
    let b = pair.addr(Side::B).to_string();
    let b6 = pair.addr6(Side::B).to_string();
    let dir = std::env::temp_dir().join(format!("sonde-{netns}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("dnsmasq.log");
    let conf = dir.join("dnsmasq.conf");
    std::fs::write(
        &conf,
        format!(
            "no-resolv\nno-hosts\nbind-interfaces\nlisten-address={b},{b6}\nport=53\nlog-queries\nlog-facility={}\n\
             cache-size=0\nhost-record=www.sonde.test,{b}\nhost-record=v6.sonde.test,{}\nhost-record=raw.sonde.test,{b}\n\
             cname=alias.sonde.test,www.sonde.test\naddress=/nx.sonde.test/\n\
             server=/broken.test/{b}#5300\nserver=/silent.test/{b}#5301\n",
            log.display(),
            pair.addr6(Side::B),
        ),
    )
    .unwrap();
    // The client namespace resolves through dnsmasq (ip netns exec bind-mounts this file).
    let etc = PathBuf::from("/etc/netns").join(&pair.a);
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("resolv.conf"), format!("nameserver {b}\n")).unwrap();

    let (agent, config) = Agent::start_exporting_to(
        &receiver,
        netns,
        &format!("dns:\n  capture: {capture}\nhttp:\n  enabled: {http}\n"),
    )
    .unwrap();
    assert!(
        agent.wait_for_line(&format!("DNS on {capture}"), Duration::from_secs(5)),
        "the agent does not say it captures DNS on {capture}"
    );

    let mut upstream = pair.command(
        Side::B,
        PYTHON,
        &[&fixture("dns_servfail_upstream.py"), &b, "5300"],
    );
    let mut upstream = upstream.stdout(Stdio::piped()).spawn().unwrap();
    wait_listening(&mut upstream);
    let dnsmasq = dnsmasq(&pair, &conf);
    let _procs = Kill(vec![upstream, dnsmasq]);
    std::thread::sleep(Duration::from_millis(500));

    assert!(dig(&pair, &["www.sonde.test", "A"]).contains("status: NOERROR"));
    assert!(dig(&pair, &["v6.sonde.test", "AAAA"]).contains("status: NOERROR"));
    // The same question over IPv6 transport.
    assert!(dig_at(&pair, &b6, &["v6.sonde.test", "AAAA"]).contains("status: NOERROR"));
    assert!(dig(&pair, &["alias.sonde.test", "A"]).contains("status: NOERROR"));
    assert!(dig(&pair, &["a.nx.sonde.test", "A"]).contains("status: NXDOMAIN"));
    assert!(dig(&pair, &["x.broken.test", "A"]).contains("status: SERVFAIL"));
    assert!(dig(&pair, &["+tcp", "www.sonde.test", "A"]).contains("status: NOERROR"));
    dig(&pair, &["y.silent.test", "A"]); // never answered
                                         // python resolves through resolv.conf, then connects to the name it resolved.
    let mut server = pair.command(
        Side::B,
        PYTHON,
        &[&fixture("tcp_server.py"), "9300", "sink"],
    );
    let mut server = server.stdout(Stdio::piped()).spawn().unwrap();
    wait_listening(&mut server);
    let _server = Kill(vec![server]);
    let script = "import socket\n\
                  socket.getaddrinfo('alias.sonde.test', 9300, socket.AF_INET)\n\
                  c = socket.create_connection(('www.sonde.test', 9300))\n\
                  c.sendall(b'hello'); c.shutdown(socket.SHUT_WR); c.recv(10); c.close()\n";
    let out = pair.output(Side::A, PYTHON, &["-c", script]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A stub resolver's way: an unconnected socket, sendto() the server, recv() the answer
    // without asking where it came from (on sockets, the answer's source is then the
    // server of the socket's last query).
    let raw = format!(
        "import socket, struct\n\
         q = struct.pack('>HHHHHH', 0x5151, 0x0100, 1, 0, 0, 0) + b'\\x03raw\\x05sonde\\x04test\\x00' + struct.pack('>HH', 1, 1)\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)\n\
         s.sendto(q, ('{b}', 53)); assert s.recv(512)[:2] == b'\\x51\\x51'\n"
    );
    let out = pair.output(Side::A, PYTHON, &["-c", &raw]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The silent one times out in Sonde after its 5 s lookup timeout.
    let arrived = receiver.wait_until(Duration::from_secs(20), |rx| {
        let all = lookups(rx);
        !of(&all, "y.silent.test", "A").is_empty() && of(&all, "www.sonde.test", "A").len() >= 3
    });
    let all = lookups(&receiver);
    assert!(
        arrived,
        "lookups did not all arrive: {:#?}",
        all.iter().map(|(_, at)| at.clone()).collect::<Vec<_>>()
    );

    let rcode = |at: &[KeyValue]| attr_str(at, a::DNS_RESPONSE_CODE).unwrap_or_default();
    let www = of(&all, "www.sonde.test", "A");
    // dig (UDP), dig +tcp, python's connect (getaddrinfo of www.sonde.test).
    assert_eq!(www.len(), 3, "{www:#?}");
    assert!(www
        .iter()
        .all(|(_, at)| answers(at) == vec![format!("A {b}")] && rcode(at) == "NOERROR"));
    assert_eq!(
        www.iter()
            .filter(|(_, at)| attr_str(at, a::NETWORK_TRANSPORT).as_deref() == Some("tcp"))
            .count(),
        1
    );
    assert_eq!(www.iter().filter(|(res, _)| exe(res) == "dig").count(), 2);
    assert!(www.iter().any(|(res, _)| exe(res).starts_with("python3")));
    let v6 = of(&all, "v6.sonde.test", "AAAA");
    assert_eq!(v6.len(), 2, "over IPv4 and over IPv6");
    assert!(v6
        .iter()
        .all(|(_, at)| answers(at) == vec![format!("AAAA {b6}")]));
    let peers: HashSet<String> = v6
        .iter()
        .filter_map(|(_, at)| attr_str(at, a::NETWORK_PEER_ADDRESS))
        .collect();
    assert_eq!(peers, HashSet::from([b.clone(), b6.clone()]));
    let alias = of(&all, "alias.sonde.test", "A");
    assert_eq!(alias.len(), 2, "dig and getaddrinfo");
    assert!(alias
        .iter()
        .all(|(_, at)| answers(at) == vec!["CNAME www.sonde.test".to_owned(), format!("A {b}")]));
    let raw = of(&all, "raw.sonde.test", "A");
    assert_eq!(raw.len(), 1, "the recv() lookup: {raw:#?}");
    assert_eq!(answers(&raw[0].1), vec![format!("A {b}")]);
    let nx = of(&all, "a.nx.sonde.test", "A");
    assert_eq!(nx.len(), 1);
    assert_eq!(rcode(&nx[0].1), "NXDOMAIN");
    assert_eq!(
        attr_str(&nx[0].1, a::ERROR_TYPE).as_deref(),
        Some("NXDOMAIN")
    );
    let sf = of(&all, "x.broken.test", "A");
    assert_eq!(sf.len(), 1);
    assert_eq!(rcode(&sf[0].1), "SERVFAIL");
    let silent = of(&all, "y.silent.test", "A");
    assert_eq!(silent.len(), 1);
    assert_eq!(
        attr_str(&silent[0].1, a::ERROR_TYPE).as_deref(),
        Some("timeout")
    );
    for (_, at) in &all {
        let peer = attr_str(at, a::NETWORK_PEER_ADDRESS).unwrap_or_default();
        assert!(peer == b || peer == b6, "resolver {peer}");
    }

    // Every lookup Sonde saw, dnsmasq logged, and the other way round.
    let logged = std::fs::read_to_string(&log).unwrap();
    for (name, qtype) in [
        ("www.sonde.test", "A"),
        ("raw.sonde.test", "A"),
        ("v6.sonde.test", "AAAA"),
        ("alias.sonde.test", "A"),
        ("a.nx.sonde.test", "A"),
        ("x.broken.test", "A"),
        ("y.silent.test", "A"),
    ] {
        assert_eq!(
            of(&all, name, qtype).len(),
            dnsmasq_queries(&logged, name, qtype),
            "{name} {qtype}"
        );
    }

    // The TCP flow to the resolved name carries that name.
    let named = receiver.wait_until(Duration::from_secs(10), |rx| {
        rx.log_records().iter().any(|(_, l)| {
            l.event_name == sonde_semconv::event::TCP_FLOW
                && attr_int(&l.attributes, a::SERVER_PORT) == Some(9300)
                && attr_str(&l.attributes, a::CONNECTION_DIRECTION).as_deref() == Some("client")
                && attr_str(&l.attributes, a::SERVER_ADDRESS).as_deref() == Some("www.sonde.test")
        })
    });
    assert!(
        named,
        "the flow to www.sonde.test:9300 does not carry its DNS name"
    );

    // Metrics: latency histogram with exemplars that are exported DNS spans; rcodes counted.
    // A span goes out in its batch, the exemplar with the next metric export: either may
    // reach the receiver first, so both are read until every exemplar has its span.
    let exemplars = |rx: &Receiver| -> Vec<Vec<u8>> {
        (rx.metrics_named(m::DNS_LOOKUP_DURATION.name).into_iter())
            .filter_map(|(_, metric)| match metric.data {
                Some(Data::Histogram(h)) => Some(h.data_points),
                _ => None,
            })
            .flatten()
            .flat_map(|p| p.exemplars)
            .map(|e| e.trace_id)
            .collect()
    };
    let dns_traces = |rx: &Receiver| -> HashSet<Vec<u8>> {
        (rx.spans().iter())
            .filter(|(_, s)| s.name.starts_with("DNS "))
            .map(|(_, s)| s.trace_id.clone())
            .collect()
    };
    let with_exemplars = receiver.wait_until(Duration::from_secs(10), |rx| {
        let ex = exemplars(rx);
        let traces = dns_traces(rx);
        !ex.is_empty() && ex.iter().all(|t| traces.contains(t))
    });
    let (ex, traces) = (exemplars(&receiver), dns_traces(&receiver));
    assert!(!ex.is_empty(), "no exemplars on dns.lookup.duration");
    assert!(
        with_exemplars,
        "{} of {} exemplar trace ids are not exported DNS spans",
        ex.iter().filter(|t| !traces.contains(*t)).count(),
        ex.len()
    );
    let exemplar_traces = ex.len();
    assert!(exemplar_traces > 0);
    assert_eq!(
        receiver.latest_cumulative_sum(m::DNS_RESPONSES.name, |at| {
            attr_str(at, a::DNS_RESPONSE_CODE).as_deref() == Some("NXDOMAIN")
        }),
        1.0
    );

    agent.stop().unwrap();
    let _ = std::fs::remove_file(&config);
    let _ = std::fs::remove_dir_all(&etc);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A burst of lookups faster than one batch timeout: every export request holds at most
/// `batch.max_items` spans or log records (the burst used to go out as one request per
/// second, whatever its size), and none of the burst is missing.
#[test]
#[ignore = "needs root: loads BPF"]
fn root_a_burst_of_lookups_is_exported_in_requests_of_at_most_max_items() {
    const MAX_ITEMS: usize = 16;
    const LOOKUPS: usize = 300;
    require_root();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("dnsb", 78).unwrap();
    let b = pair.addr(Side::B).to_string();
    let dir = std::env::temp_dir().join(format!("sonde-dnsb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("sonde.yaml");
    std::fs::write(
        &config,
        format!(
            "exporter:\n  endpoint: {}\nbatch:\n  max_items: {MAX_ITEMS}\n  timeout: 1s\nconsole: off\n",
            receiver.grpc_endpoint()
        ),
    )
    .unwrap();
    let queries = dir.join("queries");
    let names: Vec<String> = (0..LOOKUPS)
        .map(|i| format!("q{i}.burst.sonde.test A\n"))
        .collect();
    std::fs::write(&queries, names.concat()).unwrap();

    let agent = Agent::start(&["--config", config.to_str().unwrap()], &[]).unwrap();
    agent.wait_ready(Duration::from_secs(30)).unwrap();
    let dnsmasq = pair
        .command(
            Side::B,
            "dnsmasq",
            &[
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                &format!("--listen-address={b}"),
                "--port=53",
                "--address=/burst.sonde.test/192.0.2.9",
            ],
        )
        .spawn()
        .unwrap();
    let _procs = Kill(vec![dnsmasq]);
    std::thread::sleep(Duration::from_millis(500));
    // One dig process asks the whole list back to back: a few hundred lookups well inside
    // one batch timeout.
    let server = format!("@{b}");
    let out = pair
        .output(
            Side::A,
            "dig",
            &[
                &server,
                "+time=1",
                "+tries=1",
                "-f",
                queries.to_str().unwrap(),
            ],
        )
        .unwrap();
    let answered = String::from_utf8_lossy(&out.stdout)
        .matches("status: NOERROR")
        .count();
    assert_eq!(answered, LOOKUPS, "dnsmasq did not answer every lookup");

    let burst = |name: &str| name.ends_with(".burst.sonde.test");
    let all_there = receiver.wait_until(Duration::from_secs(20), |rx| {
        let logs = lookups(rx)
            .iter()
            .filter(|(_, at)| attr_str(at, a::DNS_QUESTION_NAME).is_some_and(|n| burst(&n)))
            .count();
        let spans = rx
            .spans()
            .iter()
            .filter(|(_, s)| {
                attr_str(&s.attributes, a::DNS_QUESTION_NAME).is_some_and(|n| burst(&n))
            })
            .count();
        logs >= LOOKUPS && spans >= LOOKUPS
    });
    assert!(
        all_there,
        "not every lookup of the burst arrived as a log record and a span"
    );
    let traces = receiver.traces();
    let logs = receiver.logs();
    for request in &traces {
        let spans: usize = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        assert!(spans <= MAX_ITEMS, "a traces request held {spans} spans");
    }
    for request in &logs {
        let records: usize = request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        assert!(
            records <= MAX_ITEMS,
            "a logs request held {records} records"
        );
    }
    assert!(traces.len() >= LOOKUPS / MAX_ITEMS && logs.len() >= LOOKUPS / MAX_ITEMS);

    agent.stop().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `getent ahosts NAME` on side A: what it printed (it must succeed).
fn getent(pair: &NetnsPair, name: &str) -> String {
    let out = pair.output(Side::A, "getent", &["ahosts", name]).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "getent ahosts {name} failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// glibc's resolver, as `getent ahosts` uses it: one socket, the A and AAAA questions sent
/// together (sendmmsg), both answers awaited. Every question dnsmasq logged is one lookup
/// in Sonde (a log record, and a count on `dns.lookup.duration`), and no more.
#[test]
#[ignore = "needs root: loads BPF"]
fn root_getent_lookups_through_glibc_equal_dnsmasq_query_log() {
    const NAME: &str = "svc.sonde.test";
    const LOOKUPS: usize = 20;
    require_root();
    let started = Instant::now();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create("gai", 97).unwrap();
    let b = pair.addr(Side::B).to_string();
    let b6 = pair.addr6(Side::B).to_string();
    let dir = std::env::temp_dir().join(format!("sonde-gai-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("dnsmasq.log");
    let conf = dir.join("dnsmasq.conf");
    std::fs::write(
        &conf,
        format!(
            "no-resolv\nno-hosts\nbind-interfaces\nlisten-address={b}\nport=53\nlog-queries\n\
             log-facility={}\ncache-size=0\nhost-record={NAME},{b},{b6}\n",
            log.display()
        ),
    )
    .unwrap();
    // The client namespace resolves through dnsmasq (ip netns exec bind-mounts this file).
    let etc = PathBuf::from("/etc/netns").join(&pair.a);
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("resolv.conf"), format!("nameserver {b}\n")).unwrap();

    let (agent, config) =
        Agent::start_exporting_to(&receiver, "gai", "http:\n  enabled: false\n").unwrap();
    let dnsmasq = dnsmasq(&pair, &conf);
    let _procs = Kill(vec![dnsmasq]);
    // Ready once it answers (a question about another name).
    let server = format!("@{b}");
    let ready = (0..50).any(|_| {
        let out = pair
            .output(
                Side::A,
                "dig",
                &[&server, "+time=1", "+tries=1", "ready.sonde.test", "A"],
            )
            .unwrap();
        let answered = String::from_utf8_lossy(&out.stdout).contains("status:");
        if !answered {
            std::thread::sleep(Duration::from_millis(100));
        }
        answered
    });
    assert!(ready, "dnsmasq did not answer");

    for _ in 0..LOOKUPS {
        let out = getent(&pair, NAME);
        assert!(
            out.contains(&b) && out.contains(&b6),
            "getent ahosts {NAME}: {out}"
        );
    }

    let of_name = |at: &[KeyValue], qtype: &str| {
        attr_str(at, a::DNS_QUESTION_NAME).as_deref() == Some(NAME)
            && attr_str(at, a::DNS_QUESTION_TYPE).as_deref() == Some(qtype)
    };
    let records = |rx: &Receiver, qtype: &str| -> Vec<String> {
        rx.log_records()
            .into_iter()
            .filter(|(_, l)| {
                l.event_name == sonde_semconv::event::DNS_LOOKUP && of_name(&l.attributes, qtype)
            })
            .map(|(res, _)| {
                attr_str(&res.attributes, r::PROCESS_EXECUTABLE_NAME).unwrap_or_default()
            })
            .collect()
    };
    let counted = |rx: &Receiver, qtype: &str| {
        latest_histogram_count(&rx.metrics_named(m::DNS_LOOKUP_DURATION.name), |at| {
            of_name(at, qtype)
        })
    };
    let logged =
        |qtype: &str| dnsmasq_queries(&std::fs::read_to_string(&log).unwrap(), NAME, qtype) as u64;
    let equal = receiver.wait_until(Duration::from_secs(15), |rx| {
        ["A", "AAAA"].iter().all(|q| {
            let n = logged(q);
            records(rx, q).len() as u64 == n && counted(rx, q) == n
        })
    });
    let mut report = Vec::new();
    for q in ["A", "AAAA"] {
        let recs = records(&receiver, q);
        let mut by_exe: BTreeMap<String, usize> = BTreeMap::new();
        for exe in &recs {
            *by_exe.entry(exe.clone()).or_default() += 1;
        }
        report.push(format!(
            "{NAME} {q}: dnsmasq logged {}, Sonde {} log records (by executable {by_exe:?}), \
             {} on {}",
            logged(q),
            recs.len(),
            counted(&receiver, q),
            m::DNS_LOOKUP_DURATION.name
        ));
    }
    let lost = stop_and_count_lost(agent, &receiver);
    eprintln!(
        "[test] took {:?}:\n{}",
        started.elapsed(),
        report.join("\n")
    );
    assert!(logged("A") >= LOOKUPS as u64, "{}", report.join("\n"));
    assert!(
        equal && lost.is_empty(),
        "\n{}\n{}",
        report.join("\n"),
        lost.join("\n")
    );
    let _ = std::fs::remove_file(config);
    let _ = std::fs::remove_dir_all(&etc);
    let _ = std::fs::remove_dir_all(&dir);
}

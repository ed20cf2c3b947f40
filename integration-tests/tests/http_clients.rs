//! HTTP clients no one here wrote, against nginx's access log: wrk pipelining 12 mixed
//! requests per write, ApacheBench (HTTP/1.0) with and without keep-alive, curl over
//! HTTP/1.1 one request after another and in parallel; with the default configuration
//! (the kernel counts past `http.parse_per_second`) and with every request parsed by the
//! agent. Sonde's counts by status must equal the access log's, client by client. (DNS
//! through glibc against dnsmasq's query log is in dns.rs.) Root only.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sonde_integration_tests::agent::stop_and_count_lost;
use sonde_integration_tests::nginx::{by_status, http_counts_by_status, Nginx};
use sonde_integration_tests::otlp::attr_str;
use sonde_integration_tests::{fixture, require_root, Agent, NetnsPair, Receiver, Side};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;

const PORT: u16 = 8080;

/// Runs `program args...` in side A to completion; its stdout, or a panic with its
/// output if it failed.
fn run(pair: &NetnsPair, program: &str, args: &[&str]) -> String {
    let out = pair.output(Side::A, program, args).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The 12 pipelined requests of a wrk write, 2 connections, until the script stops it.
fn wrk_pipelined(pair: &NetnsPair, base: &str) -> String {
    run(
        pair,
        "wrk",
        &[
            "-t1",
            "-c2",
            "-d1s",
            "-s",
            &fixture("wrk_pipeline.lua"),
            &format!("{base}/"),
        ],
    )
}

/// ApacheBench (HTTP/1.0), two at a time: /ok, /missing and /fail, with `-k`
/// (`Connection: keep-alive`; nginx closes it after a 500 all the same) if `keepalive`.
fn ab(pair: &NetnsPair, base: &str, keepalive: bool) -> String {
    let mut out = String::new();
    for (path, n) in [("/ok", "400"), ("/missing", "200"), ("/fail", "100")] {
        let url = format!("{base}{path}");
        let mut args = vec!["-q", "-n", n, "-c", "2"];
        if keepalive {
            args.push("-k");
        }
        args.push(&url);
        let report = run(pair, "ab", &args);
        out.extend(
            report
                .lines()
                .filter(|l| l.starts_with("Complete") || l.starts_with("Non-2xx"))
                .map(|l| format!("{path}: {l}\n")),
        );
    }
    out
}

/// 30 mixed URLs (15 /ok, 10 /missing, 5 /fail) for curl.
fn curl_urls(base: &str) -> Vec<String> {
    ["/ok", "/missing", "/ok", "/ok", "/missing", "/fail"]
        .iter()
        .cycle()
        .take(30)
        .map(|path| format!("{base}{path}"))
        .collect()
}

/// curl over HTTP/1.1 fetching every URL, on one keep-alive connection at a time (a new
/// one after each 500), or four at a time with `--parallel`.
fn curl(pair: &NetnsPair, base: &str, parallel: bool) -> String {
    let urls = curl_urls(base);
    let mut args: Vec<&str> = vec![
        "--http1.1",
        "-s",
        "--max-time",
        "20",
        "-w",
        "%{http_code}\n",
    ];
    if parallel {
        args.extend(["--parallel", "--parallel-max", "4"]);
    }
    for url in &urls {
        args.extend(["-o", "/dev/null", url]);
    }
    let codes = run(pair, "curl", &args);
    let mut got: BTreeMap<&str, usize> = BTreeMap::new();
    for code in codes.lines() {
        *got.entry(code).or_default() += 1;
    }
    assert_eq!(
        got,
        BTreeMap::from([("200", 15), ("404", 10), ("500", 5)]),
        "curl's answers"
    );
    format!("{got:?}")
}

/// `now - then`, status by status (zeros left out).
fn minus(now: &BTreeMap<u16, u64>, then: &BTreeMap<u16, u64>) -> BTreeMap<u16, u64> {
    now.iter()
        .map(|(s, n)| (*s, n.saturating_sub(then.get(s).copied().unwrap_or(0))))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The counts of requests that were answered: a request nginx read but never answered
/// (the second /fail of a pipelined write, behind the first one's 500) is not in its
/// access log, and Sonde may count it without a status (0 here); no other client leaves
/// a request unanswered.
fn with_status(mut counts: BTreeMap<u16, u64>) -> BTreeMap<u16, u64> {
    counts.remove(&0);
    counts
}

/// Every client in turn against nginx on side B; after each, Sonde's count of what nginx
/// served, by status, must grow by exactly what the access log grew by.
fn clients_against_access_log(netns: &str, octet: u8, yaml: &str) {
    let started = Instant::now();
    let receiver = Receiver::start().unwrap();
    let pair = NetnsPair::create(netns, octet).unwrap();
    let b = pair.addr(Side::B).to_string();
    let (agent, config) = Agent::start_exporting_to(&receiver, netns, yaml).unwrap();
    // A name of its own: the server's HTTP metrics carry no address to tell it apart from
    // another nginx on the host.
    let service = format!("nginx-{netns}");
    let nginx = Nginx::start(
        &pair,
        Side::B,
        &format!("{b}:{PORT}"),
        2,
        netns,
        Some(&service),
    )
    .unwrap();
    let base = format!("http://{b}:{PORT}");
    let sonde =
        |rx: &Receiver| http_counts_by_status(rx, m::HTTP_SERVER_DURATION.name, &service, |_| true);
    // The same requests as the clients saw them (their executables name them).
    let client_side = |rx: &Receiver| {
        let mut all = BTreeMap::new();
        for exe in ["ab", "curl", "wrk"] {
            let counts = http_counts_by_status(rx, m::HTTP_CLIENT_DURATION.name, exe, |at| {
                attr_str(at, a::SERVER_ADDRESS).as_deref() == Some(b.as_str())
            });
            for (status, n) in counts {
                *all.entry(status).or_insert(0) += n;
            }
        }
        all
    };
    let lost = |rx: &Receiver| rx.latest_cumulative_sum(m::agent::EVENTS_LOST.name, |_| true);

    type Client = fn(&NetnsPair, &str) -> String;
    // (name, client, whether it leaves requests unanswered: only pipelining does). wrk
    // goes last: Sonde may count the requests nginx left unanswered when their connection
    // is gone, after the next client has started.
    let clients: [(&str, Client, bool); 5] = [
        ("ab (HTTP/1.0)", |p, b| ab(p, b, false), false),
        ("ab -k (HTTP/1.0 keep-alive)", |p, b| ab(p, b, true), false),
        (
            "curl --http1.1, one after another",
            |p, b| curl(p, b, false),
            false,
        ),
        ("curl --http1.1 --parallel", |p, b| curl(p, b, true), false),
        ("wrk, 12 requests pipelined per write", wrk_pipelined, true),
    ];
    let mut logged_before = BTreeMap::new();
    let mut counted_before = BTreeMap::new();
    let mut client_before = BTreeMap::new();
    let mut lost_before = 0.0;
    let mut report = Vec::new();
    let mut wrong = false;
    // nginx writes a request's line when it is done with its connection, which after a
    // 500 may be a little after the client has its answer: the log is read again each time.
    let log = || by_status(&nginx.access_log().unwrap());
    for (name, client, pipelined) in clients {
        let t = Instant::now();
        let said = client(&pair, &base);
        let answered = |counts| {
            if pipelined {
                with_status(counts)
            } else {
                counts
            }
        };
        let equal = receiver.wait_until(Duration::from_secs(10), |rx| {
            answered(minus(&sonde(rx), &counted_before)) == minus(&log(), &logged_before)
        });
        let logged_now = log();
        let logged = minus(&logged_now, &logged_before);
        // One more export: what this client cost in losses, if anything.
        std::thread::sleep(Duration::from_millis(1500));
        let counted_now = sonde(&receiver);
        let counted = minus(&counted_now, &counted_before);
        let unanswered = counted.get(&0).copied().unwrap_or(0);
        let client_now = client_side(&receiver);
        let lost_now = lost(&receiver);
        report.push(format!(
            "{name}: access log {logged:?}, Sonde {:?}{}{} ({:.1} s)\n  \
             client side {:?}, events lost {}",
            with_status(counted),
            if unanswered > 0 {
                format!(" and {unanswered} requests without a response")
            } else {
                String::new()
            },
            if equal { "" } else { "  <- differs" },
            t.elapsed().as_secs_f64(),
            minus(&client_now, &client_before),
            (lost_now - lost_before) as u64,
        ));
        client_before = client_now;
        lost_before = lost_now;
        if !equal {
            wrong = true;
            report.push(format!(
                "  the client said: {}",
                said.trim().replace('\n', " | ")
            ));
        }
        logged_before = logged_now;
        counted_before = counted_now;
    }
    let total: u64 = logged_before.values().sum();
    report.push(format!(
        "in all: access log {logged_before:?} ({total} requests)"
    ));
    let handed_over =
        receiver.latest_cumulative_sum(m::agent::HTTP_HANDED_OVER.name, |_| true) as u64;
    report.push(format!(
        "{}: {handed_over}",
        m::agent::HTTP_HANDED_OVER.name
    ));
    let lost = stop_and_count_lost(agent, &receiver);
    eprintln!(
        "[test] {yaml:?} took {:?}:\n{}",
        started.elapsed(),
        report.join("\n")
    );
    assert!(
        !wrong && lost.is_empty(),
        "\n{}\n{}",
        report.join("\n"),
        lost.join("\n")
    );
    drop(nginx);
    let _ = std::fs::remove_file(config);
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_http_clients_counted_as_nginx_logged_them() {
    require_root();
    clients_against_access_log("hcl", 95, "http:\n  enabled: true\n");
}

#[test]
#[ignore = "needs root: loads BPF"]
fn root_http_clients_counted_as_nginx_logged_them_when_the_agent_parses_everything() {
    require_root();
    clients_against_access_log("hcp", 96, "http:\n  enabled: true\n  parse_per_second: 0\n");
}

//! A standalone OTLP receiver for benchmarks: accepts gRPC and HTTP/protobuf on loopback,
//! decodes every request, and prints what it received when stopped (SIGTERM/SIGINT or
//! stdin closing): spans, log records, requests, and the agent's own last reported
//! `sonde.agent.events.received` / `sonde.agent.events.lost` totals.
//!
//! Prints `grpc=http://127.0.0.1:P http=http://127.0.0.1:Q` on its first line.

use std::io::Read;

use sonde_integration_tests::{Receiver, Signal, Transport};
use sonde_semconv::metric::agent::{EVENTS_LOST, EVENTS_RECEIVED};

fn main() -> anyhow::Result<()> {
    let receiver = Receiver::start()?;
    println!(
        "grpc={} http={}",
        receiver.grpc_endpoint(),
        receiver.http_endpoint()
    );
    // Runs until stdin closes (the benchmark script holds it open).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    let spans = receiver.spans().len();
    let logs = receiver.log_records().len();
    let requests: usize = [Signal::Traces, Signal::Metrics, Signal::Logs]
        .iter()
        .map(|s| {
            receiver.request_count(Transport::Grpc, *s)
                + receiver.request_count(Transport::Http, *s)
        })
        .sum();
    // Cumulative counts; none reported reads as 0.
    let received = receiver.latest_cumulative_sum(EVENTS_RECEIVED.name, |_| true) as u64;
    let lost = receiver.latest_cumulative_sum(EVENTS_LOST.name, |_| true) as u64;
    println!(
        "received spans={spans} log_records={logs} requests={requests} \
         agent_events_received={received} agent_events_lost={lost}"
    );
    Ok(())
}

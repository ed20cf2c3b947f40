//! A standalone OTLP receiver for benchmarks: accepts gRPC and HTTP/protobuf on loopback,
//! decodes every request, and prints what it received when stopped (SIGTERM/SIGINT or
//! stdin closing).
//!
//! Prints `grpc=http://127.0.0.1:P http=http://127.0.0.1:Q` on its first line.

use std::io::Read;

use sonde_integration_tests::{Receiver, Signal, Transport};

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
    println!("received spans={spans} log_records={logs} requests={requests}");
    Ok(())
}

//! Where every protocol's handler puts what it built: the span and log batches (for the
//! exporters that are on) and the terminal stream.

use std::sync::Arc;
use std::time::Instant;

use opentelemetry_proto::tonic::trace::v1::Span;

use super::proto::LogRecordWriter;
use super::{Batch, LogBatch};
use crate::console;
use crate::enrich::ProcessInfo;
use crate::telemetry::Telemetry;

/// The pipeline's outputs, lent to a handler for one event.
#[derive(Debug)]
pub struct Sink {
    /// Spans waiting for their export request.
    pub spans: Batch<Span>,
    /// Log records waiting for theirs, already encoded.
    pub logs: LogBatch,
    /// Spans are exported.
    pub traces: bool,
    /// Log records are exported.
    pub logs_on: bool,
    /// Each signal is printed on the terminal.
    pub console: bool,
    /// The agent's own counters.
    pub telemetry: Arc<Telemetry>,
}

impl Sink {
    /// Outputs for the exporters that are on.
    pub fn new(traces: bool, logs_on: bool, console: bool, telemetry: Arc<Telemetry>) -> Sink {
        Sink {
            spans: Batch::default(),
            logs: LogBatch::default(),
            traces,
            logs_on,
            console,
            telemetry,
        }
    }

    /// Queues a span of `process`.
    pub fn span(&mut self, process: &Arc<ProcessInfo>, span: Span, now: Instant) {
        self.spans.push(process, span, now);
    }

    /// Queues a log record of `process`, written straight into protobuf bytes.
    pub fn log(
        &mut self,
        process: &Arc<ProcessInfo>,
        now: Instant,
        write: impl FnOnce(&mut LogRecordWriter<'_>),
    ) {
        if self.logs_on {
            self.logs.push_with(process, now, write);
        }
    }

    /// Prints a line on the terminal stream, when it is on.
    pub fn print(&self, line: impl FnOnce() -> String) {
        if self.console {
            console::print(&line());
        }
    }
}

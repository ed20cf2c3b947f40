//! A closed connection with its process: the flow log record and the connection span.

use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use sonde_semconv::attr as a;

use super::kv;
use crate::correlate::Report;
use crate::decode::{ConnRecord, Direction};
use crate::process::ProcessInfo;

/// One connection report, correlated with its owning process, with the ids of the span
/// that represents it (the flow log carries them too, so logs link to the trace).
#[derive(Debug, Clone)]
pub struct Flow {
    /// What the kernel reported.
    pub conn: Box<ConnRecord>,
    /// Who owned the socket.
    pub process: Arc<ProcessInfo>,
    /// The connection span's trace id.
    pub trace_id: [u8; 16],
    /// The connection span's id.
    pub span_id: [u8; 8],
    /// A periodic report of a connection still open (no span, no close reason yet).
    pub ongoing: bool,
    /// The name the process resolved for the remote address, when DNS told us.
    pub server_name: Option<String>,
}

impl Flow {
    /// A report correlated with its process and its connection's span ids.
    pub fn new(
        conn: Box<ConnRecord>,
        process: Arc<ProcessInfo>,
        report: &Report,
        ongoing: bool,
    ) -> Flow {
        Flow {
            conn,
            process,
            trace_id: report.trace_id,
            span_id: report.span_id,
            ongoing,
            server_name: None,
        }
    }

    /// `server.address`: the remote's DNS name for a client when known, else its IP; the
    /// local IP for a server.
    pub fn server_address(&self) -> String {
        let c = &self.conn;
        match (c.direction, &self.server_name) {
            (Direction::Client, Some(name)) => name.clone(),
            (Direction::Client, None) => c.remote.ip().to_string(),
            (Direction::Server, _) => c.local.ip().to_string(),
        }
    }

    /// How the connection ended, or `ongoing`.
    pub fn state(&self) -> &'static str {
        if self.ongoing {
            "ongoing"
        } else {
            self.conn.reason.as_str()
        }
    }

    /// Whether this report is of a connection that ended in error.
    pub fn is_error(&self) -> bool {
        !self.ongoing && self.conn.reason.is_error()
    }

    /// The attributes shared by the log record and the span.
    pub fn attributes(&self) -> Vec<KeyValue> {
        let c = &self.conn;
        let mut attrs = vec![
            kv::str(a::CONNECTION_DIRECTION, c.direction.as_str()),
            kv::str(a::NETWORK_TRANSPORT, "tcp"),
            kv::str(a::NETWORK_TYPE, c.network_type()),
            kv::str(a::NETWORK_LOCAL_ADDRESS, c.local.ip().to_string()),
            kv::int(a::NETWORK_LOCAL_PORT, c.local.port()),
            kv::str(a::NETWORK_PEER_ADDRESS, c.remote.ip().to_string()),
            kv::int(a::NETWORK_PEER_PORT, c.remote.port()),
            kv::int(a::SERVER_PORT, c.server_port()),
        ];
        attrs.push(kv::str(a::SERVER_ADDRESS, self.server_address()));
        if c.direction == Direction::Server {
            attrs.push(kv::str(a::CLIENT_ADDRESS, c.remote.ip().to_string()));
        }
        attrs.extend([
            kv::int(a::PROCESS_PID, c.owner.pid),
            kv::int(a::THREAD_ID, c.owner.tid),
            kv::int(a::TCP_BYTES_SENT, saturating_i64(c.bytes_sent)),
            kv::int(a::TCP_BYTES_RECEIVED, saturating_i64(c.bytes_received)),
            kv::int(a::TCP_SEGMENTS_SENT, c.segs_out),
            kv::int(a::TCP_SEGMENTS_RECEIVED, c.segs_in),
            kv::int(a::TCP_RETRANSMITS, c.retransmits),
            kv::int(a::TCP_SRTT_US, c.srtt_us),
            kv::int(a::TCP_MIN_RTT_US, c.min_rtt_us),
            kv::double(a::TCP_DURATION_MS, c.duration_nanos() as f64 / 1e6),
            kv::str(a::TCP_SOCKET_COOKIE, c.cookie.to_string()),
            kv::int(a::NETNS_INODE, c.netns),
            kv::str(a::CGROUP_ID, c.owner.cgroup_id.to_string()),
        ]);
        if self.ongoing {
            attrs.push(kv::bool(a::TCP_FLOW_ONGOING, true));
        } else {
            attrs.push(kv::str(a::TCP_CLOSE_REASON, c.reason.as_str()));
        }
        if self.is_error() {
            attrs.push(kv::str(a::ERROR_TYPE, c.reason.as_str()));
        }
        attrs
    }

    /// A one-line human summary, the log record's body.
    pub fn summary(&self) -> String {
        let c = &self.conn;
        let arrow = match c.direction {
            Direction::Client => "->",
            Direction::Server => "<-",
        };
        format!(
            "{}[{}] {} {} {} {} sent={}B received={}B segs={}/{} retrans={} srtt={}us duration={:.3}ms",
            self.process.exe_name,
            c.owner.pid,
            c.local,
            arrow,
            c.remote,
            self.state(),
            c.bytes_sent,
            c.bytes_received,
            c.segs_out,
            c.segs_in,
            c.retransmits,
            c.srtt_us,
            c.duration_nanos() as f64 / 1e6,
        )
    }

    /// The flow log record.
    pub fn log_record(&self, observed_unix_nanos: u64) -> LogRecord {
        self.log_record_with(observed_unix_nanos, self.attributes())
    }

    /// The flow log record, with [`Flow::attributes`] built by the caller (built once
    /// when the span needs them too).
    pub fn log_record_with(
        &self,
        observed_unix_nanos: u64,
        attributes: Vec<KeyValue>,
    ) -> LogRecord {
        let severity = if self.is_error() {
            SeverityNumber::Warn
        } else {
            SeverityNumber::Info
        };
        LogRecord {
            time_unix_nano: self.conn.end_unix_nanos,
            observed_time_unix_nano: observed_unix_nanos,
            severity_number: severity as i32,
            severity_text: if self.conn.reason.is_error() {
                "WARN"
            } else {
                "INFO"
            }
            .to_owned(),
            event_name: sonde_semconv::event::TCP_FLOW.to_owned(),
            body: Some(AnyValue {
                value: Some(
                    opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                        self.summary(),
                    ),
                ),
            }),
            attributes,
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            ..Default::default()
        }
    }

    /// The connection span: CLIENT for connect, SERVER for accept, kernel timestamps.
    pub fn span(&self) -> Span {
        self.span_with(self.attributes())
    }

    /// The connection span, with [`Flow::attributes`] built by the caller.
    pub fn span_with(&self, attributes: Vec<KeyValue>) -> Span {
        let c = &self.conn;
        let kind = match c.direction {
            Direction::Client => SpanKind::Client,
            Direction::Server => SpanKind::Server,
        };
        let status = if c.reason.is_error() {
            Status {
                code: StatusCode::Error as i32,
                message: format!("connection {}", c.reason.as_str()),
            }
        } else {
            Status::default()
        };
        Span {
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            name: sonde_semconv::span::TCP_CONNECTION.to_owned(),
            kind: kind as i32,
            start_time_unix_nano: c.start_unix_nanos,
            end_time_unix_nano: c.end_unix_nanos.max(c.start_unix_nanos),
            attributes,
            status: Some(status),
            ..Default::default()
        }
    }
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

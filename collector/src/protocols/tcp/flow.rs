//! A closed connection with its process: the flow log record and the connection span.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use sonde_semconv::attr as a;

use crate::console::{clock_time, human_bytes, human_micros, truncate};
use crate::enrich::process::ProcessInfo;
use crate::protocols::tcp::Report;
use crate::protocols::tcp::{ConnRecord, Direction};
use crate::signals::kv::{self, Attributes};
use crate::signals::proto::LogRecordWriter;

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
    /// The kernel's names of the reasons of `conn.drops`, slot by slot (empty when it had
    /// none).
    pub drop_reasons: Vec<String>,
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
            drop_reasons: Vec::new(),
        }
    }

    /// [`a::TCP_DROP_REASONS`]: `reason/direction=count,…`.
    fn drop_reasons_text(&self) -> String {
        let c = &self.conn;
        let mut out = String::new();
        for (i, slot) in c.drops.slots.iter().enumerate() {
            if slot.count == 0 {
                continue;
            }
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(self.drop_reason(i));
            out.push('/');
            out.push_str(io_name(slot.receive));
            out.push('=');
            push_int(&mut out, slot.count);
        }
        if c.drops.unslotted > 0 {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(a::DROP_REASON_OTHER);
            out.push('=');
            push_int(&mut out, c.drops.unslotted);
        }
        out
    }

    /// The name of the reason of drop slot `i`.
    fn drop_reason(&self, i: usize) -> &str {
        self.drop_reasons
            .get(i)
            .map_or(a::DROP_REASON_OTHER, String::as_str)
    }

    /// `server.address`: the remote's DNS name for a client when known, else its IP; the
    /// local IP for a server.
    pub fn server_address(&self) -> String {
        self.server_address_fmt().to_string()
    }

    /// [`Flow::server_address`], formatted where it is written.
    fn server_address_fmt(&self) -> ServerAddress<'_> {
        let c = &self.conn;
        match (c.direction, &self.server_name) {
            (Direction::Client, Some(name)) => ServerAddress::Name(name),
            (Direction::Client, None) => ServerAddress::Ip(c.remote.ip()),
            (Direction::Server, _) => ServerAddress::Ip(c.local.ip()),
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
        let mut attrs = Vec::with_capacity(24);
        self.write_attributes(&mut attrs);
        attrs
    }

    /// [`Flow::attributes`], written to `out`.
    pub fn write_attributes(&self, out: &mut impl Attributes) {
        let c = &self.conn;
        out.str(a::CONNECTION_DIRECTION, c.direction.as_str());
        out.str(a::NETWORK_TRANSPORT, "tcp");
        out.str(a::NETWORK_TYPE, c.network_type());
        out.display(a::NETWORK_LOCAL_ADDRESS, c.local.ip());
        out.int(a::NETWORK_LOCAL_PORT, i64::from(c.local.port()));
        out.display(a::NETWORK_PEER_ADDRESS, c.remote.ip());
        out.int(a::NETWORK_PEER_PORT, i64::from(c.remote.port()));
        out.int(a::SERVER_PORT, i64::from(c.server_port()));
        out.display(a::SERVER_ADDRESS, self.server_address_fmt());
        if c.direction == Direction::Server {
            out.display(a::CLIENT_ADDRESS, c.remote.ip());
        }
        out.int(a::PROCESS_PID, i64::from(c.owner.pid));
        out.int(a::THREAD_ID, i64::from(c.owner.tid));
        out.int(a::TCP_BYTES_SENT, saturating_i64(c.bytes_sent));
        out.int(a::TCP_BYTES_RECEIVED, saturating_i64(c.bytes_received));
        out.int(a::TCP_SEGMENTS_SENT, i64::from(c.segs_out));
        out.int(a::TCP_SEGMENTS_RECEIVED, i64::from(c.segs_in));
        out.int(a::TCP_RETRANSMITS, i64::from(c.retransmits));
        out.int(a::TCP_SRTT_US, i64::from(c.srtt_us));
        out.int(a::TCP_MIN_RTT_US, i64::from(c.min_rtt_us));
        out.double(a::TCP_DURATION_MS, c.duration_nanos() as f64 / 1e6);
        out.display(a::TCP_SOCKET_COOKIE, c.cookie);
        out.int(a::NETNS_INODE, i64::from(c.netns));
        out.display(a::CGROUP_ID, c.owner.cgroup_id);
        let drops = c.drops.total();
        if drops > 0 {
            out.int(a::TCP_DROPS, saturating_i64(drops));
            // The reason of most of them: a flow can be filtered by it.
            let top = c.drops.top_slot();
            out.str(
                a::DROP_REASON,
                top.map_or(a::DROP_REASON_OTHER, |i| self.drop_reason(i)),
            );
            out.str(a::TCP_DROP_REASONS, &self.drop_reasons_text());
        }
        if c.preexisting {
            out.bool(a::TCP_PREEXISTING, true);
        }
        if self.ongoing {
            out.bool(a::TCP_FLOW_ONGOING, true);
        } else {
            out.str(a::TCP_CLOSE_REASON, c.reason.as_str());
        }
        if self.is_error() {
            out.str(a::ERROR_TYPE, c.reason.as_str());
        }
    }

    /// A one-line human summary, the log record's body.
    pub fn summary(&self) -> String {
        let mut out = String::with_capacity(160);
        self.write_summary(&mut out);
        out
    }

    /// Appends [`Flow::summary`] to `out`. Written by hand, not with `write!`: the
    /// formatting machinery was 8 % of the agent's time under connection churn. The
    /// duration is rounded to the microsecond and printed in milliseconds.
    pub fn write_summary(&self, out: &mut String) {
        let c = &self.conn;
        out.push_str(&self.process.exe_name);
        out.push('[');
        push_int(out, c.owner.pid);
        out.push_str("] ");
        push_socket_addr(out, &c.local);
        out.push_str(match c.direction {
            Direction::Client => " -> ",
            Direction::Server => " <- ",
        });
        push_socket_addr(out, &c.remote);
        out.push(' ');
        out.push_str(self.state());
        let counters = [
            (" sent=", c.bytes_sent),
            ("B received=", c.bytes_received),
            ("B segs=", u64::from(c.segs_out)),
            ("/", u64::from(c.segs_in)),
            (" retrans=", u64::from(c.retransmits)),
            (" srtt=", u64::from(c.srtt_us)),
        ];
        for (label, v) in counters {
            out.push_str(label);
            push_int(out, v);
        }
        let drops = c.drops.total();
        if drops > 0 {
            out.push_str(" drops=");
            push_int(out, drops);
        }
        out.push_str("us duration=");
        let micros = c.duration_nanos().saturating_add(500) / 1000;
        push_int(out, micros / 1000);
        out.push('.');
        let frac = micros % 1000;
        if frac < 100 {
            out.push('0');
        }
        if frac < 10 {
            out.push('0');
        }
        push_int(out, frac);
        out.push_str("ms");
    }

    /// The flow log record, written straight into protobuf bytes: the same message as
    /// [`Flow::log_record`].
    pub fn write_log_record(&self, observed_unix_nanos: u64, w: &mut LogRecordWriter<'_>) {
        let (number, text) = self.severity();
        w.times(self.conn.end_unix_nanos, observed_unix_nanos);
        w.severity(number as i32, text);
        w.body_with(|out| self.write_summary(out));
        self.write_attributes(w);
        w.ids(&self.trace_id, &self.span_id);
        w.event_name(sonde_semconv::event::TCP_FLOW);
    }

    /// The log record's severity: WARN for a connection that ended in error.
    fn severity(&self) -> (SeverityNumber, &'static str) {
        let number = if self.is_error() {
            SeverityNumber::Warn
        } else {
            SeverityNumber::Info
        };
        // The text follows the close reason, also on an ongoing report.
        let text = if self.conn.reason.is_error() {
            "WARN"
        } else {
            "INFO"
        };
        (number, text)
    }

    /// The flow log record as a prost message (the pipeline writes the same record
    /// straight into bytes: [`Flow::write_log_record`]).
    pub fn log_record(&self, observed_unix_nanos: u64) -> LogRecord {
        let (severity, text) = self.severity();
        LogRecord {
            time_unix_nano: self.conn.end_unix_nanos,
            observed_time_unix_nano: observed_unix_nanos,
            severity_number: severity as i32,
            severity_text: text.to_owned(),
            event_name: sonde_semconv::event::TCP_FLOW.to_owned(),
            body: Some(AnyValue {
                value: Some(
                    opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                        self.summary(),
                    ),
                ),
            }),
            attributes: self.attributes(),
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            ..Default::default()
        }
    }

    /// The connection span: CLIENT for connect, SERVER for accept, kernel timestamps.
    pub fn span(&self) -> Span {
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
            attributes: self.attributes(),
            events: self.drop_events(),
            status: Some(status),
            ..Default::default()
        }
    }

    /// The span's drop events: one per (reason, direction) the kernel kept for the
    /// connection, at its first drop, with the exact count; one more for the drops past
    /// the kernel's slots (their reasons are counted for the host).
    fn drop_events(&self) -> Vec<Event> {
        let c = &self.conn;
        let mut events = Vec::new();
        for (i, slot) in c.drops.slots.iter().enumerate() {
            if slot.count == 0 {
                continue;
            }
            let direction = io_name(slot.receive);
            events.push(Event {
                time_unix_nano: slot.first_unix_nanos,
                name: sonde_semconv::event::NETWORK_DROP.to_owned(),
                attributes: vec![
                    kv::str(a::DROP_REASON, self.drop_reason(i)),
                    kv::str(a::NETWORK_IO_DIRECTION, direction),
                    kv::int(a::DROP_COUNT, i64::from(slot.count)),
                ],
                dropped_attributes_count: 0,
            });
        }
        if c.drops.unslotted > 0 {
            events.push(Event {
                time_unix_nano: c.end_unix_nanos,
                name: sonde_semconv::event::NETWORK_DROP.to_owned(),
                attributes: vec![
                    kv::str(a::DROP_REASON, a::DROP_REASON_OTHER),
                    kv::int(a::DROP_COUNT, i64::from(c.drops.unslotted)),
                ],
                dropped_attributes_count: 0,
            });
        }
        events
    }
}

/// A flow's `server.address`: the peer's DNS name, or an IP.
enum ServerAddress<'a> {
    Name(&'a str),
    Ip(std::net::IpAddr),
}

impl std::fmt::Display for ServerAddress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerAddress::Name(n) => f.write_str(n),
            ServerAddress::Ip(ip) => ip.fmt(f),
        }
    }
}

/// `network.io.direction` of a drop: the packet was arriving, or leaving.
pub(crate) fn io_name(receive: bool) -> &'static str {
    if receive {
        a::io_direction::RECEIVE
    } else {
        a::io_direction::TRANSMIT
    }
}

/// Appends `v` in decimal.
fn push_int(out: &mut String, v: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Appends `addr:port` (`[addr]:port` for IPv6), as `SocketAddr`'s `Display` does.
fn push_socket_addr(out: &mut String, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            for (i, octet) in [a, b, c, d].into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_int(out, octet);
            }
            out.push(':');
            push_int(out, v4.port());
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{addr}");
        }
    }
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Flow {
    /// Its line in the terminal stream (`console::HEADER`'s columns).
    pub fn console_line(&self) -> String {
        let c = &self.conn;
        let who = format!("{}[{}]", self.process.exe_name, c.owner.pid);
        let dir = match c.direction {
            Direction::Client => "->",
            Direction::Server => "<-",
        };
        format!(
            "{} {:<23} {:<3} {:<22} {:<22} {:<12} {:>8} {:>8} {:>6}/{:<5} {:>4} {:>8} {:>9}",
            clock_time(c.end_unix_nanos),
            truncate(&who, 23),
            dir,
            c.local.to_string(),
            match &self.server_name {
                Some(name) => truncate(&format!("{name}:{}", c.remote.port()), 22),
                None => c.remote.to_string(),
            },
            self.state(),
            human_bytes(c.bytes_sent),
            human_bytes(c.bytes_received),
            c.segs_out,
            c.segs_in,
            c.retransmits,
            human_micros(u64::from(c.srtt_us)),
            human_micros(c.duration_nanos() / 1000),
        )
    }
}

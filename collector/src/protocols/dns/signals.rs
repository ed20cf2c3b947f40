//! A DNS lookup with its process: the lookup span, its log record, and the DNS metrics.

use std::fmt::Write as _;
use std::sync::Arc;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, SeverityNumber};
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use sonde_semconv::attr as a;
use sonde_semconv::metric as m;

use crate::enrich::process::ProcessInfo;
use crate::protocols::dns::wire::RecordData;
use crate::protocols::dns::{Lookup, Outcome};
use crate::signals::kv::Attributes;
use crate::signals::metric_set::{AttrValue, ExemplarRef, MetricSet, Retention};
use crate::signals::new_ids;
use crate::signals::proto::LogRecordWriter;
use crate::signals::resource::{HostInfo, ServiceRef};

/// One lookup, correlated with the process that made it, with its span's ids.
#[derive(Debug, Clone)]
pub struct DnsLookup {
    /// What the tracker matched.
    pub lookup: Lookup,
    /// Who asked.
    pub process: Arc<ProcessInfo>,
    /// The lookup span's trace id.
    pub trace_id: [u8; 16],
    /// The lookup span's id.
    pub span_id: [u8; 8],
}

impl DnsLookup {
    /// A lookup with fresh span ids.
    pub fn new(lookup: Lookup, process: Arc<ProcessInfo>) -> DnsLookup {
        let (trace_id, span_id) = new_ids();
        DnsLookup {
            lookup,
            process,
            trace_id,
            span_id,
        }
    }

    /// `error.type`: the rcode name of an error answer, `timeout`, or none.
    pub fn error_type(&self) -> Option<String> {
        match &self.lookup.outcome {
            Outcome::Answered { rcode, .. } if rcode.is_error() => Some(rcode.name().into_owned()),
            Outcome::Answered { .. } => None,
            Outcome::Timeout => Some(a::DNS_ERROR_TIMEOUT.to_owned()),
        }
    }

    /// The answers as `TYPE value` strings.
    pub fn answers(&self) -> Vec<String> {
        let Outcome::Answered { answers, .. } = &self.lookup.outcome else {
            return Vec::new();
        };
        answers
            .iter()
            .map(|r| match &r.data {
                RecordData::A(ip) => format!("A {ip}"),
                RecordData::Aaaa(ip) => format!("AAAA {ip}"),
                RecordData::Cname(n) => format!("CNAME {n}"),
                RecordData::Ptr(n) => format!("PTR {n}"),
                RecordData::Other { len } => format!("{} ({len} bytes)", r.rtype.name()),
            })
            .collect()
    }

    fn rcode(&self) -> Option<String> {
        match &self.lookup.outcome {
            Outcome::Answered { rcode, .. } => Some(rcode.name().into_owned()),
            Outcome::Timeout => None,
        }
    }

    fn duration_nanos(&self) -> u64 {
        self.lookup
            .end_unix_nanos
            .saturating_sub(self.lookup.start_unix_nanos)
    }

    /// The attributes shared by the span and the log record.
    pub fn attributes(&self) -> Vec<KeyValue> {
        let mut attrs = Vec::with_capacity(16);
        self.write_attributes(&mut attrs);
        attrs
    }

    /// [`DnsLookup::attributes`], written to `out`.
    pub fn write_attributes(&self, out: &mut impl Attributes) {
        self.write_attributes_with(out, &self.answers());
    }

    /// [`DnsLookup::write_attributes`] with [`DnsLookup::answers`] already formatted.
    fn write_attributes_with(&self, out: &mut impl Attributes, answers: &[String]) {
        let l = &self.lookup;
        out.str(a::DNS_QUESTION_NAME, &l.question.name);
        out.str(a::DNS_QUESTION_TYPE, &l.question.qtype.name());
        out.display(a::NETWORK_PEER_ADDRESS, l.resolver.ip());
        out.int(a::NETWORK_PEER_PORT, i64::from(l.resolver.port()));
        out.display(a::SERVER_ADDRESS, l.resolver.ip());
        out.int(a::SERVER_PORT, i64::from(l.resolver.port()));
        out.display(a::NETWORK_LOCAL_ADDRESS, l.client.ip());
        out.int(a::NETWORK_LOCAL_PORT, i64::from(l.client.port()));
        out.str(a::NETWORK_TRANSPORT, if l.tcp { "tcp" } else { "udp" });
        out.int(a::PROCESS_PID, i64::from(l.owner.pid));
        out.int(a::DNS_ID, i64::from(l.id));
        out.double(a::DNS_LATENCY_MS, self.duration_nanos() as f64 / 1e6);
        if let Outcome::Answered { rcode, .. } = &l.outcome {
            out.str(a::DNS_RESPONSE_CODE, &rcode.name());
        }
        if let Outcome::Answered {
            truncated: true, ..
        } = &l.outcome
        {
            out.bool(a::DNS_TRUNCATED, true);
        }
        if !answers.is_empty() {
            out.str_array(a::DNS_ANSWERS, answers);
        }
        if let Some(e) = self.error_type() {
            out.str(a::ERROR_TYPE, &e);
        }
    }

    /// One line for people: `dig[42] A example.com -> NOERROR [A 192.0.2.1] 1.234ms via 10.0.0.2:53`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        self.write_summary(&mut out, &self.answers());
        out
    }

    /// Appends [`DnsLookup::summary`] to `out`, with the answers already formatted.
    fn write_summary(&self, out: &mut String, answers: &[String]) {
        let l = &self.lookup;
        let result = self.rcode().unwrap_or_else(|| "TIMEOUT".to_owned());
        let _ = write!(
            out,
            "{}[{}] {} {} -> {} [{}] {:.3}ms via {}{}",
            self.process.exe_name,
            l.owner.pid,
            l.question.qtype.name(),
            l.question.name,
            result,
            answers.join(", "),
            self.duration_nanos() as f64 / 1e6,
            l.resolver,
            if l.tcp { " (tcp)" } else { "" },
        );
    }

    /// The lookup's span: CLIENT, `DNS <type>`, from query to answer.
    pub fn span(&self) -> Span {
        let l = &self.lookup;
        let status = match self.error_type() {
            Some(e) => Status {
                code: StatusCode::Error as i32,
                message: e,
            },
            None => Status::default(),
        };
        Span {
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            name: format!(
                "{} {}",
                sonde_semconv::span::DNS_LOOKUP_PREFIX,
                l.question.qtype.name()
            ),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: l.start_unix_nanos,
            end_time_unix_nano: l.end_unix_nanos.max(l.start_unix_nanos),
            attributes: self.attributes(),
            status: Some(status),
            ..Default::default()
        }
    }

    /// The log record, written straight into protobuf bytes: the same message as
    /// [`DnsLookup::log_record`], with no attribute list built.
    pub fn write_log_record(&self, observed_unix_nanos: u64, w: &mut LogRecordWriter<'_>) {
        let (number, text) = self.severity();
        w.times(self.lookup.end_unix_nanos, observed_unix_nanos);
        w.severity(number as i32, text);
        // The answers are formatted once, for the body and the attribute.
        let answers = self.answers();
        w.body_with(|out| self.write_summary(out, &answers));
        self.write_attributes_with(w, &answers);
        w.ids(&self.trace_id, &self.span_id);
        w.event_name(sonde_semconv::event::DNS_LOOKUP);
    }

    fn severity(&self) -> (SeverityNumber, &'static str) {
        if self.error_type().is_some() {
            (SeverityNumber::Warn, "WARN")
        } else {
            (SeverityNumber::Info, "INFO")
        }
    }

    /// The lookup's log record.
    pub fn log_record(&self, observed_unix_nanos: u64) -> LogRecord {
        let (severity, text) = self.severity();
        LogRecord {
            time_unix_nano: self.lookup.end_unix_nanos,
            observed_time_unix_nano: observed_unix_nanos,
            severity_number: severity as i32,
            severity_text: text.to_owned(),
            event_name: sonde_semconv::event::DNS_LOOKUP.to_owned(),
            body: Some(AnyValue {
                value: Some(Value::StringValue(self.summary())),
            }),
            attributes: self.attributes(),
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            ..Default::default()
        }
    }
}

/// The DNS metrics of every service on the host.
#[derive(Debug)]
pub struct DnsMetrics {
    set: MetricSet,
}

impl Default for DnsMetrics {
    fn default() -> Self {
        DnsMetrics {
            set: MetricSet::new(m::DNS_METRICS),
        }
    }
}

impl DnsMetrics {
    /// Records one lookup: its latency (with the lookup span as exemplar) and its rcode.
    pub fn record(&mut self, d: &DnsLookup) {
        let l = &d.lookup;
        let now = l.end_unix_nanos;
        let svc = ServiceRef::of(&d.process);
        let s = |v: String| AttrValue::Str(v.into());
        let mut attrs = vec![
            (a::DNS_QUESTION_NAME, s(l.question.name.clone())),
            (
                a::DNS_QUESTION_TYPE,
                s(l.question.qtype.name().into_owned()),
            ),
            (a::NETWORK_PEER_ADDRESS, s(l.resolver.ip().to_string())),
        ];
        if let Some(rcode) = d.rcode() {
            let mut by_code = attrs.clone();
            by_code.push((a::DNS_RESPONSE_CODE, s(rcode)));
            self.set.add(&m::DNS_RESPONSES, svc, by_code, 1, now);
        }
        if let Some(e) = d.error_type() {
            attrs.push((a::ERROR_TYPE, s(e)));
        }
        let exemplar = ExemplarRef {
            trace_id: d.trace_id,
            span_id: d.span_id,
            time_unix_nanos: now,
        };
        let secs = d.duration_nanos() as f64 / 1e9;
        self.set.observe(
            &m::DNS_LOOKUP_DURATION,
            svc,
            attrs,
            secs,
            Some(exemplar),
            now,
        );
    }

    /// Every series as OTLP.
    pub fn export(&mut self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.set.export(now_unix_nanos, host)
    }

    /// Every series as cumulative OTLP, changing nothing (see [`MetricSet::snapshot`]).
    pub fn snapshot(&self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        self.set.snapshot(now_unix_nanos, host)
    }

    /// Keeps running totals and forgets idle series as `retention` says (see
    /// [`MetricSet::retain`]).
    pub fn retain(&mut self, retention: Retention) {
        self.set.retain(retention);
    }
}

impl DnsLookup {
    /// Its line in the terminal stream.
    pub fn console_line(&self) -> String {
        format!(
            "{} DNS {}",
            crate::console::clock_time(self.lookup.end_unix_nanos),
            self.summary()
        )
    }
}

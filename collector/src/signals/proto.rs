//! OTLP log records written straight into protobuf bytes.
//!
//! A flow log record built as prost structs took ~35 allocations (every attribute key and
//! formatted value, the body, the ids), and prost then walked each nested message once per
//! enclosing level to size it. Under connection churn that was most of the agent's time
//! (BENCHMARKS.md). Here a record is written once into a reused buffer and appended to its
//! process's group; a batch becomes an `ExportLogsServiceRequest` by wrapping the groups,
//! each process's resource encoded once. A repeated message field and a sequence of
//! length-delimited entries under the same tag are the same bytes on the wire, so what
//! leaves is exactly what prost would have encoded from the structs (the tests decode it
//! back with prost and compare).

use std::fmt::{Display, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;
use rustc_hash::FxHashMap;

use super::kv::Attributes;
use super::resource::{process_resource, HostInfo};
use super::scope;
use crate::enrich::process::ProcessInfo;

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

/// Appends a field's key.
fn put_key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(buf, u64::from(field << 3 | wire));
}

/// Appends a base-128 varint.
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Encoded length of a length-delimited field whose content is `len` bytes.
fn field_len(field: u32, len: usize) -> usize {
    varint_len(u64::from(field << 3 | LEN)) + varint_len(len as u64) + len
}

/// Appends a length-delimited field (a string, bytes or an encoded message).
fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// Appends a length-delimited field unless empty (proto3 leaves defaults out).
fn put_nonempty(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        put_bytes(buf, field, bytes);
    }
}

/// Appends a fixed64 field unless zero.
fn put_fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_key(buf, field, FIXED64);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

// Field numbers (opentelemetry/proto/common/v1/common.proto, logs/v1/logs.proto).
const KEY_VALUE_KEY: u32 = 1;
const KEY_VALUE_VALUE: u32 = 2;
const ANY_STRING: u32 = 1;
const ANY_BOOL: u32 = 2;
const ANY_INT: u32 = 3;
const ANY_DOUBLE: u32 = 4;
const ANY_ARRAY: u32 = 5;
const ARRAY_VALUES: u32 = 1;
const LOG_TIME: u32 = 1;
const LOG_SEVERITY_NUMBER: u32 = 2;
const LOG_SEVERITY_TEXT: u32 = 3;
const LOG_BODY: u32 = 5;
const LOG_ATTRIBUTES: u32 = 6;
const LOG_TRACE_ID: u32 = 9;
const LOG_SPAN_ID: u32 = 10;
const LOG_OBSERVED_TIME: u32 = 11;
const LOG_EVENT_NAME: u32 = 12;
const REQUEST_RESOURCE_LOGS: u32 = 1;
const RESOURCE_LOGS_RESOURCE: u32 = 1;
const RESOURCE_LOGS_SCOPE_LOGS: u32 = 2;
const SCOPE_LOGS_SCOPE: u32 = 1;
const SCOPE_LOGS_LOG_RECORDS: u32 = 2;

/// Writes one `LogRecord` message (its fields, without a key or length of its own).
#[derive(Debug)]
pub struct LogRecordWriter<'a> {
    buf: &'a mut Vec<u8>,
    /// Formatted attribute values are written here first (to learn their length).
    scratch: &'a mut String,
}

impl LogRecordWriter<'_> {
    /// `time_unix_nano` and `observed_time_unix_nano`.
    pub fn times(&mut self, time_unix_nanos: u64, observed_unix_nanos: u64) {
        put_fixed64(self.buf, LOG_TIME, time_unix_nanos);
        put_fixed64(self.buf, LOG_OBSERVED_TIME, observed_unix_nanos);
    }

    /// `severity_number` and `severity_text`.
    pub fn severity(&mut self, number: i32, text: &str) {
        if number != 0 {
            put_key(self.buf, LOG_SEVERITY_NUMBER, VARINT);
            put_varint(self.buf, number as u64);
        }
        put_nonempty(self.buf, LOG_SEVERITY_TEXT, text.as_bytes());
    }

    /// `event_name`.
    pub fn event_name(&mut self, name: &str) {
        put_nonempty(self.buf, LOG_EVENT_NAME, name.as_bytes());
    }

    /// A string `body`, written by `write` into a reused buffer.
    pub fn body_with(&mut self, write: impl FnOnce(&mut String)) {
        self.scratch.clear();
        write(self.scratch);
        let s = self.scratch.as_bytes();
        put_key(self.buf, LOG_BODY, LEN);
        put_varint(self.buf, (1 + varint_len(s.len() as u64) + s.len()) as u64);
        put_bytes(self.buf, ANY_STRING, s);
    }

    /// `trace_id` and `span_id`.
    pub fn ids(&mut self, trace_id: &[u8], span_id: &[u8]) {
        put_nonempty(self.buf, LOG_TRACE_ID, trace_id);
        put_nonempty(self.buf, LOG_SPAN_ID, span_id);
    }

    /// One `KeyValue` of `attributes` whose `AnyValue` is `any_len` bytes, written by
    /// `value`.
    fn attribute(&mut self, key: &str, any_len: usize, value: impl FnOnce(&mut Vec<u8>)) {
        let kv_len =
            1 + varint_len(key.len() as u64) + key.len() + 1 + varint_len(any_len as u64) + any_len;
        put_key(self.buf, LOG_ATTRIBUTES, LEN);
        put_varint(self.buf, kv_len as u64);
        put_bytes(self.buf, KEY_VALUE_KEY, key.as_bytes());
        put_key(self.buf, KEY_VALUE_VALUE, LEN);
        put_varint(self.buf, any_len as u64);
        value(self.buf);
    }
}

impl Attributes for LogRecordWriter<'_> {
    fn str(&mut self, key: &str, v: &str) {
        let len = 1 + varint_len(v.len() as u64) + v.len();
        self.attribute(key, len, |b| put_bytes(b, ANY_STRING, v.as_bytes()));
    }

    fn display(&mut self, key: &str, v: impl Display) {
        let mut scratch = std::mem::take(self.scratch);
        scratch.clear();
        let _ = write!(scratch, "{v}");
        self.str(key, &scratch);
        *self.scratch = scratch;
    }

    fn int(&mut self, key: &str, v: i64) {
        // int64 is a varint of the two's-complement value (10 bytes when negative).
        let len = 1 + varint_len(v as u64);
        self.attribute(key, len, |b| {
            put_key(b, ANY_INT, VARINT);
            put_varint(b, v as u64);
        });
    }

    fn double(&mut self, key: &str, v: f64) {
        self.attribute(key, 9, |b| {
            put_key(b, ANY_DOUBLE, FIXED64);
            b.extend_from_slice(&v.to_le_bytes());
        });
    }

    fn bool(&mut self, key: &str, v: bool) {
        self.attribute(key, 2, |b| {
            put_key(b, ANY_BOOL, VARINT);
            b.push(u8::from(v));
        });
    }

    fn str_array(&mut self, key: &str, v: &[String]) {
        // AnyValue { array_value: ArrayValue { values: [AnyValue { string_value }] } }
        let element = |s: &String| field_len(ANY_STRING, s.len());
        let array: usize = v.iter().map(|s| field_len(ARRAY_VALUES, element(s))).sum();
        self.attribute(key, field_len(ANY_ARRAY, array), |b| {
            put_key(b, ANY_ARRAY, LEN);
            put_varint(b, array as u64);
            for s in v {
                put_key(b, ARRAY_VALUES, LEN);
                put_varint(b, element(s) as u64);
                put_bytes(b, ANY_STRING, s.as_bytes());
            }
        });
    }
}

/// Log records waiting for export, already encoded, grouped by the process that made
/// them (by `Arc` identity: one resource per group).
#[derive(Debug, Default)]
pub struct LogBatch {
    /// Per process: the `log_records` entries of its `ScopeLogs` (key, length, record).
    groups: FxHashMap<usize, (Arc<ProcessInfo>, Vec<u8>)>,
    len: usize,
    bytes: usize,
    oldest: Option<Instant>,
    /// One record is written here before its length is known.
    record: Vec<u8>,
    scratch: String,
    /// Emptied group buffers, reused by the next batch's groups (so a batch does not grow
    /// each one again from nothing).
    spare: Vec<Vec<u8>>,
}

/// Group buffers kept for reuse, and the largest kept: a batch's worth of records for a
/// few processes, not the peak of a burst.
const SPARE_GROUP_BUFFERS: usize = 16;
const SPARE_GROUP_BYTES: usize = 1 << 20;

impl LogBatch {
    /// Adds a record made by `process`, written by `write`.
    pub fn push_with(
        &mut self,
        process: &Arc<ProcessInfo>,
        now: Instant,
        write: impl FnOnce(&mut LogRecordWriter<'_>),
    ) {
        self.record.clear();
        write(&mut LogRecordWriter {
            buf: &mut self.record,
            scratch: &mut self.scratch,
        });
        let group = &mut self
            .groups
            .entry(Arc::as_ptr(process) as usize)
            .or_insert_with(|| (Arc::clone(process), self.spare.pop().unwrap_or_default()))
            .1;
        let before = group.len();
        put_bytes(group, SCOPE_LOGS_LOG_RECORDS, &self.record);
        self.bytes += group.len() - before;
        self.len += 1;
        self.oldest.get_or_insert(now);
    }

    /// Adds a record built as a prost message.
    pub fn push(&mut self, process: &Arc<ProcessInfo>, record: &LogRecord, now: Instant) {
        // A Vec grows as needed: encoding into one cannot fail.
        self.push_with(process, now, |w| {
            let _ = record.encode(w.buf);
        });
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Encoded bytes of the records waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the batch should be sent: full, or its oldest record waited `timeout`.
    pub fn due(&self, now: Instant, max_items: usize, timeout: Duration) -> bool {
        self.len >= max_items
            || self
                .oldest
                .is_some_and(|t| now.duration_since(t) >= timeout)
    }

    /// Empties the batch into the bytes of one `ExportLogsServiceRequest`: a
    /// `ResourceLogs` per process, its records under one `ScopeLogs`. The enclosing
    /// messages' lengths are worked out first, so each group's records are copied once,
    /// straight into the request (nesting them copied every record three times), and the
    /// groups' buffers are kept for the next batch.
    pub fn take_request(&mut self, host: &HostInfo) -> Vec<u8> {
        let scope = scope().encode_to_vec();
        let mut out = Vec::with_capacity(self.bytes + self.groups.len() * 512);
        for (_, (process, mut records)) in self.groups.drain() {
            let resource = process_resource(&process, host).encode_to_vec();
            let scope_logs = field_len(SCOPE_LOGS_SCOPE, scope.len()) + records.len();
            let resource_logs = field_len(RESOURCE_LOGS_RESOURCE, resource.len())
                + field_len(RESOURCE_LOGS_SCOPE_LOGS, scope_logs);
            put_key(&mut out, REQUEST_RESOURCE_LOGS, LEN);
            put_varint(&mut out, resource_logs as u64);
            put_bytes(&mut out, RESOURCE_LOGS_RESOURCE, &resource);
            put_key(&mut out, RESOURCE_LOGS_SCOPE_LOGS, LEN);
            put_varint(&mut out, scope_logs as u64);
            put_bytes(&mut out, SCOPE_LOGS_SCOPE, &scope);
            out.extend_from_slice(&records);
            if self.spare.len() < SPARE_GROUP_BUFFERS && records.capacity() <= SPARE_GROUP_BYTES {
                records.clear();
                self.spare.push(records);
            }
        }
        self.len = 0;
        self.bytes = 0;
        self.oldest = None;
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs};

    use super::*;
    use crate::decode::Owner;

    fn process(pid: u32) -> Arc<ProcessInfo> {
        Arc::new(ProcessInfo::from_owner(&Owner {
            pid,
            comm: format!("p{pid}"),
            ..Default::default()
        }))
    }

    /// Every kind of attribute, with values at the encoding's edges.
    fn sample(out: &mut impl Attributes) {
        out.str("s", "value");
        out.str("empty", "");
        out.str("long", &"x".repeat(300));
        out.display("ip", std::net::Ipv6Addr::LOCALHOST);
        out.display("n", u64::MAX);
        for v in [0, 1, 127, 128, 16_383, 16_384, i64::MAX, -1, i64::MIN] {
            out.int("i", v);
        }
        for v in [0.0, -0.5, 1e300, f64::INFINITY] {
            out.double("d", v);
        }
        out.bool("t", true);
        out.bool("f", false);
    }

    #[test]
    fn attributes_written_as_bytes_decode_to_the_prost_built_list() {
        let mut list = Vec::new();
        sample(&mut list);
        let mut batch = LogBatch::default();
        batch.push_with(&process(1), Instant::now(), |w| sample(w));
        let bytes = batch.take_request(&HostInfo::named("h"));
        let request = ExportLogsServiceRequest::decode(bytes.as_slice()).unwrap();
        let record = &request.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(
            record,
            &LogRecord {
                attributes: list,
                ..Default::default()
            }
        );
    }

    #[test]
    fn varint_lengths_agree_with_prost() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, 1 << 35, u64::MAX] {
            assert_eq!(varint_len(v), prost::encoding::encoded_len_varint(v), "{v}");
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v));
            assert_eq!(
                prost::encoding::decode_varint(&mut buf.as_slice()).unwrap(),
                v
            );
        }
    }

    #[test]
    fn a_batch_is_one_resource_logs_per_process_holding_its_records_in_order() {
        let (p1, p2) = (process(1), process(2));
        let record = |n: u64| LogRecord {
            time_unix_nano: n,
            severity_text: format!("r{n}"),
            ..Default::default()
        };
        let t0 = Instant::now();
        let mut batch = LogBatch::default();
        assert!(!batch.due(t0, 3, Duration::from_secs(1)));
        batch.push(&p1, &record(1), t0);
        batch.push(&p2, &record(2), t0);
        batch.push(&p1, &record(3), t0);
        assert_eq!(batch.len(), 3);
        assert!(batch.bytes() > 0);
        assert!(batch.due(t0, 3, Duration::from_secs(1)));
        assert!(!batch.due(t0, 4, Duration::from_secs(1)));
        assert!(batch.due(t0 + Duration::from_secs(1), 4, Duration::from_secs(1)));
        let host = HostInfo::named("h");
        let bytes = batch.take_request(&host);
        assert!(batch.is_empty() && batch.bytes() == 0);
        assert!(!batch.due(t0 + Duration::from_secs(9), 4, Duration::from_secs(1)));
        let mut got = ExportLogsServiceRequest::decode(bytes.as_slice())
            .unwrap()
            .resource_logs;
        got.sort_by_key(|rl| format!("{:?}", rl.resource));
        let mut want: Vec<ResourceLogs> =
            [(&p1, vec![record(1), record(3)]), (&p2, vec![record(2)])]
                .into_iter()
                .map(|(p, log_records)| ResourceLogs {
                    resource: Some(process_resource(p, &host)),
                    scope_logs: vec![opentelemetry_proto::tonic::logs::v1::ScopeLogs {
                        scope: Some(scope()),
                        log_records,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
                .collect();
        want.sort_by_key(|rl| format!("{:?}", rl.resource));
        assert_eq!(got, want);
        // An empty batch is an empty request.
        assert!(batch.take_request(&host).is_empty());
        // The next batch reuses the emptied group buffers: nothing of the first one is left.
        batch.push(&p2, &record(4), t0);
        let got = ExportLogsServiceRequest::decode(batch.take_request(&host).as_slice())
            .unwrap()
            .resource_logs;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].scope_logs[0].log_records, vec![record(4)]);
        assert_eq!(got[0].resource, Some(process_resource(&p2, &host)));
    }
}

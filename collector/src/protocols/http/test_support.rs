//! Segments for the tracker tests, hand-made or replayed from the recorded streams.

#![allow(clippy::unwrap_used)]

use super::{HttpSegment, Role};
pub(crate) use crate::protocols::http::wire::golden_tests::{streams, Record};

pub(crate) const MS: u64 = 1_000_000;
/// The pid (and tid + 1) of the process the local socket belongs to.
pub(crate) const PID: u32 = 40;

/// A whole syscall: every byte captured.
pub(crate) fn seg(ts: u64, cookie: u64, egress: bool, data: &[u8]) -> HttpSegment {
    cut(ts, cookie, egress, data, data.len() as u64)
}

/// A syscall that moved `len` bytes of which `data` was captured.
pub(crate) fn cut(ts: u64, cookie: u64, egress: bool, data: &[u8], len: u64) -> HttpSegment {
    HttpSegment {
        ts_unix_nanos: ts,
        cookie,
        tid: PID + 1,
        pid: PID,
        egress,
        data: data.to_vec(),
        len,
        gap: false,
    }
}

/// A recorded connection as the local socket of `role` sees it: one syscall per record
/// (the server reads what the client sent), each captured up to `limit` bytes, at
/// `base + micros`.
pub(crate) fn replay(
    records: &[Record],
    role: Role,
    limit: Option<usize>,
    cookie: u64,
    base: u64,
) -> Vec<HttpSegment> {
    records
        .iter()
        .map(|r| {
            let egress = r.to_server == (role == Role::Client);
            let n = limit.map_or(r.data.len(), |l| l.min(r.data.len()));
            let mut s = cut(
                base + r.micros * 1_000,
                cookie,
                egress,
                &r.data[..n],
                r.data.len() as u64,
            );
            // Tell the threads apart: the one that moved the record's bytes.
            s.tid = PID + 1 + u32::from(egress);
            s
        })
        .collect()
}

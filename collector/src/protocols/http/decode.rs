//! HTTP records: a data operation's bounded prefix, and the exchanges the kernel timed.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::kernel::{kernel_method, KernelExchange, KernelKey};
use super::Role;
use crate::decode::{Clock, DecodeError};
use crate::kernel::contract::{self as types, sonde_http_event, sonde_http_key};

/// One data syscall on an HTTP connection: its length and a bounded prefix of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSegment {
    /// Wall-clock time of the syscall's exit, Unix nanoseconds.
    pub ts_unix_nanos: u64,
    /// Socket cookie.
    pub cookie: u64,
    /// Process.
    pub pid: u32,
    /// Thread.
    pub tid: u32,
    /// Written by the process (else read).
    pub egress: bool,
    /// A sendfile(): `len` bytes, none captured.
    pub sendfile: bool,
    /// Bytes the syscall moved (may exceed `data`).
    pub len: u64,
    /// The captured prefix.
    pub data: Vec<u8>,
    /// Operations of the connection were left out before this one (the kernel counted
    /// their exchanges itself): an exchange starts here.
    pub gap: bool,
}

/// The data record is variable-length (header + captured bytes), so it is read by
/// offset rather than as the whole `sonde_data_event`.
pub(crate) fn decode_data(data: &[u8], clock: &Clock) -> Result<DataSegment, DecodeError> {
    let header = data
        .get(..types::DATA_HEADER)
        .ok_or(DecodeError::Truncated {
            kind: types::EV_DATA,
            len: data.len(),
            want: types::DATA_HEADER,
        })?;
    let u16_at = |o: usize| u16::from_ne_bytes([header[o], header[o + 1]]);
    let u32_at =
        |o: usize| u32::from_ne_bytes([header[o], header[o + 1], header[o + 2], header[o + 3]]);
    let u64_at = |o: usize| u64::from(u32_at(o)) | (u64::from(u32_at(o + 4)) << 32);
    let flags = header[1];
    let captured = usize::from(u16_at(2));
    let body = data
        .get(types::DATA_HEADER..types::DATA_HEADER + captured)
        .ok_or(DecodeError::Truncated {
            kind: types::EV_DATA,
            len: data.len(),
            want: types::DATA_HEADER + captured,
        })?;
    Ok(DataSegment {
        ts_unix_nanos: clock.to_unix_nanos(u64_at(24)),
        cookie: u64_at(16),
        pid: u32_at(4),
        tid: u32_at(8),
        egress: flags & types::DATA_F_EGRESS != 0,
        sendfile: flags & types::DATA_F_SENDFILE != 0,
        len: u64_at(32),
        data: body.to_vec(),
        gap: flags & types::DATA_F_GAP != 0,
    })
}

/// The series a kernel HTTP key names.
pub fn http_key(k: &sonde_http_key) -> Result<KernelKey, DecodeError> {
    let role = match k.role {
        types::HTTP_SERVER => Role::Server,
        types::HTTP_CLIENT => Role::Client,
        other => return Err(DecodeError::HttpRole(other)),
    };
    let server = (role == Role::Client).then(|| {
        let ip = Ipv6Addr::from(k.addr);
        let ip = ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4);
        SocketAddr::new(ip, k.port)
    });
    Ok(KernelKey {
        pid: k.pid,
        role,
        method: kernel_method(k.method),
        version: k.version,
        status: (k.status != 0).then_some(k.status),
        server,
    })
}

pub(crate) fn decode_http(
    raw: &sonde_http_event,
    clock: &Clock,
) -> Result<KernelExchange, DecodeError> {
    let len = usize::from(raw.line_len).min(raw.line.len());
    Ok(KernelExchange {
        key: http_key(&raw.key)?,
        tid: raw.tid,
        cookie: raw.cookie,
        start_unix_nanos: clock.to_unix_nanos(raw.start_ns),
        end_unix_nanos: clock.to_unix_nanos(raw.end_ns),
        line: raw.line[..len].to_vec(),
    })
}

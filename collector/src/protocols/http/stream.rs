//! One direction of a connection as a sequence of messages: heads parsed from the captured
//! bytes (buffered when split over syscalls), bodies skipped by their framing, counting
//! the bytes that were moved but not captured.

use std::marker::PhantomData;

use super::HttpStats;
use crate::protocols::http::wire::{
    self as http1, Body, ChunkedDecoder, ChunkedProgress, HttpError, Parsed, Request, Response,
    SkipOutcome,
};

/// Most bytes of an incomplete head kept while waiting for the rest.
pub(super) const MAX_HEAD_BUFFER: usize = 8 * 1024;

/// The syscall a message started in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Start {
    pub(super) ts: u64,
    pub(super) pid: u32,
    pub(super) tid: u32,
}

/// A message kind: requests or responses.
pub(super) trait Wire: Sized {
    fn check(buf: &[u8]) -> bool;
    fn parse(buf: &[u8]) -> Result<Parsed<Self>, HttpError>;
}

impl Wire for Request {
    fn check(buf: &[u8]) -> bool {
        http1::check_request(buf)
    }
    fn parse(buf: &[u8]) -> Result<Parsed<Self>, HttpError> {
        http1::parse_request(buf)
    }
}

impl Wire for Response {
    fn check(buf: &[u8]) -> bool {
        http1::check_response(buf)
    }
    fn parse(buf: &[u8]) -> Result<Parsed<Self>, HttpError> {
        http1::parse_response(buf)
    }
}

/// What the stream tells its consumer.
#[derive(Debug)]
pub(super) enum Event<M> {
    /// A message head; the consumer answers with the body's framing. `cut`: the head was
    /// cut by the capture limit and read as far as it went, so its framing fields may be
    /// missing.
    Head { msg: M, start: Start, cut: bool },
    /// The current message ended at `ts`. `complete`: its framing said so (or the close
    /// ended an until-close body); otherwise its end was not seen.
    End { ts: u64, complete: bool },
}

/// The consumer's answer to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reply {
    /// After a head: how its body is delimited.
    Body(Body),
    /// After a cut head: the framing is unknown; the message ends where the next one
    /// starts (or at close).
    Unframed,
    /// Carry on.
    Continue,
    /// Stop parsing this direction (the connection left HTTP/1).
    Stop,
}

/// Where the body being skipped ends.
#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder),
    UntilClose,
}

#[derive(Debug)]
enum Stage {
    /// Between messages (`buf` empty) or inside a head split over syscalls.
    Head {
        buf: Vec<u8>,
        start: Option<Start>,
    },
    Body(Framing),
    /// Framing lost: wait for a syscall whose bytes start a message.
    Lost,
    /// No longer HTTP/1.
    Stopped,
}

/// The consumer of a stream's events.
pub(super) type OnEvent<'a, M> = dyn FnMut(Event<M>, &mut HttpStats) -> Reply + 'a;

/// One direction of one connection.
#[derive(Debug)]
pub(super) struct Stream<M> {
    stage: Stage,
    /// A head was handed out and its end not yet.
    open: bool,
    /// The last syscall that carried bytes of the open message.
    last_ts: u64,
    _msg: PhantomData<fn() -> M>,
}

impl<M: Wire> Stream<M> {
    pub(super) fn new() -> Self {
        Self {
            stage: Stage::Head {
                buf: Vec::new(),
                start: None,
            },
            open: false,
            last_ts: 0,
            _msg: PhantomData,
        }
    }

    /// Bytes buffered for an incomplete head.
    #[cfg(test)]
    pub(super) fn buffered(&self) -> usize {
        match &self.stage {
            Stage::Head { buf, .. } => buf.len(),
            _ => 0,
        }
    }

    /// One syscall's bytes: `data` captured of `len` moved.
    pub(super) fn feed(
        &mut self,
        data: &[u8],
        len: u64,
        at: Start,
        stats: &mut HttpStats,
        on: &mut OnEvent<'_, M>,
    ) {
        let mut uncaptured = len.saturating_sub(data.len() as u64);
        let mut rest: &[u8] = data;
        // Only a syscall's first bytes may start a message after lost framing.
        let mut at_syscall_start = true;
        // A head split over syscalls: the bytes buffered so far, then these.
        let joined: Vec<u8>;
        let mut buffered = false;
        if let Stage::Head { buf, .. } = &mut self.stage {
            if !buf.is_empty() {
                let mut head = std::mem::take(buf);
                head.extend_from_slice(data);
                joined = head;
                rest = &joined;
                buffered = true;
            }
        }
        loop {
            match std::mem::replace(&mut self.stage, Stage::Lost) {
                Stage::Stopped => {
                    self.stage = Stage::Stopped;
                    return;
                }
                Stage::Lost => {
                    if at_syscall_start && M::check(rest) {
                        if self.open && self.end(self.last_ts, false, stats, on) {
                            return;
                        }
                        self.stage = Stage::Head {
                            buf: Vec::new(),
                            start: None,
                        };
                        continue;
                    }
                    if self.open {
                        self.last_ts = at.ts;
                    }
                    return;
                }
                Stage::Head { start, .. } => {
                    let start = start.unwrap_or(at);
                    if rest.is_empty() {
                        if uncaptured > 0 {
                            // The next message starts beyond the capture.
                            stats.truncated_heads += 1;
                            stats.heads_lost += 1;
                        } else {
                            self.stage = Stage::Head {
                                buf: Vec::new(),
                                start: None,
                            };
                        }
                        return;
                    }
                    let (msg, header_len, cut) = match M::parse(rest) {
                        Ok(Parsed::Complete { msg, header_len }) => (msg, header_len, false),
                        Ok(Parsed::Partial) if uncaptured > 0 => {
                            stats.truncated_heads += 1;
                            // The uncaptured bytes are the rest of this head (and maybe
                            // its body): nothing to skip beyond it.
                            uncaptured = 0;
                            match salvage::<M>(rest) {
                                Some(msg) => (msg, rest.len(), true),
                                None => {
                                    stats.heads_lost += 1;
                                    return;
                                }
                            }
                        }
                        Ok(Parsed::Partial) if rest.len() > MAX_HEAD_BUFFER => {
                            stats.oversized_heads += 1;
                            stats.heads_lost += 1;
                            return;
                        }
                        Ok(Parsed::Partial) => {
                            self.stage = Stage::Head {
                                buf: rest.to_vec(),
                                start: Some(start),
                            };
                            return;
                        }
                        Err(_) if buffered && M::check(data) => {
                            // The buffered piece was not a head's start after all: a new
                            // message starts with this syscall.
                            stats.parse_errors += 1;
                            buffered = false;
                            rest = data;
                            self.stage = Stage::Head {
                                buf: Vec::new(),
                                start: None,
                            };
                            continue;
                        }
                        Err(_) => {
                            stats.parse_errors += 1;
                            return;
                        }
                    };
                    let reply = on(Event::Head { msg, start, cut }, stats);
                    self.open = true;
                    self.last_ts = at.ts;
                    rest = rest.get(header_len..).unwrap_or_default();
                    at_syscall_start = false;
                    self.stage = match reply {
                        Reply::Stop => Stage::Stopped,
                        Reply::Unframed => Stage::Lost,
                        Reply::Body(Body::None) | Reply::Continue => {
                            if self.end(at.ts, true, stats, on) {
                                return;
                            }
                            Stage::Head {
                                buf: Vec::new(),
                                start: None,
                            }
                        }
                        Reply::Body(Body::Length(n)) => Stage::Body(Framing::Length(n)),
                        Reply::Body(Body::Chunked) => {
                            Stage::Body(Framing::Chunked(ChunkedDecoder::new()))
                        }
                        Reply::Body(Body::UntilClose) => Stage::Body(Framing::UntilClose),
                    };
                }
                Stage::Body(mut framing) => {
                    self.last_ts = at.ts;
                    let Some((used, mut done)) = consume(&mut framing, rest) else {
                        stats.framing_lost += 1;
                        return;
                    };
                    rest = &rest[used..];
                    if !done && uncaptured > 0 {
                        match skip(&mut framing, uncaptured) {
                            Some((left, ended)) => {
                                uncaptured = left;
                                done = ended;
                            }
                            None => {
                                stats.framing_lost += 1;
                                return;
                            }
                        }
                    }
                    if !done {
                        self.stage = Stage::Body(framing);
                        return;
                    }
                    if self.end(at.ts, true, stats, on) {
                        return;
                    }
                    self.stage = Stage::Head {
                        buf: Vec::new(),
                        start: None,
                    };
                }
            }
        }
    }

    /// The connection closed: an open message ends at its last syscall (complete if its
    /// body was until close).
    pub(super) fn close(&mut self, stats: &mut HttpStats, on: &mut OnEvent<'_, M>) {
        let until_close = matches!(self.stage, Stage::Body(Framing::UntilClose));
        self.stage = Stage::Stopped;
        if self.open {
            self.end(self.last_ts, until_close, stats, on);
        }
    }

    /// Ends the open message; true if the consumer said stop (the stage is then Stopped).
    fn end(
        &mut self,
        ts: u64,
        complete: bool,
        stats: &mut HttpStats,
        on: &mut OnEvent<'_, M>,
    ) -> bool {
        self.open = false;
        let stop = on(Event::End { ts, complete }, stats) == Reply::Stop;
        if stop {
            self.stage = Stage::Stopped;
        }
        stop
    }
}

/// Walks captured body bytes: (bytes used, body ended), or `None` if the framing broke.
fn consume(framing: &mut Framing, bytes: &[u8]) -> Option<(usize, bool)> {
    Some(match framing {
        Framing::Length(left) => {
            let n = (*left).min(bytes.len() as u64);
            *left -= n;
            (n as usize, *left == 0)
        }
        Framing::Chunked(dec) => match dec.push(bytes).ok()? {
            ChunkedProgress::Done { consumed } => (consumed, true),
            ChunkedProgress::NeedMore => (bytes.len(), false),
        },
        Framing::UntilClose => (bytes.len(), false),
    })
}

/// Skips `n` uncaptured body bytes: (uncaptured bytes left after the body, body ended),
/// or `None` if the framing is lost.
fn skip(framing: &mut Framing, n: u64) -> Option<(u64, bool)> {
    Some(match framing {
        Framing::Length(left) => {
            let used = (*left).min(n);
            *left -= used;
            (n - used, *left == 0)
        }
        Framing::Chunked(dec) => match dec.skip_uncaptured(n).ok()? {
            SkipOutcome::InBody => (0, false),
            SkipOutcome::AssumedEnd => (0, true),
        },
        Framing::UntilClose => (0, false),
    })
}

/// Reads a head cut by the capture limit as far as its last complete line goes. Its
/// framing fields may be among the lines lost, so the caller does not trust them.
fn salvage<M: Wire>(cut: &[u8]) -> Option<M> {
    let last_line_end = cut.iter().rposition(|&b| b == b'\n')?;
    let mut head = cut[..=last_line_end].to_vec();
    head.extend_from_slice(b"\r\n");
    match M::parse(&head) {
        Ok(Parsed::Complete { msg, .. }) => Some(msg),
        _ => None,
    }
}

//! One direction of a connection as a sequence of messages: heads parsed from the captured
//! bytes (buffered when split over syscalls), bodies skipped by their framing, counting
//! the bytes that were moved but not captured.

use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::sync::Arc;

use super::budget::{Charge, MemoryBudget};
use super::HttpStats;
use crate::protocols::http::wire::{
    self as http1, Body, ChunkedDecoder, ChunkedProgress, HttpError, Parsed, Request, Response,
    SkipOutcome,
};

/// Most bytes of an incomplete head kept while waiting for the rest.
pub(super) const MAX_HEAD_BUFFER: usize = 8 * 1024;

/// An incomplete head's bytes, held against the budget until dropped.
#[derive(Debug)]
struct HeldBytes {
    bytes: Vec<u8>,
    _charge: Charge,
}

impl HeldBytes {
    /// `bytes`, copied, if the budget has room for them.
    fn take(budget: &Arc<MemoryBudget>, bytes: &[u8]) -> Option<HeldBytes> {
        let charge = Charge::take(budget, bytes.len())?;
        Some(HeldBytes {
            bytes: bytes.to_vec(),
            _charge: charge,
        })
    }

    /// The bytes, given back to the budget.
    fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

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
    /// Between messages (`buf` none) or inside a head split over syscalls.
    Head {
        buf: Option<HeldBytes>,
        start: Option<Start>,
    },
    Body(Framing),
    /// Framing lost: wait for a syscall whose bytes start a message.
    Lost,
    /// No longer HTTP/1.
    Stopped,
}

impl Stage {
    /// Between messages, nothing buffered.
    fn idle() -> Stage {
        Stage::Head {
            buf: None,
            start: None,
        }
    }
}

/// One syscall's bytes as the stream works through them.
struct Input<'d> {
    /// The syscall's captured bytes.
    data: &'d [u8],
    /// What is left to read: of `data`, or of a buffered head's start joined to it.
    rest: &'d [u8],
    /// Bytes moved beyond the captured ones and not yet accounted for.
    uncaptured: u64,
    /// The syscall the bytes came in.
    at: Start,
    /// Nothing has been read yet: only a syscall's first bytes may start a message after
    /// lost framing.
    at_syscall_start: bool,
    /// `rest` starts with a head's start buffered from earlier syscalls.
    buffered: bool,
}

/// A head read from the input: the message, its length there, and whether it was cut.
type HeadRead<M> = (M, usize, bool);

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
    /// What a head split over syscalls is held against.
    budget: Arc<MemoryBudget>,
    _msg: PhantomData<fn() -> M>,
}

impl<M: Wire> Stream<M> {
    pub(super) fn new(budget: Arc<MemoryBudget>) -> Self {
        Self {
            stage: Stage::idle(),
            open: false,
            last_ts: 0,
            budget,
            _msg: PhantomData,
        }
    }

    /// Bytes buffered for an incomplete head.
    #[cfg(test)]
    pub(super) fn buffered(&self) -> usize {
        match &self.stage {
            Stage::Head { buf, .. } => buf.as_ref().map_or(0, |b| b.bytes.len()),
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
        // A head split over syscalls: the bytes buffered so far, then these.
        let joined: Vec<u8>;
        let mut input = Input {
            data,
            rest: data,
            uncaptured: len.saturating_sub(data.len() as u64),
            at,
            at_syscall_start: true,
            buffered: false,
        };
        if let Stage::Head { buf, .. } = &mut self.stage {
            if let Some(held) = buf.take() {
                let mut head = held.into_bytes();
                head.extend_from_slice(data);
                joined = head;
                input.rest = &joined;
                input.buffered = true;
            }
        }
        while self.step(&mut input, stats, on).is_continue() {}
    }

    /// Moves the stream on through the input by one stage; `Break` once this syscall's
    /// bytes are done with.
    fn step(
        &mut self,
        input: &mut Input<'_>,
        stats: &mut HttpStats,
        on: &mut OnEvent<'_, M>,
    ) -> ControlFlow<()> {
        // Each stage sets the next one; the placeholder is what they leave on giving up.
        match std::mem::replace(&mut self.stage, Stage::Lost) {
            Stage::Stopped => {
                self.stage = Stage::Stopped;
                ControlFlow::Break(())
            }
            Stage::Lost => self.resync(input, stats, on),
            Stage::Head { start, .. } => self.head(start.unwrap_or(input.at), input, stats, on),
            Stage::Body(framing) => self.body(framing, input, stats, on),
        }
    }

    /// With framing lost: starts over if the input starts a message, else lets its bytes
    /// go.
    fn resync(
        &mut self,
        input: &Input<'_>,
        stats: &mut HttpStats,
        on: &mut OnEvent<'_, M>,
    ) -> ControlFlow<()> {
        if input.at_syscall_start && M::check(input.rest) {
            if self.open && self.end(self.last_ts, false, stats, on) {
                return ControlFlow::Break(());
            }
            self.stage = Stage::idle();
            return ControlFlow::Continue(());
        }
        if self.open {
            self.last_ts = input.at.ts;
        }
        ControlFlow::Break(())
    }

    /// Reads the head starting at `start`, hands it out and moves to the stage the reply
    /// calls for.
    fn head(
        &mut self,
        start: Start,
        input: &mut Input<'_>,
        stats: &mut HttpStats,
        on: &mut OnEvent<'_, M>,
    ) -> ControlFlow<()> {
        if input.rest.is_empty() {
            if input.uncaptured > 0 {
                // The next message starts beyond the capture.
                stats.truncated_heads += 1;
                stats.heads_lost += 1;
            } else {
                self.stage = Stage::idle();
            }
            return ControlFlow::Break(());
        }
        let (msg, header_len, cut) = match self.read_head(start, input, stats) {
            Ok(head) => head,
            Err(flow) => return flow,
        };
        let reply = on(Event::Head { msg, start, cut }, stats);
        self.open = true;
        self.last_ts = input.at.ts;
        input.rest = input.rest.get(header_len..).unwrap_or_default();
        input.at_syscall_start = false;
        self.after_head(reply, input.at.ts, stats, on)
    }

    /// Parses the head at the start of the input; without one, `Err` says whether to go
    /// on (the stage is then set: the head buffered, given up, or skipped for a message
    /// starting with this syscall).
    fn read_head(
        &mut self,
        start: Start,
        input: &mut Input<'_>,
        stats: &mut HttpStats,
    ) -> Result<HeadRead<M>, ControlFlow<()>> {
        match M::parse(input.rest) {
            Ok(Parsed::Complete { msg, header_len }) => Ok((msg, header_len, false)),
            Ok(Parsed::Partial) if input.uncaptured > 0 => {
                stats.truncated_heads += 1;
                // The uncaptured bytes are the rest of this head (and maybe its body):
                // nothing to skip beyond it.
                input.uncaptured = 0;
                match salvage::<M>(input.rest) {
                    Some(msg) => Ok((msg, input.rest.len(), true)),
                    None => {
                        stats.heads_lost += 1;
                        Err(ControlFlow::Break(()))
                    }
                }
            }
            Ok(Parsed::Partial) if input.rest.len() > MAX_HEAD_BUFFER => {
                stats.oversized_heads += 1;
                stats.heads_lost += 1;
                Err(ControlFlow::Break(()))
            }
            Ok(Parsed::Partial) => {
                match HeldBytes::take(&self.budget, input.rest) {
                    Some(buf) => {
                        self.stage = Stage::Head {
                            buf: Some(buf),
                            start: Some(start),
                        };
                    }
                    None => stats.budget_heads += 1,
                }
                Err(ControlFlow::Break(()))
            }
            Err(_) if input.buffered && M::check(input.data) => {
                // The buffered piece was not a head's start after all: a new message
                // starts with this syscall.
                stats.parse_errors += 1;
                input.buffered = false;
                input.rest = input.data;
                self.stage = Stage::idle();
                Err(ControlFlow::Continue(()))
            }
            Err(_) => {
                stats.parse_errors += 1;
                Err(ControlFlow::Break(()))
            }
        }
    }

    /// Moves to the stage the consumer's reply to a head calls for; at `ts` if that
    /// ends the message.
    fn after_head(
        &mut self,
        reply: Reply,
        ts: u64,
        stats: &mut HttpStats,
        on: &mut OnEvent<'_, M>,
    ) -> ControlFlow<()> {
        self.stage = match reply {
            Reply::Stop => Stage::Stopped,
            Reply::Unframed => Stage::Lost,
            Reply::Body(Body::None) | Reply::Continue => {
                if self.end(ts, true, stats, on) {
                    return ControlFlow::Break(());
                }
                Stage::idle()
            }
            Reply::Body(Body::Length(n)) => Stage::Body(Framing::Length(n)),
            Reply::Body(Body::Chunked) => Stage::Body(Framing::Chunked(ChunkedDecoder::new())),
            Reply::Body(Body::UntilClose) => Stage::Body(Framing::UntilClose),
        };
        ControlFlow::Continue(())
    }

    /// Skips the body's bytes in the input, captured then uncaptured, ending the message
    /// if its framing says it ended.
    fn body(
        &mut self,
        mut framing: Framing,
        input: &mut Input<'_>,
        stats: &mut HttpStats,
        on: &mut OnEvent<'_, M>,
    ) -> ControlFlow<()> {
        self.last_ts = input.at.ts;
        let Some((used, mut done)) = consume(&mut framing, input.rest) else {
            stats.framing_lost += 1;
            return ControlFlow::Break(());
        };
        input.rest = &input.rest[used..];
        if !done && input.uncaptured > 0 {
            let Some((left, ended)) = skip(&mut framing, input.uncaptured) else {
                stats.framing_lost += 1;
                return ControlFlow::Break(());
            };
            input.uncaptured = left;
            done = ended;
        }
        if !done {
            self.stage = Stage::Body(framing);
            return ControlFlow::Break(());
        }
        if self.end(input.at.ts, true, stats, on) {
            return ControlFlow::Break(());
        }
        self.stage = Stage::idle();
        ControlFlow::Continue(())
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

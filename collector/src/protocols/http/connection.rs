//! One connection: its request and response streams, and the queue of requests waiting
//! for their responses (first in, first out: HTTP/1 answers in order).

use std::collections::VecDeque;
use std::sync::Arc;

use super::budget::{Charge, MemoryBudget};
use super::stream::{Event, Reply, Start, Stream};
use super::{Exchange, HttpSegment, HttpStats, Role};
use crate::protocols::http::wire::{
    response_body, Body, Method, Request, Response, MAX_HOST_LEN, MAX_PATH_LEN, MAX_TRACESTATE_LEN,
};

/// Most requests waiting for a response on one connection (pipelining depth).
pub(super) const MAX_PENDING: usize = 64;

/// A request waiting for (the end of) its response.
#[derive(Debug)]
struct Pending {
    request: Request,
    start: Start,
    response: Option<Response>,
    /// Its bytes, held against the tracker's budget.
    _charge: Charge,
}

/// The most bytes a waiting request holds.
pub(super) const PENDING_ROOM: usize =
    std::mem::size_of::<Pending>() + MAX_PATH_LEN + MAX_HOST_LEN + MAX_TRACESTATE_LEN;

/// The bytes a waiting request holds: its slot and its strings.
fn pending_bytes(request: &Request) -> usize {
    std::mem::size_of::<Pending>()
        + request.path.capacity()
        + request.host.as_ref().map_or(0, String::capacity)
        + request.tracestate.as_ref().map_or(0, String::capacity)
}

/// What the response being read answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answering {
    /// No response is being read.
    Nothing,
    /// An interim (1xx) response.
    Interim,
    /// A final response with no request waiting.
    Unmatched,
    /// The final response to the oldest pending request.
    Front,
}

/// The pairing state the response stream's events act on.
#[derive(Debug)]
struct Pairing {
    cookie: u64,
    role: Role,
    pending: VecDeque<Pending>,
    budget: Arc<MemoryBudget>,
    answering: Answering,
    /// The connection left HTTP/1 (101, or 2xx to CONNECT).
    upgraded: bool,
}

/// One tracked connection.
#[derive(Debug)]
pub(super) struct Connection {
    requests: Stream<Request>,
    responses: Stream<Response>,
    pairing: Pairing,
}

impl Connection {
    pub(super) fn new(cookie: u64, role: Role, budget: &Arc<MemoryBudget>) -> Self {
        Self {
            requests: Stream::new(Arc::clone(budget)),
            responses: Stream::new(Arc::clone(budget)),
            pairing: Pairing {
                cookie,
                role,
                pending: VecDeque::new(),
                budget: Arc::clone(budget),
                answering: Answering::Nothing,
                upgraded: false,
            },
        }
    }

    /// Requests waiting for a response.
    pub(super) fn pending(&self) -> usize {
        self.pairing.pending.len()
    }

    /// Bytes buffered for incomplete heads, both directions.
    #[cfg(test)]
    pub(super) fn buffered(&self) -> usize {
        self.requests.buffered() + self.responses.buffered()
    }

    /// One captured syscall of this connection; completed exchanges go to `out`.
    pub(super) fn segment(
        &mut self,
        s: &HttpSegment,
        stats: &mut HttpStats,
        out: &mut Vec<Exchange>,
    ) {
        if self.pairing.upgraded || (s.len == 0 && s.data.is_empty()) {
            return;
        }
        let at = Start {
            ts: s.ts_unix_nanos,
            pid: s.pid,
            tid: s.tid,
        };
        let request_side = match self.pairing.role {
            Role::Server => !s.egress,
            Role::Client => s.egress,
        };
        let pairing = &mut self.pairing;
        if request_side {
            self.requests
                .feed(&s.data, s.len, at, stats, &mut |ev, stats| {
                    pairing.on_request(ev, stats)
                });
        } else {
            self.responses
                .feed(&s.data, s.len, at, stats, &mut |ev, stats| {
                    pairing.on_response(ev, stats, out)
                });
        }
    }

    /// The connection is gone (closed, idle or evicted) at `now`: an open response ends
    /// at its last syscall, and requests still waiting come out without a response.
    pub(super) fn close(mut self, now: u64, stats: &mut HttpStats, out: &mut Vec<Exchange>) {
        let pairing = &mut self.pairing;
        self.responses
            .close(stats, &mut |ev, stats| pairing.on_response(ev, stats, out));
        for p in pairing.pending.drain(..) {
            stats.unanswered += 1;
            out.push(exchange(pairing.cookie, pairing.role, p, now));
        }
    }
}

impl Pairing {
    fn on_request(&mut self, ev: Event<Request>, stats: &mut HttpStats) -> Reply {
        let Event::Head {
            msg: request,
            start,
            cut,
        } = ev
        else {
            return Reply::Continue;
        };
        stats.requests += 1;
        let body = request.body;
        let charge = if self.pending.len() >= MAX_PENDING {
            stats.pipeline_overflow += 1;
            None
        } else {
            let charge = Charge::take(&self.budget, pending_bytes(&request));
            if charge.is_none() {
                stats.budget_requests += 1;
            }
            charge
        };
        if let Some(charge) = charge {
            // Sent before the previous request's response began (the front request may
            // already have its response head while its body is on its way).
            if self.pending.back().is_some_and(|p| p.response.is_none()) {
                stats.pipelined += 1;
            }
            if self.pending.capacity() == 0 {
                // Most connections have one request in flight at a time; VecDeque's first
                // growth holds four (~1.2 KB a connection, kept through the close grace:
                // 37 MB under 13k connections/s).
                self.pending.reserve_exact(1);
            }
            self.pending.push_back(Pending {
                request,
                start,
                response: None,
                _charge: charge,
            });
        }
        if cut {
            // A Content-Length or Transfer-Encoding may be among the lines lost.
            Reply::Unframed
        } else {
            Reply::Body(body)
        }
    }

    fn on_response(
        &mut self,
        ev: Event<Response>,
        stats: &mut HttpStats,
        out: &mut Vec<Exchange>,
    ) -> Reply {
        match ev {
            Event::Head {
                msg: response, cut, ..
            } => {
                if response.is_interim() {
                    if response.status == 100 {
                        stats.continue_responses += 1;
                    } else {
                        stats.interim_responses += 1;
                    }
                    self.answering = Answering::Interim;
                    return Reply::Body(Body::None);
                }
                stats.responses += 1;
                let body = match self.pending.front_mut() {
                    Some(p) => {
                        self.answering = Answering::Front;
                        p.response = Some(response);
                        response_body(&p.request.method, &response)
                    }
                    None => {
                        stats.unmatched_responses += 1;
                        self.answering = Answering::Unmatched;
                        response_body(&Method::Get, &response)
                    }
                };
                // No body (HEAD, 204, 304) holds whatever lines a cut head lost.
                if cut && body != Body::None {
                    Reply::Unframed
                } else {
                    Reply::Body(body)
                }
            }
            Event::End { ts, complete } => {
                let answering = std::mem::replace(&mut self.answering, Answering::Nothing);
                if answering != Answering::Front {
                    return Reply::Continue;
                }
                let Some(p) = self.pending.pop_front() else {
                    return Reply::Continue;
                };
                if !complete {
                    stats.incomplete_responses += 1;
                }
                let upgrade = p.response.is_some_and(|r| {
                    r.status == 101
                        || (p.request.method == Method::Connect && (200..300).contains(&r.status))
                });
                stats.exchanges += 1;
                out.push(exchange(self.cookie, self.role, p, ts));
                if upgrade {
                    stats.upgrades += 1;
                    self.upgraded = true;
                    return Reply::Stop;
                }
                Reply::Continue
            }
        }
    }
}

fn exchange(cookie: u64, role: Role, p: Pending, end: u64) -> Exchange {
    Exchange {
        cookie,
        role,
        request: p.request,
        response: p.response,
        start_unix_nanos: p.start.ts,
        end_unix_nanos: end.max(p.start.ts),
        pid: p.start.pid,
        tid: p.start.tid,
    }
}

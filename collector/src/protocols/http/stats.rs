//! The tracker's own counters.

/// What the tracker has seen, paired and dropped since it started. Counters only grow;
/// `connections` and `pending_requests` are the current sizes of its tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Segments handed to [`HttpTracker::segment`](super::HttpTracker::segment).
    pub segments: u64,
    /// Segments of connections not tracked that do not start a request (not HTTP, or a
    /// connection met mid-stream): no state is kept for them.
    pub ignored_segments: u64,
    /// Segments whose syscall moved more bytes than were captured.
    pub truncated_captures: u64,
    /// Request heads parsed.
    pub requests: u64,
    /// Final response heads parsed (interim 1xx not included).
    pub responses: u64,
    /// Exchanges completed with a response.
    pub exchanges: u64,
    /// Exchanges handed out without a response (closed, idle or evicted connection).
    pub unanswered: u64,
    /// Message heads (or chunked bodies) that failed to parse; the direction waits for
    /// the next syscall that starts a message.
    pub parse_errors: u64,
    /// Heads cut by the capture limit (read as far as they go; framing unknown), or
    /// starting beyond the captured bytes (lost).
    pub truncated_heads: u64,
    /// Heads still incomplete after 8 KiB (dropped).
    pub oversized_heads: u64,
    /// Heads not read at all, so their message is not counted: starting beyond the
    /// captured bytes, cut before their first line ended, or oversized.
    pub heads_lost: u64,
    /// Heads split over syscalls not buffered because every stream's buffered heads
    /// together had reached `pipeline.memory_limit`: their message is not counted.
    pub budget_heads: u64,
    /// Requests not kept to wait for their response: the memory budget was spent.
    pub budget_requests: u64,
    /// Connections not tracked: the memory budget was spent on heads and waiting
    /// requests the oldest connections hold, even with those evicted.
    pub budget_connections: u64,
    /// Bodies whose framing was lost (uncaptured bytes past a chunk, corrupt chunking).
    pub framing_lost: u64,
    /// Final responses with no request waiting for them.
    pub unmatched_responses: u64,
    /// Requests that arrived while an earlier one was still unanswered (pipelining).
    pub pipelined: u64,
    /// Requests dropped because 64 were already waiting on their connection.
    pub pipeline_overflow: u64,
    /// Interim `100 Continue` responses.
    pub continue_responses: u64,
    /// Other interim responses (102, 103, ...).
    pub interim_responses: u64,
    /// Responses whose end was not seen (framing lost, or closed before the body ended);
    /// their exchange ends at the last syscall that carried them.
    pub incomplete_responses: u64,
    /// Connections that left HTTP/1 (101 Switching Protocols, 2xx to CONNECT); their
    /// later bytes are not parsed.
    pub upgrades: u64,
    /// Connections closed.
    pub closed_connections: u64,
    /// Connections dropped after the idle timeout.
    pub expired_connections: u64,
    /// Connections dropped, least recently active first, because the table was full.
    pub evicted_connections: u64,
    /// Connections restarted at a gap: the kernel counted some of their exchanges
    /// itself, and the next one it sent up starts afresh.
    pub gaps: u64,
    /// Connections tracked now.
    pub connections: u64,
    /// Requests waiting for a response now.
    pub pending_requests: u64,
}

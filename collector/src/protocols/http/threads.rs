//! Which server request each thread is serving, so the client calls it makes meanwhile
//! become that request's children.

use rustc_hash::FxHashMap;

/// Server requests in flight per thread, for linking the client calls a thread makes
/// while serving one: only when exactly one is in flight on that thread (an event loop
/// serving several at once gets no guessed link; those calls are counted as ambiguous).
#[derive(Debug, Default)]
pub struct ServingThreads {
    /// (pid, tid) → requests in flight.
    by_thread: FxHashMap<(u32, u32), Vec<InFlight>>,
    /// Client calls made while several requests were in flight on their thread.
    pub ambiguous: u64,
}

/// A server request a thread is serving.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    cookie: u64,
    start: u64,
    /// The caller's trace id, when the request carried a `traceparent`.
    trace: Option<[u8; 16]>,
}

/// In-flight requests remembered per thread at most (older ones are dropped).
const MAX_IN_FLIGHT_PER_THREAD: usize = 64;
/// Threads remembered at most.
const MAX_THREADS: usize = 65_536;

impl ServingThreads {
    /// A thread started serving a request read from `cookie` at `start`.
    pub fn begin(&mut self, thread: (u32, u32), cookie: u64, start: u64, trace: Option<[u8; 16]>) {
        if self.by_thread.len() >= MAX_THREADS && !self.by_thread.contains_key(&thread) {
            return;
        }
        let v = self.by_thread.entry(thread).or_default();
        if v.len() >= MAX_IN_FLIGHT_PER_THREAD {
            v.remove(0);
        }
        v.push(InFlight {
            cookie,
            start,
            trace,
        });
    }

    /// The thread finished the (oldest) request it was serving from `cookie`.
    pub fn end(&mut self, thread: (u32, u32), cookie: u64) {
        if let Some(v) = self.by_thread.get_mut(&thread) {
            if let Some(i) = v.iter().position(|f| f.cookie == cookie) {
                v.remove(i);
            }
            if v.is_empty() {
                self.by_thread.remove(&thread);
            }
        }
    }

    /// The (trace id, span id) of the one server request in flight on `thread`, if
    /// exactly one is.
    pub fn parent_of(&mut self, thread: (u32, u32), salt: u64) -> Option<([u8; 16], [u8; 8])> {
        let v = self.by_thread.get(&thread)?;
        match v.as_slice() {
            [f] => {
                let (derived, span) = super::signals::server_span_ids(salt, f.cookie, f.start);
                Some((f.trace.unwrap_or(derived), span))
            }
            [] => None,
            _ => {
                self.ambiguous += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_client_call_is_linked_only_to_its_threads_single_request() {
        let mut t = ServingThreads::default();
        assert_eq!(t.parent_of((1, 1), 9), None);
        t.begin((1, 1), 100, 5_000, None);
        let (trace, span) = t.parent_of((1, 1), 9).unwrap();
        assert_eq!(
            (trace, span),
            crate::protocols::http::signals::server_span_ids(9, 100, 5_000)
        );
        // A caller's trace id wins over the derived one.
        t.begin((2, 2), 200, 6_000, Some([7; 16]));
        assert_eq!(t.parent_of((2, 2), 9).unwrap().0, [7; 16]);
        // Two in flight on one thread (an event loop): no guess, counted.
        t.begin((1, 1), 101, 5_500, None);
        assert_eq!(t.parent_of((1, 1), 9), None);
        assert_eq!(t.ambiguous, 1);
        t.end((1, 1), 100);
        assert!(t.parent_of((1, 1), 9).is_some());
        t.end((1, 1), 101);
        assert_eq!(t.parent_of((1, 1), 9), None);
    }
}

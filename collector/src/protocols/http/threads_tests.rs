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

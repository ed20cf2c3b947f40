//! Span sampling at extreme rates: a token bucket per span kind. Metrics never sample.
//!
//! Below the configured rate every span is exported. Above it, spans beyond the budget are
//! not — except those that become a histogram exemplar (the first of their bucket in an
//! export interval), so every exemplar still opens a real trace. What is left out is
//! counted (`sonde.agent.spans.sampled_out`).

use std::time::Instant;

/// A token bucket: `rate` spans per second, bursts of up to one second's worth.
#[derive(Debug, Clone)]
pub struct SpanBudget {
    rate: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl SpanBudget {
    /// A budget of `per_second` spans; 0 means unlimited.
    pub fn new(per_second: u32) -> SpanBudget {
        SpanBudget {
            rate: f64::from(per_second),
            tokens: f64::from(per_second),
            last: None,
        }
    }

    /// Whether one more span fits the budget at `now` (and takes it if so).
    pub fn take(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        if let Some(last) = self.last {
            let refill = now.saturating_duration_since(last).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + refill).min(self.rate);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn unlimited_keeps_everything() {
        let mut b = SpanBudget::new(0);
        let now = Instant::now();
        assert!((0..100_000).all(|_| b.take(now)));
    }

    #[test]
    fn keeps_the_rate_over_time_and_one_second_of_burst() {
        let mut b = SpanBudget::new(1_000);
        let t0 = Instant::now();
        // A burst: one second's worth, then nothing until time passes.
        assert_eq!((0..5_000).filter(|_| b.take(t0)).count(), 1_000);
        // 10 s at 10,000 offered per second: about 1,000 per second kept.
        let mut kept = 0;
        for i in 1..=100_000u64 {
            if b.take(t0 + Duration::from_micros(i * 100)) {
                kept += 1;
            }
        }
        assert!((9_900..=10_100).contains(&kept), "{kept}");
    }

    #[test]
    fn a_sampled_out_span_becomes_an_exemplar_only_of_an_empty_bucket() {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        use sonde_semconv::metric as m;

        use crate::signals::metric_set::{ExemplarRef, MetricSet};
        use crate::signals::resource::{HostInfo, ServiceKey};

        let mut set = MetricSet::new(m::HTTP_METRICS);
        let svc = ServiceKey {
            service_name: "web".into(),
            exe_name: "nginx".into(),
            container_id: None,
        };
        let ex = |n: u8| {
            Some(ExemplarRef {
                trace_id: [n; 16],
                span_id: [n; 8],
                time_unix_nanos: u64::from(n),
            })
        };
        let mut observe = |v: f64, n: u8, kept: bool| {
            set.observe_sampled(
                &m::HTTP_SERVER_DURATION,
                svc.as_ref(),
                vec![],
                v,
                ex(n),
                kept,
                1,
            )
        };
        assert!(
            observe(0.3, 1, false),
            "first of its bucket: exemplar, export it"
        );
        assert!(!observe(0.3, 2, false), "bucket has one: stays sampled out");
        assert!(observe(0.3, 3, true), "a kept span replaces it");
        assert!(!observe(0.3, 4, false));
        assert!(observe(0.001, 5, false), "another bucket");
        let out = set.export(2, &HostInfo::named("h"));
        let Some(Data::Histogram(h)) = &out[0].scope_metrics[0].metrics[0].data else {
            panic!("no histogram");
        };
        let traces: Vec<u8> = h.data_points[0]
            .exemplars
            .iter()
            .map(|e| e.trace_id[0])
            .collect();
        assert_eq!(traces, vec![5, 3]);
        assert_eq!(h.data_points[0].count, 5);
    }
}

//! The side-effect-free view ([`MetricSet::snapshot`]) against the export: it changes
//! nothing the export sends, and stays cumulative (and bounded) with delta temporality.

#![allow(clippy::unwrap_used)]

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NV;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use sonde_semconv::metric::Instrument;

use super::*;
use crate::config::{AgentResource, Temporality};

static COUNT: MetricDef = MetricDef {
    name: "test.count",
    unit: "{item}",
    description: "A test counter.",
    instrument: Instrument::Counter,
    attributes: &["k"],
    max_series: 2,
    buckets: &[],
};

static LATENCY: MetricDef = MetricDef {
    name: "test.latency",
    unit: "s",
    description: "A test histogram.",
    instrument: Instrument::Histogram,
    attributes: &["k"],
    max_series: 2,
    buckets: &[0.1, 1.0],
};

static DEFS: &[&MetricDef] = &[&COUNT, &LATENCY];

fn svc() -> ServiceKey {
    ServiceKey {
        service_name: "web".into(),
        exe_name: "web".into(),
        container_id: None,
    }
}

fn attrs(k: &str) -> Attrs {
    vec![("k", AttrValue::Str(k.to_owned().into()))]
}

fn ex(n: u8, t: u64) -> Option<ExemplarRef> {
    Some(ExemplarRef {
        trace_id: [n; 16],
        span_id: [n; 8],
        time_unix_nanos: t,
    })
}

fn host(t: Temporality) -> HostInfo {
    HostInfo::named("h").with_config(&AgentResource::default(), t)
}

/// Every point as "metric k=v -> value, start, temporality, exemplars", sorted.
fn points(rms: &[ResourceMetrics]) -> Vec<String> {
    let mut out = Vec::new();
    for m in rms
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        let key = |a: &[KeyValue]| {
            a.iter()
                .map(|kv| {
                    format!(
                        "{}={:?}",
                        kv.key,
                        kv.value.as_ref().and_then(|v| v.value.clone())
                    )
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        match &m.data {
            Some(Data::Sum(s)) => {
                for p in &s.data_points {
                    let Some(NV::AsInt(v)) = p.value else {
                        panic!()
                    };
                    out.push(format!(
                        "{} {} -> {v} start={} t={}",
                        m.name,
                        key(&p.attributes),
                        p.start_time_unix_nano,
                        s.aggregation_temporality
                    ));
                }
            }
            Some(Data::Histogram(h)) => {
                for p in &h.data_points {
                    let ex: Vec<u8> = p.exemplars.iter().map(|e| e.trace_id[0]).collect();
                    out.push(format!(
                        "{} {} -> {:?} n={} sum={:?} min={:?} max={:?} start={} t={} ex={ex:?}",
                        m.name,
                        key(&p.attributes),
                        p.bucket_counts,
                        p.count,
                        p.sum,
                        p.min,
                        p.max,
                        p.start_time_unix_nano,
                        h.aggregation_temporality
                    ));
                }
            }
            other => panic!("{other:?}"),
        }
    }
    out.sort();
    out
}

fn fill(set: &mut MetricSet, t: u64) {
    set.add(&COUNT, svc().as_ref(), attrs("a"), 3, t);
    set.observe(&LATENCY, svc().as_ref(), attrs("a"), 0.05, ex(1, t), t);
    set.observe(
        &LATENCY,
        svc().as_ref(),
        attrs("a"),
        0.5,
        ex(2, t + 1),
        t + 1,
    );
}

const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

#[test]
fn snapshot_changes_nothing_the_export_sends() {
    for t in [
        Temporality::Cumulative,
        Temporality::Delta,
        Temporality::LowMemory,
    ] {
        let h = host(t);
        let (mut viewed, mut plain) = (MetricSet::new(DEFS), MetricSet::new(DEFS));
        viewed.keep_totals();
        for round in 0..3u64 {
            let now = 1_000 * (round + 1);
            fill(&mut viewed, now);
            fill(&mut plain, now);
            let a = viewed.snapshot(now + 10, &h);
            assert_eq!(points(&a), points(&viewed.snapshot(now + 10, &h)), "{t:?}");
            assert!(
                points(&a)
                    .iter()
                    .all(|p| p.contains(&format!(" t={CUMULATIVE}"))),
                "{t:?}: the view is cumulative: {:?}",
                points(&a)
            );
            assert_eq!(
                points(&viewed.export(now + 20, &h)),
                points(&plain.export(now + 20, &h)),
                "{t:?} round {round}"
            );
        }
    }
}

#[test]
fn delta_snapshot_with_totals_is_cumulative_since_the_start() {
    let h = host(Temporality::Delta);
    let mut set = MetricSet::new(DEFS);
    set.keep_totals();
    fill(&mut set, 100);
    set.export(500, &h);
    set.add(&COUNT, svc().as_ref(), attrs("a"), 4, 600);
    set.observe(&LATENCY, svc().as_ref(), attrs("a"), 2.0, ex(3, 600), 600);
    let view = points(&set.snapshot(700, &h));
    assert_eq!(
        view,
        vec![
            format!("test.count k=Some(StringValue(\"a\")) -> 7 start=100 t={CUMULATIVE}"),
            format!(
                "test.latency k=Some(StringValue(\"a\")) -> [1, 1, 1] n=3 sum=Some(2.55) min=Some(0.05) max=Some(2.0) start=100 t={CUMULATIVE} ex=[1, 2, 3]"
            ),
        ]
    );
    // The export is still the interval's alone.
    let sent = points(&set.export(800, &h));
    assert!(
        sent[0].starts_with("test.count k=Some(StringValue(\"a\")) -> 4 start=500"),
        "{sent:?}"
    );
    assert!(sent[1].contains("-> [0, 0, 1] n=1"), "{sent:?}");
    // Nothing new: the view keeps the totals.
    assert_eq!(points(&set.snapshot(900, &h)).len(), 2);
    assert_eq!(set.series(), 0, "the intervals themselves keep nothing");
}

#[test]
fn delta_totals_are_bounded_like_the_series() {
    let h = host(Temporality::Delta);
    let mut set = MetricSet::new(DEFS);
    set.keep_totals();
    for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
        set.add(&COUNT, svc().as_ref(), attrs(k), 1, 100);
        // One series per interval: never past the bound within an interval.
        set.export(200 + i as u64, &h);
    }
    let view = points(&set.snapshot(900, &h));
    assert_eq!(view.len(), 3, "two series and the overflow: {view:?}");
    assert!(
        view.iter()
            .any(|p| p.contains("otel.metric.overflow") && p.contains("-> 2 ")),
        "{view:?}"
    );
}

#[test]
fn delta_snapshot_without_totals_covers_the_interval() {
    let h = host(Temporality::Delta);
    let mut set = MetricSet::new(DEFS);
    fill(&mut set, 100);
    set.export(500, &h);
    set.add(&COUNT, svc().as_ref(), attrs("a"), 4, 600);
    let view = points(&set.snapshot(700, &h));
    assert_eq!(
        view,
        vec![format!(
            "test.count k=Some(StringValue(\"a\")) -> 4 start=600 t={CUMULATIVE}"
        )]
    );
}

/// A borrowed service key finds the series its owned key made: both hash and compare
/// alike, with and without a container.
#[test]
fn borrowed_and_owned_service_keys_hash_alike() {
    use std::hash::BuildHasher;

    let mut keys = vec![svc()];
    keys.push(ServiceKey {
        container_id: Some("0123456789ab".into()),
        ..svc()
    });
    for key in &keys {
        let h = rustc_hash::FxBuildHasher;
        assert_eq!(h.hash_one(key), h.hash_one(key.as_ref()));
        assert_eq!(key.as_ref().to_key(), *key);
    }
    let mut set = MetricSet::new(DEFS);
    for key in &keys {
        let copy = key.clone();
        set.add(&COUNT, key.as_ref(), attrs("a"), 1, 100);
        set.add(&COUNT, copy.as_ref(), attrs("a"), 1, 100);
    }
    assert_eq!(set.series(), 2);
}

#[test]
fn insert_sorted_keeps_key_order_and_says_where() {
    let mut at = sorted(vec![("b", AttrValue::Int(2)), ("d", AttrValue::Int(4))]);
    assert_eq!(insert_sorted(&mut at, "c", AttrValue::Int(3)), 1);
    assert_eq!(insert_sorted(&mut at, "a", AttrValue::Int(1)), 0);
    assert_eq!(insert_sorted(&mut at, "e", AttrValue::Int(5)), 4);
    let keys: Vec<&str> = at.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["a", "b", "c", "d", "e"]);
}

/// The counter points of an export or a view, as "k -> value start=".
fn counts(rms: &[ResourceMetrics]) -> Vec<String> {
    let mut out: Vec<String> = points(rms)
        .into_iter()
        .filter(|p| p.starts_with("test.count"))
        .map(|p| p.split(" t=").next().unwrap_or_default().to_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn a_series_idle_for_its_exports_is_forgotten_and_comes_back_from_zero() {
    let h = host(Temporality::Cumulative);
    let mut set = MetricSet::new(DEFS);
    set.expire_after(2);
    set.add(&COUNT, svc().as_ref(), attrs("a"), 5, 100);
    set.add(&COUNT, svc().as_ref(), attrs("b"), 7, 100);
    assert_eq!(counts(&set.export(200, &h)).len(), 2);
    set.add(&COUNT, svc().as_ref(), attrs("a"), 1, 250);
    // "b" is sent unchanged once more: one idle export is not enough.
    assert_eq!(counts(&set.export(300, &h)).len(), 2);
    let sent = counts(&set.export(400, &h));
    assert_eq!(
        sent,
        vec!["test.count k=Some(StringValue(\"a\")) -> 6 start=100"],
        "b had nothing new for two exports"
    );
    // Its slot under max_series (2) is free again: "c" gets a series, not the overflow.
    set.add(&COUNT, svc().as_ref(), attrs("c"), 1, 410);
    set.add(&COUNT, svc().as_ref(), attrs("a"), 1, 420);
    // "b" comes back: a new series, from zero, with a new start time (a reset).
    set.add(&COUNT, svc().as_ref(), attrs("b"), 2, 450);
    let sent = counts(&set.export(500, &h));
    assert_eq!(
        sent,
        vec![
            "test.count k=Some(StringValue(\"a\")) -> 7 start=100",
            "test.count k=Some(StringValue(\"c\")) -> 1 start=410",
            "test.count otel.metric.overflow=Some(BoolValue(true)) -> 2 start=450",
        ],
        "a and c fill the bound, so b is on the overflow series"
    );
}

#[test]
fn delta_running_totals_forget_idle_series_for_the_cumulative_view() {
    let h = host(Temporality::Delta);
    let mut set = MetricSet::new(DEFS);
    set.retain(Retention {
        keep_totals: true,
        expire_after: 2,
    });
    set.add(&COUNT, svc().as_ref(), attrs("a"), 5, 100);
    set.export(200, &h);
    assert_eq!(counts(&set.snapshot(250, &h)).len(), 1);
    set.export(300, &h);
    assert_eq!(counts(&set.snapshot(350, &h)).len(), 1, "one idle export");
    set.export(400, &h);
    assert_eq!(counts(&set.snapshot(450, &h)), Vec::<String>::new());
    set.add(&COUNT, svc().as_ref(), attrs("a"), 1, 460);
    set.export(500, &h);
    assert_eq!(
        counts(&set.snapshot(550, &h)),
        vec!["test.count k=Some(StringValue(\"a\")) -> 1 start=400"],
        "restarted: the interval's start, not the first one"
    );
}

#[test]
fn without_expiry_idle_series_stay() {
    let h = host(Temporality::Cumulative);
    let mut set = MetricSet::new(DEFS);
    set.retain(Retention::default());
    set.add(&COUNT, svc().as_ref(), attrs("a"), 5, 100);
    for t in 1..50 {
        set.export(100 + t, &h);
    }
    assert_eq!(counts(&set.export(200, &h)).len(), 1);
}

//! What the pipeline does with a listener record: keep the inventory, count the
//! listener's drops, and write its `sonde.tcp.listen` log record.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use sonde_semconv::attr::{self as a, listen_state};
use sonde_semconv::metric as m;

use super::record::{ListenKind, ListenRecord};
use crate::decode::Owner;
use crate::enrich::process::ProcessInfo;
use crate::enrich::Enricher;
use crate::signals::kv::Attributes;
use crate::signals::metric_set::{AttrValue, MetricSet};
use crate::signals::proto::LogRecordWriter;
use crate::signals::resource::ServiceRef;
use crate::signals::{unix_nanos_now, HostInfo, Sink};

/// Where a listener's drops go (the drops protocol implements it).
pub trait ListenerDropSink {
    /// Counts `n` drops of listener `rec` (its `sk_drops` grew), owned by `process`.
    fn listener(&mut self, process: &ProcessInfo, rec: &ListenRecord, n: u64);
}

/// One socket of the inventory.
#[derive(Debug)]
struct Listener {
    /// Its latest record.
    record: ListenRecord,
    process: Arc<ProcessInfo>,
    /// Its drop count already counted (the first record's is the baseline: what a
    /// listener open before the agent dropped then is not counted again).
    counted: u32,
}

/// The listening sockets of the host, by cookie.
#[derive(Debug, Default)]
pub struct ListenersHandler {
    inventory: HashMap<u64, Listener>,
    /// Owners the walk at start named, by cookie, until their listener's first record.
    walked: HashMap<u64, Owner>,
}

impl ListenersHandler {
    /// An empty inventory; `walked`: the owners the walk at start named for the listeners
    /// it found, by cookie.
    pub fn new(walked: Vec<(u64, Owner)>) -> ListenersHandler {
        ListenersHandler {
            inventory: HashMap::new(),
            walked: walked.into_iter().collect(),
        }
    }

    /// Listening sockets known now.
    pub fn len(&self) -> usize {
        self.inventory.len()
    }

    /// Whether none are known.
    pub fn is_empty(&self) -> bool {
        self.inventory.is_empty()
    }

    /// Gives a record of a listener found at start the owner the walk named for it (the
    /// kernel has none): call before the record waits for its process.
    pub fn name(&mut self, rec: &mut ListenRecord) {
        if let Some(owner) = self.walked.remove(&rec.cookie) {
            if rec.owner.pid == 0 {
                rec.owner = owner;
            }
        }
    }

    /// A listener record: the inventory, its drops (into `drops`), its log record.
    pub fn record(
        &mut self,
        mut rec: ListenRecord,
        en: &mut Enricher,
        out: &mut Sink,
        drops: &mut impl ListenerDropSink,
    ) {
        self.name(&mut rec);
        let now = Instant::now();
        match self.inventory.remove(&rec.cookie) {
            Some(mut l) => {
                let grown = rec.drops.wrapping_sub(l.counted);
                drops.listener(&l.process, &rec, u64::from(grown));
                l.counted = rec.drops;
                if rec.kind == ListenKind::Unlisten {
                    out.log(&l.process, now, |w| write_log_record(&rec, &l.process, w));
                } else {
                    l.record = rec;
                    self.inventory.insert(l.record.cookie, l);
                }
            }
            None => {
                let process = en.process(&rec.owner);
                // A listener new to this agent: its drops so far are its baseline, unless
                // it opened and closed between two passes (then every one is new).
                if rec.kind == ListenKind::Unlisten && rec.unannounced && !rec.preexisting {
                    drops.listener(&process, &rec, u64::from(rec.drops));
                }
                let start = ListenRecord {
                    kind: ListenKind::Listen,
                    ..rec.clone()
                };
                out.log(&process, now, |w| write_log_record(&start, &process, w));
                if rec.kind == ListenKind::Unlisten {
                    out.log(&process, now, |w| write_log_record(&rec, &process, w));
                } else {
                    self.inventory.insert(
                        rec.cookie,
                        Listener {
                            counted: rec.drops,
                            record: rec,
                            process,
                        },
                    );
                }
            }
        }
    }

    /// The `sonde.listeners` gauge: 1 per listening socket now, on its owner's service.
    pub fn export(&self, now_unix_nanos: u64, host: &HostInfo) -> Vec<ResourceMetrics> {
        let mut set = MetricSet::new(m::LISTENER_METRICS);
        for l in self.inventory.values() {
            let r = &l.record;
            let attrs = vec![
                (
                    a::NETWORK_LOCAL_ADDRESS,
                    AttrValue::Str(r.local.ip().to_string().into()),
                ),
                (
                    a::NETWORK_LOCAL_PORT,
                    AttrValue::Int(i64::from(r.local.port())),
                ),
                (a::NETWORK_TRANSPORT, AttrValue::Str("tcp".into())),
                (a::NETWORK_TYPE, AttrValue::Str(network_type(r).into())),
            ];
            set.add(
                &m::LISTENERS,
                ServiceRef::of(&l.process),
                attrs,
                1,
                now_unix_nanos,
            );
        }
        set.export(now_unix_nanos, host)
    }
}

fn network_type(r: &ListenRecord) -> &'static str {
    if r.local.is_ipv4() {
        "ipv4"
    } else {
        "ipv6"
    }
}

/// The `sonde.tcp.listen` record of `rec` (a start for [`ListenKind::Listen`] and
/// [`ListenKind::Update`], else a stop).
fn write_log_record(rec: &ListenRecord, process: &ProcessInfo, w: &mut LogRecordWriter<'_>) {
    let stop = rec.kind == ListenKind::Unlisten;
    let time = if stop {
        rec.time_unix_nanos
    } else {
        rec.start_unix_nanos
    };
    w.times(time, unix_nanos_now());
    w.severity(SeverityNumber::Info as i32, "INFO");
    w.body_with(|out| {
        out.push_str(&process.exe_name);
        out.push('[');
        out.push_str(itoa::Buffer::new().format(rec.owner.pid));
        out.push_str(if stop {
            "] stopped listening on "
        } else {
            "] listening on "
        });
        out.push_str(&rec.local.to_string());
        out.push_str(" backlog=");
        out.push_str(itoa::Buffer::new().format(rec.backlog));
        if rec.preexisting && !stop {
            out.push_str(" (before the agent started)");
        }
    });
    let state = if stop {
        listen_state::STOP
    } else {
        listen_state::START
    };
    w.str(a::LISTEN_STATE, state);
    w.str(a::NETWORK_TRANSPORT, "tcp");
    w.str(a::NETWORK_TYPE, network_type(rec));
    w.display(a::NETWORK_LOCAL_ADDRESS, rec.local.ip());
    w.int(a::NETWORK_LOCAL_PORT, i64::from(rec.local.port()));
    w.int(a::LISTEN_BACKLOG, i64::from(rec.backlog));
    w.int(a::PROCESS_PID, i64::from(rec.owner.pid));
    w.display(a::TCP_SOCKET_COOKIE, rec.cookie);
    w.int(a::NETNS_INODE, i64::from(rec.netns));
    w.display(a::CGROUP_ID, rec.owner.cgroup_id);
    if rec.preexisting {
        w.bool(a::TCP_PREEXISTING, true);
    }
    w.event_name(sonde_semconv::event::TCP_LISTEN);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::enrich::ProcessCache;

    /// Counts every drop it is given.
    #[derive(Default)]
    struct Counted(u64);

    impl ListenerDropSink for Counted {
        fn listener(&mut self, _: &ProcessInfo, _: &ListenRecord, n: u64) {
            self.0 += n;
        }
    }

    fn rec(kind: ListenKind, cookie: u64, drops: u32) -> ListenRecord {
        ListenRecord {
            kind,
            cookie,
            local: "0.0.0.0:8080".parse().unwrap(),
            netns: 1,
            backlog: 511,
            drops,
            start_unix_nanos: 1,
            time_unix_nanos: 2,
            owner: Owner {
                pid: 7,
                comm: "server".into(),
                ..Owner::default()
            },
            preexisting: false,
            unannounced: false,
        }
    }

    /// A listener is in the inventory from its first record to its last; its drops count
    /// from the first record's total (the baseline), each growth once; one record each
    /// for its start and its stop. A listener open and closed between two passes is both,
    /// and every drop it had counts.
    #[test]
    fn inventory_drops_and_records_over_a_listeners_life() {
        let mut h = ListenersHandler::new(Vec::new());
        let mut en =
            Enricher::with_cache(ProcessCache::with_proc_root("/proc".into(), 16, 256), 16);
        let mut out = Sink::new(false, true, false, Arc::default());
        let mut drops = Counted::default();

        h.record(rec(ListenKind::Listen, 1, 3), &mut en, &mut out, &mut drops);
        assert_eq!((h.len(), out.logs.len(), drops.0), (1, 1, 0));
        h.record(
            rec(ListenKind::Update, 1, 10),
            &mut en,
            &mut out,
            &mut drops,
        );
        assert_eq!((h.len(), out.logs.len(), drops.0), (1, 1, 7));
        assert_eq!(h.export(3, &HostInfo::named("h")).len(), 1, "the gauge");
        h.record(
            rec(ListenKind::Unlisten, 1, 12),
            &mut en,
            &mut out,
            &mut drops,
        );
        assert_eq!((h.len(), out.logs.len(), drops.0), (0, 2, 9));
        assert!(h.export(4, &HostInfo::named("h")).is_empty(), "gone");

        let mut brief = rec(ListenKind::Unlisten, 2, 4);
        brief.unannounced = true;
        h.record(brief, &mut en, &mut out, &mut drops);
        assert_eq!((h.len(), out.logs.len(), drops.0), (0, 4, 13));
    }

    /// A listener found at start is announced without an owner: the walk's is used.
    #[test]
    fn a_listener_found_at_start_gets_the_walks_owner() {
        let walked = Owner {
            pid: 42,
            comm: "nginx".into(),
            ..Owner::default()
        };
        let mut h = ListenersHandler::new(vec![(9, walked.clone())]);
        let mut r = rec(ListenKind::Listen, 9, 0);
        r.owner = Owner::default();
        h.name(&mut r);
        assert_eq!(r.owner, walked);
        let mut again = rec(ListenKind::Listen, 9, 0);
        again.owner = Owner::default();
        h.name(&mut again);
        assert_eq!(again.owner.pid, 0, "taken once");
    }
}

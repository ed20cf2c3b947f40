//! `sonde`: CLI, configuration, signals, and the start and stop of the agent: `run` is the
//! list of what it starts (probes, ring reader, exporters, Prometheus and health endpoints,
//! pipeline, periodic reports) and stops, in order: on SIGTERM or SIGINT, or when any of
//! them ends unexpectedly (then the exit status is 1).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use sonde::config::{self, Config};
use sonde::decode::Clock;
use sonde::export::{prometheus, Exporters};
use sonde::kernel::handoff::EventSender;
use sonde::kernel::{preflight, privileges, RingReader};
use sonde::pipeline::{KernelCounters, Pipeline, PipelineSettings};
use sonde::protocols::dns::{DnsPath, DnsProbeOptions, DnsProbes};
use sonde::protocols::drops::{DropProbes, DropReasons};
use sonde::protocols::http::route::{RouteRules, Template};
use sonde::protocols::http::{DataProbeOptions, DataProbes, Sweep};
use sonde::protocols::tcp::{OwnerMaps, Preexisting, ProbeOptions, Probes};
use sonde::protocols::KernelEvent;
use sonde::redact::redact_urls;
use sonde::signals::HostInfo;
use sonde::supervise::{Ended, Endings, Supervisor};
use sonde::telemetry::{HealthLimits, Signal, Telemetry};

/// The ring-buffer wake-up threshold at most: about 400 connection records.
const WAKEUP_BYTES_MAX: u64 = 64 * 1024;

/// A response on a connection kept open, with nothing more written (read) for this long,
/// is complete: long enough for a response written in pauses (a slow reader's
/// backpressure), short against the metric interval.
const HTTP_RESPONSE_QUIET: Duration = Duration::from_secs(2);

/// How long shutdown may spend flushing what is queued.
const FLUSH_DEADLINE: Duration = Duration::from_secs(5);
/// After a part failed: how long detaching and flushing may take in all before the agent
/// exits (the probes detach with the process in any case).
const FAILED_STOP_DEADLINE: Duration = Duration::from_secs(3);
/// How long the runtime's last tasks get once everything is stopped.
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(500);

#[derive(Parser, Debug)]
#[command(
    name = "sonde",
    version,
    about = "Kernel-level network observability (eBPF) exported as OpenTelemetry"
)]
struct Cli {
    /// Configuration file (YAML). Without it, the built-in default (config/sonde.yaml).
    #[arg(short, long, env = "SONDE_CONFIG")]
    config: Option<PathBuf>,
    /// Serve the metrics for Prometheus at http://ADDR/metrics (e.g. 127.0.0.1:9464); over
    /// prometheus.listen and SONDE_PROMETHEUS_LISTEN.
    #[arg(long, value_name = "ADDR", global = true)]
    prometheus_listen: Option<String>,
    /// Serve the health check alone at http://ADDR/healthz (the Prometheus endpoint serves
    /// it too); over health.listen and SONDE_HEALTH_LISTEN.
    #[arg(long, value_name = "ADDR", global = true)]
    health_listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a configuration and print the effective settings (secrets masked).
    CheckConfig {
        /// The file to check; the built-in default when omitted.
        file: Option<PathBuf>,
    },
}

/// Makes glibc's malloc keep one arena for every thread, unless `MALLOC_ARENA_MAX` says
/// otherwise. Records are allocated on the ring-buffer thread and freed on the pipeline's,
/// and with an arena per thread each arena kept the peak of what passed through it: under
/// 65,536 slow-header connections and a path scan (tests/memory_budget.rs) the peak
/// resident memory was 109 MB with the default arenas, 105 MB with two, 94 MB with one.
/// The allocations on the hot path are small enough for glibc's per-thread cache, which
/// takes no arena lock.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first thing in main, before any other thread exists; mallopt
        // only changes a malloc tunable.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

fn main() -> ExitCode {
    one_malloc_arena();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // No colour escapes into journald or a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SONDE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let env = |k: &str| std::env::var(k).ok();
    let load = |path: Option<&std::path::Path>| {
        let mut cfg = config::load(path, &env)?;
        if let Some(addr) = &cli.prometheus_listen {
            cfg.set_prometheus_listen(addr)?;
        }
        if let Some(addr) = &cli.health_listen {
            cfg.set_health_listen(addr)?;
        }
        Ok::<_, config::ConfigError>(cfg)
    };
    if let Some(Command::CheckConfig { file }) = &cli.command {
        let path = file.as_deref().or(cli.config.as_deref());
        return match load(path) {
            Ok(cfg) => {
                println!("{}", cfg.render_masked());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sonde: {e}");
                ExitCode::from(2)
            }
        };
    }
    let cfg = match load(cli.config.as_deref()) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("sonde: {e}");
            return ExitCode::from(2);
        }
    };
    match run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sonde: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: Config) -> anyhow::Result<()> {
    // Taken first, so a port in use is said before any probe is loaded.
    let prometheus_listener = cfg.prometheus.listen.map(prometheus::bind).transpose()?;
    let health_listener = cfg.health.listen.map(prometheus::bind).transpose()?;
    let addrs = [&prometheus_listener, &health_listener]
        .map(|l| l.as_ref().and_then(|l| l.local_addr().ok()));
    let pre = preflight::run()?;
    for (fs, path) in &pre.mounted {
        eprintln!("sonde: {fs} was not mounted; mounted it at {path}");
    }
    let mut loaded = Loaded::load(&cfg)?;
    // Before any thread starts: capabilities are per thread, and later ones inherit.
    let privileges = match privileges::drop_to(privileges::Needs {
        enter_namespaces: loaded.sweeps_namespaces(&cfg),
    }) {
        Ok(dropped) => dropped.to_string(),
        Err(e) => format!("capabilities not dropped ({e})"),
    };
    let telemetry = Arc::new(Telemetry::default());
    let (supervisor, endings) = Supervisor::new();
    let (tx, rx) = sonde::kernel::handoff::channel(cfg.pipeline.queue_size);
    let reader = loaded.start_reader(
        tx,
        Arc::clone(&telemetry),
        supervisor.guard("ring-buffer reader"),
    )?;
    eprintln!(
        "sonde: {}; {}; {privileges}",
        loaded.describe(&cfg),
        describe_outputs(&cfg, addrs)
    );
    let kernel = loaded.counters(&cfg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sonde-rt")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        let exporters = Exporters::start(&cfg.exporter, Arc::clone(&telemetry), &supervisor)?;
        let limits = health_limits(&cfg);
        let publisher = start_endpoints(
            prometheus_listener,
            health_listener,
            &telemetry,
            limits,
            &supervisor,
        )?;
        let pipeline = Pipeline::new(
            pipeline_settings(&cfg, loaded.clock)?,
            exporters,
            Arc::clone(&telemetry),
            kernel,
            HostInfo::detect().with_config(&cfg.resource, cfg.metrics.temporality),
            publisher,
        );
        let guard = supervisor.guard("pipeline");
        let pipeline = tokio::spawn(async move {
            let _guard = guard;
            pipeline.run(rx).await
        });
        let periodic = start_periodic_reports(&loaded.probes, &supervisor)?;
        sonde::supervise::notify_systemd(Arc::clone(&telemetry), limits, &supervisor);
        let running = Running {
            reader,
            loaded,
            pipeline,
            periodic,
        };
        wait_and_stop(endings, &supervisor, running, &telemetry).await
    });
    // A stalled task must not hold the exit.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match result? {
        None => Ok(()),
        Some(Ended { part, why }) => Err(anyhow::anyhow!(
            "exiting with status 1: the {part} stopped unexpectedly ({why})"
        )),
    }
}

/// What runs until the agent stops.
struct Running {
    reader: RingReader,
    loaded: Loaded,
    pipeline: tokio::task::JoinHandle<Exporters>,
    periodic: Option<tokio::task::JoinHandle<()>>,
}

/// Waits for SIGTERM or SIGINT, or for a part to end; then stops everything (in at most
/// [`FAILED_STOP_DEADLINE`] after a failure). The part that ended, if that was why.
async fn wait_and_stop(
    mut endings: Endings,
    supervisor: &Supervisor,
    running: Running,
    telemetry: &Telemetry,
) -> anyhow::Result<Option<Ended>> {
    let failed = tokio::select! {
        signal = wait_for_signal() => {
            eprintln!("sonde: {signal}: detaching probes and flushing");
            None
        }
        Some(ended) = endings.recv() => {
            eprintln!("sonde: {ended}: detaching probes, flushing and exiting");
            Some(ended)
        }
    };
    supervisor.stopping();
    sonde::supervise::notify_systemd_stopping();
    if let Some(p) = running.periodic {
        p.abort();
    }
    let stopped = stop(
        running.reader,
        running.loaded,
        running.pipeline,
        telemetry,
        failed.is_some(),
    );
    if failed.is_none() {
        stopped.await?;
    } else if tokio::time::timeout(FAILED_STOP_DEADLINE, stopped)
        .await
        .is_err()
    {
        eprintln!(
            "sonde: stopping took longer than {} s; exiting",
            FAILED_STOP_DEADLINE.as_secs()
        );
    }
    Ok(failed)
}

/// Stops reading, detaches, lets the pipeline drain what it already has, and flushes the
/// exporters (for less time after a failure).
async fn stop(
    reader: RingReader,
    loaded: Loaded,
    pipeline: tokio::task::JoinHandle<Exporters>,
    telemetry: &Telemetry,
    failed: bool,
) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        reader.stop();
        drop(loaded);
    })
    .await
    .context("stopping the ring-buffer reader")?;
    let exporters = match pipeline.await {
        Ok(exporters) => exporters,
        // It panicked: what it held is gone (the panic was logged).
        Err(e) if failed => {
            eprintln!("sonde: the pipeline's queued signals are lost: {e}");
            say_totals(telemetry);
            return Ok(());
        }
        Err(e) => return Err(e).context("the pipeline task failed"),
    };
    let deadline = if failed {
        FAILED_STOP_DEADLINE / 2
    } else {
        FLUSH_DEADLINE
    };
    let report = exporters.shutdown(deadline).await;
    eprintln!("sonde: {report}");
    say_totals(telemetry);
    Ok(())
}

/// When `/healthz` and the systemd watchdog say unhealthy.
fn health_limits(cfg: &Config) -> HealthLimits {
    let failing = cfg.health.exporter_failure_timeout;
    HealthLimits {
        stall_timeout: cfg.health.stall_timeout,
        exporter_failure_timeout: (!failing.is_zero()).then_some(failing),
    }
}

/// The HTTP endpoints: Prometheus (with `/healthz`) and the health check's own; the
/// Prometheus endpoint's feed, when it is on.
fn start_endpoints(
    prometheus_listener: Option<std::net::TcpListener>,
    health_listener: Option<std::net::TcpListener>,
    telemetry: &Arc<Telemetry>,
    limits: HealthLimits,
    supervisor: &Supervisor,
) -> anyhow::Result<Option<prometheus::Publisher>> {
    let answers = |registry| prometheus::Answers {
        registry,
        telemetry: Arc::clone(telemetry),
        limits,
    };
    if let Some(listener) = health_listener {
        prometheus::serve(listener, answers(None), supervisor.guard("health endpoint"))?;
    }
    let Some(listener) = prometheus_listener else {
        return Ok(None);
    };
    let registry = Arc::new(prometheus::Registry::default());
    let addr = prometheus::serve(
        listener,
        answers(Some(Arc::clone(&registry))),
        supervisor.guard("prometheus endpoint"),
    )?;
    eprintln!(
        "sonde: prometheus endpoint on http://{addr}{}",
        prometheus::PATH
    );
    Ok(Some(prometheus::Publisher::new(registry)))
}

/// Every BPF object loaded and attached (dropping it detaches them all).
struct Loaded {
    probes: Probes,
    dns: Option<DnsProbes>,
    data: Option<DataProbes>,
    /// Packet drops, with the running kernel's names of their reasons.
    drops: Option<(DropProbes, DropReasons)>,
    /// Kernel time → wall time, measured once: the decoder's and the pipeline's.
    clock: Clock,
    /// Connections open before start, now tracked (taken by the pipeline).
    preexisting: Vec<Preexisting>,
    /// The owners of the listeners open before start, by cookie (taken by the pipeline).
    listener_owners: Vec<(u64, sonde::decode::Owner)>,
}

impl Loaded {
    /// TCP always; DNS and HTTP as configured; then the listeners open before start.
    fn load(cfg: &Config) -> anyhow::Result<Loaded> {
        let mut probes = Probes::load(&ProbeOptions {
            max_connections: cfg.tcp.max_connections,
            ring_buffer_bytes: cfg.tcp.ring_buffer_size,
            // Wake the reader once a batch is waiting instead of on every record; below the
            // threshold records wait at most the reader's 100 ms poll timeout.
            wakeup_bytes: wakeup_bytes(cfg.tcp.ring_buffer_size),
            report_interval: cfg.tcp.report_interval,
            owners_from_http: cfg.http.enabled,
        })?;
        let dns = load_dns(cfg, &probes)?;
        // Accepted sockets' owners are taken by one receive program: HTTP capture's, else
        // the DNS capture's on sockets, else conn.bpf.c's own.
        if !cfg.http.enabled && !dns.as_ref().is_some_and(|d| d.takes_owners) {
            probes.attach_owner_recv()?;
        }
        let data = if cfg.http.enabled {
            let ring = cfg.http.ring_buffer_size;
            Some(DataProbes::load(
                &DataProbeOptions {
                    capture_bytes: u32::try_from(cfg.http.capture_bytes).unwrap_or(u32::MAX),
                    ring_buffer_bytes: ring,
                    wakeup_bytes: wakeup_bytes(ring),
                    parse_per_second: parse_per_second(&cfg.http),
                    quiet: HTTP_RESPONSE_QUIET,
                },
                &probes.owner_maps()?,
                dns.as_ref()
                    .map(DnsProbes::socket_maps)
                    .transpose()?
                    .flatten()
                    .as_ref(),
            )?)
        } else {
            None
        };
        // With every program attached: a listener or connection opened from now on is
        // seen by the kernel, and the ones open before are found by the walk.
        let walk_started = Instant::now();
        let (preexisting, listener_owners) = match probes.walk() {
            Ok(w) => {
                eprintln!(
                    "sonde: {} listening sockets ({} named) and {} connections were open \
                     before start ({} network namespaces, found in {} ms)",
                    w.listeners,
                    w.named,
                    w.connections.len(),
                    w.namespaces,
                    walk_started.elapsed().as_millis()
                );
                (w.connections, w.listener_owners)
            }
            Err(e) => {
                eprintln!(
                    "sonde: sockets open before start not found ({e}): connections their \
                     listeners accept are named at their first receive, and connections \
                     already open are not reported"
                );
                (Vec::new(), Vec::new())
            }
        };
        let drops = load_drops(cfg, &probes.owner_maps()?);
        Ok(Loaded {
            probes,
            dns,
            data,
            drops,
            preexisting,
            listener_owners,
            clock: Clock::measure(),
        })
    }

    /// The thread that reads every ring and hands decoded events to `tx`.
    fn start_reader(
        &self,
        tx: EventSender<KernelEvent>,
        telemetry: Arc<Telemetry>,
        guard: sonde::supervise::Guard,
    ) -> anyhow::Result<RingReader> {
        // The DNS ring first: a quiet reader drains the rings in this order after its poll
        // timeout, and a connection's close must not be reported before the answer that
        // named its peer (captured a moment earlier, waiting in the other ring) has been
        // read.
        let mut rings = Vec::new();
        if let Some(d) = &self.dns {
            rings.push(d.events_map()?);
        }
        rings.push(self.probes.events_map()?);
        if let Some(d) = &self.data {
            rings.push(d.events_map()?);
        }
        let clock = self.clock;
        let decode = move |record: &[u8]| sonde::protocols::decode(record, &clock);
        Ok(RingReader::start(rings, decode, tx, telemetry, guard)?)
    }

    /// "probes attached (...)": how many, how long, which way DNS and HTTP came in.
    fn describe(&self, cfg: &Config) -> String {
        let load_time =
            self.probes.load_time + self.dns.as_ref().map_or(Duration::ZERO, |d| d.load_time);
        format!(
            "probes attached ({} programs in {} ms{}{})",
            self.probes.programs,
            load_time.as_millis(),
            self.dns.as_ref().map_or(String::new(), |d| match d.path {
                DnsPath::Sockets => format!(", DNS on sockets (cgroup {})", d.cgroup.display()),
                DnsPath::Packets => format!(", DNS on packets (cgroup {})", d.cgroup.display()),
            }),
            // Said because it costs more on a host with many namespaces (see Sweep).
            if self.sweeps_namespaces(cfg) {
                ", HTTP connections swept by network namespace (this kernel refuses map iterators)"
            } else {
                ""
            },
        )
    }

    /// Whether the HTTP sweep enters network namespaces while the agent runs.
    fn sweeps_namespaces(&self, cfg: &Config) -> bool {
        self.data
            .as_ref()
            .is_some_and(|d| d.sweep == Sweep::ByNamespace && parse_per_second(&cfg.http) > 0)
    }

    /// The kernel counters and histograms the pipeline reads.
    fn counters(&mut self, cfg: &Config) -> anyhow::Result<KernelCounters> {
        Ok(KernelCounters {
            preexisting: std::mem::take(&mut self.preexisting),
            listener_owners: std::mem::take(&mut self.listener_owners),
            conn: Some(self.probes.drop_counters()?),
            dns: self.dns.as_ref().map(DnsProbes::counters).transpose()?,
            data: self.data.as_ref().map(DataProbes::counters).transpose()?,
            skb_drops: self
                .drops
                .as_ref()
                .map(|(probes, reasons)| probes.counts(reasons.clone()))
                .transpose()?,
            http_series: match &self.data {
                Some(d) if parse_per_second(&cfg.http) > 0 => Some(d.http_series()?),
                _ => None,
            },
        })
    }
}

/// A ring's wake-up threshold: a sixteenth of it, at most [`WAKEUP_BYTES_MAX`].
fn wakeup_bytes(ring_buffer_bytes: u32) -> u64 {
    u64::from(ring_buffer_bytes / 16).min(WAKEUP_BYTES_MAX)
}

/// Drop counting, like DNS capture, is worth having but not worth refusing to start over:
/// without it every other signal still flows, and the reason is said once.
fn load_drops(cfg: &Config, owners: &OwnerMaps) -> Option<(DropProbes, DropReasons)> {
    if !cfg.drops.enabled {
        return None;
    }
    let loaded = DropReasons::from_running_kernel().and_then(|reasons| {
        DropProbes::load(owners)
            .map(|probes| (probes, reasons))
            .map_err(|e| format!("{e:#}"))
    });
    match loaded {
        Ok((probes, reasons)) => {
            eprintln!(
                "sonde: packet drops counted by the kernel's reason ({} reasons named by its BTF)",
                reasons.named()
            );
            Some((probes, reasons))
        }
        Err(e) => {
            eprintln!("sonde: packet drops not counted: {e}");
            None
        }
    }
}

/// DNS capture is worth having but not worth refusing to start over: without it the TCP
/// signals still flow, and the reason is said once.
fn load_dns(cfg: &Config, probes: &Probes) -> anyhow::Result<Option<DnsProbes>> {
    if !cfg.dns.enabled {
        return Ok(None);
    }
    let ring = cfg.dns.ring_buffer_size;
    let options = DnsProbeOptions {
        ports: cfg.dns.ports.clone(),
        ring_buffer_bytes: ring,
        wakeup_bytes: wakeup_bytes(ring),
        capture: cfg.dns.capture,
        steps_in_http: cfg.http.enabled,
    };
    match DnsProbes::load(&options, &probes.owner_maps()?) {
        Ok(d) => Ok(Some(d)),
        Err(e) => {
            eprintln!("sonde: DNS capture disabled: {e}");
            Ok(None)
        }
    }
}

/// What the pipeline takes from the configuration.
fn pipeline_settings(cfg: &Config, clock: Clock) -> anyhow::Result<PipelineSettings> {
    Ok(PipelineSettings {
        batch_max_items: cfg.batch.max_items,
        batch_timeout: cfg.batch.timeout,
        metric_interval: cfg.metrics.interval,
        console: cfg.console_enabled(),
        process_cache_size: cfg.process.cache_size,
        command_line_max: cfg.process.command_line_max,
        command_line: cfg.process.command_line,
        max_connections: cfg.tcp.max_connections as usize,
        report_interval: cfg.tcp.report_interval,
        dns_timeout: cfg.dns.timeout,
        http_routes: route_rules(&cfg.http.routes)?,
        http_spans_per_second: cfg.http.max_spans_per_second,
        http_url_path: cfg.http.url_path,
        tcp_spans_per_second: cfg.tcp.max_spans_per_second,
        prometheus_refresh: cfg.prometheus.refresh,
        clock,
        memory_limit: usize::try_from(cfg.pipeline.memory_limit).unwrap_or(usize::MAX),
        idle_intervals: cfg.metrics.idle_intervals,
    })
}

/// Long-lived connections and listeners: one pass over the kernel's maps a second; each
/// connection is reported when its interval is due (none when `tcp.report_interval` is
/// 0), a listener when it is new or dropped handshakes.
fn start_periodic_reports(
    probes: &Probes,
    supervisor: &Supervisor,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    // Also the listeners' pass (announced, their drops): run even without connection
    // reports (the program skips those then).
    let reporter = probes.reporter()?;
    let guard = supervisor.guard("periodic connection reports");
    Ok(Some(tokio::spawn(async move {
        let _guard = guard;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut warned = false;
        loop {
            tick.tick().await;
            if let Err(e) = reporter.run() {
                if !warned {
                    tracing::warn!("periodic connection reports failed: {e} (logged once)");
                    warned = true;
                }
            }
        }
    })))
}

/// The last lines: what was received and lost (by reason), and what each signal exported.
fn say_totals(telemetry: &Telemetry) {
    let snap = telemetry.snapshot();
    eprintln!(
        "sonde: events received {}, lost {} (by reason: {})",
        snap.events_received,
        snap.lost_total(),
        sonde::telemetry::LostReason::ALL
            .iter()
            .map(|r| format!("{}={}", r.as_str(), snap.lost[*r as usize]))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for signal in Signal::ALL {
        if snap.exporter.handed[signal as usize] > 0 {
            let summary = snap.export_summary(signal);
            eprintln!("sonde: exported {}: {summary}", signal.as_str());
        }
    }
}

/// `http.parse_per_second`, except that route rules need every path: then 0 (all).
fn parse_per_second(http: &config::HttpConfig) -> u32 {
    if http.routes.templates.is_empty() && !http.routes.heuristic {
        http.parse_per_second
    } else {
        0
    }
}

/// The route rules of the configuration (templates were checked when it was loaded).
fn route_rules(cfg: &config::RoutesConfig) -> anyhow::Result<RouteRules> {
    Ok(RouteRules {
        templates: cfg
            .templates
            .iter()
            .map(|t| Template::parse(t))
            .collect::<Result<_, _>>()
            .context("http.routes.templates")?,
        heuristic: cfg.heuristic,
        max_per_service: cfg.max_per_service,
    })
}

/// Where signals go; `[prometheus, health]`: the endpoints' addresses.
fn describe_outputs(
    cfg: &Config,
    [prometheus, health]: [Option<std::net::SocketAddr>; 2],
) -> String {
    let e = &cfg.exporter;
    let mut parts: Vec<String> = [
        ("traces", &e.traces),
        ("metrics", &e.metrics),
        ("logs", &e.logs),
    ]
    .iter()
    .filter_map(|(name, ep)| {
        ep.as_ref().map(|ep| {
            format!(
                "{name} -> {} ({})",
                redact_urls(ep.url.as_str()),
                ep.protocol
            )
        })
    })
    .collect();
    if let Some(addr) = prometheus {
        parts.push(format!(
            "prometheus -> http://{addr}{} (health on {})",
            prometheus::PATH,
            prometheus::HEALTH_PATH
        ));
    }
    if let Some(addr) = health {
        parts.push(format!(
            "health -> http://{addr}{}",
            prometheus::HEALTH_PATH
        ));
    }
    if cfg.console_enabled() {
        parts.push("flows -> terminal".into());
    }
    if parts.is_empty() {
        "no output configured".into()
    } else {
        parts.join(", ")
    }
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, run until killed.
        std::future::pending::<()>().await;
        return "unreachable";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

//! A real Prometheus server (the Debian package's `/usr/bin/prometheus`) scraping targets
//! on loopback, and its HTTP API: instant queries and exemplar queries.
//!
//! [`Prometheus::start`] writes a scrape configuration into a fresh temp dir, starts the
//! server on a free loopback port with exemplar storage on, and waits until `/-/ready`
//! answers. Every target is scraped each second at `/metrics` with `honor_labels: true`, as
//! Sonde's endpoint needs: the `job` and `instance` labels come from the exposition (the
//! observed services), not from the scrape configuration. Dropping the value kills the
//! server and removes its temp dir.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::Value;

/// The Debian package's server binary.
pub const PROMETHEUS_BIN: &str = "/usr/bin/prometheus";

/// How long Prometheus may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Start attempts: the free port found can be taken by someone else before Prometheus binds.
const START_ATTEMPTS: usize = 3;

/// One sample of an instant query: the series' labels (`__name__` included when the
/// result has one) and its value.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The series' labels.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// One exemplar from `/api/v1/query_exemplars`.
#[derive(Debug, Clone)]
pub struct ExemplarSample {
    /// The labels of the series the exemplar belongs to.
    pub series: BTreeMap<String, String>,
    /// The exemplar's own labels (`trace_id`, `span_id`).
    pub labels: BTreeMap<String, String>,
    /// The exemplar's value.
    pub value: f64,
    /// The exemplar's timestamp, Unix seconds.
    pub timestamp: f64,
}

/// A running Prometheus server; dropping it kills the process and removes its files.
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Prometheus {
    /// Starts /usr/bin/prometheus (Debian 2.42) on a free loopback port with
    /// `--enable-feature=exemplar-storage`, scraping each `targets` entry ("127.0.0.1:PORT",
    /// path /metrics) every second with `honor_labels: true`, and waits until it is ready.
    pub fn start(targets: &[&str]) -> anyhow::Result<Prometheus> {
        if !Path::new(PROMETHEUS_BIN).is_file() {
            bail!("{PROMETHEUS_BIN} not found; install the Debian package: apt-get install prometheus");
        }
        let dir = temp_dir()?;
        std::fs::write(dir.join("prometheus.yml"), scrape_config(targets))
            .with_context(|| format!("writing {}", dir.display()))?;
        let mut attempt = 1;
        loop {
            match Self::start_in(&dir) {
                Ok(p) => return Ok(p),
                // Someone took the free port first: try another.
                Err(e)
                    if attempt < START_ATTEMPTS
                        && format!("{e:#}").contains("address already in use") =>
                {
                    attempt += 1;
                }
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
            }
        }
    }

    fn start_in(dir: &Path) -> anyhow::Result<Prometheus> {
        let addr = free_port()?;
        let log = dir.join("prometheus.log");
        let stderr =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        eprintln!(
            "[harness] starting {PROMETHEUS_BIN} on {addr}, files in {}",
            dir.display()
        );
        let child = Command::new(PROMETHEUS_BIN)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--enable-feature=exemplar-storage")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("spawning {PROMETHEUS_BIN}"))?;
        let mut p = Prometheus {
            child,
            dir: dir.to_path_buf(),
            addr,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let failure =
                if let Some(status) = p.child.try_wait().context("waiting for prometheus")? {
                    format!("prometheus exited ({status}) before it was ready")
                } else if matches!(p.get("/-/ready"), Ok((200, _))) {
                    return Ok(p);
                } else if Instant::now() >= deadline {
                    format!("prometheus on {addr} not ready within {READY_TIMEOUT:?}")
                } else {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                };
            // The caller owns the directory (and may try again in it); this drop only kills.
            p.dir = PathBuf::new();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("{failure}; its stderr:\n{text}");
        }
    }

    /// e.g. "http://127.0.0.1:41234"
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An instant query; errors carry Prometheus' own error message (bad PromQL fails here).
    pub fn query(&self, promql: &str) -> anyhow::Result<Vec<Sample>> {
        let data = self.api(&format!("/api/v1/query?query={}", encode(promql)), promql)?;
        parse_vector(&data).with_context(|| format!("query {promql:?}: unexpected result {data}"))
    }

    /// Polls `query` until `pred` holds or `timeout` passes; returns the last result, or an
    /// error naming the query and the last result.
    pub fn wait_for(
        &self,
        promql: &str,
        timeout: Duration,
        pred: impl Fn(&[Sample]) -> bool,
    ) -> anyhow::Result<Vec<Sample>> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.query(promql)?;
            if pred(&last) {
                return Ok(last);
            }
            if Instant::now() >= deadline {
                bail!(
                    "query {promql:?}: condition not met within {timeout:?}; last result: {last:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `/api/v1/query_exemplars` over [start, end] (Unix seconds).
    pub fn query_exemplars(
        &self,
        promql: &str,
        start: f64,
        end: f64,
    ) -> anyhow::Result<Vec<ExemplarSample>> {
        let path = format!(
            "/api/v1/query_exemplars?query={}&start={start:.3}&end={end:.3}",
            encode(promql)
        );
        let data = self.api(&path, promql)?;
        parse_exemplars(&data)
            .with_context(|| format!("query_exemplars {promql:?}: unexpected result {data}"))
    }

    /// GETs an API path; the `data` member of a success, or Prometheus' error message.
    fn api(&self, path: &str, promql: &str) -> anyhow::Result<Value> {
        let (status, body) = self.get(path)?;
        let json: Value = serde_json::from_slice(&body).with_context(|| {
            format!(
                "{promql:?}: HTTP {status}, not JSON: {}",
                String::from_utf8_lossy(&body)
            )
        })?;
        if json["status"] == "success" {
            return Ok(json["data"].clone());
        }
        bail!(
            "Prometheus refused {promql:?} (HTTP {status}, {}): {}",
            json["errorType"].as_str().unwrap_or("?"),
            json["error"].as_str().unwrap_or("no message")
        )
    }

    /// A plain HTTP/1.0 GET (the server closes the connection after the body).
    fn get(&self, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect_timeout(&self.addr, REQUEST_TIMEOUT)
            .with_context(|| format!("connecting to prometheus on {}", self.addr))?;
        s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        s.set_write_timeout(Some(REQUEST_TIMEOUT))?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr)?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .with_context(|| format!("reading the answer to GET {path}"))?;
        split_response(&raw).with_context(|| format!("GET {path}"))
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The configuration file: every target scraped each second, labels kept as exposed.
fn scrape_config(targets: &[&str]) -> String {
    let list = targets
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: sonde\n    honor_labels: true\n    metrics_path: /metrics\n    \
         static_configs:\n      - targets: [{list}]\n"
    )
}

/// A fresh directory under the system temp dir.
fn temp_dir() -> anyhow::Result<PathBuf> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sonde-prometheus-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?)
}

/// Percent-encodes a query parameter value.
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// (status, body) of a raw HTTP/1.x response read to its end.
fn split_response(raw: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers in the response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line: {head}"))?;
    Ok((status, raw[end + 4..].to_vec()))
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// A sample value: Prometheus sends numbers as strings ("1", "+Inf", "NaN").
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => match s.as_str() {
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn parse_vector(data: &Value) -> anyhow::Result<Vec<Sample>> {
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .context("no result array")?
            .iter()
            .map(|r| {
                Ok(Sample {
                    labels: labels(&r["metric"]),
                    value: number(&r["value"][1]).context("no value")?,
                })
            })
            .collect(),
        Some("scalar") => Ok(vec![Sample {
            labels: BTreeMap::new(),
            value: number(&data["result"][1]).context("no value")?,
        }]),
        other => bail!("result type {other:?}; use an instant vector or scalar expression"),
    }
}

fn parse_exemplars(data: &Value) -> anyhow::Result<Vec<ExemplarSample>> {
    let mut out = Vec::new();
    for series in data.as_array().context("not an array")? {
        let series_labels = labels(&series["seriesLabels"]);
        for e in series["exemplars"]
            .as_array()
            .context("no exemplars array")?
        {
            out.push(ExemplarSample {
                series: series_labels.clone(),
                labels: labels(&e["labels"]),
                value: number(&e["value"]).context("no exemplar value")?,
                timestamp: number(&e["timestamp"]).context("no exemplar timestamp")?,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn vectors_scalars_and_exemplars_parse() {
        let v: Value = serde_json::from_str(
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1.5,"+Inf"]}]}"#,
        )
        .unwrap();
        let s = parse_vector(&v).unwrap();
        assert_eq!(s[0].labels["job"], "a");
        assert_eq!(s[0].value, f64::INFINITY);
        let v: Value =
            serde_json::from_str(r#"{"resultType":"scalar","result":[1.5,"2"]}"#).unwrap();
        assert_eq!(parse_vector(&v).unwrap()[0].value, 2.0);
        let v: Value = serde_json::from_str(r#"{"resultType":"matrix","result":[]}"#).unwrap();
        assert!(parse_vector(&v).is_err());
        let v: Value = serde_json::from_str(
            r#"[{"seriesLabels":{"le":"0.5"},"exemplars":[{"labels":{"trace_id":"ab"},"value":"0.3","timestamp":1600096945.479}]}]"#,
        )
        .unwrap();
        let e = parse_exemplars(&v).unwrap();
        assert_eq!(
            (e[0].series["le"].as_str(), e[0].labels["trace_id"].as_str()),
            ("0.5", "ab")
        );
        assert_eq!((e[0].value, e[0].timestamp), (0.3, 1600096945.479));
    }

    #[test]
    fn responses_split_and_queries_encode() {
        let (status, body) = split_response(b"HTTP/1.0 400 Bad Request\r\nA: b\r\n\r\n{}").unwrap();
        assert_eq!((status, body.as_slice()), (400, b"{}".as_slice()));
        assert_eq!(encode("a{b=\"c d\"}"), "a%7Bb%3D%22c%20d%22%7D");
        let cfg = scrape_config(&["127.0.0.1:1", "127.0.0.1:2"]);
        assert!(cfg.contains("honor_labels: true"), "{cfg}");
        assert!(cfg.contains("[\"127.0.0.1:1\", \"127.0.0.1:2\"]"), "{cfg}");
    }
}

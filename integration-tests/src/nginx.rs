//! nginx as a server no one here wrote: started in a network namespace from
//! `fixtures/nginx_workers.conf`, stopped gracefully on drop, and its access log read back
//! as the ground truth Sonde's counts ([`http_counts_by_status`]) are compared with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric;

use crate::{fixture, otlp, NetnsPair, Receiver, Side};

/// One line of the access log: one request nginx answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The response's status.
    pub status: u16,
    /// The worker that served it.
    pub pid: u32,
    /// nginx's serial number of the connection it came on.
    pub connection: u64,
    /// The client's port of that connection.
    pub remote_port: u16,
    /// Bytes of the request as received: request line, headers and body.
    pub request_length: u64,
    /// Bytes sent to the client: status line, headers and body.
    pub bytes_sent: u64,
    /// The request's target.
    pub uri: String,
}

/// A running nginx master (and its workers). Dropping it stops nginx gracefully and
/// removes its directory: a killed master leaves its workers running, holding the port.
pub struct Nginx {
    master: Child,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx in `side` of `pair`, listening on `listen` (`addr:port`) with `workers`
    /// worker processes, in a fresh directory named after `name`; returns once its workers
    /// are running.
    ///
    /// With `exe`, nginx runs from a copy of its executable of that name, which Sonde
    /// names the service after: a test that counts requests by service needs a name no
    /// other nginx on the host has, and `OTEL_SERVICE_NAME` cannot give it one (nginx
    /// writes its process titles over its environment, where /proc/PID/environ reads).
    pub fn start(
        pair: &NetnsPair,
        side: Side,
        listen: &str,
        workers: u32,
        name: &str,
        exe: Option<&str>,
    ) -> anyhow::Result<Nginx> {
        let workers_text = workers.to_string();
        let values = [("@LISTEN@", listen), ("@WORKERS@", workers_text.as_str())];
        Self::start_conf(
            pair,
            side,
            "nginx_workers.conf",
            &values,
            workers,
            name,
            exe,
        )
    }

    /// Like [`Nginx::start`], from the fixture `conf` with each `(placeholder, value)` of
    /// `values` filled in (and `@DIR@`); `workers` is how many worker processes it starts.
    pub fn start_conf(
        pair: &NetnsPair,
        side: Side,
        conf: &str,
        values: &[(&str, &str)],
        workers: u32,
        name: &str,
        exe: Option<&str>,
    ) -> anyhow::Result<Nginx> {
        if workers == 0 {
            bail!("nginx needs at least one worker");
        }
        let dir = std::env::temp_dir().join(format!("sonde-nginx-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tmp"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let d = dir.to_str().context("a temp path that is UTF-8")?;
        let mut conf = std::fs::read_to_string(fixture(conf))
            .with_context(|| format!("reading fixtures/{conf}"))?
            .replace("@DIR@", d);
        for (placeholder, value) in values {
            conf = conf.replace(placeholder, value);
        }
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).context("writing nginx.conf")?;
        let conf_arg = conf_path.to_str().context("a temp path that is UTF-8")?;
        let err = format!("{d}/error.log");
        let program = match exe {
            Some(exe) => {
                let copy = dir.join(exe);
                std::fs::copy(installed()?, &copy)
                    .with_context(|| format!("copying nginx to {}", copy.display()))?;
                copy.to_str()
                    .context("a temp path that is UTF-8")?
                    .to_owned()
            }
            None => "nginx".to_owned(),
        };
        let master = pair.spawn(side, &program, &["-p", d, "-c", conf_arg, "-e", &err])?;
        let nginx = Nginx { master, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while nginx.worker_pids().len() < workers as usize {
            if Instant::now() >= deadline {
                bail!(
                    "nginx did not start {workers} workers: {}",
                    std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(nginx)
    }

    /// The master's pid (the process that opened the listening socket).
    pub fn master_pid(&self) -> u32 {
        self.master.id()
    }

    /// The workers' pids (the master's children).
    pub fn worker_pids(&self) -> Vec<u32> {
        let pid = self.master.id();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Every request in the access log so far, in the order nginx wrote them.
    pub fn access_log(&self) -> anyhow::Result<Vec<Request>> {
        let path = self.dir.join("access.log");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        text.lines().map(parse_line).collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT: graceful shutdown, the workers finish and exit before the master.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.master.id().to_string()])
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.master.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.master.kill();
        let _ = self.master.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where `nginx` is: the first in `$PATH`, else /usr/sbin/nginx.
fn installed() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
        .context("no nginx in $PATH or /usr/sbin (install package nginx)")
}

/// One access log line, `$status $pid $connection $remote_port $request_uri`.
fn parse_line(line: &str) -> anyhow::Result<Request> {
    let mut f = line.splitn(7, ' ');
    let mut next = |what: &str| {
        f.next()
            .with_context(|| format!("no {what} in access log line {line:?}"))
    };
    let status = next("status")?.parse().context("status")?;
    let pid = next("pid")?.parse().context("pid")?;
    let connection = next("connection")?.parse().context("connection")?;
    let remote_port = next("remote port")?.parse().context("remote port")?;
    let request_length = next("request length")?.parse().context("request length")?;
    let bytes_sent = next("bytes sent")?.parse().context("bytes sent")?;
    let uri = next("uri")?.to_owned();
    Ok(Request {
        status,
        pid,
        connection,
        remote_port,
        request_length,
        bytes_sent,
        uri,
    })
}

/// Sonde's request counts by status (0: requests it counted without one) of the
/// cumulative histogram `metric` (`http.server.request.duration` or
/// `http.client.request.duration`) for service `service`, over the data points whose
/// attributes satisfy `filter`: what [`by_status`] of an access log is compared with.
pub fn http_counts_by_status(
    rx: &Receiver,
    metric: &str,
    service: &str,
    filter: impl Fn(&[KeyValue]) -> bool,
) -> BTreeMap<u16, u64> {
    let metrics: Vec<_> = rx
        .metrics_named(metric)
        .into_iter()
        .filter(|(res, _)| {
            otlp::attr_str(&res.attributes, sonde_semconv::resource::SERVICE_NAME).as_deref()
                == Some(service)
        })
        .collect();
    let status = |at: &[KeyValue]| {
        otlp::attr_int(at, sonde_semconv::attr::HTTP_RESPONSE_STATUS_CODE)
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(0)
    };
    let statuses: BTreeSet<u16> = metrics
        .iter()
        .filter_map(|(_, m)| match &m.data {
            Some(metric::Data::Histogram(h)) => Some(&h.data_points),
            _ => None,
        })
        .flatten()
        .filter(|p| filter(&p.attributes))
        .map(|p| status(&p.attributes))
        .collect();
    statuses
        .into_iter()
        .map(|s| {
            let n = otlp::latest_histogram_count(&metrics, |at| filter(at) && status(at) == s);
            (s, n)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Requests per status.
pub fn by_status(requests: &[Request]) -> BTreeMap<u16, u64> {
    let mut out = BTreeMap::new();
    for r in requests {
        *out.entry(r.status).or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_access_log_lines() {
        let r = parse_line("404 1234 17 40112 77 312 /missing?x=1 y").ok();
        assert_eq!(
            r,
            Some(Request {
                status: 404,
                pid: 1234,
                connection: 17,
                remote_port: 40112,
                request_length: 77,
                bytes_sent: 312,
                uri: "/missing?x=1 y".to_owned(),
            })
        );
        assert!(parse_line("200 12").is_err());
        let reqs = [200, 404, 200].map(|status| Request {
            status,
            pid: 1,
            connection: 1,
            remote_port: 1,
            request_length: 1,
            bytes_sent: 1,
            uri: "/".to_owned(),
        });
        assert_eq!(by_status(&reqs), BTreeMap::from([(200, 2), (404, 1)]));
    }
}

//! The deployment files in otel-examples/, each through the best validator this machine
//! has (see otel-examples/README.md, "How these files are checked"):
//! - Collector and Alloy configs: this crate's structural checks (no otelcol/alloy binary);
//! - Kubernetes manifests: tests/validators/k8s_schema.py against the API types of the
//!   Debian python3-kubernetes client;
//! - docker-compose.yaml: `docker-compose config` (Debian docker-compose, no daemon needed);
//! - the systemd unit: `systemd-analyze verify` and `systemd-analyze security --offline`;
//! - prometheus.yaml: `promtool check config` (without the Prometheus 3 `otlp` block);
//! - Grafana provisioning: the uids the links use exist.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sonde_otel_examples::{alloy, examples_dir, otelcol};
use sonde_semconv::prometheus::PROMOTED_RESOURCE_ATTRIBUTES;
use yaml_serde::Value;

fn path(rel: &str) -> PathBuf {
    examples_dir().join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    yaml_serde::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e} (.ci/run installs it)"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn temp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sonde-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    p
}

fn all_files(dir: &Path, ext: &[&str], out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.ends_with("target") {
            all_files(&p, ext, out);
        } else if p.extension().is_some_and(|x| ext.iter().any(|e| x == *e)) {
            out.push(p);
        }
    }
}

#[test]
fn every_yaml_file_parses_without_duplicate_keys() {
    use serde::Deserialize as _;
    let mut files = Vec::new();
    all_files(&examples_dir(), &["yaml", "yml"], &mut files);
    assert!(files.len() >= 10, "{files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for doc in yaml_serde::Deserializer::from_str(&text) {
            Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        }
    }
    // Duplicate keys are an error, not a silent override.
    assert!(yaml_serde::from_str::<Value>("a: 1\na: 2\n").is_err());
}

#[test]
fn collector_and_alloy_route_metrics_to_mimir_traces_to_tempo_logs_to_loki() {
    let col = otelcol::check(&read("collector/otelcol.yaml"))
        .unwrap_or_else(|e| panic!("otelcol.yaml: {e}"));
    let all = alloy::check(&read("collector/config.alloy"))
        .unwrap_or_else(|e| panic!("config.alloy: {e}"));
    assert_eq!(col["metrics"], vec!["http://mimir:8080/otlp".to_owned()]);
    assert_eq!(col["traces"], vec!["tempo:4317".to_owned()]);
    assert_eq!(col["logs"], vec!["http://loki:3100/otlp".to_owned()]);
    assert_eq!(
        col, all,
        "the collector and Alloy configs route differently"
    );
    // The compose stack overrides the metrics endpoint with Prometheus' OTLP path.
    let compose = yaml("docker-compose/docker-compose.yaml");
    let env = &compose["services"]["otel-collector"]["environment"];
    assert_eq!(
        env["METRICS_OTLP_ENDPOINT"].as_str(),
        Some("http://prometheus:9090/api/v1/otlp")
    );
    assert_eq!(
        env["LOGS_OTLP_ENDPOINT"].as_str(),
        Some("http://loki:3100/otlp")
    );
    assert!(read("collector/otelcol.yaml").contains("${env:METRICS_OTLP_ENDPOINT"));
}

/// The capabilities the systemd unit grants.
fn unit_capabilities() -> BTreeSet<String> {
    let unit = read("systemd/sonde.service");
    let line = |key: &str| -> BTreeSet<String> {
        unit.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key}"))
            .split_whitespace()
            .map(|c| c.trim_start_matches("CAP_").to_owned())
            .collect()
    };
    let bounding = line("CapabilityBoundingSet=");
    assert_eq!(bounding, line("AmbientCapabilities="));
    bounding
}

#[test]
fn kubernetes_manifests_match_the_api_types() {
    let validator = path("tests/validators/k8s_schema.py");
    let v = validator.to_str().unwrap();
    let ds = path("kubernetes/daemonset.yaml");
    let out = run("/usr/bin/python3", &[v, ds.to_str().unwrap()]);
    assert!(out.status.success(), "daemonset.yaml:\n{}", text(&out));
    assert!(text(&out).contains("ok DaemonSet/sonde"), "{}", text(&out));

    // The validator refuses what the API server would.
    let original = read("kubernetes/daemonset.yaml");
    for (from, to, why) in [
        ("hostPID: true", "hostPid: true", "no field 'hostPid'"),
        ("cpu: 100m", "cpu: [1]", "expected str"),
        (
            "      containers:\n",
            "      containerz:\n",
            "`containers`, must not be `None`",
        ),
        ("privileged: false", "privileged: \"no\"", "expected bool"),
    ] {
        assert!(original.contains(from), "{from}");
        let bad = temp("bad-daemonset.yaml", &original.replacen(from, to, 1));
        let out = run("/usr/bin/python3", &[v, bad.to_str().unwrap()]);
        assert!(
            !out.status.success() && text(&out).contains(why),
            "{to}: {}",
            text(&out)
        );
    }

    // The decisions README.md explains.
    let docs: Vec<Value> = yaml_serde::Deserializer::from_str(&original)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let ds = docs.iter().find(|d| d["kind"] == "DaemonSet").unwrap();
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(spec["hostPID"], Value::Bool(true));
    assert_eq!(spec["hostNetwork"], Value::Bool(true));
    let c = &spec["containers"][0];
    let mounts: BTreeSet<&str> = c["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    for m in [
        "/sys/kernel/btf",
        "/sys/fs/bpf",
        "/sys/fs/cgroup",
        "/sys/kernel/tracing",
    ] {
        assert!(mounts.contains(m), "no mount at {m}");
    }
    assert!(c["resources"]["limits"]["memory"].as_str().is_some());
    assert!(c["resources"]["requests"]["cpu"].as_str().is_some());
    let env = c["env"].as_sequence().unwrap();
    assert!(env
        .iter()
        .any(|e| e["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"));
    let caps: BTreeSet<String> = c["securityContext"]["capabilities"]["add"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        caps,
        unit_capabilities(),
        "the DaemonSet and the systemd unit grant different capabilities"
    );
    let config: Value =
        yaml_serde::from_str(docs[1]["data"]["sonde.yaml"].as_str().unwrap()).unwrap();
    assert!(config["exporter"]["endpoint"].as_str().is_some());
}

#[test]
fn docker_compose_file_is_valid() {
    let file = path("docker-compose/docker-compose.yaml");
    let out = run(
        "docker-compose",
        &["-f", file.to_str().unwrap(), "config", "-q"],
    );
    assert!(
        out.status.success(),
        "docker-compose config:\n{}",
        text(&out)
    );
    // It does refuse a broken file (a misspelt key).
    let bad = temp(
        "docker-compose.yaml",
        &read("docker-compose/docker-compose.yaml").replacen(
            "    image: grafana/loki",
            "    imag: grafana/loki",
            1,
        ),
    );
    let out = run(
        "docker-compose",
        &["-f", bad.to_str().unwrap(), "config", "-q"],
    );
    assert!(
        !out.status.success() && text(&out).contains("'imag'"),
        "{}",
        text(&out)
    );
    // Every file a service mounts exists.
    let compose = yaml("docker-compose/docker-compose.yaml");
    for (name, svc) in compose["services"].as_mapping().unwrap() {
        for v in svc["volumes"].as_sequence().into_iter().flatten() {
            let src = v.as_str().unwrap().split(':').next().unwrap();
            if src.starts_with('.') {
                assert!(
                    path("docker-compose").join(src).exists(),
                    "{name:?} mounts missing {src}"
                );
            }
        }
    }
}

#[test]
fn systemd_unit_verifies_and_is_sandboxed() {
    let unit = read("systemd/sonde.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/sonde "));
    // verify also checks the binary exists; it is installed elsewhere, so point at one that does.
    let copy = temp(
        "sonde.service",
        &unit.replace("ExecStart=/usr/local/bin/sonde", "ExecStart=/bin/true"),
    );
    let out = run("systemd-analyze", &["verify", copy.to_str().unwrap()]);
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "systemd-analyze verify:\n{}",
        text(&out)
    );
    let bad = temp(
        "bad/sonde.service",
        &unit
            .replace("ExecStart=/usr/local/bin/sonde", "ExecStart=/bin/true")
            .replace("Restart=on-failure", "Restart=sometimes"),
    );
    let out = run("systemd-analyze", &["verify", bad.to_str().unwrap()]);
    assert!(
        !text(&out).trim().is_empty(),
        "verify let a bad Restart= value through: {}",
        text(&out)
    );

    let out = run(
        "systemd-analyze",
        &["security", "--offline=true", copy.to_str().unwrap()],
    );
    let t = text(&out);
    let level: f64 = t
        .lines()
        .find_map(|l| l.split("Overall exposure level for sonde.service: ").nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{t}"));
    assert!(level <= 5.0, "exposure {level} > 5.0:\n{t}");
    let caps = unit_capabilities();
    for c in ["BPF", "PERFMON", "NET_ADMIN"] {
        assert!(caps.contains(c), "the unit lacks CAP_{c}");
    }
    assert!(!caps.contains("SYS_ADMIN"), "the unit grants CAP_SYS_ADMIN");
}

#[test]
fn prometheus_config_checks_and_promotes_what_the_dashboards_filter_on() {
    let config = yaml("docker-compose/prometheus.yaml");
    let promoted: Vec<&str> = config["otlp"]["promote_resource_attributes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(promoted, PROMOTED_RESOURCE_ATTRIBUTES);
    // promtool 2.42 predates the otlp block (Prometheus 3): check the rest.
    let mut rest = config.clone();
    rest.as_mapping_mut().unwrap().remove("otlp");
    let copy = temp("prometheus.yaml", &yaml_serde::to_string(&rest).unwrap());
    let out = run(
        "/usr/bin/promtool",
        &["check", "config", copy.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "promtool check config:\n{}",
        text(&out)
    );
    for doc in [
        "collector/otelcol.yaml",
        "collector/README.md",
        "grafana-cloud/README.md",
    ] {
        let t = read(doc);
        assert!(
            PROMOTED_RESOURCE_ATTRIBUTES.iter().all(|a| t.contains(a)),
            "{doc} does not name every promoted resource attribute"
        );
    }
}

#[test]
fn grafana_provisioning_links_existing_datasources() {
    let ds = yaml("grafana/provisioning/datasources/sonde.yaml");
    let list = ds["datasources"].as_sequence().unwrap();
    let uids: BTreeSet<&str> = list.iter().map(|d| d["uid"].as_str().unwrap()).collect();
    let types: BTreeSet<&str> = list.iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["loki", "prometheus", "tempo"].into_iter().collect());
    let prom = list.iter().find(|d| d["type"] == "prometheus").unwrap();
    let dest = &prom["jsonData"]["exemplarTraceIdDestinations"][0];
    assert_eq!(
        dest["name"].as_str(),
        Some("trace_id"),
        "exemplars carry trace_id"
    );
    let links = [
        dest["datasourceUid"].as_str(),
        list.iter().find(|d| d["type"] == "tempo").unwrap()["jsonData"]["tracesToLogsV2"]
            ["datasourceUid"]
            .as_str(),
        list.iter().find(|d| d["type"] == "loki").unwrap()["jsonData"]["derivedFields"][0]
            ["datasourceUid"]
            .as_str(),
    ];
    for l in links {
        assert!(
            uids.contains(l.unwrap()),
            "{l:?} is no provisioned datasource"
        );
    }
    let dash = yaml("grafana/provisioning/dashboards/sonde.yaml");
    let dir = dash["providers"][0]["options"]["path"].as_str().unwrap();
    let compose = read("docker-compose/docker-compose.yaml");
    assert!(
        compose.contains(&format!("../grafana/dashboards:{dir}:ro")),
        "compose does not mount the dashboards at {dir}"
    );
}

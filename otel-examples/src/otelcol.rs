//! A structural check of an OpenTelemetry Collector configuration, for where no `otelcol`
//! binary can run `validate`: sections and component ids, the signals each component type
//! supports, pipelines that reference only defined components, `${env:...}` syntax, and
//! where each signal ends up. It does not check a component's own settings beyond the
//! endpoint keys the routing needs.

use std::collections::{BTreeMap, BTreeSet};

use yaml_serde::Value;

/// Component types this check knows, by section, with the signals they handle.
const KNOWN: &[(&str, &str, &[&str])] = &[
    ("receivers", "otlp", &["traces", "metrics", "logs"]),
    ("processors", "batch", &["traces", "metrics", "logs"]),
    (
        "processors",
        "memory_limiter",
        &["traces", "metrics", "logs"],
    ),
    ("processors", "resource", &["traces", "metrics", "logs"]),
    ("processors", "attributes", &["traces", "metrics", "logs"]),
    ("processors", "transform", &["traces", "metrics", "logs"]),
    ("exporters", "otlp", &["traces", "metrics", "logs"]),
    ("exporters", "otlphttp", &["traces", "metrics", "logs"]),
    ("exporters", "prometheusremotewrite", &["metrics"]),
    ("exporters", "debug", &["traces", "metrics", "logs"]),
    ("extensions", "health_check", &[]),
    ("extensions", "basicauth", &[]),
    ("extensions", "pprof", &[]),
];

const SECTIONS: &[&str] = &[
    "receivers",
    "processors",
    "exporters",
    "extensions",
    "connectors",
    "service",
];

/// Where each signal goes: pipeline name → the endpoints of its exporters (environment
/// defaults resolved).
pub type Routes = BTreeMap<String, Vec<String>>;

fn str_key(v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("key {v:?} is not a string"))
}

/// Replaces `${env:NAME:-default}` by its default (and `${env:NAME}` by ""), checking the
/// syntax; returns the error for a malformed reference.
pub fn resolve_env(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(pos) = rest.find("${") {
        out.push_str(&rest[..pos]);
        let body = &rest[pos + 2..];
        let end = body
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {s:?}"))?;
        let inner = &body[..end];
        let var = inner
            .strip_prefix("env:")
            .ok_or_else(|| format!("{s:?}: only ${{env:NAME}} references are expected"))?;
        let (name, default) = var.split_once(":-").unwrap_or((var, ""));
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(format!("{s:?}: bad variable name {name:?}"));
        }
        out.push_str(default);
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn walk_strings(v: &Value, f: &mut impl FnMut(&str) -> Result<(), String>) -> Result<(), String> {
    match v {
        Value::String(s) => f(s),
        Value::Sequence(seq) => seq.iter().try_for_each(|x| walk_strings(x, f)),
        Value::Mapping(m) => m.values().try_for_each(|x| walk_strings(x, f)),
        Value::Tagged(t) => walk_strings(&t.value, f),
        _ => Ok(()),
    }
}

/// Checks a collector configuration (YAML text); returns where each pipeline sends.
pub fn check(yaml: &str) -> Result<Routes, String> {
    let doc: Value = yaml_serde::from_str(yaml).map_err(|e| format!("not YAML: {e}"))?;
    let top = doc
        .as_mapping()
        .ok_or("the configuration is not a mapping")?;
    walk_strings(&doc, &mut |s| resolve_env(s).map(|_| ()))?;
    let mut defined: BTreeMap<(String, String), (&'static [&'static str], Value)> = BTreeMap::new();
    for (k, v) in top {
        let section = str_key(k)?;
        if !SECTIONS.contains(&section.as_str()) {
            return Err(format!("unknown top-level section {section:?}"));
        }
        if section == "service" {
            continue;
        }
        let Some(components) = v.as_mapping() else {
            return Err(format!("{section} is not a mapping"));
        };
        for (id, conf) in components {
            let id = str_key(id)?;
            let ty = id.split('/').next().unwrap_or_default();
            let Some((_, _, signals)) = KNOWN.iter().find(|(s, t, _)| *s == section && *t == ty)
            else {
                return Err(format!(
                    "{section}: unknown component type {ty:?} (id {id:?})"
                ));
            };
            defined.insert((section.clone(), id), (*signals, conf.clone()));
        }
    }
    let service = top
        .get("service")
        .and_then(Value::as_mapping)
        .ok_or("no service section")?;
    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    if let Some(exts) = service.get("extensions") {
        for e in exts
            .as_sequence()
            .ok_or("service.extensions is not a list")?
        {
            let id = str_key(e)?;
            let key = ("extensions".to_owned(), id.clone());
            if !defined.contains_key(&key) {
                return Err(format!(
                    "service.extensions names undefined extension {id:?}"
                ));
            }
            used.insert(key);
        }
    }
    let pipelines = service
        .get("pipelines")
        .and_then(Value::as_mapping)
        .ok_or("no service.pipelines")?;
    let mut routes = Routes::new();
    for (name, p) in pipelines {
        let name = str_key(name)?;
        let signal = name.split('/').next().unwrap_or_default().to_owned();
        if !["traces", "metrics", "logs"].contains(&signal.as_str()) {
            return Err(format!("pipeline {name:?}: unknown signal {signal:?}"));
        }
        let p = p
            .as_mapping()
            .ok_or_else(|| format!("pipeline {name:?} is not a mapping"))?;
        for k in p.keys() {
            let k = str_key(k)?;
            if !["receivers", "processors", "exporters"].contains(&k.as_str()) {
                return Err(format!("pipeline {name:?}: unknown key {k:?}"));
            }
        }
        for role in ["receivers", "processors", "exporters"] {
            let ids = match p.get(role) {
                Some(v) => v
                    .as_sequence()
                    .ok_or_else(|| format!("pipeline {name:?}: {role} is not a list"))?
                    .clone(),
                None if role == "processors" => Vec::new(),
                None => return Err(format!("pipeline {name:?} has no {role}")),
            };
            if ids.is_empty() && role != "processors" {
                return Err(format!("pipeline {name:?} has no {role}"));
            }
            for id in ids {
                let id = str_key(&id)?;
                let key = (role.to_owned(), id.clone());
                let Some((signals, conf)) = defined.get(&key) else {
                    return Err(format!("pipeline {name:?} uses undefined {role} {id:?}"));
                };
                if !signals.contains(&signal.as_str()) {
                    return Err(format!("{role} {id:?} does not handle {signal}"));
                }
                if role == "exporters" {
                    let endpoint = conf
                        .get("endpoint")
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("exporter {id:?} has no endpoint"))?;
                    routes
                        .entry(name.clone())
                        .or_default()
                        .push(resolve_env(endpoint)?);
                }
                used.insert(key);
            }
        }
    }
    if let Some((section, id)) = defined.keys().find(|k| !used.contains(*k)) {
        return Err(format!(
            "{section} {id:?} is defined but no pipeline uses it"
        ));
    }
    Ok(routes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const OK: &str = "receivers: {otlp: {protocols: {grpc: {endpoint: 0.0.0.0:4317}}}}\n\
        exporters: {otlphttp/m: {endpoint: '${env:M:-http://mimir:8080/otlp}'}}\n\
        service: {pipelines: {metrics: {receivers: [otlp], exporters: [otlphttp/m]}}}\n";

    #[test]
    fn accepts_a_pipeline_and_reports_its_route() {
        let routes = check(OK).unwrap();
        assert_eq!(routes["metrics"], vec!["http://mimir:8080/otlp".to_owned()]);
    }

    #[test]
    fn finds_what_a_collector_would_refuse() {
        let e = |from: &str, to: &str| check(&OK.replace(from, to)).unwrap_err();
        assert!(e("exporters: [otlphttp/m]", "exporters: [otlphttp/x]").contains("undefined"));
        assert!(e("otlphttp/m: {", "lokii: {").contains("unknown component type"));
        assert!(e("pipelines: {metrics:", "pipelines: {metric:").contains("unknown signal"));
        assert!(e("${env:M:-", "${M:-").contains("env:"));
        assert!(e(
            "exporters: [otlphttp/m]}",
            "exporters: [otlphttp/m], processor: []}"
        )
        .contains("unknown key"));
        assert!(check(
            &OK.replace("metrics: {", "logs: {")
                .replace(
                    "otlphttp/m: {endpoint",
                    "prometheusremotewrite/m: {endpoint"
                )
                .replace("[otlphttp/m]", "[prometheusremotewrite/m]")
        )
        .unwrap_err()
        .contains("does not handle logs"));
        assert!(check(&format!("{OK}processors: {{batch: {{}}}}\n"))
            .unwrap_err()
            .contains("no pipeline uses"));
        assert!(check("receivers: {otlp: {}}\nreceivers: {otlp: {}}\n")
            .unwrap_err()
            .contains("not YAML"));
    }
}

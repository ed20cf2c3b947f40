//! The committed dashboards: generated from semconv, importable by Grafana, and every
//! query naming only series and labels Sonde produces. PromQL syntax is checked by
//! `promtool` (Debian package prometheus); the end-to-end test in integration-tests runs
//! every query against a Prometheus that scraped a real agent.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use sonde_otel_examples::catalog::check_promql;
use sonde_otel_examples::dashboards::{self, FILTERS, REMOTE};
use sonde_otel_examples::promql::{self, parse_label_values, substitute};
use sonde_otel_examples::{dashboards_dir, file_name, render};
use sonde_semconv::attr as a;
use sonde_semconv::prometheus::label_name;
use sonde_semconv::resource as r;

/// What Grafana substitutes for its built-in variables, and "All" for ours.
fn test_vars() -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("__rate_interval", "2m"),
        ("__interval", "15s"),
        ("__auto", "1m"),
        ("__range", "1h"),
        (REMOTE, ".*"),
    ];
    v.extend(FILTERS.iter().map(|(name, _)| (*name, ".*")));
    v
}

fn committed() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dashboards_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
            out.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                json,
            ));
        }
    }
    out.sort_by(|x, y| x.0.cmp(&y.0));
    out
}

/// `(dashboard file, panel title, datasource type, query)` for every target of every panel.
fn queries() -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for (file, d) in committed() {
        for p in d["panels"].as_array().unwrap() {
            if p["type"] == "row" {
                continue;
            }
            for t in p["targets"].as_array().unwrap() {
                let q = t.get("expr").or_else(|| t.get("query")).unwrap();
                out.push((
                    file.clone(),
                    p["title"].as_str().unwrap().to_owned(),
                    t["datasource"]["type"].as_str().unwrap().to_owned(),
                    q.as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    out
}

#[test]
fn committed_dashboards_are_what_semconv_renders() {
    let all = dashboards::all();
    let mut failures = Vec::new();
    let regenerate = std::env::var_os("SONDE_UPDATE_GOLDEN").is_some_and(|v| v == "1");
    for d in &all {
        let path = dashboards_dir().join(file_name(d));
        let want = render(d);
        if regenerate {
            std::fs::write(&path, &want).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(got) if got == want => {}
            Ok(_) => failures.push(format!(
                "{} differs from what the semconv names render",
                path.display()
            )),
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    let files: BTreeSet<String> = committed().into_iter().map(|(f, _)| f).collect();
    let rendered: BTreeSet<String> = all.iter().map(file_name).collect();
    assert_eq!(
        files, rendered,
        "a dashboard file nobody generates, or one missing"
    );
    assert!(
        failures.is_empty(),
        "{}\nRegenerate with `cargo run -p sonde-otel-examples --bin gen-dashboards` (or \
         SONDE_UPDATE_GOLDEN=1 cargo test -p sonde-otel-examples) and review the diff.",
        failures.join("\n")
    );
}

#[test]
fn dashboards_have_the_structure_grafana_imports() {
    let mut uids = BTreeSet::new();
    for (file, d) in committed() {
        let uid = d["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: no uid"));
        assert!(
            uid.len() <= 40 && uids.insert(uid.to_owned()),
            "{file}: bad or duplicate uid"
        );
        assert_eq!(file, format!("{uid}.json"));
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{file}: no title"
        );
        assert!(
            d["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
            "{file}: schemaVersion"
        );
        let vars = d["templating"]["list"]
            .as_array()
            .unwrap_or_else(|| panic!("{file}: no templating.list"));
        let names: BTreeSet<&str> = vars.iter().map(|v| v["name"].as_str().unwrap()).collect();
        for ds in [
            ("datasource", "prometheus"),
            ("tempo", "tempo"),
            ("loki", "loki"),
        ] {
            assert!(
                vars.iter()
                    .any(|v| v["type"] == "datasource" && v["name"] == ds.0 && v["query"] == ds.1),
                "{file}: no datasource variable {} of type {}",
                ds.0,
                ds.1
            );
        }
        for (f, _) in FILTERS.iter().chain([&(REMOTE, "")]) {
            assert!(names.contains(f), "{file}: no filter variable {f}");
        }
        let panels = d["panels"]
            .as_array()
            .unwrap_or_else(|| panic!("{file}: no panels"));
        assert!(
            panels.iter().any(|p| p["type"] != "row"),
            "{file}: no panel"
        );
        let mut ids = BTreeSet::new();
        for p in panels {
            let title = p["title"].as_str().unwrap();
            assert!(
                ids.insert(p["id"].as_u64().unwrap()),
                "{file}: duplicate panel id"
            );
            let g = &p["gridPos"];
            let (x, w) = (g["x"].as_u64().unwrap(), g["w"].as_u64().unwrap());
            assert!(
                x + w <= 24 && g["h"].as_u64().unwrap() > 0,
                "{file}/{title}: gridPos"
            );
            if p["type"] == "row" {
                continue;
            }
            let ds = p["datasource"]["uid"].as_str().unwrap();
            let var = ds.trim_start_matches("${").trim_end_matches('}');
            assert!(
                names.contains(var),
                "{file}/{title}: datasource {ds} is no variable"
            );
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{file}/{title}: no targets");
            for t in targets {
                assert!(
                    t["refId"].as_str().is_some(),
                    "{file}/{title}: target without refId"
                );
                assert_eq!(t["datasource"], p["datasource"], "{file}/{title}");
                for v in promql::variables(
                    t.get("expr")
                        .or_else(|| t.get("query"))
                        .unwrap()
                        .as_str()
                        .unwrap(),
                ) {
                    assert!(
                        names.contains(v.as_str()) || v.starts_with("__"),
                        "{file}/{title}: ${v} is not a variable of the dashboard"
                    );
                }
            }
        }
    }
    assert_eq!(uids.len(), dashboards::all().len());
}

#[test]
fn every_promql_names_only_series_and_labels_sonde_produces() {
    let vars = test_vars();
    let mut checked = 0;
    for (file, panel, ds, q) in queries().into_iter().filter(|q| q.2 == "prometheus") {
        let expr = substitute(&q, &vars);
        check_promql(&expr).unwrap_or_else(|e| panic!("{file} / {panel} ({ds}): {e}"));
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} PromQL queries found");
}

#[test]
fn legends_name_labels_the_query_keeps() {
    for (file, d) in committed() {
        for p in d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["datasource"]["type"] == "prometheus")
        {
            for t in p["targets"].as_array().unwrap() {
                let expr = substitute(t["expr"].as_str().unwrap(), &test_vars());
                let usage = promql::usage(&expr).unwrap();
                let legend = t["legendFormat"].as_str().unwrap();
                for part in legend.split("{{").skip(1) {
                    let label = part.split("}}").next().unwrap().trim();
                    assert!(
                        usage.labels.contains(label),
                        "{file} / {}: legend {{{{{label}}}}} is no label of {expr}",
                        p["title"]
                    );
                }
            }
        }
    }
}

#[test]
fn variable_queries_name_known_series_and_labels() {
    for (file, d) in committed() {
        for v in d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["type"] == "query")
        {
            let q = v["query"]["query"].as_str().unwrap();
            assert_eq!(v["definition"].as_str(), Some(q));
            let (selector, label) = parse_label_values(q)
                .unwrap_or_else(|| panic!("{file}: {q} is not label_values(...)"));
            let selector = substitute(&selector.unwrap(), &test_vars());
            let usage =
                check_promql(&selector).unwrap_or_else(|e| panic!("{file} ${}: {e}", v["name"]));
            let expr = format!("count by ({label}) ({selector})");
            check_promql(&expr).unwrap_or_else(|e| panic!("{file} ${}: {e}", v["name"]));
            assert_eq!(usage.metrics.len(), 1);
        }
    }
}

/// LogQL cannot be run here (no Loki): check its shape and that every label it filters on
/// is a semconv key as Loki's OTLP ingestion spells it (dots to underscores).
#[test]
fn logql_filters_on_semconv_keys() {
    let known: BTreeSet<String> = [
        r::SERVICE_NAME,
        r::HOST_NAME,
        r::PROCESS_EXECUTABLE_NAME,
        r::CONTAINER_ID,
        a::SERVER_ADDRESS,
        a::TCP_SOCKET_COOKIE,
        a::TCP_RETRANSMITS,
        a::ERROR_TYPE,
        a::DNS_QUESTION_NAME,
        a::DNS_RESPONSE_CODE,
        a::TCP_DROPS,
        a::LISTEN_STATE,
        a::NETWORK_LOCAL_PORT,
    ]
    .iter()
    .map(|k| label_name(k))
    .collect();
    let loki: Vec<_> = queries().into_iter().filter(|q| q.2 == "loki").collect();
    assert!(loki.len() >= 4);
    for (file, panel, _, q) in loki {
        let expr = substitute(&q, &test_vars());
        let start = expr
            .find('{')
            .unwrap_or_else(|| panic!("{file}/{panel}: no stream selector"));
        let close = expr[start..].find('}').unwrap() + start;
        assert_eq!(
            &expr[start + 1..start + 13],
            "service_name",
            "{file}/{panel}: {expr}"
        );
        let mut labels = vec!["service_name".to_owned()];
        for stage in expr[close + 1..].split(" | ").skip(1) {
            let stage = stage.trim();
            for cond in stage.split(" or ") {
                let name: String = cond
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(!name.is_empty(), "{file}/{panel}: stage {stage:?}");
                labels.push(name);
            }
        }
        for l in labels {
            assert!(
                known.contains(&l),
                "{file}/{panel}: {l} is no semconv key Loki stores"
            );
        }
        assert_eq!(
            expr.matches('(').count(),
            expr.matches(')').count(),
            "{file}/{panel}"
        );
        assert_eq!(expr.matches('"').count() % 2, 0, "{file}/{panel}");
    }
}

/// TraceQL cannot be run here (no Tempo): check the attributes are semconv keys.
#[test]
fn traceql_names_semconv_attributes() {
    let tempo: Vec<_> = queries().into_iter().filter(|q| q.2 == "tempo").collect();
    assert!(tempo.len() >= 2);
    let known = [
        format!("resource.{}", r::SERVICE_NAME),
        format!("resource.{}", r::HOST_NAME),
        format!("span.{}", a::SERVER_ADDRESS),
        format!("span.{}", a::HTTP_REQUEST_METHOD),
        format!("span.{}", a::HTTP_RESPONSE_STATUS_CODE),
    ];
    for (file, panel, _, q) in tempo {
        assert!(
            q.starts_with("{ ") && q.ends_with(" }"),
            "{file}/{panel}: {q}"
        );
        for word in q.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
            if word.starts_with("resource.") || word.starts_with("span.") {
                assert!(
                    known.iter().any(|k| k == word),
                    "{file}/{panel}: unknown attribute {word}"
                );
            }
        }
    }
}

/// `promtool check rules` parses each PromQL expression with Prometheus' own parser.
#[test]
fn promtool_parses_every_promql_expression() {
    let promtool = "/usr/bin/promtool";
    assert!(
        std::path::Path::new(promtool).exists(),
        "{promtool} is missing: install the Debian package prometheus (.ci/run does)"
    );
    let vars = test_vars();
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    let mut n = 0;
    for (file, panel, _, q) in queries().into_iter().filter(|q| q.2 == "prometheus") {
        let expr = substitute(&q, &vars);
        rules.push_str(&format!(
            "      - record: dashboard:q{n}\n        expr: {}\n        labels: {{ where: {} }}\n",
            serde_json::to_string(&expr).unwrap(),
            serde_json::to_string(&format!("{file} / {panel}")).unwrap()
        ));
        n += 1;
    }
    let dir = std::env::temp_dir().join(format!("sonde-promtool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rules.yaml");
    std::fs::write(&path, &rules).unwrap();
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool rejected a dashboard query:\n{text}"
    );
    assert!(
        text.contains(&format!("SUCCESS: {n} rules found")),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

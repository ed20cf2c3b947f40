//! A structural check of a Grafana Alloy configuration, for where no `alloy` binary can
//! run `alloy fmt` or `alloy run`: the syntax (blocks, labels, attributes, strings,
//! brackets), the component names and the blocks and attributes each accepts (transcribed
//! from Alloy's reference for the components Sonde's example uses), references that must
//! name a declared component's `input`, the standard-library functions called, and where
//! each signal ends up. Expression types and values are not evaluated.

use std::collections::BTreeMap;

/// Blocks and attributes a component (or nested block) accepts.
struct Schema {
    attrs: &'static [&'static str],
    blocks: &'static [(&'static str, &'static Schema)],
}

const OUTPUT: Schema = Schema {
    attrs: &["metrics", "logs", "traces"],
    blocks: &[],
};
const SERVER: Schema = Schema {
    attrs: &[
        "endpoint",
        "max_recv_msg_size",
        "include_metadata",
        "max_request_body_size",
    ],
    blocks: &[],
};
const TLS: Schema = Schema {
    attrs: &[
        "insecure",
        "insecure_skip_verify",
        "ca_file",
        "cert_file",
        "key_file",
        "server_name",
    ],
    blocks: &[],
};
const CLIENT: Schema = Schema {
    attrs: &[
        "endpoint",
        "headers",
        "compression",
        "timeout",
        "auth",
        "balancer_name",
    ],
    blocks: &[("tls", &TLS)],
};
const RECEIVER_OTLP: Schema = Schema {
    attrs: &[],
    blocks: &[("grpc", &SERVER), ("http", &SERVER), ("output", &OUTPUT)],
};
const MEMORY_LIMITER: Schema = Schema {
    attrs: &[
        "check_interval",
        "limit",
        "spike_limit",
        "limit_percentage",
        "spike_limit_percentage",
    ],
    blocks: &[("output", &OUTPUT)],
};
const BATCH: Schema = Schema {
    attrs: &[
        "timeout",
        "send_batch_size",
        "send_batch_max_size",
        "metadata_keys",
    ],
    blocks: &[("output", &OUTPUT)],
};
const EXPORTER_OTLP: Schema = Schema {
    attrs: &["timeout"],
    blocks: &[("client", &CLIENT)],
};
const EXPORTER_OTLPHTTP: Schema = Schema {
    attrs: &[
        "metrics_endpoint",
        "logs_endpoint",
        "traces_endpoint",
        "encoding",
    ],
    blocks: &[("client", &CLIENT)],
};

/// Component name → (its schema, whether it exports `input`).
const COMPONENTS: &[(&str, &Schema, bool)] = &[
    ("otelcol.receiver.otlp", &RECEIVER_OTLP, false),
    ("otelcol.processor.memory_limiter", &MEMORY_LIMITER, true),
    ("otelcol.processor.batch", &BATCH, true),
    ("otelcol.exporter.otlp", &EXPORTER_OTLP, true),
    ("otelcol.exporter.otlphttp", &EXPORTER_OTLPHTTP, true),
];

const FUNCTIONS: &[&str] = &["sys.env", "env", "coalesce", "concat", "join", "format"];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num,
    Punct(char),
    Newline,
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, String> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            out.push((Tok::Newline, line));
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            let start = line;
            i += 2;
            while !(c.get(i) == Some(&'*') && c.get(i + 1) == Some(&'/')) {
                let Some(&d) = c.get(i) else {
                    return Err(format!("line {start}: comment never closed"));
                };
                line += usize::from(d == '\n');
                i += 1;
            }
            i += 2;
        } else if ch == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match c.get(i) {
                    None | Some('\n') => return Err(format!("line {line}: string never closed")),
                    Some('"') => break,
                    Some('\\') => {
                        s.push(*c.get(i + 1).unwrap_or(&' '));
                        i += 2;
                    }
                    Some(&d) => {
                        s.push(d);
                        i += 1;
                    }
                }
            }
            i += 1;
            out.push((Tok::Str(s), line));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                i += 1;
            }
            out.push((Tok::Num, line));
        } else if ch.is_ascii_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(c[start..i].iter().collect()), line));
        } else if "{}[](),=.:+-*/!<>|&".contains(ch) {
            out.push((Tok::Punct(ch), line));
            i += 1;
        } else {
            return Err(format!("line {line}: unexpected {ch:?}"));
        }
    }
    Ok(out)
}

/// An attribute's value: its tokens.
#[derive(Debug, Clone, Default)]
struct Expr {
    toks: Vec<Tok>,
    line: usize,
}

impl Expr {
    /// Dotted names and whether each is called: `a.b.c` → ("a.b.c", false).
    fn names(&self) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.toks.len() {
            if let Tok::Ident(first) = &self.toks[i] {
                let mut name = first.clone();
                while let (Some(Tok::Punct('.')), Some(Tok::Ident(next))) =
                    (self.toks.get(i + 1), self.toks.get(i + 2))
                {
                    name.push('.');
                    name.push_str(next);
                    i += 2;
                }
                let called = self.toks.get(i + 1) == Some(&Tok::Punct('('));
                let is_key = self.toks.get(i + 1) == Some(&Tok::Punct('='));
                if !is_key && name != "true" && name != "false" && name != "null" {
                    out.push((name, called));
                }
            }
            i += 1;
        }
        out
    }

    /// The last string literal: the default of `coalesce(sys.env("X"), "default")`.
    fn last_string(&self) -> Option<String> {
        self.toks.iter().rev().find_map(|t| match t {
            Tok::Str(s) => Some(s.clone()),
            _ => None,
        })
    }
}

/// A block: name, optional label, attributes and nested blocks.
#[derive(Debug, Clone, Default)]
struct Block {
    name: String,
    label: Option<String>,
    attrs: BTreeMap<String, Expr>,
    blocks: Vec<Block>,
    line: usize,
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.0)
    }

    fn line(&self) -> usize {
        self.toks
            .get(self.i)
            .or(self.toks.last())
            .map_or(0, |t| t.1)
    }

    fn skip_newlines(&mut self) {
        while self.peek() == Some(&Tok::Newline) {
            self.i += 1;
        }
    }

    /// Statements until `}` (nested) or the end (top level).
    fn body(&mut self, nested: bool) -> Result<Block, String> {
        let mut b = Block::default();
        loop {
            self.skip_newlines();
            match self.peek() {
                None if nested => return Err(format!("line {}: block never closed", self.line())),
                None => return Ok(b),
                Some(Tok::Punct('}')) if nested => {
                    self.i += 1;
                    return Ok(b);
                }
                Some(Tok::Ident(_)) => {}
                Some(t) => return Err(format!("line {}: unexpected {t:?}", self.line())),
            }
            let line = self.line();
            let mut name = String::new();
            while let Some(Tok::Ident(part)) = self.peek() {
                name.push_str(part);
                self.i += 1;
                if self.peek() == Some(&Tok::Punct('.')) {
                    name.push('.');
                    self.i += 1;
                } else {
                    break;
                }
            }
            match self.peek() {
                Some(Tok::Punct('=')) => {
                    self.i += 1;
                    let expr = self.expr(line)?;
                    if b.attrs.insert(name.clone(), expr).is_some() {
                        return Err(format!("line {line}: attribute {name} set twice"));
                    }
                }
                Some(Tok::Str(_)) | Some(Tok::Punct('{')) => {
                    let label = match self.peek() {
                        Some(Tok::Str(l)) => {
                            let l = l.clone();
                            self.i += 1;
                            Some(l)
                        }
                        _ => None,
                    };
                    if self.peek() != Some(&Tok::Punct('{')) {
                        return Err(format!("line {line}: block {name} has no body"));
                    }
                    self.i += 1;
                    let mut child = self.body(true)?;
                    child.name = name;
                    child.label = label;
                    child.line = line;
                    b.blocks.push(child);
                }
                _ => {
                    return Err(format!(
                        "line {line}: {name} is neither an attribute nor a block"
                    ))
                }
            }
        }
    }

    /// Tokens up to the end of the line, brackets balanced.
    fn expr(&mut self, line: usize) -> Result<Expr, String> {
        let mut depth: Vec<char> = Vec::new();
        let mut e = Expr {
            toks: Vec::new(),
            line,
        };
        while let Some(t) = self.peek().cloned() {
            match t {
                Tok::Newline if depth.is_empty() => break,
                Tok::Punct('}') if depth.is_empty() => break,
                Tok::Punct(c @ ('{' | '[' | '(')) => depth.push(c),
                Tok::Punct(c @ ('}' | ']' | ')')) => {
                    let want = match c {
                        '}' => '{',
                        ']' => '[',
                        _ => '(',
                    };
                    if depth.pop() != Some(want) {
                        return Err(format!("line {line}: brackets do not pair up"));
                    }
                }
                _ => {}
            }
            if t != Tok::Newline {
                e.toks.push(t);
            }
            self.i += 1;
        }
        if e.toks.is_empty() {
            return Err(format!("line {line}: attribute without a value"));
        }
        Ok(e)
    }
}

fn check_schema(b: &Block, schema: &Schema, path: &str) -> Result<(), String> {
    for name in b.attrs.keys() {
        if !schema.attrs.contains(&name.as_str()) {
            return Err(format!("line {}: {path} has no attribute {name}", b.line));
        }
    }
    for child in &b.blocks {
        let Some((_, s)) = schema.blocks.iter().find(|(n, _)| *n == child.name) else {
            return Err(format!(
                "line {}: {path} has no block {}",
                child.line, child.name
            ));
        };
        if child.label.is_some() {
            return Err(format!(
                "line {}: block {} takes no label",
                child.line, child.name
            ));
        }
        check_schema(child, s, &format!("{path}.{}", child.name))?;
    }
    Ok(())
}

/// Where each signal goes: signal → the endpoints of the exporters it reaches (their
/// defaults when taken from the environment).
pub type Routes = BTreeMap<String, Vec<String>>;

/// Checks an Alloy configuration; returns where each signal a receiver emits ends up.
pub fn check(src: &str) -> Result<Routes, String> {
    let mut p = Parser {
        toks: lex(src)?,
        i: 0,
    };
    let top = p.body(false)?;
    if !top.attrs.is_empty() {
        return Err("attributes at the top level".to_owned());
    }
    let mut declared: BTreeMap<String, &Block> = BTreeMap::new();
    for b in &top.blocks {
        let Some((_, schema, _)) = COMPONENTS.iter().find(|(n, _, _)| *n == b.name) else {
            return Err(format!("line {}: unknown component {}", b.line, b.name));
        };
        let label = b
            .label
            .as_deref()
            .ok_or_else(|| format!("line {}: {} needs a label", b.line, b.name))?;
        check_schema(b, schema, &b.name)?;
        let id = format!("{}.{label}", b.name);
        if declared.insert(id.clone(), b).is_some() {
            return Err(format!("line {}: {id} declared twice", b.line));
        }
    }
    let mut used: BTreeMap<String, bool> = declared.keys().map(|k| (k.clone(), false)).collect();
    let mut all_exprs: Vec<&Expr> = Vec::new();
    fn collect<'a>(b: &'a Block, out: &mut Vec<&'a Expr>) {
        out.extend(b.attrs.values());
        b.blocks.iter().for_each(|c| collect(c, out));
    }
    top.blocks.iter().for_each(|b| collect(b, &mut all_exprs));
    for e in &all_exprs {
        for (name, called) in e.names() {
            if called {
                if !FUNCTIONS.contains(&name.as_str()) {
                    return Err(format!("line {}: unknown function {name}", e.line));
                }
            } else if name.starts_with("otelcol.") {
                let (id, export) = name.rsplit_once('.').unwrap_or((&name, ""));
                let Some(target) = declared.get(id) else {
                    return Err(format!(
                        "line {}: {name} refers to no declared component",
                        e.line
                    ));
                };
                let exports = COMPONENTS.iter().any(|(n, _, x)| *n == target.name && *x);
                if export != "input" || !exports {
                    return Err(format!(
                        "line {}: {name}: {} exports no {export}",
                        e.line, target.name
                    ));
                }
                used.insert(id.to_owned(), true);
            } else {
                return Err(format!("line {}: unknown reference {name}", e.line));
            }
        }
    }
    // Follow each signal from every receiver to the exporters.
    let mut routes = Routes::new();
    for (id, b) in &declared {
        if !b.name.starts_with("otelcol.receiver.") {
            continue;
        }
        used.insert(id.clone(), true);
        let output = b
            .blocks
            .iter()
            .find(|c| c.name == "output")
            .ok_or_else(|| format!("{id} has no output"))?;
        for (signal, e) in &output.attrs {
            let mut frontier: Vec<String> = e.names().into_iter().map(|(n, _)| n).collect();
            let mut hops = 0;
            while let Some(next) = frontier.pop() {
                hops += 1;
                if hops > 64 {
                    return Err(format!("{signal}: a cycle between components"));
                }
                let target = declared[next.rsplit_once('.').map_or(next.as_str(), |x| x.0)];
                if target.name.starts_with("otelcol.exporter.") {
                    let client = target.blocks.iter().find(|c| c.name == "client");
                    let endpoint = client
                        .and_then(|c| c.attrs.get("endpoint"))
                        .and_then(Expr::last_string)
                        .ok_or_else(|| format!("{next}: no client endpoint"))?;
                    routes.entry(signal.clone()).or_default().push(endpoint);
                    continue;
                }
                let out = target
                    .blocks
                    .iter()
                    .find(|c| c.name == "output")
                    .and_then(|o| o.attrs.get(signal))
                    .ok_or_else(|| format!("{next} does not pass {signal} on"))?;
                frontier.extend(out.names().into_iter().map(|(n, _)| n));
            }
        }
    }
    if let Some((id, _)) = used.iter().find(|(_, u)| !**u) {
        return Err(format!("{id} is declared but nothing sends to it"));
    }
    Ok(routes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const OK: &str = r#"
// a comment
otelcol.receiver.otlp "in" {
  grpc { endpoint = "0.0.0.0:4317" }
  output {
    traces = [otelcol.processor.batch.b.input]
  }
}
otelcol.processor.batch "b" {
  timeout = "5s"
  output { traces = [otelcol.exporter.otlp.t.input] }
}
otelcol.exporter.otlp "t" {
  client {
    endpoint = coalesce(sys.env("T"), "tempo:4317")
    headers = { "X-Scope-OrgID" = "a", }
    tls { insecure = true }
  }
}
"#;

    #[test]
    fn follows_each_signal_to_its_exporter() {
        let r = check(OK).unwrap();
        assert_eq!(r["traces"], vec!["tempo:4317".to_owned()]);
    }

    #[test]
    fn finds_what_alloy_would_refuse() {
        let e = |from: &str, to: &str| check(&OK.replace(from, to)).unwrap_err();
        assert!(e("batch.b.input]\n", "batch.c.input]\n").contains("no declared component"));
        assert!(e(
            "otelcol.processor.batch \"b\"",
            "otelcol.processor.batchh \"b\""
        )
        .contains("unknown component"));
        assert!(e("timeout = \"5s\"", "timeout = \"5s").contains("never closed"));
        assert!(e("timeout = ", "timeoutt = ").contains("no attribute timeoutt"));
        assert!(e("tls {", "tlss {").contains("no block tlss"));
        assert!(e("coalesce(", "coalesec(").contains("unknown function"));
        assert!(e("batch.b.input]\n", "batch.b.output]\n").contains("exports no output"));
        assert!(e(
            "output { traces = [otelcol.exporter.otlp.t.input] }",
            "output { logs = [otelcol.exporter.otlp.t.input] }"
        )
        .contains("does not pass traces"));
        assert!(e("  }\n}\n", "  }\n").contains("never closed"));
    }
}

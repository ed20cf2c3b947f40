//! Just enough PromQL to check a dashboard against the semconv declarations: which metric
//! and label names an expression uses, and Grafana's template variables replaced by values.
//!
//! Whether an expression is valid PromQL is Prometheus' business: the tests hand every
//! expression to `promtool` and, end to end, to a real Prometheus. This lexer only has to
//! find names, and refuses input it cannot read rather than guess.

use std::collections::BTreeSet;
use std::fmt;

/// The names one expression uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Metric names of the vector selectors.
    pub metrics: BTreeSet<String>,
    /// Label names in matchers and in `by`, `without`, `on`, `ignoring`, `group_left`,
    /// `group_right` clauses.
    pub labels: BTreeSet<String>,
}

/// Why an expression could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromqlError {
    /// A string literal that never ends; the byte offset of its quote.
    UnclosedString(usize),
    /// A character this lexer does not know, at a byte offset (`$` means a template
    /// variable was left unsubstituted).
    Unexpected(char, usize),
    /// `(`/`)`, `{`/`}` or `[`/`]` do not pair up.
    Unbalanced,
    /// A grouping clause (`by`, `on`, ...) not followed by a parenthesised label list.
    BadGrouping(String),
    /// Inside a selector's braces, a name not followed by a matcher (`=`, `!=`, `=~`, `!~`).
    BadMatcher(String),
}

impl fmt::Display for PromqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromqlError::UnclosedString(at) => write!(f, "string opened at byte {at} never ends"),
            PromqlError::Unexpected('$', at) => {
                write!(f, "unsubstituted template variable at byte {at}")
            }
            PromqlError::Unexpected(c, at) => write!(f, "unexpected {c:?} at byte {at}"),
            PromqlError::Unbalanced => write!(f, "brackets do not pair up"),
            PromqlError::BadGrouping(k) => write!(f, "`{k}` is not followed by a label list"),
            PromqlError::BadMatcher(l) => write!(f, "label `{l}` has no matcher"),
        }
    }
}

impl std::error::Error for PromqlError {}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num,
    Punct(&'static str),
}

const PUNCT: &[&str] = &[
    "!=", "!~", "=~", "==", ">=", "<=", "(", ")", "{", "}", "[", "]", ",", "=", "+", "-", "*", "/",
    "%", "^", "<", ">", ":", "@",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn lex(expr: &str) -> Result<Vec<Tok>, PromqlError> {
    let b: Vec<(usize, char)> = expr.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let (at, c) = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            while i < b.len() && b[i].1 != '\n' {
                i += 1;
            }
        } else if c == '"' || c == '\'' || c == '`' {
            let mut s = String::new();
            i += 1;
            loop {
                let Some(&(_, d)) = b.get(i) else {
                    return Err(PromqlError::UnclosedString(at));
                };
                i += 1;
                if d == c {
                    break;
                }
                if d == '\\' && c != '`' {
                    if let Some(&(_, e)) = b.get(i) {
                        s.push(e);
                        i += 1;
                    }
                    continue;
                }
                s.push(d);
            }
            out.push(Tok::Str(s));
        } else if c.is_ascii_digit()
            || (c == '.' && b.get(i + 1).is_some_and(|x| x.1.is_ascii_digit()))
        {
            // Numbers, durations (5m, 1h30m), hex, exponents.
            while i < b.len() {
                let d = b[i].1;
                let exp_sign = (d == '+' || d == '-')
                    && matches!(b.get(i.wrapping_sub(1)), Some((_, 'e' | 'E')))
                    && !b[..i].iter().any(|x| x.1 == 'x');
                if d.is_ascii_alphanumeric() || d == '.' || exp_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            out.push(Tok::Num);
        } else if is_ident_start(c) {
            let start = i;
            while i < b.len() && is_ident(b[i].1) {
                i += 1;
            }
            out.push(Tok::Ident(b[start..i].iter().map(|x| x.1).collect()));
        } else {
            let rest = &expr[at..];
            let Some(p) = PUNCT.iter().find(|p| rest.starts_with(**p)) else {
                return Err(PromqlError::Unexpected(c, at));
            };
            out.push(Tok::Punct(p));
            i += p.chars().count();
        }
    }
    Ok(out)
}

const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "inf", "nan", "atan2",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric and label names `expr` uses. Template variables must have been substituted
/// (see [`substitute`]); a leftover `$` is an error.
pub fn usage(expr: &str) -> Result<Usage, PromqlError> {
    let toks = lex(expr)?;
    let mut u = Usage::default();
    let mut stack: Vec<&'static str> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Punct(p @ ("(" | "{" | "[")) => stack.push(p),
            Tok::Punct(p @ (")" | "}" | "]")) => {
                let open = match *p {
                    ")" => "(",
                    "}" => "{",
                    _ => "[",
                };
                if stack.pop() != Some(open) {
                    return Err(PromqlError::Unbalanced);
                }
            }
            Tok::Ident(id) if stack.last() == Some(&"{") => {
                // Inside a selector's braces: `label op "value"`.
                if !matches!(toks.get(i + 1), Some(Tok::Punct("=" | "!=" | "=~" | "!~"))) {
                    return Err(PromqlError::BadMatcher(id.clone()));
                }
                if id == "__name__" {
                    if let Some(Tok::Str(name)) = toks.get(i + 2) {
                        u.metrics.insert(name.clone());
                    }
                } else {
                    u.labels.insert(id.clone());
                }
            }
            Tok::Ident(id) if GROUPING.contains(&id.as_str()) => {
                let optional = id.starts_with("group_");
                if toks.get(i + 1) != Some(&Tok::Punct("(")) {
                    if optional {
                        i += 1;
                        continue;
                    }
                    return Err(PromqlError::BadGrouping(id.clone()));
                }
                let mut j = i + 2;
                loop {
                    match toks.get(j) {
                        Some(Tok::Ident(l)) => {
                            u.labels.insert(l.clone());
                        }
                        Some(Tok::Punct(",")) => {}
                        Some(Tok::Punct(")")) => break,
                        _ => return Err(PromqlError::BadGrouping(id.clone())),
                    }
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            Tok::Ident(id) if KEYWORDS.contains(&id.to_ascii_lowercase().as_str()) => {}
            Tok::Ident(id) => {
                let next = toks.get(i + 1);
                let is_call = matches!(next, Some(Tok::Punct("(")))
                    || matches!(next, Some(Tok::Ident(k)) if k == "by" || k == "without");
                if !is_call {
                    u.metrics.insert(id.clone());
                }
            }
            Tok::Str(_) | Tok::Num | Tok::Punct(_) => {}
        }
        i += 1;
    }
    if !stack.is_empty() {
        return Err(PromqlError::Unbalanced);
    }
    Ok(u)
}

/// Replaces Grafana template variables (`$name` and `${name}`) by values; the longest
/// names first, so `$__rate_interval` is not taken for `$__rate`.
pub fn substitute(expr: &str, vars: &[(&str, &str)]) -> String {
    let mut vars: Vec<&(&str, &str)> = vars.iter().collect();
    vars.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut out = expr.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
        let needle = format!("${name}");
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(pos) = rest.find(&needle) {
            let after = &rest[pos + needle.len()..];
            result.push_str(&rest[..pos]);
            if after.starts_with(is_ident) {
                result.push_str(&needle);
            } else {
                result.push_str(value);
            }
            rest = after;
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// The template variables (`$name`, `${name}`) an expression refers to.
pub fn variables(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(pos) = rest.find('$') {
        rest = &rest[pos + 1..];
        let braced = rest.starts_with('{');
        let body = if braced { &rest[1..] } else { rest };
        let name: String = body
            .chars()
            .take_while(|&c| is_ident(c) && c != ':')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// A Grafana Prometheus variable query `label_values(selector, label)` (or
/// `label_values(label)`): the selector, if any, and the label.
pub fn parse_label_values(query: &str) -> Option<(Option<String>, String)> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    match inner.rsplit_once(',') {
        Some((selector, label)) => {
            Some((Some(selector.trim().to_owned()), label.trim().to_owned()))
        }
        None => Some((None, inner.trim().to_owned())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn finds_metrics_and_labels() {
        let u = usage(
            r#"histogram_quantile(0.95, sum by (le, job) (rate(sonde_tcp_srtt_seconds_bucket{host_name=~"a|b", job!="x"}[5m])))"#,
        )
        .unwrap();
        assert_eq!(u.metrics, set(&["sonde_tcp_srtt_seconds_bucket"]));
        assert_eq!(u.labels, set(&["le", "job", "host_name"]));

        let u = usage(
            r#"sum without (instance) (rate(a_total[1m])) / on (job) group_left (x) sum(b) > bool 0 or vector(1e-3)"#,
        )
        .unwrap();
        assert_eq!(u.metrics, set(&["a_total", "b"]));
        assert_eq!(u.labels, set(&["instance", "job", "x"]));
        let u = usage(r#"topk(10, sum(increase(c_total{a="}"}[1h30m])) by (a))"#).unwrap();
        assert_eq!(u.metrics, set(&["c_total"]));
        assert_eq!(u.labels, set(&["a"]));
        let u = usage(r#"{__name__="d", e="f"} offset 5m"#).unwrap();
        assert_eq!(u.metrics, set(&["d"]));
        assert_eq!(u.labels, set(&["e"]));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert_eq!(
            usage(r#"rate(x{a=~"$host"}[$__rate_interval])"#),
            Err(PromqlError::Unexpected('$', 19))
        );
        assert_eq!(usage("sum(rate(x[5m])"), Err(PromqlError::Unbalanced));
        assert_eq!(usage(r#"x{a="b}"#), Err(PromqlError::UnclosedString(4)));
        assert!(matches!(
            usage("sum by x (y)"),
            Err(PromqlError::BadGrouping(_))
        ));
    }

    #[test]
    fn substitutes_longest_names_first() {
        let vars = [("__rate", "X"), ("__rate_interval", "2m"), ("host", ".*")];
        assert_eq!(
            substitute(
                r#"rate(x{h=~"$host", g=~"${host}"}[$__rate_interval]) $hostname"#,
                &vars
            ),
            r#"rate(x{h=~".*", g=~".*"}[2m]) $hostname"#
        );
        assert_eq!(
            variables(r#"x{a=~"$host"}[$__rate_interval] ${container} "end$""#),
            set(&["host", "__rate_interval", "container"])
        );
    }

    #[test]
    fn reads_label_values_queries() {
        assert_eq!(
            parse_label_values(r#"label_values(up{job=~"$job"}, instance)"#),
            Some((Some(r#"up{job=~"$job"}"#.to_owned()), "instance".to_owned()))
        );
        assert_eq!(
            parse_label_values("label_values(job)"),
            Some((None, "job".to_owned()))
        );
        assert_eq!(parse_label_values("query_result(up)"), None);
    }
}

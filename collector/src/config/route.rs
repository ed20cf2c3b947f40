//! The syntax of an `http.routes.templates` entry (`/users/{id}`, `/static/*`), checked
//! when the configuration loads; `protocols::http::route` matches paths against them.

use std::fmt;

/// A template that does not parse, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTemplate {
    /// The template as written.
    pub template: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for BadTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "route template {:?}: {}", self.template, self.reason)
    }
}

impl std::error::Error for BadTemplate {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches itself only.
    Literal(String),
    /// `{name}`: any one non-empty segment.
    Param,
    /// A trailing `*`: zero or more segments.
    Rest,
}

/// One configured template: `/users/{id}/orders`, `/static/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    segments: Vec<Segment>,
}

impl Template {
    /// Parses a template: it starts with `/`; `{name}` (letters, digits, `_`, `-`) stands
    /// for one segment; `*`, only as the last segment, for the rest of the path.
    pub fn parse(text: &str) -> Result<Template, BadTemplate> {
        let bad = |reason| BadTemplate {
            template: text.to_owned(),
            reason,
        };
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| bad("must start with /"))?;
        if text.contains(['?', '#']) {
            return Err(bad("must not contain a query string or fragment"));
        }
        let parts: Vec<&str> = split(rest).collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let seg = if *part == "*" {
                if i + 1 != parts.len() {
                    return Err(bad("* may only be the last segment"));
                }
                Segment::Rest
            } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
                if name.is_empty() || !name.chars().all(valid) {
                    return Err(bad("a {parameter} name is letters, digits, _ or -"));
                }
                Segment::Param
            } else if part.contains(['{', '}', '*']) {
                return Err(bad("{parameter} and * must fill a whole segment"));
            } else {
                Segment::Literal((*part).to_owned())
            };
            segments.push(seg);
        }
        Ok(Template {
            text: text.to_owned(),
            segments,
        })
    }

    /// The template as written: the route it names.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path's segments (see [`split`]) match.
    pub fn matches(&self, path: &[&str]) -> bool {
        let rest = self.segments.last() == Some(&Segment::Rest);
        let fixed = self.segments.len() - usize::from(rest);
        if path.len() < fixed || (!rest && path.len() != fixed) {
            return false;
        }
        self.segments[..fixed]
            .iter()
            .zip(path)
            .all(|(seg, p)| match seg {
                Segment::Literal(l) => l == p,
                Segment::Param => !p.is_empty(),
                Segment::Rest => true,
            })
    }
}

/// The path's segments after the leading `/`; a trailing `/` does not count.
pub fn split(rest: &str) -> impl Iterator<Item = &str> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.split('/').filter(move |_| !rest.is_empty())
}

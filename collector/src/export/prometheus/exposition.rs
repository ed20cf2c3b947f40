//! Families written out: OpenMetrics 1.0.0 (with exemplars) or the Prometheus text format
//! 0.0.4 (without), chosen from the scraper's `Accept` header.

use super::format::{self, label_value};
use super::translate::{Family, Kind, Labels, Series, SeriesValue};

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.0: `# UNIT`, counters as `_total` samples of a family without it,
    /// exemplars on histogram buckets, `# EOF`.
    OpenMetrics,
    /// The Prometheus text format 0.0.4: no units, no exemplars.
    Text,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// OpenMetrics when the `Accept` header asks for it at least as much as for plain text
    /// (Prometheus sends `application/openmetrics-text;version=1.0.0,...,text/plain;
    /// version=0.0.4;q=0.5,*/*;q=0.1`); the text format otherwise, or without a header.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let (mut om, mut text) = (0.0f32, 0.0f32);
        for range in accept.unwrap_or_default().split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => om = om.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if om > 0.0 && om >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// Writes every family in `format`.
pub fn render(families: &[Family], format: Format) -> String {
    let mut out = String::with_capacity(64 * 1024);
    for f in families {
        match format {
            Format::OpenMetrics => openmetrics_family(&mut out, f),
            Format::Text => text_family(&mut out, f),
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn text_family(out: &mut String, f: &Family) {
    if !f.help.is_empty() {
        out.push_str("# HELP ");
        out.push_str(&f.name);
        out.push(' ');
        format::help(out, &f.help, false);
        out.push('\n');
    }
    let kind = match f.kind {
        Kind::Counter => "counter",
        Kind::Gauge | Kind::Info => "gauge",
        Kind::Histogram => "histogram",
    };
    out.push_str(&format!("# TYPE {} {kind}\n", f.name));
    for s in &f.series {
        samples(out, &f.name, s, false);
    }
}

fn openmetrics_family(out: &mut String, f: &Family) {
    // The family name carries no sample suffix: `_total` and `_info` belong to samples.
    let (name, kind) = match f.kind {
        Kind::Counter => (f.name.strip_suffix("_total").unwrap_or(&f.name), "counter"),
        Kind::Gauge => (f.name.as_str(), "gauge"),
        Kind::Histogram => (f.name.as_str(), "histogram"),
        Kind::Info => (f.name.strip_suffix("_info").unwrap_or(&f.name), "info"),
    };
    out.push_str(&format!("# TYPE {name} {kind}\n"));
    if let Some(unit) = f.unit.filter(|u| name.ends_with(&format!("_{u}"))) {
        out.push_str(&format!("# UNIT {name} {unit}\n"));
    }
    if !f.help.is_empty() {
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        format::help(out, &f.help, true);
        out.push('\n');
    }
    for s in &f.series {
        samples(out, &f.name, s, true);
    }
}

/// The sample lines of one series; `exemplars` on histogram buckets (OpenMetrics only).
fn samples(out: &mut String, name: &str, s: &Series, exemplars: bool) {
    match &s.value {
        SeriesValue::Int(v) => line(out, name, &s.labels, None, &v.to_string()),
        SeriesValue::Float(v) => line(out, name, &s.labels, None, &format::float(*v)),
        SeriesValue::Histogram(h) => {
            let bucket = format!("{name}_bucket");
            for b in &h.buckets {
                let le = format::canonical(b.le);
                line(out, &bucket, &s.labels, Some(&le), &b.count.to_string());
                if let (true, Some(e)) = (exemplars, &b.exemplar) {
                    // Replace the line feed: the exemplar ends the bucket's line.
                    out.pop();
                    out.push_str(&format!(
                        " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {}\n",
                        e.trace_id,
                        e.span_id,
                        format::float(e.value),
                        format::timestamp(e.unix_nanos)
                    ));
                }
            }
            line(
                out,
                &format!("{name}_count"),
                &s.labels,
                None,
                &h.count.to_string(),
            );
            if let Some(sum) = h.sum {
                line(
                    out,
                    &format!("{name}_sum"),
                    &s.labels,
                    None,
                    &format::float(sum),
                );
            }
        }
    }
}

fn line(out: &mut String, name: &str, labels: &Labels, le: Option<&str>, value: &str) {
    out.push_str(name);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (k, v) in labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(le.map(|le| ("le", le)))
        {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_openmetrics_when_asked() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=1.0.0")),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0,text/plain")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0.9,application/openmetrics-text;q=0.5")),
            Format::Text
        );
    }
}

//! `/metrics` in the format the scraper asks for. Every server renders its
//! registry with prometheus-client (OpenMetrics text) and passes it through
//! [`Exposition::new`], which:
//!
//! - sorts the samples of each family, so two renders of the same state
//!   are byte-identical (prometheus-client keeps a family's series in a
//!   hash map, whose order changes from render to render);
//! - names a counter's family with its `_total` suffix in `# HELP` and
//!   `# TYPE` (as client_golang did for years): Prometheus ingests it in
//!   both formats, and `promtool check metrics`, which reads any input
//!   with the classic text parser, then finds the help text of every
//!   sample (with the bare family name it reports `…_total no help text`);
//! - derives the classic text format 0.0.4 (no `# UNIT`, no `# EOF`,
//!   `unknown` spelled `untyped`), served unless the request's `Accept`
//!   prefers `application/openmetrics-text`, as client_golang negotiates.
//!
//! Both are gzip-compressed once here, never per scrape. Families are
//! gauges and counters (no histograms: sorting would reorder buckets).

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::gzip::Precompressed;

/// The content type of OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The content type of the classic Prometheus text format.
pub const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The two exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS,
            Format::Text => TEXT,
        }
    }
}

/// OpenMetrics when `Accept` weighs `application/openmetrics-text` above
/// zero and at least as high as `text/plain` (or `text/*`, `*/*`); the
/// classic text otherwise, including when there is no `Accept` at all
/// (`curl`, browsers, older scrapers).
pub fn negotiate(headers: &HeaderMap) -> Format {
    let (mut om, mut text) = (0.0f32, 0.0f32);
    let items = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for item in items {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts.find_map(weight).unwrap_or(1.0);
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

/// The `q` of a media-range parameter (malformed weights count as 1).
fn weight(param: &str) -> Option<f32> {
    let (k, v) = param.split_once('=')?;
    k.trim()
        .eq_ignore_ascii_case("q")
        .then(|| v.trim().parse().unwrap_or(1.0))
}

/// One metric family as read from OpenMetrics text.
#[derive(Debug, Default)]
struct Family {
    name: String,
    help: Option<String>,
    kind: Option<String>,
    unit: Option<String>,
    samples: Vec<String>,
}

impl Family {
    fn named(name: &str) -> Family {
        Family {
            name: name.to_string(),
            ..Family::default()
        }
    }

    fn kind(&self) -> &str {
        self.kind.as_deref().unwrap_or("unknown")
    }

    /// The family name both formats print: a counter's with `_total`.
    fn exposed_name(&self) -> String {
        if self.kind() == "counter" && !self.name.ends_with("_total") {
            format!("{}_total", self.name)
        } else {
            self.name.clone()
        }
    }

    fn write(&self, out: &mut String, format: Format) {
        let name = self.exposed_name();
        if let Some(h) = &self.help {
            out.push_str(&format!("# HELP {name} {h}\n"));
        }
        let kind = match (format, self.kind()) {
            (Format::Text, "counter" | "gauge") | (Format::OpenMetrics, _) => self.kind(),
            (Format::Text, _) => "untyped",
        };
        out.push_str(&format!("# TYPE {name} {kind}\n"));
        if let (Format::OpenMetrics, Some(u)) = (format, &self.unit) {
            out.push_str(&format!("# UNIT {name} {u}\n"));
        }
        for s in &self.samples {
            out.push_str(s);
            out.push('\n');
        }
    }
}

/// The families of one or more concatenated OpenMetrics documents, in
/// order of first appearance.
fn families(om: &str) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for line in om.lines().filter(|l| !l.trim().is_empty()) {
        let Some(meta) = line.strip_prefix("# ") else {
            let name = line.split(['{', ' ']).next().unwrap_or(line);
            if out.is_empty() {
                out.push(Family::named(name));
            }
            if let Some(f) = out.last_mut() {
                f.samples.push(line.to_string());
            }
            continue;
        };
        let mut parts = meta.splitn(3, ' ');
        let (Some(word), Some(name)) = (parts.next(), parts.next()) else {
            continue; // `# EOF` and comments
        };
        let rest = parts.next().unwrap_or("").to_string();
        if out.last().is_none_or(|f| f.name != name) {
            out.push(Family::named(name));
        }
        let Some(f) = out.last_mut() else { continue };
        match word {
            "HELP" => f.help = Some(rest),
            "TYPE" => f.kind = Some(rest),
            "UNIT" => f.unit = Some(rest),
            _ => {}
        }
    }
    out
}

/// `om` normalised (see the module doc) in `format`.
pub fn normalise(om: &str, format: Format) -> String {
    let mut out = String::with_capacity(om.len() + 64);
    for mut f in families(om) {
        f.samples.sort_unstable();
        f.write(&mut out, format);
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

/// A metrics document in both formats, plain and gzip-compressed.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    openmetrics: Precompressed,
    text: Precompressed,
}

impl Exposition {
    /// Normalises and compresses `om` (OpenMetrics text, possibly several
    /// documents concatenated) once.
    pub fn new(om: &str) -> Self {
        Exposition {
            openmetrics: Precompressed::new(normalise(om, Format::OpenMetrics)),
            text: Precompressed::new(normalise(om, Format::Text)),
        }
    }

    /// The plain body in `format`.
    pub fn plain(&self, format: Format) -> Bytes {
        self.doc(format).plain.clone()
    }

    fn doc(&self, format: Format) -> &Precompressed {
        match format {
            Format::OpenMetrics => &self.openmetrics,
            Format::Text => &self.text,
        }
    }

    /// The response for a scrape: the negotiated format, gzip when
    /// accepted; cloning shares the buffers.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let format = negotiate(headers);
        let (body, gzip) = self.doc(format).pick(headers);
        let mut res = (
            [(header::CONTENT_TYPE, format.content_type())],
            Body::from(body),
        )
            .into_response();
        let h = res.headers_mut();
        if gzip {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        h.insert(
            header::VARY,
            HeaderValue::from_static("accept, accept-encoding"),
        );
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> Format {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).expect("header"));
        negotiate(&h)
    }

    #[test]
    fn openmetrics_only_when_preferred() {
        // What Prometheus 2.x sends.
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(accept(prom), Format::OpenMetrics);
        assert_eq!(accept("application/openmetrics-text"), Format::OpenMetrics);
        assert_eq!(accept("*/*"), Format::Text);
        assert_eq!(accept("text/plain;version=0.0.4"), Format::Text);
        assert_eq!(accept("text/html,*/*;q=0.8"), Format::Text);
        assert_eq!(
            accept("application/openmetrics-text;q=0.2, text/plain"),
            Format::Text
        );
        assert_eq!(accept("application/openmetrics-text;q=0"), Format::Text);
        assert_eq!(negotiate(&HeaderMap::new()), Format::Text);
    }

    const OM: &str = "# HELP x_errors Failed things.\n# TYPE x_errors counter\nx_errors_total{c=\"b\"} 2\nx_errors_total{c=\"a\"} 1\n# HELP x_up Up.\n# TYPE x_up gauge\n# UNIT x_up seconds\nx_up 1\n# EOF\n";

    #[test]
    fn counters_carry_total_and_samples_sort() {
        let om = normalise(OM, Format::OpenMetrics);
        assert_eq!(
            om,
            "# HELP x_errors_total Failed things.\n# TYPE x_errors_total counter\nx_errors_total{c=\"a\"} 1\nx_errors_total{c=\"b\"} 2\n# HELP x_up Up.\n# TYPE x_up gauge\n# UNIT x_up seconds\nx_up 1\n# EOF\n"
        );
        let text = normalise(OM, Format::Text);
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
        assert!(text.starts_with("# HELP x_errors_total Failed things.\n# TYPE x_errors_total counter\nx_errors_total{c=\"a\"} 1\n"));
        assert_eq!(normalise(&om, Format::OpenMetrics), om, "idempotent");
    }

    #[test]
    fn concatenated_documents_become_one() {
        let two = format!("{OM}# HELP y Y.\n# TYPE y gauge\ny 3\n# EOF\n");
        let om = normalise(&two, Format::OpenMetrics);
        assert_eq!(om.matches("# EOF").count(), 1);
        assert!(om.ends_with("y 3\n# EOF\n"), "{om}");
    }
}

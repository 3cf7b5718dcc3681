//! gzip: compressed once when a document is published (never per
//! request), and chosen per request from `Accept-Encoding`.
//!
//! Pre-compression is why this is not tower-http's `CompressionLayer`: the
//! documents served (metrics text, a node's snapshot) change once per
//! refresh but are fetched by every scraper and the aggregator, and the
//! agent gives each representation its own entity tag.

use std::io::Write as _;

use axum::body::Bytes;
use axum::http::{header, HeaderMap};

/// gzip level 1: most of the size win for a fraction of level 6's CPU.
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 8),
        flate2::Compression::fast(),
    );
    enc.write_all(data)?;
    enc.finish()
}

/// Inflates a gzip body.
pub fn gunzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() * 16);
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(data), &mut out)?;
    Ok(out)
}

/// True when `Accept-Encoding` accepts gzip (RFC 9110 12.5.3): `gzip` or
/// `x-gzip` with a non-zero weight, or, when neither is named, `*` with a
/// non-zero weight. A weight of zero in any spelling (`q=0`, `q=0.0`,
/// `Q=0.000`) refuses. Malformed weights count as 1, as most servers do.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut named = None;
    let mut star = None;
    let items = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for item in items {
        let mut parts = item.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let accepted = parts.all(|p| !is_zero_weight(p));
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            named = Some(named.unwrap_or(false) || accepted);
        } else if name == "*" {
            star = Some(star.unwrap_or(false) || accepted);
        }
    }
    named.or(star).unwrap_or(false)
}

/// `q=0`, `q = 0.000`…: a parameter that refuses the coding.
fn is_zero_weight(param: &str) -> bool {
    let Some((key, value)) = param.split_once('=') else {
        return false;
    };
    key.trim().eq_ignore_ascii_case("q") && value.trim().parse::<f32>().is_ok_and(|q| q == 0.0)
}

/// One document, plain and gzip-compressed at publish time.
#[derive(Debug, Clone, Default)]
pub struct Precompressed {
    pub plain: Bytes,
    /// `None` when compression failed (the plain body is served).
    pub gzip: Option<Bytes>,
}

impl Precompressed {
    /// Compresses `plain` once.
    pub fn new(plain: impl Into<Bytes>) -> Self {
        let plain = plain.into();
        let gzip = gzip(&plain).ok().map(Bytes::from);
        Precompressed { plain, gzip }
    }

    /// The body for a request, and whether it is the gzip one.
    pub fn pick(&self, headers: &HeaderMap) -> (Bytes, bool) {
        match self.gzip.as_ref().filter(|_| accepts_gzip(headers)) {
            Some(gz) => (gz.clone(), true),
            None => (self.plain.clone(), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accepts(v: &str) -> bool {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(v).expect("header"),
        );
        accepts_gzip(&h)
    }

    #[test]
    fn negotiation_follows_rfc_9110() {
        assert!(accepts("gzip"));
        assert!(accepts("deflate, GZIP;q=0.5"));
        assert!(accepts("x-gzip"));
        assert!(accepts("*"));
        assert!(!accepts("identity"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip; q=0.0"));
        assert!(!accepts("gzip;Q=0.000, identity"));
        assert!(!accepts("*;q=0"));
        assert!(
            !accepts("gzip;q=0, *"),
            "an explicit refusal beats the wildcard"
        );
        assert!(accepts("gzip;q=0.001"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn precompressed_round_trips() {
        let doc = Precompressed::new(b"hello hello hello".to_vec());
        let gz = doc.gzip.clone().expect("compressed");
        assert_eq!(gunzip(&gz).expect("inflate"), doc.plain.to_vec());
    }
}

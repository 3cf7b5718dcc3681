//! `/api/v1/explain`: turns the query into an
//! [`ExplainRequest`] and asks the analysis ([`Analysis::explain`], which
//! attaches the drop's finding exactly as `cnictl explain` does). The document is the analyzers' (README "Bundles"
//! `{verdict, disposition, hops, drop}`); this module only maps query
//! errors to 400 and unknown endpoints to 404.

use axum::http::StatusCode;
use cnictl_analyzers::explain::{self, ExplainError, ExplainRequest, Explanation};
use cnictl_analyzers::pipeline::Analysis;
use cnictl_httpkit::ApiError;
use serde::Deserialize;

/// Longest accepted SRC/DST spec (a pod key is at most 253 + 1 + 253).
const MAX_SPEC: usize = 600;

/// Query parameters of `/api/v1/explain`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    /// `ns/name`, a unique pod `name`, `node/NAME` or an IP; absent with
    /// `from_outside`.
    #[serde(default)]
    pub src: String,
    /// As `src`, or a Service `svc/ns/name[:port]`.
    pub dst: String,
    pub port: Option<u16>,
    /// `icmp`, `tcp` or `udp` (default: TCP with a port, else ICMP).
    pub proto: Option<String>,
    /// IP total length in bytes (default 84, a default ping).
    pub size: Option<u32>,
    /// Don't Fragment (default true, as ping and TCP set it).
    pub df: Option<bool>,
    /// Also trace the way back.
    pub reverse: Option<bool>,
    /// List every netfilter rule evaluated (`netfilter[].evaluated`).
    pub verbose: Option<bool>,
    /// The source is a client outside the cluster (`--from-outside`).
    pub from_outside: Option<std::net::IpAddr>,
    /// The node an outside packet enters (`--via`).
    pub via: Option<String>,
    /// Address family of dual-stack pods named by name, 4 or 6 (`--family`).
    pub family: Option<u8>,
}

impl ExplainQuery {
    /// The analyzers' request, after checking what HTTP adds (empty or
    /// oversized specs, the protocol name).
    pub fn to_request(&self) -> Result<ExplainRequest, ApiError> {
        let outside = self.from_outside.is_some();
        if outside && !self.src.trim().is_empty() {
            return Err(ApiError::bad_request(
                "give src or from_outside, not both: from_outside is the source",
            ));
        }
        if self.via.as_ref().is_some_and(|v| v.len() > MAX_SPEC) {
            return Err(ApiError::bad_request(format!(
                "via must be a node name of at most {MAX_SPEC} bytes"
            )));
        }
        let src = if outside {
            "outside"
        } else {
            self.src.as_str()
        };
        for (what, s) in [("src", src), ("dst", self.dst.as_str())] {
            let s = s.trim();
            // U+FFFD: the query was not valid UTF-8 (decoded lossily).
            let garbled = s.chars().any(|c| c.is_control() || c == '\u{FFFD}');
            if s.is_empty() || s.len() > MAX_SPEC || garbled {
                return Err(ApiError::bad_request(format!(
                    "{what} must be a non-empty UTF-8 pod, node, IP or service name of at most {MAX_SPEC} bytes"
                )));
            }
        }
        let proto = match self
            .proto
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            Some(p) => Some(explain::parse_proto(p).map_err(to_api)?),
            None => None,
        };
        let mut req = ExplainRequest::new(src.trim(), self.dst.trim());
        req.from_outside = self.from_outside;
        req.via = self.via.as_deref().map(str::trim).map(String::from);
        req.port = self.port;
        req.proto = proto;
        req.size = self.size;
        req.no_df = self.df == Some(false);
        req.reverse = self.reverse.unwrap_or(false);
        req.verbose = self.verbose.unwrap_or(false);
        req.family = family(self.family)?;
        Ok(req)
    }
}

fn family(f: Option<u8>) -> Result<Option<explain::Family>, ApiError> {
    match f {
        None => Ok(None),
        Some(4) => Ok(Some(explain::Family::V4)),
        Some(6) => Ok(Some(explain::Family::V6)),
        Some(_) => Err(ApiError::bad_request("family must be 4 or 6")),
    }
}

/// Answers an explain query over one analysis.
pub fn run(a: &Analysis, q: &ExplainQuery) -> Result<Explanation, ApiError> {
    let req = q.to_request()?;
    a.explain(&req).map_err(to_api)
}

/// Unknown pods/services are 404; everything else the user got wrong is 400.
fn to_api(e: ExplainError) -> ApiError {
    let status = match e {
        ExplainError::Unknown { .. } | ExplainError::UnknownService(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.code(), e.to_string())
}

//! Pure formats: each input format cnictl reads, its parser and its
//! writer side by side, and the netlink decoders.
//!
//! **Architecture Invariant:** no IO. Text or bytes in, `cnictl_model`
//! data out; model in, text out (`test.sh` checks that no IO crate is a
//! dependency). The collectors in `cnictl-collect` read files, sockets and
//! netlink and hand the bytes here, so a live read and a bundle read agree
//! by construction.
//!
//! Every parser is a pure function `&str -> Result<T, ParseError>`: no
//! panics on any input. JSON parsers deserialize into typed, borrowing
//! serde structs (fast: a 1,000-node bundle has millions of routes) and do
//! their validation inside `Deserialize`, so a bad value is reported at the
//! line and column serde_json was reading. The `ip -j` parsers accept one
//! JSON array or several concatenated ones (`ip -4 -j …; ip -6 -j …` into
//! one file), and tolerate the differences between iproute2 versions that
//! the module docs list. Every writer `write_*` prints what the real tool
//! prints, in the form its parser reads back (round trips are tested in
//! `cnictl-collect`'s bundle tests).

pub mod addr;
pub mod bird;
pub mod calico;
pub mod cilium;
pub mod ethtool;
pub mod fdb;
pub mod frame;
pub mod ipset;
pub mod iptables;
pub mod ipvsadm;
pub mod kubectl;
pub mod link;
pub mod manifests;
pub mod neigh;
pub mod netlink;
pub mod netpol;
pub mod nft;
mod nft_render;
pub mod route;
pub mod rule;
pub mod sysctl;
pub mod text;

mod json;

pub use addr::{parse_addrs, write_addrs};
pub use bird::{parse_bird_protocols, parse_bird_routes, write_bird_protocols, write_bird_routes};
pub use calico::{
    parse_bgpconfigurations, parse_bgppeers, parse_blockaffinities, parse_ippools,
    write_bgpconfigurations, write_bgppeers, write_blockaffinities, write_ippools,
};
pub use cilium::{
    parse_cilium_endpoints, parse_cilium_ipcache, parse_cilium_lb, parse_cilium_status,
    parse_cilium_tunnel, write_cilium_endpoints, write_cilium_ipcache, write_cilium_lb,
    write_cilium_status, write_cilium_tunnel,
};
pub use ethtool::{parse_ethtool_features, parse_uname, write_ethtool_features};
pub use fdb::{parse_fdb, write_fdb};
pub use ipset::{parse_ipset_save, write_ipset_save};
pub use iptables::{parse_iptables_save, write_iptables_save};
pub use ipvsadm::{parse_ipvsadm, write_ipvsadm};
pub use kubectl::{
    parse_endpointslices, parse_nodes, parse_pods, parse_services, write_endpointslices,
    write_nodes, write_pods, write_services,
};
pub use link::{parse_links, write_links};
pub use neigh::{parse_neighbours, write_neighbours};
pub use netlink::ipvs::parse_proc_ip_vs;
pub use netpol::{
    parse_namespaces, parse_networkpolicies, write_namespaces, write_networkpolicies,
};
pub use nft::parse_nft_ruleset;
pub use route::{custom_table_id, parse_routes, parse_routes_with_names, write_routes};
pub use rule::{parse_rules, write_rules};
pub use sysctl::{parse_sysctl, write_sysctl};

/// Why a dump could not be parsed, and where. Lines and columns count from
/// 1; for text formats the column is that of the offending token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Malformed JSON, or a JSON value of the wrong shape (serde_json's
    /// message and position).
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    /// A text line that does not have the expected form.
    #[error("line {line}, column {column}: expected {expected}, found {found:?}")]
    Unexpected {
        line: usize,
        column: usize,
        expected: String,
        found: String,
    },
    /// A tool reported an error instead of data (`birdc` 8xxx/9xxx replies,
    /// `ipvsadm` without kernel support).
    #[error("line {line}: the tool reported an error: {message}")]
    ToolError { line: usize, message: String },
}

impl ParseError {
    pub fn line(&self) -> usize {
        match self {
            ParseError::Json { line, .. }
            | ParseError::Unexpected { line, .. }
            | ParseError::ToolError { line, .. } => *line,
        }
    }

    pub fn column(&self) -> usize {
        match self {
            ParseError::Json { column, .. } | ParseError::Unexpected { column, .. } => *column,
            ParseError::ToolError { .. } => 1,
        }
    }

    /// The message without the position, for reports that print the
    /// position separately.
    pub fn message(&self) -> String {
        match self {
            ParseError::Json { message, .. } | ParseError::ToolError { message, .. } => {
                message.clone()
            }
            ParseError::Unexpected {
                expected, found, ..
            } => format!("expected {expected}, found {found:?}"),
        }
    }

    /// The tool's own error message, printed at `line` instead of data.
    pub(crate) fn tool(line: usize, message: &str) -> Self {
        let message = message.trim().to_string();
        ParseError::ToolError { line, message }
    }

    /// A text-format error at `line` (1-based) and `column` (1-based).
    pub(crate) fn unexpected(
        line: usize,
        column: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        ParseError::Unexpected {
            line,
            column,
            expected: expected.into(),
            found: found.into(),
        }
    }
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        // serde_json's Display appends " at line L column C"; keep the bare
        // message since the position has its own fields.
        let full = e.to_string();
        let message = match full.rfind(" at line ") {
            Some(i) => full[..i].to_string(),
            None => full,
        };
        // serde_json says column 0 at EOF and for type errors on a whole
        // document; positions here are 1-based.
        ParseError::Json {
            line: e.line().max(1),
            column: e.column().max(1),
            message,
        }
    }
}

/// 1-based column of `token` inside `line`, when it is a subslice of it.
pub(crate) fn column_of(line: &str, token: &str) -> usize {
    let start = line.as_ptr() as usize;
    let at = token.as_ptr() as usize;
    if at >= start && at + token.len() <= start + line.len() {
        at - start + 1
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_keeps_position_and_bare_message() {
        let err = serde_json::from_str::<Vec<u32>>("[1,\n x]").unwrap_err();
        let pe = ParseError::from(err);
        assert_eq!(pe.line(), 2);
        assert_eq!(pe.column(), 2);
        assert!(!pe.message().contains("at line"), "{}", pe.message());
    }

    #[test]
    fn column_of_subslice() {
        let line = "TCP  10.0.0.1:80 rr";
        let tok = &line[5..16];
        assert_eq!(column_of(line, tok), 6);
        assert_eq!(column_of(line, &String::from("elsewhere")), 1);
    }
}

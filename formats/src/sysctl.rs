//! `sysctl -a` (or a subset) → key/value map.
//!
//! Lines are `key = value` (also `key=value`); blank lines and `#`/`;`
//! comments are skipped; values keep inner whitespace (`4096\t131072`).
//! `/` in keys becomes `.`: `sysctl` prints an interface name's dots as
//! slashes (`net.ipv4.conf.flannel/1.rp_filter`), so the stored key reads
//! `net.ipv4.conf.flannel.1.rp_filter` — what a lookup built from the
//! device name expects — and `net/ipv4/ip_forward` paths read as keys.
//! A later line for the same key wins, as `sysctl -p` would apply it.

use std::collections::BTreeMap;

use super::ParseError;

/// Parses "key = value" lines.
pub fn parse_sysctl(text: &str) -> Result<BTreeMap<String, String>, ParseError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if let Some((key, value)) = sysctl_line(i + 1, line)? {
            out.insert(key.replace('/', "."), value.to_string());
        }
    }
    Ok(out)
}

/// One line's key and value; `None` for blank lines and comments.
fn sysctl_line(n: usize, line: &str) -> Result<Option<(&str, &str)>, ParseError> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
        return Ok(None);
    }
    let bad = |what: &str, found: &str| {
        ParseError::unexpected(n, super::column_of(line, trimmed), what, found)
    };
    let (key, value) = trimmed
        .split_once('=')
        .ok_or_else(|| bad("\"key = value\"", trimmed))?;
    let key = key.trim();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(bad("a sysctl key before '='", key));
    }
    Ok(Some((key, value.trim())))
}

// ---- writer: `sysctl -a` ----------------------------------------------------

/// `key = value` lines, as `sysctl` prints them.
pub fn write_sysctl(sysctls: &BTreeMap<String, String>) -> String {
    sysctls
        .iter()
        .map(|(k, v)| format!("{k} = {v}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_errors() {
        let m = parse_sysctl("# c\nnet.ipv4.ip_forward = 1\nnet/ipv4/tcp_rmem=4096\t131072\n\n")
            .unwrap();
        assert_eq!(m["net.ipv4.ip_forward"], "1");
        assert_eq!(m["net.ipv4.tcp_rmem"], "4096\t131072");
        let e = parse_sysctl("a = 1\n  garbage\n").unwrap_err();
        assert_eq!((e.line(), e.column()), (2, 3));
        assert!(parse_sysctl("two words = 1").is_err());
    }
}

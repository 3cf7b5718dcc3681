//! `ipset save` → sets and their members.
//!
//! ```text
//! create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
//! add KUBE-CLUSTER-IP 10.96.0.10,udp:53
//! add cali40s:abc 10.244.0.0/16 nomatch
//! ```
//!
//! Each `add` value is split by commas into the dimensions of the set's type
//! (`ip`, `net`, `port`, `mac`, `iface`, `mark`, `set`), so a rule's
//! `--match-set NAME src,dst` can test each against the packet.

use std::net::IpAddr;

use cnictl_model::netfilter::{proto_number, IpSet, IpSetMember, Value};
use ipnet::IpNet;

use super::{column_of, ParseError};

/// Parses `ipset save` (or `ipset list -o save`) output.
pub fn parse_ipset_save(text: &str) -> Result<Vec<IpSet>, ParseError> {
    let mut sets: Vec<IpSet> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        match words.next() {
            None => {}
            Some("create") => sets.push(create(i + 1, line, words)?),
            Some("add") => add(&mut sets, i + 1, line, words)?,
            Some(w) if w.starts_with('#') => {}
            Some(w) => {
                return Err(ParseError::unexpected(
                    i + 1,
                    column_of(line, w),
                    "'create' or 'add'",
                    w,
                ))
            }
        }
    }
    Ok(sets)
}

fn create<'a>(
    no: usize,
    line: &str,
    mut words: impl Iterator<Item = &'a str>,
) -> Result<IpSet, ParseError> {
    let (Some(name), Some(kind)) = (words.next(), words.next()) else {
        return Err(ParseError::unexpected(
            no,
            1,
            "'create NAME TYPE [options]'",
            line,
        ));
    };
    let mut family = None;
    while let Some(w) = words.next() {
        if w == "family" {
            family = words.next().map(str::to_string);
        }
    }
    Ok(IpSet {
        name: name.to_string(),
        kind: kind.to_string(),
        family,
        members: Vec::new(),
    })
}

fn add<'a>(
    sets: &mut [IpSet],
    no: usize,
    line: &str,
    mut words: impl Iterator<Item = &'a str>,
) -> Result<(), ParseError> {
    let (Some(name), Some(value)) = (words.next(), words.next()) else {
        return Err(ParseError::unexpected(
            no,
            1,
            "'add NAME VALUE [options]'",
            line,
        ));
    };
    let set = sets
        .iter_mut()
        .rev()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            ParseError::unexpected(no, column_of(line, name), "a set created earlier", name)
        })?;
    let nomatch = words.any(|w| w == "nomatch");
    let values = member(&set.kind, value).ok_or_else(|| {
        ParseError::unexpected(
            no,
            column_of(line, value),
            format!("a member of a {} set", set.kind),
            value,
        )
    })?;
    set.members.push(IpSetMember { values, nomatch });
    Ok(())
}

/// Sets back in `ipset save` form (what `ipset restore` reads, and what
/// [`parse_ipset_save`] reads back to the same sets).
pub fn write_ipset_save(sets: &[IpSet]) -> String {
    let mut out = String::new();
    for set in sets {
        let family = set
            .family
            .as_deref()
            .map(|f| format!(" family {f}"))
            .unwrap_or_default();
        out.push_str(&format!("create {} {}{family}\n", set.name, set.kind));
        for m in &set.members {
            let values: Vec<String> = m.values.iter().map(value_text).collect();
            let nomatch = if m.nomatch { " nomatch" } else { "" };
            out.push_str(&format!("add {} {}{nomatch}\n", set.name, values.join(",")));
        }
    }
    out
}

/// One dimension as ipset prints it: a host without `/32`, `udp:53`.
fn value_text(v: &Value) -> String {
    match v {
        Value::Net(n) if n.prefix_len() == n.max_prefix_len() => n.addr().to_string(),
        Value::Net(n) => n.to_string(),
        Value::AddrRange(a, b) => format!("{a}-{b}"),
        Value::ProtoPort(proto, lo, hi) => {
            let ports = if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            };
            format!("{}:{ports}", proto_name(*proto))
        }
        Value::Num(a, b) if a == b => a.to_string(),
        Value::Num(a, b) => format!("{a}-{b}"),
        Value::Str(s) => s.clone(),
    }
}

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        132 => "sctp".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        n => n.to_string(),
    }
}

/// `10.96.0.10,udp:53` for `hash:ip,port` → [ip, proto:port].
fn member(kind: &str, value: &str) -> Option<Vec<Value>> {
    let dims = kind.split_once(':').map_or(kind, |(_, d)| d);
    let parts: Vec<&str> = value.split(',').collect();
    let dims: Vec<&str> = dims.split(',').collect();
    if parts.len() != dims.len() {
        return None;
    }
    dims.iter()
        .zip(parts)
        .map(|(d, p)| dimension(d, p))
        .collect()
}

fn dimension(dim: &str, text: &str) -> Option<Value> {
    match dim {
        "ip" | "net" => address(text),
        "port" => proto_port(text),
        _ => Some(Value::Str(text.to_string())),
    }
}

/// An address, prefix or `a-b` range (`hash:ip` accepts ranges on add).
fn address(text: &str) -> Option<Value> {
    if let Ok(n) = text.parse::<IpNet>() {
        return Some(Value::Net(n));
    }
    if let Ok(a) = text.parse::<IpAddr>() {
        return Some(Value::Net(IpNet::from(a)));
    }
    let (a, b) = text.split_once('-')?;
    Some(Value::AddrRange(a.parse().ok()?, b.parse().ok()?))
}

/// `udp:53`, `tcp:80-90`, `8080` (TCP by default).
fn proto_port(text: &str) -> Option<Value> {
    let (proto, ports) = match text.split_once(':') {
        Some((p, ports)) => (proto_number(p)?, ports),
        None => (6, text),
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let p = ports.parse().ok()?;
            (p, p)
        }
    };
    Some(Value::ProtoPort(proto, lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = include_str!("../tests/data/netfilter/ipset-save.txt");

    #[test]
    fn written_sets_read_back_the_same() {
        let text = "create a hash:net family inet\nadd a 10.244.0.0/16\nadd a 10.244.5.7 nomatch\ncreate b hash:ip,port\nadd b 10.0.0.1-10.0.0.5,tcp:80-90\n";
        let sets = parse_ipset_save(&format!("{CAPTURED}\n{text}")).unwrap();
        assert_eq!(parse_ipset_save(&write_ipset_save(&sets)).unwrap(), sets);
    }

    #[test]
    fn captured_kube_proxy_set() {
        let sets = parse_ipset_save(CAPTURED).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].kind, "hash:ip,port");
        assert_eq!(sets[0].family.as_deref(), Some("inet"));
        let ip: IpAddr = "10.96.0.10".parse().unwrap();
        assert_eq!(
            sets[0].members[0].values,
            vec![Value::Net(IpNet::from(ip)), Value::ProtoPort(17, 53, 53)]
        );
    }

    #[test]
    fn nets_ranges_nomatch_and_other_dimensions() {
        let text = "create a hash:net family inet\nadd a 10.244.0.0/16\nadd a 10.244.5.0/24 nomatch\ncreate b hash:ip\nadd b 10.0.0.1-10.0.0.5\ncreate c list:set\nadd c a\n";
        let sets = parse_ipset_save(text).unwrap();
        assert!(sets[0].members[1].nomatch);
        assert!(matches!(sets[1].members[0].values[0], Value::AddrRange(..)));
        assert_eq!(sets[2].members[0].values, vec![Value::Str("a".into())]);
    }

    #[test]
    fn errors_name_line_and_expectation() {
        for (text, line, expected) in [
            ("add nope 1.2.3.4\n", 1, "a set created earlier"),
            (
                "create a hash:ip\nadd a 1.2.3\n",
                2,
                "a member of a hash:ip set",
            ),
            ("create a hash:ip,port\nadd a 1.2.3.4\n", 2, "a member"),
            ("flush\n", 1, "'create' or 'add'"),
            ("create\n", 1, "'create NAME TYPE"),
        ] {
            let err = parse_ipset_save(text).unwrap_err();
            assert_eq!(err.line(), line, "{text:?}: {err}");
            assert!(err.to_string().contains(expected), "{text:?}: {err}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,200}") {
            let _ = parse_ipset_save(&text);
        }

        /// Every error names a line of the input and what was expected.
        #[test]
        fn errors_point_into_the_input(lines in proptest::collection::vec(
            proptest::collection::vec(proptest::sample::select(vec![
                "create", "add", "a", "b", "hash:ip", "hash:net", "hash:ip,port", "bitmap:port",
                "family", "inet", "inet6", "1.2.3.4", "10.0.0.0/8", "tcp:80", "80-90", "nomatch",
                "1.2.3", "::1", "timeout", "0", "-exist", "range", "0-65535",
            ]), 0..8), 0..6)) {
            let text: String = lines.iter().map(|w| w.join(" ") + "\n").collect();
            if let Err(e) = parse_ipset_save(&text) {
                let at = text.lines().nth(e.line().saturating_sub(1));
                proptest::prop_assert!(e.line() >= 1 && at.is_some(), "line {} of {text:?}: {e}", e.line());
                proptest::prop_assert!(e.to_string().contains("expected"), "{e}");
            }
        }
    }
}

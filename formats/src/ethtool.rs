//! `ethtool -k DEV` (offload features) and `uname -r` (kernel release).
//!
//! `ethtool.txt` is one or more `ethtool -k` listings one after the other,
//! each opened by `Features for DEV:`, then one `name: on|off` line per
//! feature, sub-features indented by a tab, optionally followed by
//! `[fixed]` (the driver does not let it change) or `[requested on]`.
//! Written by hand: no crate parses ethtool's text, and its netlink form
//! needs the kernel's string sets, which a bundle does not carry.

use std::collections::BTreeMap;

use cnictl_model::{DevFeatures, Feature};

use super::{column_of, ParseError};

/// Parses concatenated `ethtool -k` listings.
pub fn parse_ethtool_features(text: &str) -> Result<Vec<DevFeatures>, ParseError> {
    let mut out: Vec<DevFeatures> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(dev) = header(t) {
            out.push(DevFeatures {
                dev: dev.to_string(),
                features: BTreeMap::new(),
            });
            continue;
        }
        let Some(cur) = out.last_mut() else {
            let col = column_of(line, t);
            return Err(ParseError::unexpected(
                i + 1,
                col,
                "\"Features for DEV:\"",
                t,
            ));
        };
        let (name, f) = feature(i + 1, line, t)?;
        cur.features.insert(name.to_string(), f);
    }
    Ok(out)
}

/// `Features for flannel.1:` → `flannel.1`.
fn header(t: &str) -> Option<&str> {
    let dev = t.strip_prefix("Features for ")?.strip_suffix(':')?;
    (!dev.is_empty() && !dev.contains(char::is_whitespace)).then_some(dev)
}

/// `tx-checksum-ip-generic: on [fixed]` → the name and its state.
fn feature<'a>(n: usize, line: &str, t: &'a str) -> Result<(&'a str, Feature), ParseError> {
    let bad =
        |what: &str, found: &str| ParseError::unexpected(n, column_of(line, found), what, found);
    let (name, rest) = t
        .split_once(':')
        .ok_or_else(|| bad("\"feature: on|off\"", t))?;
    let rest = rest.trim();
    let (state, flags) = rest.split_once(' ').unwrap_or((rest, ""));
    let on = match state {
        "on" => true,
        "off" => false,
        _ => return Err(bad("on or off", state)),
    };
    let fixed = flags.contains("[fixed]");
    Ok((name.trim(), Feature { on, fixed }))
}

/// The listings back, as `ethtool -k` prints them (sub-features are not
/// re-indented: the parser does not need it).
pub fn write_ethtool_features(devs: &[DevFeatures]) -> String {
    let mut s = String::new();
    for d in devs {
        s.push_str(&format!("Features for {}:\n", d.dev));
        for (name, f) in &d.features {
            let state = if f.on { "on" } else { "off" };
            let fixed = if f.fixed { " [fixed]" } else { "" };
            s.push_str(&format!("{name}: {state}{fixed}\n"));
        }
    }
    s
}

/// The kernel release from `uname -r` (one token) or `uname -a` (its
/// third), e.g. `5.4.0-42-generic`.
pub fn parse_uname(text: &str) -> Result<String, ParseError> {
    let (n, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or_else(|| ParseError::unexpected(1, 1, "a kernel release (uname -r)", ""))?;
    let toks: Vec<&str> = line.split_whitespace().collect();
    let release = match toks.as_slice() {
        [r] => *r,
        ["Linux", _, r, ..] => *r,
        _ => line.trim(),
    };
    if !release.starts_with(|c: char| c.is_ascii_digit()) {
        let col = column_of(line, release);
        return Err(ParseError::unexpected(
            n + 1,
            col,
            "a kernel release such as 5.4.0-42-generic",
            release,
        ));
    }
    Ok(release.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from `ethtool -k flannel.1` (ethtool 6.1) in a lab netns.
    const FLANNEL: &str = "Features for flannel.1:\nrx-checksumming: on\ntx-checksumming: on\n\ttx-checksum-ipv4: off [fixed]\n\ttx-checksum-ip-generic: on\n\ttx-checksum-ipv6: off [fixed]\nscatter-gather: on\ngeneric-receive-offload: on\nlarge-receive-offload: off [fixed]\n";

    #[test]
    fn reads_a_captured_listing_and_writes_it_back() {
        let two = format!("{FLANNEL}Features for eth0:\ntx-checksumming: off [requested on]\n");
        let devs = parse_ethtool_features(&two).unwrap();
        assert_eq!(devs.len(), 2);
        assert_eq!(devs[0].dev, "flannel.1");
        assert_eq!(devs[0].is_on("tx-checksum-ip-generic"), Some(true));
        assert_eq!(
            devs[0].features["tx-checksum-ipv4"],
            Feature {
                on: false,
                fixed: true
            }
        );
        assert_eq!(devs[1].is_on("tx-checksumming"), Some(false));
        let again = parse_ethtool_features(&write_ethtool_features(&devs)).unwrap();
        assert_eq!(again, devs);
    }

    #[test]
    fn bad_lines_name_their_position() {
        let e = parse_ethtool_features("rx-checksumming: on\n").unwrap_err();
        assert_eq!((e.line(), e.column()), (1, 1));
        let e = parse_ethtool_features("Features for eth0:\n\ttx: maybe\n").unwrap_err();
        assert_eq!((e.line(), e.column()), (2, 6));
        assert!(parse_ethtool_features("Features for eth0:\ngarbage\n").is_err());
    }

    #[test]
    fn uname_r_or_a() {
        assert_eq!(
            parse_uname("5.4.0-42-generic\n").unwrap(),
            "5.4.0-42-generic"
        );
        let a = "Linux node-1 4.19.0-6-amd64 #1 SMP Debian 4.19.67-2 x86_64 GNU/Linux\n";
        assert_eq!(parse_uname(a).unwrap(), "4.19.0-6-amd64");
        assert!(parse_uname("\n").is_err());
        assert!(parse_uname("generic\n").is_err());
    }
}

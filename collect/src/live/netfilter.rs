//! Netfilter, live: the node's own list commands (`iptables-save -c`,
//! `ip6tables-save -c`, `iptables-legacy-save -c` on a mixed node, `nft -j
//! list ruleset`, `ipset save`), parsed by the same parsers as the bundle
//! files, so a live read and `lab/collect-node.sh` give the same snapshot.
//!
//! Why the tools and not a netlink dump of nf_tables: iptables-nft stores
//! its matches as `xt` compat expressions whose payload only iptables
//! itself decodes faithfully (nft prints them as opaque `xt` objects), and
//! the legacy backend has no netlink interface at all. The tools run in the
//! namespace of the calling thread (the collector thread has entered the
//! target netns; a child inherits it), each bounded by a timeout and an
//! output limit; every one of them only lists.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cnictl_formats as formats;
use cnictl_model::netfilter::{Netfilter, Source, Table};

/// How long one tool may run before it is killed.
const TIMEOUT: Duration = Duration::from_secs(20);
/// The most output read from one tool (a 10,000-Service node's
/// iptables-save is ~26 MB).
const MAX_OUTPUT: u64 = 512 << 20;

/// The netfilter state of the current namespace; `None` when no tool is
/// installed. What failed is a note, never a guess.
pub(super) fn read_netfilter(notes: &mut Vec<String>) -> Option<Netfilter> {
    let mut nf = Netfilter::default();
    for source in sources() {
        let (tool, args) = command(source);
        let Some(text) = run(tool, args, notes) else {
            continue;
        };
        let parsed = match source {
            Source::NftRuleset => formats::parse_nft_ruleset(&text),
            _ => formats::parse_iptables_save(&text, source),
        };
        let ok = parsed.is_ok();
        add(&mut nf, source, parsed, notes);
        if ok && source == Source::NftRuleset {
            nf.nft_json = Some(text);
        }
    }
    nf.ipsets = run("ipset", &["save"], notes).and_then(|t| ipsets(&t, notes));
    nf.tool_versions = tool_versions();
    let collected = !nf.sources.is_empty() || nf.ipsets.is_some();
    collected.then_some(nf)
}

/// The dumps to take: both families, the legacy backend only beside the
/// nft one when it holds tables, then native nftables.
fn sources() -> Vec<Source> {
    let mut out = vec![Source::IptablesSave, Source::Ip6tablesSave];
    if iptables_is_nft() {
        out.extend(legacy_in_use());
    }
    out.push(Source::NftRuleset);
    out
}

fn command(source: Source) -> (&'static str, &'static [&'static str]) {
    match source {
        Source::IptablesSave => ("iptables-save", &["-c"]),
        Source::Ip6tablesSave => ("ip6tables-save", &["-c"]),
        Source::IptablesLegacySave => ("iptables-legacy-save", &["-c"]),
        Source::Ip6tablesLegacySave => ("ip6tables-legacy-save", &["-c"]),
        Source::NftRuleset => ("nft", &["-j", "list", "ruleset"]),
    }
}

fn iptables_is_nft() -> bool {
    let mut quiet = Vec::new();
    run("iptables-save", &["-V"], &mut quiet).is_some_and(|v| v.contains("nf_tables"))
}

/// Legacy tables registered in this thread's namespace (`thread-self`:
/// `/proc/net` would name the process's, not the entered one).
fn legacy_in_use() -> Vec<Source> {
    let used = |file: &str| {
        let path = format!("/proc/thread-self/net/{file}");
        std::fs::read_to_string(path).is_ok_and(|t| !t.trim().is_empty())
    };
    let mut out = Vec::new();
    if used("ip_tables_names") {
        out.push(Source::IptablesLegacySave);
    }
    if used("ip6_tables_names") {
        out.push(Source::Ip6tablesLegacySave);
    }
    out
}

fn add(
    nf: &mut Netfilter,
    source: Source,
    parsed: Result<Vec<Table>, formats::ParseError>,
    notes: &mut Vec<String>,
) {
    match parsed {
        Ok(tables) => {
            nf.tables.extend(tables);
            nf.sources.push(source);
        }
        Err(e) => notes.push(format!(
            "{} not collected: its output does not parse: {e}",
            source.file()
        )),
    }
}

fn ipsets(text: &str, notes: &mut Vec<String>) -> Option<Vec<cnictl_model::netfilter::IpSet>> {
    formats::parse_ipset_save(text)
        .map_err(|e| notes.push(format!("ipset-save.txt not collected: {e}")))
        .ok()
}

/// `iptables -V; nft -v; ip -V`, as `collect-node.sh` writes them.
fn tool_versions() -> Option<String> {
    let mut quiet = Vec::new();
    let lines: Vec<String> = [("iptables", "-V"), ("nft", "-v"), ("ip", "-V")]
        .into_iter()
        .filter_map(|(tool, flag)| run(tool, &[flag], &mut quiet))
        .map(|out| out.trim_end().to_string())
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// Runs a list command: its stdout, or `None` (absent tool: silently; a
/// failure or timeout: with a note).
pub(super) fn run(tool: &str, args: &[&str], notes: &mut Vec<String>) -> Option<String> {
    let child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            notes.push(format!("{tool} could not run: {e}"));
            return None;
        }
    };
    finish(child, tool, notes)
}

/// Reads the output (bounded) on a helper thread while waiting for the
/// exit (bounded); kills the tool at the deadline.
fn finish(mut child: Child, tool: &str, notes: &mut Vec<String>) -> Option<String> {
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut stdout).take(MAX_OUTPUT).read_to_end(&mut buf);
        buf
    });
    let status = wait(&mut child, TIMEOUT);
    let out = reader.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => Some(String::from_utf8_lossy(&out).into_owned()),
        Some(s) => {
            notes.push(format!("{tool} failed ({s}): its file is not written"));
            None
        }
        None => {
            notes.push(format!(
                "{tool} did not finish within {}s and was stopped",
                TIMEOUT.as_secs()
            ));
            None
        }
    }
}

fn wait(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

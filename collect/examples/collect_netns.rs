//! Collects one node's dataplane over netlink and prints it as JSON: the
//! stand-in for `cnictl collect --netns NAME` used by bench/collect.sh.
//!
//! Usage: `collect_netns [NETNS] [--out FILE|-] [--pods PREFIX]`
//! (no NETNS: the caller's own namespace; `--out /dev/null` to time only
//! the collection and serialization).

use std::io::Write;
use std::process::ExitCode;

use cnictl_collect::live::{collect, LiveOptions, NetnsTarget};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("collect_netns: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut opts = LiveOptions::default();
    let mut out = "-".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().ok_or("--out needs a file")?,
            "--pods" => {
                opts.pods = true;
                opts.pod_prefix = Some(args.next().ok_or("--pods needs a prefix")?);
            }
            name if !name.starts_with('-') => opts.netns = Some(NetnsTarget::Name(name.into())),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let collected = collect(&opts)?;
    for note in &collected.notes {
        eprintln!("note: {note}");
    }
    // Streamed: a 100k-route snapshot is ~15 MB of JSON, not worth holding.
    let sink: Box<dyn Write> = if out == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(&out)?)
    };
    let mut w = std::io::BufWriter::with_capacity(256 * 1024, sink);
    let result = serde_json::to_writer(&mut w, &collected.node)
        .map_err(std::io::Error::from)
        .and_then(|()| w.flush());
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

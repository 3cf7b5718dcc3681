//! The `cnictl` binary's code: parse flags, resolve the input, call the
//! core, render. No analysis logic lives here. A library only so that the
//! `cnictl` and `kubectl-cnictl` (kubectl plugin) binaries share it.

mod args;
mod cmd;
mod logging;
mod out;
mod plugin;
mod resolve;

use std::process::ExitCode;

use clap::Parser;

/// Runs the command line and maps the result to an exit code: 0/1 as the
/// command decides, 2 for any usage or input error, 0 on a closed pipe.
pub fn main() -> ExitCode {
    run(args::Cli::parse())
}

/// `kubectl cnictl`: [`main`] named as kubectl shows it, the analysis
/// commands defaulting to `--kube` (see [`plugin`]).
pub fn plugin_main() -> ExitCode {
    let argv = plugin::args(std::env::args_os().collect());
    let matches = plugin::command().get_matches_from(argv);
    match <args::Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => run(cli),
        Err(e) => e.exit(),
    }
}

fn run(cli: args::Cli) -> ExitCode {
    match cmd::run(cli.command) {
        Ok(code) => code,
        Err(err) if out::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cnictl: error: {}", chain_text(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes joined by ": ", skipping a cause whose text
/// the previous message already ends with (library errors that both print
/// and chain their source would otherwise say it twice).
fn chain_text(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

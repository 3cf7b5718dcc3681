//! The `cnictl` binary's code: parse flags, resolve the input, call the
//! core, render. No analysis logic lives here. A library only so that the
//! `cnictl` and `kubectl-cnictl` (kubectl plugin) binaries share it.

mod args;
mod cmd;
mod out;
mod resolve;

use std::process::ExitCode;

use clap::Parser;

/// Runs the command line and maps the result to an exit code: 0/1 as the
/// command decides, 2 for any usage or input error, 0 on a closed pipe.
pub fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match cmd::run(cli.command) {
        Ok(code) => code,
        Err(err) if out::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cnictl: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

//! One module per subcommand; each returns the process exit code.

mod check;
mod diff;
mod gen;
mod model;
mod lab;
mod snapshot;

use std::process::ExitCode;

use anyhow::Result;

use crate::args::Command;

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Snapshot(a) => snapshot::run(a),
        Command::Gen(a) => gen::run(a),
        Command::Lab(a) => lab::run(a),
        Command::Model(a) => model::run(a),
        Command::Check(a) => check::run(a),
        Command::Diff(a) => diff::run(a),
        other => anyhow::bail!("not wired yet: {other:?}"),
    }
}

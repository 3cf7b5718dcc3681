//! One module per subcommand; each returns the process exit code.

mod check;
pub mod cluster;
mod collect;
mod demo;
mod diff;
mod explain;
mod gen;
mod lab;
mod matrix;
mod model;
mod nfcount;
mod serve;
mod snapshot;

use std::process::ExitCode;

use anyhow::Result;

use crate::args::Command;

/// `cnictl completion SHELL`: the script clap generates from the CLI.
fn completion(a: crate::args::CompletionArgs) -> Result<ExitCode> {
    use clap::CommandFactory;
    let mut cmd = crate::args::Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(a.shell, &mut cmd, "cnictl", &mut out);
    Ok(ExitCode::SUCCESS)
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Snapshot(a) => snapshot::run(a),
        Command::Gen(a) => gen::run(a),
        Command::Lab(a) => lab::run(a),
        Command::Model(a) => model::run(a),
        Command::Check(a) => check::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Matrix(a) => matrix::run(a),
        Command::Collect(a) => collect::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Serve(a) if a.source.kube => cluster::serve(a),
        Command::Serve(a) => serve::run(a),
        Command::Agent(a) => cluster::agent(a),
        Command::Bundle(a) => cluster::bundle(a),
        Command::Completion(a) => completion(a),
    }
}

//! `kubectl cnictl`: the same tool as a kubectl plugin. kubectl runs
//! `kubectl-cnictl` for `kubectl cnictl …`, so the plugin names itself that
//! way in its usage and examples, and — as kubectl's own commands act on
//! the current context — the analysis commands default to the live cluster
//! (`--kube`) when no `--bundle`, `--snapshot` or `--manifests` is given.

use std::ffi::OsString;

use clap::{Command, CommandFactory};

use crate::args::Cli;

/// The subcommands that read a cluster and so default to `--kube`.
const DEFAULT_KUBE: [&str; 5] = ["model", "check", "explain", "matrix", "snapshot"];

/// Flags that already say where the data come from.
const SOURCES: [&str; 4] = ["--bundle", "--snapshot", "--kube", "--manifests"];

const NAME: &str = "kubectl cnictl";

/// The command as the plugin presents it.
pub fn command() -> Command {
    Cli::command()
        .name(NAME)
        .bin_name(NAME)
        .mut_subcommands(|sc| {
            let help = sc.get_after_help().map(|h| h.to_string());
            match help {
                Some(h) => sc.after_help(h.replace("  cnictl ", "  kubectl cnictl ")),
                None => sc,
            }
        })
}

/// The arguments, with `--kube` added where no source was named.
pub fn args(mut argv: Vec<OsString>) -> Vec<OsString> {
    let Some(sub) = argv
        .iter()
        .skip(1)
        .position(|a| !a.to_string_lossy().starts_with('-'))
    else {
        return argv;
    };
    let sub = sub + 1;
    let reads_cluster = DEFAULT_KUBE.contains(&argv[sub].to_string_lossy().as_ref());
    if reads_cluster && !names_source(&argv) && !asks_help(&argv) {
        argv.insert(sub + 1, "--kube".into());
    }
    argv
}

fn names_source(argv: &[OsString]) -> bool {
    argv.iter().any(|a| {
        let a = a.to_string_lossy();
        SOURCES
            .iter()
            .any(|s| a == *s || a.starts_with(&format!("{s}=")))
    })
}

fn asks_help(argv: &[OsString]) -> bool {
    argv.iter().any(|a| a == "--help" || a == "-h")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &[&str]) -> Vec<String> {
        let argv = a.iter().map(OsString::from).collect();
        args(argv)
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn analysis_commands_default_to_the_live_cluster() {
        assert_eq!(run(&["k", "check"]), ["k", "check", "--kube"]);
        assert_eq!(
            run(&["k", "explain", "a", "b"]),
            ["k", "explain", "--kube", "a", "b"]
        );
        assert_eq!(
            run(&["k", "check", "--bundle", "x"]),
            ["k", "check", "--bundle", "x"]
        );
        assert_eq!(
            run(&["k", "check", "--snapshot=s.json"]),
            ["k", "check", "--snapshot=s.json"]
        );
        assert_eq!(run(&["k", "lab", "status"]), ["k", "lab", "status"]);
        assert_eq!(run(&["k", "check", "--help"]), ["k", "check", "--help"]);
        assert_eq!(run(&["k"]), ["k"]);
    }
}

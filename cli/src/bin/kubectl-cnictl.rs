//! `kubectl-cnictl`: the same tool under the name kubectl looks for, so
//! `kubectl cnictl check …` works as a kubectl plugin (named so in its
//! usage, and reading the live cluster unless told otherwise).

fn main() -> std::process::ExitCode {
    cnictl::plugin_main()
}

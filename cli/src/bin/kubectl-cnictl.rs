//! `kubectl-cnictl`: the same binary under the name kubectl looks for, so
//! `kubectl cnictl check …` works as a kubectl plugin.

fn main() -> std::process::ExitCode {
    cnictl::main()
}

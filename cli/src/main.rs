//! `cnictl`: why can't pod A reach pod B?

fn main() -> std::process::ExitCode {
    cnictl::main()
}

//! The `anycastd` binary: parse, run, map the result to an exit code.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(anycastd::main(std::env::args_os().skip(1).collect()))
}

//! `concord`: see the library (`concord_cli::run`) and the README's "Command line".

use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let stderr_is_terminal = std::io::stderr().is_terminal();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let exit = concord_cli::run(
        std::env::args_os(),
        concord_cli::Terminal {
            stdout: &mut stdout,
            stderr: &mut stderr,
            stderr_is_terminal,
        },
    );
    ExitCode::from(exit.code())
}

//! The `sotto` binary: parse arguments, run the command, map errors to an
//! exit code. Usage errors exit 2 (clap); runtime errors print one line on
//! stderr and exit 1; `listen --count N --timeout S` that gets fewer than
//! N messages exits 3.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sotto: {}", cli::describe(&err));
            let incomplete = err.downcast_ref::<cli::Incomplete>().is_some();
            ExitCode::from(if incomplete { 3 } else { 1 })
        }
    }
}

//! End-to-end load against a real broker: `sotto bench`, for `cargo bench`,
//! with three rounds by default so the figures are medians. The engine is
//! [`sotto::bench`] (a private mosquitto, plain MQTT, the crypto floor and
//! sotto's durable path side by side); this only reads its settings from
//! the environment and prints the table.
//!
//! `cargo bench --bench load`; `LOAD_MESSAGES=N` (default 5000),
//! `LOAD_SIZE=BYTES` (200), `LOAD_MEMBERS=M` (5), `LOAD_ROUNDS=N` (3),
//! `LOAD_IDLE_SECS=N` (10). The receivers' homes live under the temporary
//! directory: set `TMPDIR` to measure another filesystem.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use sotto::bench::{BrokerChoice, Options};
use sotto::transport::VersionChoice;

fn setting(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(text) => match text.parse() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive integer, not {text:?}")),
        },
        Err(_) => Ok(default),
    }
}

fn options() -> Result<Options, String> {
    let size = |n: u64| usize::try_from(n).map_err(|_| format!("{n} is too large"));
    Ok(Options {
        broker: BrokerChoice::Own {
            version: VersionChoice::Auto,
        },
        messages: setting("LOAD_MESSAGES", 5000)?,
        size: size(setting("LOAD_SIZE", 200)?)?,
        members: size(setting("LOAD_MEMBERS", 5)?)?,
        rounds: size(setting("LOAD_ROUNDS", 3)?)?,
        idle: Duration::from_secs(setting("LOAD_IDLE_SECS", 10)?),
        sotto_exe: PathBuf::from(env!("CARGO_BIN_EXE_sotto")),
    })
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; this tool takes no arguments.
    let report = options().and_then(|options| {
        sotto::bench::run(&options, &mut |progress| {
            eprintln!(
                "load [{}/{}] {}",
                progress.step, progress.total, progress.what
            );
        })
        .map_err(|err| err.to_string())
    });
    match report {
        Ok(report) => {
            print!("{}", report.table());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("load: {err}");
            ExitCode::FAILURE
        }
    }
}

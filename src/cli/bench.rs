//! `sotto bench`: options in, a progress line on stderr, the table (and
//! with `--json` one JSON object as the last line) on stdout. The runs
//! themselves are [`sotto::bench`].

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Context;
use sotto::bench::{BrokerChoice, Options, Progress};

use super::args::Cli;
use super::net;

/// How long the idle processes sit before their memory is read.
const IDLE: Duration = Duration::from_secs(10);

/// What `sotto bench` was asked to measure.
pub struct BenchArgs {
    pub messages: u64,
    pub size: u64,
    pub members: u64,
    pub rounds: u64,
    pub json: bool,
}

pub fn run(cli: &Cli, args: &BenchArgs) -> anyhow::Result<()> {
    // Only a broker the user named is someone else's; without one the
    // bench starts its own rather than use whatever listens on 1883.
    let broker = match cli.broker {
        Some(_) => BrokerChoice::External(net::broker_config(cli)?),
        None => BrokerChoice::Own { version: cli.mqtt },
    };
    let options = Options {
        broker,
        messages: args.messages,
        size: usize::try_from(args.size).context("--size is too large")?,
        members: usize::try_from(args.members).context("--members is too large")?,
        rounds: usize::try_from(args.rounds).context("--rounds is too large")?,
        idle: IDLE,
        // The idle-memory step runs this same binary.
        sotto_exe: std::env::current_exe()
            .context("cannot tell where the sotto binary is, to run it for the idle-memory step")?,
    };
    let mut line = ProgressLine {
        terminal: std::io::stderr().is_terminal(),
    };
    let report = sotto::bench::run(&options, &mut |progress| line.show(&progress));
    line.finish();
    let report = report?;
    print!("{}", report.table());
    if args.json {
        println!("{}", report.json());
    }
    Ok(())
}

/// One line on stderr saying what is being measured: rewritten in place on
/// a terminal, one line per step otherwise (logs, CI).
struct ProgressLine {
    terminal: bool,
}

impl ProgressLine {
    fn show(&mut self, progress: &Progress) {
        let text = format!(
            "sotto bench [{}/{}] {}",
            progress.step, progress.total, progress.what
        );
        let mut stderr = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(stderr, "\r\x1b[K{text}…")
        } else {
            writeln!(stderr, "{text}")
        };
        let _ = stderr.flush();
    }

    fn finish(&mut self) {
        if self.terminal {
            eprint!("\r\x1b[K");
        }
    }
}

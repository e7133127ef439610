//! The command line: clap definitions and dispatch. Commands are thin:
//! they load state through [`sotto::store`], call the core, print.

mod args;
mod local;
mod output;
mod unlock;

pub use args::Cli;
use args::{Command, RoomCommand};

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let store = sotto::store::Store::new(cli.home()?);
    match cli.command {
        Command::Init {
            name,
            force,
            passphrase,
        } => local::init(&store, &name, force, passphrase),
        Command::Whoami => local::whoami(&store),
        Command::Passphrase { remove } => local::change_passphrase(&store, remove),
        Command::Room { action } => match action {
            RoomCommand::Create { name } => local::room_create(&store, &name),
            RoomCommand::Invite { name } => local::room_invite(&store, &name),
        },
        Command::Join { invite, local_name } => local::join(&store, &invite, local_name.as_deref()),
        Command::Rooms => local::rooms(&store),
        Command::Members { room } => local::members(&store, &room),
        Command::Verify {
            room,
            member,
            fingerprint,
        } => local::verify(&store, &room, &member, &fingerprint.join(" ")),
    }
}

/// One line for the user: the error and its causes, joined.
pub fn describe(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    sotto::sanitize::for_terminal(&text)
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

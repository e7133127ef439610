//! The command line: clap definitions and dispatch. Commands are thin:
//! they load state through [`sotto::store`], call the core, print.

mod args;
mod attach;
mod bench;
mod broker;
mod chat;
mod config;
mod history;
mod local;
mod net;
mod output;
mod render;
mod unlock;

use std::io::Write;
use std::sync::LazyLock;

pub use args::Cli;
use args::{Command, RoomCommand};
use clap::{CommandFactory, FromArgMatches};
pub use net::Incomplete;

/// What `--version` says: the build, and what it speaks on the wire, since
/// two members must agree on the latter, not the former.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} (wire protocol {}, topics {})",
        env!("CARGO_PKG_VERSION"),
        sotto::protocol::wire::WIRE_VERSION,
        sotto::topics::DEFAULT_PREFIX
    )
});

/// `chat`'s help: its slash commands, from the table `/help` prints.
static CHAT_HELP: LazyLock<String> = LazyLock::new(|| {
    let table = chat::SLASH_COMMANDS;
    let width = table
        .iter()
        .map(|(usage, _)| usage.len())
        .max()
        .unwrap_or(0);
    let mut text = String::from("Slash commands:\n");
    for (usage, what) in table {
        text.push_str(&format!("  {usage:width$}  {what}\n"));
    }
    text.push_str("\nExample:\n  sotto chat\n  sotto chat ops");
    text
});

/// The full command definition: the derived one plus what is computed
/// (version text, chat's slash commands). Completions and the man page
/// are made from it too.
pub fn command() -> clap::Command {
    Cli::command()
        .version(VERSION.as_str())
        .mut_subcommand("chat", |chat| chat.after_help(CHAT_HELP.as_str()))
}

/// Parses the command line (usage errors exit 2 here).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    config::record_origins(&mut cli, &matches);
    cli
}

/// Runs one command.
pub fn run(mut cli: Cli) -> anyhow::Result<()> {
    // Generated text must not depend on a home or a config file: packagers
    // run these on build machines.
    match &cli.command {
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command(), "sotto", &mut script);
            return write_stdout(&script);
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command()).render(&mut page)?;
            return write_stdout(&page);
        }
        _ => {}
    }
    let effective = config::Effective::load(&cli)?;
    let broker_given = cli.broker.is_some();
    effective.apply(&mut cli);
    if matches!(cli.command, Command::Bench { .. }) && !broker_given {
        // bench floods the broker and then clears what it made: only a
        // broker named for this run, never the everyday one in the file.
        cli.broker = None;
    }
    render::set_colour_mode(effective.colours.value);
    if matches!(cli.command, Command::Config) {
        return config::show(&effective);
    }
    let store = sotto::store::Store::new(effective.home.value.clone())
        .with_default_retention(effective.keep_history.value);
    if needs_identity(&cli.command) && !store.has_identity() {
        anyhow::bail!(NO_IDENTITY);
    }
    // Everything that reads or writes rooms needs the home unlocked first
    // (chat does it itself, after its first-run questions).
    let needs_rooms = !matches!(
        cli.command,
        Command::Init { .. }
            | Command::Whoami
            | Command::Passphrase { .. }
            | Command::Chat { .. }
            | Command::Broker { .. }
            | Command::Bench { .. }
            | Command::Config
            | Command::Completions { .. }
            | Command::Man
    );
    if needs_rooms {
        unlock::open_home(&store)?;
    }
    match &cli.command {
        Command::Send { room, text } => return net::send(&cli, &store, room, text.as_deref()),
        Command::Listen {
            room,
            json,
            count,
            timeout,
        } => {
            let options = net::ListenOptions {
                json: *json,
                count: *count,
                timeout: *timeout,
            };
            return net::listen(&cli, &store, room, options);
        }
        Command::Chat { room } => return chat::run(&cli, &store, room.as_deref()),
        Command::Kick { room, member } => {
            return net::change_membership(&cli, &store, room, net::Membership::Kick(member));
        }
        Command::Leave { room } => {
            return net::change_membership(&cli, &store, room, net::Membership::Leave);
        }
        Command::Admin { room, member } => {
            return net::change_membership(&cli, &store, room, net::Membership::Admin(member));
        }
        Command::Room {
            action:
                RoomCommand::Create {
                    name,
                    invite,
                    create,
                },
        } => {
            local::room_create(
                &store,
                name,
                local::InviteOptions {
                    expires: invite.expires.clone(),
                    uses: invite.uses,
                    log: !create.no_log,
                },
            )?;
            net::prepare_room_session(&cli, &store, name);
            return Ok(());
        }
        Command::Room {
            action: RoomCommand::Upgrade { name },
        } => {
            return net::change_membership(&cli, &store, name, net::Membership::MoveToLog);
        }
        Command::Room {
            action: RoomCommand::Rotate { name },
        } => {
            return net::change_membership(&cli, &store, name, net::Membership::Rotate);
        }
        Command::Broker { listen } => return broker::run(*listen),
        Command::Bench {
            messages,
            size,
            members,
            rounds,
            json,
        } => {
            let args = bench::BenchArgs {
                messages: *messages,
                size: *size,
                members: *members,
                rounds: *rounds,
                json: *json,
            };
            return bench::run(&cli, &args);
        }
        _ => {}
    }
    match cli.command {
        Command::Init {
            name,
            force,
            passphrase,
        } => local::init(&store, &name, force, passphrase),
        Command::Whoami => local::whoami(&store),
        Command::Passphrase { remove } => local::change_passphrase(&store, remove),
        Command::Room { action } => match action {
            RoomCommand::Invite { name, invite } => local::room_invite(
                &store,
                &name,
                local::InviteOptions {
                    expires: invite.expires,
                    uses: invite.uses,
                    log: false,
                },
            ),
            RoomCommand::Keep { name, keep } => history::keep(&store, &name, &keep),
            // Handled above: they borrow the whole Cli.
            RoomCommand::Create { .. }
            | RoomCommand::Upgrade { .. }
            | RoomCommand::Rotate { .. } => Ok(()),
            RoomCommand::RotateAfter { name, schedule } => {
                local::rotate_after(&store, &name, &schedule)
            }
        },
        Command::History {
            room,
            json,
            limit,
            since,
        } => history::show(&store, &room, json, limit, since.as_deref()),
        Command::Forget { room } => history::forget(&store, &room),
        Command::Check => history::check(&store),
        Command::Join { invite, local_name } => {
            let invite = match invite.as_deref() {
                Some(text) if text != "-" => text.to_owned(),
                _ => local::read_invite()?,
            };
            local::join(&store, &invite, local_name.as_deref())
        }
        Command::Rooms => local::rooms(&store),
        Command::Members { room } => local::members(&store, &room),
        Command::Verify {
            room,
            member,
            fingerprint,
        } => local::verify(&store, &room, &member, &fingerprint.join(" ")),
        Command::Accept {
            room,
            member,
            fingerprint,
        } => local::accept(&store, &room, &member, &fingerprint.join(" ")),
        Command::Send { .. }
        | Command::Kick { .. }
        | Command::Leave { .. }
        | Command::Admin { .. }
        | Command::Listen { .. }
        | Command::Chat { .. }
        | Command::Broker { .. }
        | Command::Bench { .. }
        | Command::Config
        | Command::Completions { .. }
        | Command::Man => Ok(()),
    }
}

/// Writes generated text; a reader that stops early (`| head`) is fine.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(err).context("could not write to standard output"))
        }
        _ => Ok(()),
    }
}

/// One line for the user: the error and its causes, joined. A cause whose
/// text the line already holds is left out: many errors quote their
/// source in their own message ("could not read X: Is a directory") and
/// name it as their source too, which would say it twice.
pub fn describe(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let said = cause.to_string();
        if text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    sotto::sanitize::for_terminal(&text)
}

/// What a command that needs an identity says in a home without one,
/// before anything else could fail (a broker, a room name).
pub const NO_IDENTITY: &str = "no identity yet: run `sotto init --name NAME`";

/// Whether a command needs an identity before it can do anything.
fn needs_identity(command: &Command) -> bool {
    !matches!(
        command,
        Command::Init { .. }
            // chat makes one on its first run.
            | Command::Chat { .. }
            | Command::Broker { .. }
            | Command::Bench { .. }
            | Command::Config
            | Command::Completions { .. }
            | Command::Man
    )
}

pub use sotto::session::now_ms;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// Every command and subcommand, with its path ("room create").
    fn all(command: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in command.get_subcommands() {
            let name = format!("{path} {}", sub.get_name()).trim().to_owned();
            out.push((name.clone(), sub.clone()));
            all(sub, name, out);
        }
    }

    #[test]
    fn every_command_shows_an_example() {
        let mut commands = Vec::new();
        all(&command(), String::new(), &mut commands);
        assert!(commands.len() > 20, "{}", commands.len());
        for (name, mut sub) in commands {
            let help = sub.render_long_help().to_string();
            assert!(help.contains("Example:\n  sotto "), "{name}:\n{help}");
        }
    }

    #[test]
    fn chat_help_lists_every_slash_command() {
        let mut chat = command().find_subcommand("chat").unwrap().clone();
        let help = chat.render_long_help().to_string();
        for (usage, what) in chat::SLASH_COMMANDS {
            assert!(help.contains(usage), "{usage} missing:\n{help}");
            assert!(help.contains(what), "{what} missing:\n{help}");
        }
    }

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let io = std::io::Error::from(std::io::ErrorKind::IsADirectory);
        let quoted = format!("could not read x: {io}");
        let err = anyhow::Error::new(io).context(quoted.clone());
        assert_eq!(describe(&err), quoted);
        let err = anyhow::anyhow!("inner problem").context("outer");
        assert_eq!(describe(&err), "outer: inner problem");
        let err = anyhow::anyhow!("a\nb");
        assert_eq!(describe(&err), "a\\u{a}b");
    }

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }
}

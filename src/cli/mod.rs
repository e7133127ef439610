//! The command line: clap definitions and dispatch. Commands are thin:
//! they load state through [`sotto::store`], call the core, print.

mod args;
mod bench;
mod broker;
mod chat;
mod history;
mod local;
mod net;
mod output;
mod render;
mod unlock;

pub use args::Cli;
use args::{Command, RoomCommand};
pub use net::Incomplete;

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let store = sotto::store::Store::new(cli.home()?);
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
            RoomCommand::Create {
                name,
                invite,
                create,
            } => local::room_create(
                &store,
                &name,
                local::InviteOptions {
                    expires: invite.expires,
                    uses: invite.uses,
                    log: create.log,
                },
            ),
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
        | Command::Bench { .. } => Ok(()),
    }
}

/// One line for the user: the error and its causes, joined.
pub fn describe(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    sotto::sanitize::for_terminal(&text)
}

pub use sotto::session::now_ms;

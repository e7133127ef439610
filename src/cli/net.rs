//! Commands that talk to the broker: `send` and `listen`, plus the broker
//! settings and the async runtime they share with `chat`.

use sotto::room::MembershipChange;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sotto::protocol::message::Body;
use sotto::sanitize::for_terminal;
use sotto::session::{self, BrokerConfig, RoomSession, SessionEvent};
use sotto::store::Store;
use sotto::topics::DEFAULT_PREFIX;
use sotto::transport::{BrokerList, BrokerUrl};
use tokio::io::AsyncWriteExt;

use super::args::Cli;
use super::render::{Style, message_json, notice_text, presence_text};
use super::unlock;

/// Broker settings from the command line, environment and config file
/// (merged into `cli` by `config::Effective::apply`).
pub fn broker_config(cli: &Cli) -> anyhow::Result<BrokerConfig> {
    let url: BrokerList = cli.broker_text().parse()?;
    let password = std::env::var("SOTTO_PASSWORD").ok();
    let credentials = match (&cli.username, password) {
        (Some(user), Some(password)) => Some((user.clone(), password)),
        (Some(user), None) => Some((user.clone(), unlock::broker_password(user)?)),
        (None, Some(_)) => anyhow::bail!(
            "SOTTO_PASSWORD is set but no username; pass --username or set SOTTO_USERNAME"
        ),
        (None, None) => None,
    };
    Ok(BrokerConfig {
        url,
        version: cli.mqtt,
        credentials,
        prefix: DEFAULT_PREFIX.to_owned(),
        ca_file: cli.ca_file.clone(),
        client_auth: super::config::client_auth(cli)?,
    })
}

/// A multi-threaded runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the async runtime")
}

pub fn send(cli: &Cli, store: &Store, room: &str, text: Option<&str>) -> anyhow::Result<()> {
    let broker = broker_config(cli)?;
    store.room(room)?;
    let text = match text {
        Some(text) if text != "-" => text.to_owned(),
        _ => read_stdin_message()?,
    };
    if text.trim().is_empty() {
        anyhow::bail!("the message is empty; give some text, or pipe it in");
    }
    let text = text.as_str();
    let identity = Arc::new(unlock::load_identity(store)?);
    let body = match text.strip_prefix("/me ") {
        Some(action) => Body::Action(action.to_owned()),
        None => Body::Text(text.to_owned()),
    };
    let runtime = runtime()?;
    if store.room(room)?.is_joining() {
        // The invite is redeemed on the room's first connection: by us, or
        // by the chat or listen of this home that holds the room already.
        runtime.block_on(async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            match RoomSession::open(store.clone(), identity.clone(), room, &broker).await {
                Ok(mut session) => {
                    while store.room(room)?.is_joining() && tokio::time::Instant::now() < deadline {
                        let event =
                            tokio::time::timeout(Duration::from_millis(200), session.next_event())
                                .await;
                        if let Ok(Ok(SessionEvent::JoinRefused { by, reason })) = event {
                            session.close().await;
                            anyhow::bail!(refused_text(&by, &reason));
                        }
                    }
                    session.close().await;
                }
                // The chat or listen of this home that holds the room is
                // joining it: wait for it.
                Err(session::SessionError::Busy(_)) => {
                    while store.room(room)?.is_joining() && tokio::time::Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                Err(err) => return Err(err.into()),
            }
            if store.room(room)?.is_joining() {
                anyhow::bail!(session::MembershipError::NoSponsor);
            }
            Ok::<_, anyhow::Error>(())
        })?;
    }
    let mut note = |text: &str| eprintln!("sotto: {}", for_terminal(text));
    let node = runtime.block_on(session::send_once(
        store, &identity, room, &broker, body, &mut note,
    ))?;
    if cli.verbose {
        eprintln!("sotto: sent through {node}");
    }
    Ok(())
}

/// After `room create`: the room's broker session is made now, so what
/// members send before this home first opens the room waits for it.
/// Best effort: without a broker, says what that costs.
pub fn prepare_room_session(cli: &Cli, store: &Store, room: &str) {
    let ready = broker_config(cli).ok().and_then(|broker| {
        let runtime = runtime().ok()?;
        runtime
            .block_on(session::prepare_room_session(store, &broker, room))
            .ok()
    });
    if ready != Some(true) {
        eprintln!(
            "sotto: the broker did not answer, so it holds nothing for you in {0} yet: \
             open {0} (chat, listen or send) before others write there, or what they \
             write first will not reach you",
            for_terminal(room)
        );
    }
}

/// A membership change asked for on the command line.
pub enum Membership<'a> {
    /// Remove a member.
    Kick(&'a str),
    /// Leave the room.
    Leave,
    /// Make a member an admin.
    Admin(&'a str),
    /// Move a room made before the membership log onto one (its creator).
    MoveToLog,
    /// Move the room to a fresh key now.
    Rotate,
}

/// `sotto kick`, `leave` and `admin`: connect, commit, publish, report.
pub fn change_membership(
    cli: &Cli,
    store: &Store,
    room: &str,
    action: Membership<'_>,
) -> anyhow::Result<()> {
    let broker = broker_config(cli)?;
    let saved = store.room(room)?;
    if matches!(action, Membership::MoveToLog) {
        return move_to_log(&broker, store, room, &saved);
    }
    if saved.log().is_none() {
        return Err(sotto::room::RoomError::NoLog.into());
    }
    let identity = Arc::new(unlock::load_identity(store)?);
    let runtime = runtime()?;
    // A change made on an epoch the room has left would compete with the
    // commits this home has not taken yet, and could lose to them after
    // being reported as made; and a member who joined meanwhile could not
    // be named.
    let mut note = |text: &str| eprintln!("sotto: {}", for_terminal(text));
    runtime.block_on(session::catch_up_membership(
        store, &identity, room, &broker, &mut note,
    ))?;
    let saved = store.room(room)?;
    if saved.waiting_for_key() && saved.removed_by().is_none() {
        // The key slot was only queued for this home's broker session
        // (a later one replaced it on the retained topic): a change made
        // now would compete with the commits it has not taken.
        anyhow::bail!(
            "{0} has moved on, and the key this home needs next waits in its broker session; \
             run `sotto listen {0} --timeout 5` (or open {0} in chat), then try again",
            for_terminal(room)
        );
    }
    if let Some(by) = saved.removed_by() {
        // Nothing is left to sign: leaving only forgets the room here.
        if matches!(action, Membership::Leave) {
            store.delete_room(saved.id())?;
            eprintln!(
                "You were removed from {} by {}; it is forgotten here.",
                for_terminal(room),
                for_terminal(by)
            );
            return Ok(());
        }
        anyhow::bail!(
            "you were removed from {} by {}",
            for_terminal(room),
            for_terminal(by)
        );
    }
    let change = match action {
        Membership::MoveToLog => return move_to_log(&broker, store, room, &saved),
        Membership::Kick(member) => sotto::log::Change::Remove {
            member: saved.resolve_member(member)?,
        },
        Membership::Admin(member) => sotto::log::Change::Admin {
            member: saved.resolve_member(member)?,
        },
        Membership::Leave => sotto::log::Change::Leave,
        Membership::Rotate => sotto::log::Change::Rotate,
    };
    let leaving = matches!(change, sotto::log::Change::Leave);
    runtime.block_on(async {
        let mut session = RoomSession::open(store.clone(), identity, room, &broker).await?;
        let result = session.commit(change).await;
        match result {
            Ok((epoch, change)) => {
                if leaving {
                    session.leave().await;
                    store.delete_room(saved.id())?;
                    eprintln!("You left {}.", for_terminal(room));
                } else {
                    eprintln!("sotto: {}", for_terminal(&membership_text(&change, epoch)));
                    session.close().await;
                    println!("{epoch}");
                }
                Ok(())
            }
            Err(err) => {
                session.close().await;
                Err(err.into())
            }
        }
    })
}

/// `sotto room upgrade`: the creator moves a room made before the
/// membership log onto one.
fn move_to_log(
    broker: &BrokerConfig,
    store: &Store,
    room: &str,
    saved: &sotto::room::Room,
) -> anyhow::Result<()> {
    if saved.log().is_some() {
        anyhow::bail!("{} already has a membership log", for_terminal(room));
    }
    if !saved.is_creator() {
        anyhow::bail!(
            "only the member who created {} can move it onto a membership log; ask them to run `sotto room upgrade`",
            for_terminal(room)
        );
    }
    let identity = Arc::new(unlock::load_identity(store)?);
    runtime()?.block_on(async {
        let mut session = RoomSession::open(store.clone(), identity, room, broker).await?;
        let result = session.move_to_log().await;
        session.close().await;
        let (epoch, change) = result?;
        eprintln!("sotto: {}", for_terminal(&membership_text(&change, epoch)));
        println!("{epoch}");
        Ok(())
    })
}

/// All of standard input as one message (a trailing newline dropped), for
/// `send ROOM -` or `send ROOM` with text piped in.
fn read_stdin_message() -> anyhow::Result<String> {
    use std::io::{IsTerminal, Read};
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        anyhow::bail!("no text given; write it after the room's name, or pipe it in with `-`");
    }
    let max = sotto::protocol::message::MAX_TEXT_LEN;
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(max as u64 + 2)
        .read_to_end(&mut bytes)
        .context("could not read standard input")?;
    if bytes.len() > max + 1 {
        anyhow::bail!("the message on standard input is longer than {max} bytes");
    }
    let mut text = String::from_utf8(bytes).context("standard input is not UTF-8 text")?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

pub struct ListenOptions {
    pub json: bool,
    pub count: Option<u64>,
    pub timeout: Option<u64>,
}

pub fn listen(cli: &Cli, store: &Store, room: &str, options: ListenOptions) -> anyhow::Result<()> {
    let broker = broker_config(cli)?;
    store.room(room)?;
    let identity = Arc::new(unlock::load_identity(store)?);
    let verbose = cli.verbose;
    runtime()?.block_on(async move {
        let mut patience = session::RefusalPatience::new(&broker);
        let mut session = loop {
            match RoomSession::open(store.clone(), identity.clone(), room, &broker).await {
                Ok(session) => break session,
                // This home's chat holds the room: read it through the chat.
                Err(session::SessionError::Busy(held)) => {
                    let colour = super::render::use_colour();
                    return match super::attach::listen(store, room, &options, colour).await? {
                        Some(()) => Ok(()),
                        None => Err(session::SessionError::Busy(held).into()),
                    };
                }
                Err(err) => match patience.after_open(&err) {
                    session::AfterRefusal::GiveUp => return Err(err.into()),
                    session::AfterRefusal::Retry { note } => {
                        if let Some(note) = note {
                            eprintln!("sotto: {}", for_terminal(&note));
                        }
                        patience.pause().await;
                    }
                },
            }
        };
        let deadline = options
            .timeout
            .map(|secs| tokio::time::Instant::now() + Duration::from_secs(secs));
        let result = listen_loop(&mut session, &options, deadline, verbose).await;
        session.close().await;
        result
    })
}

/// `listen --count N --timeout SECS` ran out of time before N messages:
/// exit code 3, so a script can tell "fewer than asked" from a failure.
#[derive(Debug, thiserror::Error)]
#[error("only {got} of {wanted} messages arrived within {secs} seconds")]
pub struct Incomplete {
    got: u64,
    wanted: u64,
    secs: u64,
}

impl Incomplete {
    pub fn new(got: u64, wanted: u64, secs: u64) -> Self {
        Self { got, wanted, secs }
    }
}

async fn listen_loop(
    session: &mut RoomSession,
    options: &ListenOptions,
    deadline: Option<tokio::time::Instant>,
    verbose: bool,
) -> anyhow::Result<()> {
    let style = Style {
        colour: super::render::use_colour(),
    };
    let warn_style = Style { colour: false };
    let warn = |text: &str| eprintln!("{}", warn_style.warning(&for_terminal(text)));
    let mut stdout = tokio::io::stdout();
    let mut received = 0u64;
    let room = session.room_name().to_owned();
    // Watching for Ctrl-C starts before the line below, and a Ctrl-C that
    // comes while an event is being handled waits for the next turn
    // (`ctrl_c()` made anew each turn would miss it).
    let mut interrupt = interrupt_signal()?;
    // Scripts and tests wait for this line before publishing: from here on
    // every message reaches us (or is queued for us by the broker).
    eprintln!(
        "sotto: listening to {} (Ctrl-C to stop)",
        for_terminal(&room)
    );
    if options.count == Some(0) {
        // Only registering the session: say what is already known (the
        // MQTT version and client id for -v) without waiting for more. A
        // message taken here is not acknowledged, so nothing is lost.
        while let Ok(event) = tokio::time::timeout(Duration::ZERO, session.next_event()).await {
            match event? {
                SessionEvent::Note(text) if verbose => eprintln!("sotto: {}", for_terminal(&text)),
                SessionEvent::Warning(text) => warn(&text),
                _ => {}
            }
        }
        return Ok(());
    }
    loop {
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            event = session.next_event() => event?,
            () = sleep => {
                // What was written out counts as shown: marked and acknowledged.
                session.delivered().await?;
                return match (options.count, options.timeout) {
                    (Some(wanted), Some(secs)) => Err(Incomplete { got: received, wanted, secs }.into()),
                    _ => Ok(()),
                };
            }
            _ = interrupt.recv() => {
                session.delivered().await?;
                return Ok(());
            }
        };
        match event {
            SessionEvent::Message(delivery) => {
                for notice in &delivery.notices {
                    eprintln!("sotto: {}", notice_text(notice));
                }
                let line = if options.json {
                    message_json(&room, &delivery)
                } else {
                    style.message(&delivery, None)
                };
                let written = async {
                    stdout.write_all(format!("{line}\n").as_bytes()).await?;
                    stdout.flush().await
                };
                match written.await {
                    Ok(()) => {}
                    // Whoever read our output is gone (`listen | head -1`):
                    // the message was not delivered, so it is neither saved
                    // nor acknowledged, and comes again next time.
                    Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    Err(err) => return Err(err).context("could not write to standard output"),
                }
                received += 1;
                if options.count.is_some_and(|n| received >= n) {
                    session.delivered().await?;
                    return Ok(());
                }
            }
            SessionEvent::Presence(update) => {
                for notice in &update.notices {
                    eprintln!("sotto: {}", notice_text(notice));
                }
                if update.changed {
                    eprintln!("sotto: {}", presence_text(&update));
                }
            }
            SessionEvent::Notices(notices) => {
                for notice in &notices {
                    eprintln!("sotto: {}", notice_text(notice));
                }
            }
            SessionEvent::Dropped(err) => warn(&format!("dropped a payload in {room}: {err}")),
            SessionEvent::DroppedMore { count } => warn(&format!(
                "dropped {count} more payloads in {room} without showing each"
            )),
            SessionEvent::Discarded { bytes } => warn(&discarded_text(bytes)),
            SessionEvent::Unacknowledged { count } => warn(&unacknowledged_text(count)),
            SessionEvent::Warning(text) => warn(&text),
            SessionEvent::Connected { reconnect, node } => {
                if reconnect {
                    eprintln!("sotto: reconnected to the broker at {node}");
                }
            }
            SessionEvent::Disconnected { reason, node, next } => {
                eprintln!("sotto: {}", lost_text(&node, next.as_ref(), &reason));
            }
            SessionEvent::Note(text) => {
                if verbose {
                    eprintln!("sotto: {}", for_terminal(&text));
                }
            }
            // Ours: listen shows what others say.
            SessionEvent::OwnEcho { .. } => {}
            SessionEvent::Membership { change, epoch } => {
                eprintln!("sotto: {}", for_terminal(&membership_text(&change, epoch)));
            }
            SessionEvent::Removed { by } => {
                session.delivered().await?;
                anyhow::bail!(removed_text(&room, &by));
            }
            SessionEvent::JoinRefused { by, reason } => {
                anyhow::bail!(refused_text(&by, &reason));
            }
        }
    }
}

/// A lost connection and what comes next, as one line.
pub fn lost_text(node: &BrokerUrl, next: Option<&BrokerUrl>, reason: &str) -> String {
    match next {
        Some(next) => {
            format!("lost the connection to the broker at {node} ({reason}); trying {next}…")
        }
        None => format!("lost the connection to the broker at {node} ({reason}); reconnecting…"),
    }
}

/// A membership change, as one line.
pub fn membership_text(change: &MembershipChange, epoch: u64) -> String {
    let what = match change {
        MembershipChange::Joined { name, inviter, .. } => {
            format!("{name} joined (invited by {inviter})")
        }
        MembershipChange::Removed { name, by } => format!("{by} removed {name}"),
        MembershipChange::Left { name } => format!("{name} left"),
        MembershipChange::Admin { name, by } => format!("{by} made {name} an admin"),
        MembershipChange::Rotated { by } => format!("{by} rotated the room key"),
        MembershipChange::KeyChanged { name, fingerprint } => {
            format!("{name} changed key (new fingerprint {fingerprint}, not verified)")
        }
        MembershipChange::Created { by } => format!("{by} created the room"),
        MembershipChange::MovedToLog { by } => {
            format!(
                "{by} moved the room onto a membership log (members it did not list must be invited again)"
            )
        }
    };
    format!("{what}; the room is now at epoch {epoch}")
}

/// What a joiner whose request the log refuses is told.
pub fn refused_text(by: &str, reason: &str) -> String {
    format!(
        "{} answered that you cannot join: {}; ask for a new invite",
        for_terminal(by),
        for_terminal(reason)
    )
}

/// What a member removed from a room is told.
pub fn removed_text(room: &str, by: &str) -> String {
    format!(
        "you were removed from {} by {}",
        for_terminal(room),
        for_terminal(by)
    )
}

/// The warning for a publish too large to be a sotto payload.
pub fn discarded_text(bytes: usize) -> String {
    format!(
        "ignored a publish too large to be from sotto ({} KiB) on the room's topics: junk from someone who can publish to the broker",
        bytes / 1024
    )
}

/// The warning for QoS 0 publishes on the message topic.
pub fn unacknowledged_text(count: usize) -> String {
    format!(
        "ignored {count} messages sent without acknowledgement (QoS 0): a flood, or a bridge set to QoS 0"
    )
}

/// Ctrl-C (SIGINT), watched from now on: a signal that comes before the
/// next wait is kept for it.
pub fn interrupt_signal() -> anyhow::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|err| anyhow::anyhow!("could not watch for Ctrl-C: {err}"))
}

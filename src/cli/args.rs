//! Argument definitions. Every global option also reads an environment
//! variable, so scripts can set them once.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use sotto::protocol::message::MAX_TEXT_LEN;
use sotto::transport::VersionChoice;

/// End-to-end encrypted chat rooms over MQTT: the broker only relays ciphertext.
#[derive(Debug, Parser)]
#[command(name = "sotto", version, about, max_term_width = 100)]
pub struct Cli {
    /// Where identity and state live [default: $XDG_CONFIG_HOME/sotto or ~/.config/sotto]
    #[arg(long, env = "SOTTO_HOME", global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// MQTT broker: mqtt://host:port or mqtts://host:port [default: mqtt://127.0.0.1:1883]
    #[arg(long, env = "SOTTO_BROKER", global = true, value_name = "URL")]
    pub broker: Option<String>,

    /// Broker username (the password comes from SOTTO_PASSWORD)
    #[arg(long, env = "SOTTO_USERNAME", global = true)]
    pub username: Option<String>,

    /// MQTT version: auto (5, falling back to 3.1.1 for brokers that refuse it), 5 or 3.1.1
    #[arg(
        long,
        env = "SOTTO_MQTT",
        global = true,
        value_name = "VERSION",
        default_value = "auto"
    )]
    pub mqtt: VersionChoice,

    /// Say on stderr which MQTT version and client id are used, and each reconnect
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create your identity (once): an Ed25519 signing key and an X25519 key
    Init {
        /// The name others will see
        #[arg(long)]
        name: String,
        /// Replace an existing identity (its key is lost)
        #[arg(long)]
        force: bool,
        /// Protect the key file with a passphrase (asked for, or SOTTO_PASSPHRASE)
        #[arg(long)]
        passphrase: bool,
    },
    /// Show your name and fingerprint
    Whoami,
    /// Change, add or remove the passphrase on your key file
    Passphrase {
        /// Remove the passphrase (the key file is then protected only by
        /// its file permissions)
        #[arg(long)]
        remove: bool,
    },
    /// Create rooms and invites
    Room {
        #[command(subcommand)]
        action: RoomCommand,
    },
    /// Join a room with an invite someone gave you
    Join {
        /// The invite string (sotto1…). Omit it, or give -, to paste it at
        /// a prompt or pipe it in: an invite is a secret, and the command
        /// line ends up in shell history and process lists
        invite: Option<String>,
        /// Call the room something else locally
        #[arg(long = "as", value_name = "LOCALNAME")]
        local_name: Option<String>,
    },
    /// List your rooms
    Rooms,
    /// List a room's known members
    Members {
        /// The room's local name
        room: String,
    },
    /// Mark a member's key verified after comparing fingerprints out of band
    Verify {
        /// The room's local name
        room: String,
        /// The member: a name, or at least 8 digits of its fingerprint when two keys share a name
        member: String,
        /// The fingerprint they read to you (spaces optional)
        #[arg(required = true, num_args = 1..)]
        fingerprint: Vec<String>,
    },
    /// Go on after a key change or look-alike without verifying: lifts the block of that one key
    Accept {
        /// The room's local name
        room: String,
        /// The member: a name, or at least 8 digits of its fingerprint when two keys share a name
        member: String,
        /// That key's whole fingerprint, as `sotto members` shows it (spaces optional)
        #[arg(required = true, num_args = 1..)]
        fingerprint: Vec<String>,
    },
    /// Publish one encrypted message and wait for the broker's acknowledgement
    Send {
        /// The room's local name
        room: String,
        /// The text ("/me waves" sends an action); "-" or none reads all of
        /// standard input as one message
        text: Option<String>,
    },
    /// Remove a member from a room: the room moves to a new key they never get
    ///
    /// Only admins may remove. Prints the new epoch number.
    /// Example: sotto kick ops mallory
    Kick {
        /// The room's local name
        room: String,
        /// A name, or a fingerprint prefix of at least 8 digits
        member: String,
    },
    /// Leave a room: a signed leave for the others, then the room is forgotten here
    Leave {
        /// The room's local name
        room: String,
    },
    /// Make a member an admin (admins may remove members)
    Admin {
        /// The room's local name
        room: String,
        /// A name, or a fingerprint prefix of at least 8 digits
        member: String,
    },
    /// Print decrypted messages as they arrive
    Listen {
        /// The room's local name
        room: String,
        /// One JSON object per message line: room, from, fingerprint, verified, text, ts, seq,
        /// action, warning, delayed, received_ts (everything else goes to stderr)
        #[arg(long)]
        json: bool,
        /// Exit after N messages
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Exit after SECS seconds (with --count: exit 3 if fewer than N arrived)
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
    },
    /// Show a room's message history (oldest first)
    History {
        /// The room's local name
        room: String,
        /// One JSON object per line, as `listen --json` prints them
        #[arg(long)]
        json: bool,
        /// At most N messages, the newest
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
        /// Only messages since WHEN: a duration ago (30m, 7d) or a date (2026-11-20)
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
    },
    /// Check this home's database, rooms and history for damage
    Check,
    /// Delete a room's message history on this device
    Forget {
        /// The room's local name
        room: String,
    },
    /// The interactive chat client
    ///
    /// Type a line to send it. Commands: /join INVITE [LOCALNAME], /switch ROOM, /rooms,
    /// /who, /invite, /verify MEMBER FINGERPRINT, /accept MEMBER, /kick MEMBER, /me ACTION,
    /// /help, /quit. MEMBER is a name, or 8+ digits of a fingerprint when two keys share a
    /// name. /accept MEMBER goes on after that one key's change or look-alike without
    /// verifying it; /accept alone lists the keys that block sending.
    Chat {
        /// The room to open (default: your only room, or the first)
        room: Option<String>,
    },
    /// Measure sotto against plain MQTT and the bare crypto on one broker, like `openssl speed`
    ///
    /// Starts its own Mosquitto on a free loopback port unless --broker is given; on a
    /// broker you give, it deletes every retained record and session it created.
    Bench {
        /// Messages per throughput and fan-out run (latency uses at most 1000)
        #[arg(long, value_name = "N", default_value_t = 5000,
              value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        messages: u64,
        /// Bytes of text per message
        #[arg(long, value_name = "BYTES", default_value_t = 200,
              value_parser = clap::value_parser!(u64).range(16..=MAX_TEXT_LEN as u64))]
        size: u64,
        /// Receiving members in the fan-out run
        #[arg(long, value_name = "M", default_value_t = 5,
              value_parser = clap::value_parser!(u64).range(1..=100))]
        members: u64,
        /// Repeat every run N times and report medians
        #[arg(long, value_name = "N", default_value_t = 1,
              value_parser = clap::value_parser!(u64).range(1..=20))]
        rounds: u64,
        /// Also print every figure as one JSON object, on the last line
        #[arg(long)]
        json: bool,
    },
    /// Run a built-in MQTT broker for trying sotto out (use Mosquitto for real use)
    Broker {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:1883", value_name = "ADDR")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoomCommand {
    /// Create a room with a fresh key and print its invite
    Create {
        /// The room's name (shared with invitees, never with the broker)
        name: String,
        #[command(flatten)]
        invite: InviteArgs,
        #[command(flatten)]
        create: CreateArgs,
    },
    /// Print an invite to a room, signed by you
    Invite {
        /// The room's local name
        name: String,
        #[command(flatten)]
        invite: InviteArgs,
    },
    /// How much history to keep: a duration (30d), a number of messages (500) or all
    Keep {
        /// The room's local name
        name: String,
        /// 30d, 500 or all
        keep: String,
    },
}

/// How long an invite works and for how many people.
#[derive(Debug, clap::Args)]
pub struct InviteArgs {
    /// How long the invite works: 30s, 1h, 7d (default 7d)
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// How many people may join with it
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub uses: u32,
}

/// Options of `room create` only.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// (Preview) Give the room a signed membership log: members can be
    /// removed with `sotto kick`, invites expire and count their uses.
    /// Every member needs this version of sotto.
    #[arg(long)]
    pub log: bool,
}

/// The broker used when neither --broker nor SOTTO_BROKER is given.
pub const DEFAULT_BROKER: &str = "mqtt://127.0.0.1:1883";

impl Cli {
    /// The broker address as given, or the default.
    pub fn broker_text(&self) -> &str {
        self.broker.as_deref().unwrap_or(DEFAULT_BROKER)
    }

    /// Whether the user left the broker at its default (only then may
    /// `chat` fall back to the built-in broker).
    #[allow(dead_code)] // for chat, in progress
    pub fn broker_is_default(&self) -> bool {
        self.broker.is_none()
    }

    /// The home directory: --home, SOTTO_HOME, $XDG_CONFIG_HOME/sotto, or
    /// ~/.config/sotto.
    pub fn home(&self) -> anyhow::Result<PathBuf> {
        if let Some(home) = &self.home {
            return Ok(home.clone());
        }
        if let Some(config) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(config).join("sotto"));
        }
        match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => Ok(PathBuf::from(home).join(".config").join("sotto")),
            None => anyhow::bail!(
                "cannot tell where to keep sotto's files; set SOTTO_HOME or pass --home DIR"
            ),
        }
    }
}

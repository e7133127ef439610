//! `listen` on a room that this home's `chat` holds: one process owns a
//! room's broker session (its queue, its acknowledgements, its ratchet
//! state), so a second one attaches to it as a live reader instead,
//! through a Unix socket in the home (mode 0600, in the 0700 home: the
//! same trust as the key files next to it).
//!
//! The exchange is one JSON object a line. The reader asks
//! `{"listen": ROOM, "colour": BOOL}`; chat answers `{"ok": true}` or
//! `{"error": SENTENCE}`, then one `{"message": OBJECT, "line": TEXT}`
//! per message (OBJECT as `listen --json` prints it, TEXT as plain
//! `listen` does), and `{"end": SENTENCE}` if the room goes away.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sotto::sanitize::for_terminal;
use sotto::store::Store;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::net::{Incomplete, ListenOptions};

/// Longest line either side accepts: a message object is bounded by the
/// envelope limit, with room for JSON escaping.
pub const MAX_LINE: usize = 1 << 20;

/// Where a home's chat listens for readers.
pub fn socket_path(store: &Store) -> PathBuf {
    store.home().join("chat.sock")
}

/// What a reader asks for.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListenRequest {
    /// The room, by its local name.
    pub listen: String,
    /// Whether the plain lines may carry colour.
    #[serde(default)]
    pub colour: bool,
}

/// One line from chat to a reader.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

impl Reply {
    /// The reply as one line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        line.push('\n');
        line
    }
}

/// Reads a room through the chat that holds it. `Ok(None)` when no chat
/// of this home answers (the room is then held by another `listen`).
pub async fn listen(
    store: &Store,
    room: &str,
    options: &ListenOptions,
    colour: bool,
) -> anyhow::Result<Option<()>> {
    let Ok(stream) = UnixStream::connect(socket_path(store)).await else {
        return Ok(None);
    };
    let (reader, mut writer) = stream.into_split();
    let request = ListenRequest {
        listen: room.to_owned(),
        colour,
    };
    let mut ask = serde_json::to_string(&request)?;
    ask.push('\n');
    writer.write_all(ask.as_bytes()).await?;
    let mut lines = BufReader::new(reader).take(u64::MAX);
    let first = read_reply(&mut lines).await?;
    if let Some(error) = first.error {
        anyhow::bail!("{}", for_terminal(&error));
    }
    let mut interrupt = super::net::interrupt_signal()?;
    eprintln!(
        "sotto: listening to {} through this home's chat, which holds the room (Ctrl-C to stop)",
        for_terminal(room)
    );
    let deadline = options
        .timeout
        .map(|secs| tokio::time::Instant::now() + Duration::from_secs(secs));
    let mut received = 0u64;
    let mut stdout = tokio::io::stdout();
    loop {
        if options.count.is_some_and(|wanted| received >= wanted) {
            return Ok(Some(()));
        }
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let reply = tokio::select! {
            reply = read_reply(&mut lines) => reply?,
            () = sleep => {
                return match (options.count, options.timeout) {
                    (Some(wanted), Some(secs)) => Err(Incomplete::new(received, wanted, secs).into()),
                    _ => Ok(Some(())),
                };
            }
            _ = interrupt.recv() => return Ok(Some(())),
        };
        if let Some(end) = reply.end {
            anyhow::bail!("{}", for_terminal(&end));
        }
        let text = match (options.json, reply.message, reply.line) {
            (true, Some(message), _) => message.to_string(),
            (false, _, Some(line)) => line,
            _ => continue,
        };
        stdout.write_all(format!("{text}\n").as_bytes()).await?;
        stdout.flush().await?;
        received += 1;
    }
}

/// The next reply; the chat going away is an error in words.
async fn read_reply(
    lines: &mut tokio::io::Take<BufReader<tokio::net::unix::OwnedReadHalf>>,
) -> anyhow::Result<Reply> {
    let mut line = String::new();
    lines.set_limit(MAX_LINE as u64);
    let read = lines.read_line(&mut line).await?;
    if read == 0 {
        anyhow::bail!("the chat that held the room quit; run listen again to take the room over");
    }
    serde_json::from_str(&line).map_err(|_| anyhow::anyhow!("the chat sent something unreadable"))
}

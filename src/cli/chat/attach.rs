//! Chat's side of [`super::super::attach`]: a Unix socket where `listen`
//! processes of this home ask to read rooms this chat holds, and the
//! readers it feeds.

use std::os::unix::fs::PermissionsExt;

use sotto::room::{Delivery, RoomId};
use sotto::store::Store;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use super::super::attach::{ListenRequest, MAX_LINE, Reply, socket_path};
use super::super::render::{Style, message_json};
use super::rooms::Rooms;

/// A reader that asked for a room.
pub struct Request {
    room: String,
    colour: bool,
    replies: mpsc::UnboundedSender<String>,
}

/// Accepts readers and hands their requests to the chat loop.
pub struct Server {
    requests: Option<mpsc::UnboundedReceiver<Request>>,
    task: Option<tokio::task::JoinHandle<()>>,
    path: Option<std::path::PathBuf>,
}

impl Server {
    /// Listens on the home's socket. Without one (another chat of this
    /// home has it, or the home cannot hold a socket), readers are not
    /// served and everything else works.
    pub fn start(store: &Store) -> Self {
        let path = socket_path(store);
        let Some(listener) = bind(&path) else {
            return Self {
                requests: None,
                task: None,
                path: None,
            };
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(accept(listener, tx));
        Self {
            requests: Some(rx),
            task: Some(task),
            path: Some(path),
        }
    }

    /// The next request; never resolves without a socket.
    pub async fn next(&mut self) -> Option<Request> {
        match &mut self.requests {
            Some(requests) => requests.recv().await,
            None => std::future::pending().await,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds the socket, replacing one left by a chat that died; `None` when
/// a live chat answers on it.
fn bind(path: &std::path::Path) -> Option<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return None;
        }
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path).ok()?;
    // The home is 0700 already; the socket says the same on its own.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    Some(listener)
}

async fn accept(listener: UnixListener, requests: mpsc::UnboundedSender<Request>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve(stream, requests.clone()));
    }
}

/// One reader: its request, then the replies the chat sends it. Ends when
/// either side goes away.
async fn serve(stream: UnixStream, requests: mpsc::UnboundedSender<Request>) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader.take(MAX_LINE as u64));
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line).await.is_err() {
        return;
    }
    let Ok(request) = serde_json::from_slice::<ListenRequest>(&line) else {
        let refusal = Reply {
            error: Some("chat did not understand the request".to_owned()),
            ..Reply::default()
        };
        let _ = writer.write_all(refusal.to_line().as_bytes()).await;
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let asked = Request {
        room: request.listen,
        colour: request.colour,
        replies: tx,
    };
    if requests.send(asked).is_err() {
        return;
    }
    let mut closed = [0u8; 1];
    let mut reader = reader.into_inner();
    loop {
        tokio::select! {
            reply = rx.recv() => {
                let Some(reply) = reply else { return };
                if writer.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
            // The reader hung up (or wrote more than it should).
            _ = reader.read(&mut closed) => return,
        }
    }
}

struct Watcher {
    room: RoomId,
    name: String,
    style: Style,
    replies: mpsc::UnboundedSender<String>,
}

/// The readers being fed.
#[derive(Default)]
pub struct Watchers {
    list: Vec<Watcher>,
}

impl Watchers {
    /// Takes a reader on, if this chat has its room open.
    pub fn add(&mut self, request: Request, rooms: &Rooms) {
        let Some(index) = rooms.by_name(&request.room) else {
            let refusal = Reply {
                error: Some(format!(
                    "this home's chat does not have {} open; it may be held by another listen",
                    request.room
                )),
                ..Reply::default()
            };
            let _ = request.replies.send(refusal.to_line());
            return;
        };
        let live = &rooms.live[index];
        let welcome = Reply {
            ok: Some(true),
            ..Reply::default()
        };
        if request.replies.send(welcome.to_line()).is_ok() {
            self.list.push(Watcher {
                room: live.id,
                name: live.name.clone(),
                style: Style {
                    colour: request.colour,
                },
                replies: request.replies,
            });
        }
    }

    /// Hands a message to the room's readers; forgets the ones gone.
    pub fn deliver(&mut self, room: &RoomId, delivery: &Delivery) {
        self.list.retain(|watcher| {
            if watcher.room != *room {
                return !watcher.replies.is_closed();
            }
            let message = serde_json::from_str(&message_json(&watcher.name, delivery)).ok();
            let reply = Reply {
                message,
                line: Some(watcher.style.message(delivery, None)),
                ..Reply::default()
            };
            watcher.replies.send(reply.to_line()).is_ok()
        });
    }

    /// The room went away (left, removed, failed): its readers are told.
    pub fn room_gone(&mut self, room: &RoomId) {
        self.list.retain(|watcher| {
            if watcher.room != *room {
                return true;
            }
            let end = Reply {
                end: Some(format!(
                    "{} is no longer open in this home's chat",
                    watcher.name
                )),
                ..Reply::default()
            };
            let _ = watcher.replies.send(end.to_line());
            false
        });
    }
}

//! Moving a home to a new MQTT client id without losing or stranding
//! anything: the old broker session is drained (its queued messages shown
//! and saved like any others), then deleted with a clean connect, so no
//! dead session queues messages forever. Happens once per room after an
//! upgrade from sotto 0.1, and (with the membership log) at every new
//! epoch.

use tokio::time::Instant;

use super::client_id::legacy_ids;
use super::{BROKER_TIMEOUT, RoomSession, SETTLE, SessionEvent};
use crate::room::Room;
use crate::transport::{
    Ack, Announcement, Transport, TransportError, TransportEvent, VersionChoice,
};

/// An old broker session being drained.
pub(super) struct Retiring {
    transport: Transport,
    client_id: String,
    quiet_until: Instant,
    drained: usize,
    /// More old ids to retire after this one.
    rest: Vec<String>,
}

impl Retiring {
    /// The live connection of an epoch the room just left, to be drained
    /// and then deleted.
    pub(super) fn from_live(transport: Transport, client_id: String) -> Self {
        Self {
            transport,
            client_id,
            quiet_until: Instant::now() + SETTLE,
            drained: 0,
            rest: Vec::new(),
        }
    }

    /// Another old session to drain once this one is done.
    pub(super) fn queue(&mut self, client_id: String) {
        // `rest` is taken from its end: the sessions are drained in the
        // order the room left them, oldest first.
        self.rest.insert(0, client_id);
    }

    /// When the old session counts as empty (nothing arrived for a while).
    pub(super) fn quiet_deadline(&self) -> Instant {
        self.quiet_until
    }

    /// Acknowledges a message that came through the old session.
    pub(super) fn ack(&self, ack: Ack) -> Result<(), TransportError> {
        self.transport.ack(ack)
    }

    /// Counts one drained message and waits a while longer for more.
    pub(super) fn drained_one(&mut self) {
        self.drained += 1;
        self.quiet_until = Instant::now() + SETTLE;
    }

    /// Leaves the old session as it is, to be drained next time.
    pub(super) async fn abandon(self) {
        self.transport.shutdown(None).await;
    }
}

/// The next event of the old session, if one is being drained.
pub(super) async fn next_event(retiring: &mut Option<Retiring>) -> Option<TransportEvent> {
    match retiring {
        Some(retiring) => retiring.transport.next_event().await,
        None => std::future::pending().await,
    }
}

impl RoomSession {
    /// Starts draining the sessions this home used for the room before,
    /// if any; records the current id once none is left.
    pub(super) async fn start_retiring(&mut self, room: &Room) {
        let old = match self.store.recorded_client_ids(&self.room_id) {
            Ok(ids) if !ids.is_empty() => {
                let old: Vec<String> = ids.into_iter().filter(|id| *id != self.client_id).collect();
                if old.is_empty() {
                    return;
                }
                old
            }
            // No record: a home from sotto 0.1, or a room never opened.
            Ok(_) | Err(_) => legacy_ids(&self.identity, room, self.store.home()),
        };
        self.retire_from(old).await;
    }

    async fn retire_from(&mut self, mut ids: Vec<String>) {
        while let Some(id) = ids.pop() {
            let mut options = self.broker.options(id.clone(), false);
            options.version = VersionChoice::Only(self.version);
            let Ok(mut transport) = Transport::start(options, Vec::new(), Announcement::default)
            else {
                return;
            };
            match transport.wait_connected(BROKER_TIMEOUT).await {
                Ok((
                    TransportEvent::Connected {
                        session_present: true,
                        ..
                    },
                    _,
                )) => {
                    self.buffered.push_back(SessionEvent::Note(format!(
                        "draining this home's old broker session {id} before deleting it"
                    )));
                    self.retiring = Some(Retiring {
                        transport,
                        client_id: id,
                        quiet_until: Instant::now() + SETTLE,
                        drained: 0,
                        rest: ids,
                    });
                    return;
                }
                Ok(_) => {
                    transport.shutdown(None).await;
                    // Connecting made an empty session; delete it too.
                    if !self.delete_session(&id).await {
                        return;
                    }
                }
                // Unreachable under this id: try again next time.
                Err(_) => return,
            }
        }
        let _ = self
            .store
            .set_last_client_id(&self.room_id, &self.client_id);
    }

    /// What an event of the old session (other than a message) means.
    pub(super) fn on_retiring(&mut self, event: TransportEvent) -> Option<SessionEvent> {
        match event {
            TransportEvent::Disconnected { .. } | TransportEvent::Refused { .. } => {
                // Dropping the handle ends its task; the old session stays
                // at the broker and is drained next time.
                self.retiring = None;
                None
            }
            _ => None,
        }
    }

    /// The old session has been quiet: delete it and go on to the next.
    pub(super) async fn finish_retiring(&mut self) -> Option<SessionEvent> {
        let retiring = self.retiring.take()?;
        let Retiring {
            transport,
            client_id,
            drained,
            rest,
            ..
        } = retiring;
        transport.shutdown(None).await;
        if !self.delete_session(&client_id).await {
            return None;
        }
        self.retire_from(rest).await;
        Some(SessionEvent::Note(format!(
            "drained {drained} message(s) from this home's old broker session {client_id} and deleted it"
        )))
    }

    /// Deletes a broker session: a clean connect under its id.
    async fn delete_session(&self, client_id: &str) -> bool {
        delete_broker_session(&self.broker, self.version, client_id).await
    }
}

/// Deletes the broker session under `client_id`: a clean connect.
pub(super) async fn delete_broker_session(
    broker: &super::BrokerConfig,
    version: crate::transport::MqttVersion,
    client_id: &str,
) -> bool {
    let mut options = broker.options(client_id.to_owned(), true);
    options.version = VersionChoice::Only(version);
    let Ok(mut transport) = Transport::start(options, Vec::new(), Announcement::default) else {
        return false;
    };
    let connected = transport.wait_connected(BROKER_TIMEOUT).await.is_ok();
    transport.shutdown(None).await;
    connected
}

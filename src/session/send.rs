//! `sotto send`: one message on a short-lived connection of its own, so it
//! works while `chat` or `listen` holds the room's session.

use crate::identity::Identity;
use crate::protocol::message::Body;
use crate::room::{RoomId, Trust};
use crate::store::{Store, StoredMessage};
use crate::topics::RoomTopics;
use crate::transport::{Announcement, Publication, Transport};

use super::{BROKER_TIMEOUT, BrokerConfig, SessionError, now_ms};

/// Publishes one message and waits for the broker's acknowledgement. The
/// message is sealed (and its number taken) only once the broker has
/// accepted the connection, so a failed connect wastes no number.
pub async fn send_once(
    store: &Store,
    identity: &Identity,
    room_name: &str,
    broker: &BrokerConfig,
    body: Body,
) -> Result<(), SessionError> {
    let room = store.room(room_name)?;
    let broker = broker.with_remembered_version(store);
    let topics = RoomTopics::new(&broker.prefix, &room);
    // A throwaway id of at most 23 characters (the MQTT 3.1.1 limit).
    let client_id = format!("sotto-s{}", crate::hex::encode(&random_bytes::<8>()));
    let options = broker.options(client_id, true);
    let mut transport = Transport::start(options, Vec::new(), Announcement::default)?;
    let (connected, _) = transport.wait_connected(BROKER_TIMEOUT).await?;
    if let crate::transport::TransportEvent::Connected { version, .. } = connected
        && broker.version == crate::transport::VersionChoice::Auto
    {
        store.remember_mqtt_version(&broker.url.to_string(), &version.to_string());
    }
    let payload = seal_saved(store, room.id(), identity, body)?;
    let result = transport
        .publish_acked(
            Publication {
                topic: topics.messages,
                payload,
                retain: false,
            },
            BROKER_TIMEOUT,
        )
        .await;
    transport.shutdown(None).await;
    Ok(result?)
}

/// Seals a message from us under the store's lock, saving the sequence
/// number it takes before it is published, so a number is never reused.
pub(super) fn seal_saved(
    store: &Store,
    room_id: &RoomId,
    identity: &Identity,
    body: Body,
) -> Result<Vec<u8>, SessionError> {
    let now = now_ms();
    let sealed = store.update_room_with_history(
        room_id,
        |room| {
            let seq = room.next_seq();
            let sealed = room.seal_message(identity, body.clone(), now, &mut rand::rng())?;
            // Our own line in the history, so it shows when the room is
            // opened again.
            let own = StoredMessage {
                from: identity.name().to_owned(),
                fingerprint: identity.fingerprint(),
                trust: Trust::Own,
                seq,
                sent_at_ms: now,
                received_ms: now,
                body,
                own: true,
            };
            Ok::<_, crate::room::RoomError>((sealed, vec![own]))
        },
        true,
    )??;
    Ok(sealed)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    bytes
}

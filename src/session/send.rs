//! `sotto send`: one message on a short-lived connection of its own, so it
//! works while `chat` or `listen` holds the room's session.

use crate::identity::Identity;
use crate::protocol::message::Body;
use crate::room::RoomId;
use crate::store::Store;
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
    let sealed = store.update_room(room_id, |room| {
        room.seal_message(identity, body, now_ms(), &mut rand::rng())
    })??;
    Ok(sealed)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    bytes
}

//! `sotto send`: one message on a short-lived connection of its own, so it
//! works while `chat` or `listen` holds the room's session.

use crate::identity::Identity;
use crate::protocol::message::Body;
use crate::room::{RoomId, Trust};
use crate::store::{Store, StoredMessage};
use crate::topics::{RoomTopics, TopicKind};
use crate::transport::{
    Announcement, BrokerUrl, CLUSTER_PATIENCE, Publication, Subscription, SubscriptionKind,
    Transport, TransportError, TransportEvent,
};

use super::patience::{AfterRefusal, RefusalPatience};
use super::{BROKER_TIMEOUT, BrokerConfig, SessionError, now_ms};

/// Publishes one message and waits for the broker's acknowledgement. The
/// message is sealed (and its number taken) only once the broker has
/// accepted the connection, so a failed connect wastes no number. Returns
/// the broker of the list that took it. `note` hears, once, why a send
/// to a cluster is taking longer than usual.
pub async fn send_once(
    store: &Store,
    identity: &Identity,
    room_name: &str,
    broker: &BrokerConfig,
    body: Body,
    note: &mut dyn FnMut(&str),
) -> Result<BrokerUrl, SessionError> {
    let room = store.room(room_name)?;
    let broker = broker.with_remembered_version(store);
    let (transport, node) = catch_up(store, identity, &room, &broker, note).await?;
    publish_offline_commit(store, room.id(), &transport, &broker.prefix).await?;
    let (payload, seq, destinations) =
        seal_saved(store, room.id(), identity, body, &broker.prefix)?;
    // One broker that hangs up on a publish means it refuses it (too
    // large, its ACL): say so at once. A list is given for failover.
    let retry_until =
        (broker.url.len() > 1).then(|| tokio::time::Instant::now() + CLUSTER_PATIENCE);
    let mut result = Ok(());
    for topic in destinations {
        // A cluster node hangs up on a publish it cannot store while the
        // cluster replaces a dead node (NATS does, for a few seconds). By
        // then the connection has moved on to the next broker of the list:
        // publish there. Sent twice, the same sealed message is shown once.
        loop {
            result = transport
                .publish_acked(
                    Publication {
                        topic: topic.clone(),
                        payload: payload.clone(),
                        retain: false,
                    },
                    BROKER_TIMEOUT,
                )
                .await;
            let again = matches!(result, Err(TransportError::DroppedBeforeAck))
                && retry_until.is_some_and(|until| tokio::time::Instant::now() < until);
            if !again {
                break;
            }
        }
        if result.is_err() {
            break;
        }
    }
    transport.shutdown(None).await;
    match &result {
        // Refused: it reached nobody, so our next message declares its
        // number skipped and nobody counts it as missed.
        Err(TransportError::Refused(_) | TransportError::DroppedBeforeAck) => {
            store.abandon(room.id(), seq)?;
        }
        // Sent, or maybe sent (no answer): never declared skipped, so it
        // cannot hide the message if it did go out.
        _ => store.handed_over(room.id(), seq)?,
    }
    result?;
    Ok(node)
}

/// Numbers allocated this long ago and never handed over were abandoned
/// (the process died, or its `send` failed): declared skipped in our next
/// message. Long enough that a `send` still waiting for its broker is not
/// mistaken for one.
const ABANDONED_AFTER_MS: u64 = 60_000;

/// Seals a message from us with the next number of the room's shared
/// counter, in one transaction with our own line in the history; returns
/// it with its number, which waits in the outbox until handed over, and
/// the topics to publish it on: the current epoch's, then those of past
/// epochs where members who were away still listen.
pub(super) fn seal_saved(
    store: &Store,
    room_id: &RoomId,
    identity: &Identity,
    body: Body,
    prefix: &str,
) -> Result<(Vec<u8>, u64, Vec<String>), SessionError> {
    let now = now_ms();
    let sealed =
        store.allocate_and_seal(room_id, now, ABANDONED_AFTER_MS, |room, seq, skipped| {
            let sealed =
                room.seal_numbered(identity, seq, skipped, body.clone(), now, &mut rand::rng())?;
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
            let topics = RoomTopics::new(prefix, room);
            let mut destinations = vec![topics.messages.clone()];
            destinations.extend(
                room.lagging_epochs()
                    .into_iter()
                    .filter_map(|epoch| topics.of_epoch(epoch).map(|t| t.messages.clone())),
            );
            Ok::<_, crate::room::RoomError>(((sealed, destinations), own))
        })??;
    let ((payload, destinations), seq) = (sealed.0, sealed.1);
    Ok((payload, seq, destinations))
}

/// How long `send` listens for membership changes it has not seen yet
/// (retained commits and key slots come right after the subscription is
/// granted) before sealing, so it seals under the room's newest key.
const CATCH_UP_QUIET: std::time::Duration = std::time::Duration::from_millis(150);

/// Takes the commits and key slots of a room with a log that this home
/// has not seen, on a connection of its own (like `send`), so a change
/// made next from the command line starts from the room's newest epoch
/// and can name members who joined meanwhile. Messages are left queued
/// for the next `chat` or `listen`.
pub async fn catch_up_membership(
    store: &Store,
    identity: &Identity,
    room_name: &str,
    broker: &BrokerConfig,
    note: &mut dyn FnMut(&str),
) -> Result<(), SessionError> {
    let room = store.room(room_name)?;
    if room.log().is_none() {
        return Ok(());
    }
    let broker = broker.with_remembered_version(store);
    let (transport, _) = catch_up(store, identity, &room, &broker, note).await?;
    transport.shutdown(None).await;
    Ok(())
}

/// Connects for one message, and first takes the commits and key slots
/// of the room that this home has not seen (when no chat or listen of it
/// is running, nothing else takes them): a message sealed under an epoch
/// the others left would still open for them, but only while they keep
/// its key. Returns the connection and the broker it is on.
async fn catch_up(
    store: &Store,
    identity: &Identity,
    room: &crate::room::Room,
    broker: &BrokerConfig,
    note: &mut dyn FnMut(&str),
) -> Result<(Transport, BrokerUrl), SessionError> {
    let mut epoch = room.epoch();
    let mut topics = RoomTopics::new(&broker.prefix, room);
    let mut patience = RefusalPatience::new(broker);
    loop {
        // A throwaway id of at most 23 characters (the MQTT 3.1.1 limit).
        let client_id = format!("sotto-s{}", crate::hex::encode(&random_bytes::<8>()));
        let options = broker.options(client_id, true);
        let subscriptions = if room.log().is_some() {
            vec![
                Subscription {
                    filter: topics.current.commit_filter.clone(),
                    kind: SubscriptionKind::Reliable,
                },
                Subscription {
                    filter: topics.current.own_key_slot.clone(),
                    kind: SubscriptionKind::Reliable,
                },
            ]
        } else {
            Vec::new()
        };
        let mut transport = Transport::start(options, subscriptions, Announcement::default)?;
        let connected = match transport.wait_connected(BROKER_TIMEOUT).await {
            Ok((connected, _)) => connected,
            Err(err) => match patience.after(&err) {
                AfterRefusal::GiveUp => return Err(err.into()),
                AfterRefusal::Retry { note: line } => {
                    if let Some(line) = line {
                        note(&line);
                    }
                    transport.shutdown(None).await;
                    patience.pause().await;
                    continue;
                }
            },
        };
        let node = match connected {
            TransportEvent::Connected { version, node, .. } => {
                if broker.version == crate::transport::VersionChoice::Auto {
                    store.remember_mqtt_version(&node.to_string(), &version.to_string());
                }
                node
            }
            _ => broker.url.first().clone(),
        };
        if room.log().is_none() {
            return Ok((transport, node));
        }
        while let Ok(Some(event)) =
            tokio::time::timeout(CATCH_UP_QUIET, transport.next_event()).await
        {
            if let TransportEvent::Message { topic, payload, .. } = event {
                let now = now_ms();
                // Refused pieces are for the session to warn about.
                let _ = match topics.classify(&topic) {
                    TopicKind::Commit => store
                        .update_room(room.id(), |room| room.receive_commit(&payload, now))?
                        .map(drop),
                    TopicKind::KeySlot => store
                        .update_room(room.id(), |room| {
                            room.receive_key_slot(identity, &payload, now)
                        })?
                        .map(drop),
                    _ => Ok(()),
                };
            }
        }
        let now = store.room_by_id(room.id())?.unwrap_or_else(|| room.clone());
        if now.epoch() == epoch {
            if now.epoch() != room.epoch() {
                keep_queue_of_new_epoch(store, broker, room, &now).await?;
            }
            return Ok((transport, node));
        }
        // Moved on: look at the new epoch's commits too.
        transport.shutdown(None).await;
        epoch = now.epoch();
        topics = RoomTopics::new(&broker.prefix, &now);
    }
}

/// After `send` moved a room to a newer epoch (no chat or listen of this
/// home took the commits first), makes that epoch's broker session, so
/// what others send there is queued until this home listens, and leaves
/// the old one recorded, to be drained then. Skipped while a chat or
/// listen holds the room: it moves itself.
async fn keep_queue_of_new_epoch(
    store: &Store,
    broker: &BrokerConfig,
    before: &crate::room::Room,
    after: &crate::room::Room,
) -> Result<(), SessionError> {
    let Some(_lock) = store.session_lock(after.id())? else {
        return Ok(());
    };
    if super::commits::make_quiet_session(store, broker, after).await {
        let old = super::client_id::client_id(&store.client_secret()?, before);
        store.record_client_id_to_retire(after.id(), &old)?;
    }
    Ok(())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    bytes
}

/// Publishes the commit of ours made offline (the hand-over of `init
/// --force`), if there is one, before the message that needs it.
async fn publish_offline_commit(
    store: &Store,
    room_id: &RoomId,
    transport: &Transport,
    prefix: &str,
) -> Result<(), SessionError> {
    let Some(room) = store.room_by_id(room_id)? else {
        return Ok(());
    };
    let Some(commit) = room.unpublished_commit() else {
        return Ok(());
    };
    let topics = RoomTopics::new(prefix, &room);
    for publication in super::commits::commit_publications(&topics, &room, commit) {
        transport.publish_acked(publication, BROKER_TIMEOUT).await?;
    }
    store
        .update_room(room_id, |room| {
            room.commit_published();
            Ok::<_, std::convert::Infallible>(())
        })?
        .unwrap_or_else(|never| match never {});
    Ok(())
}

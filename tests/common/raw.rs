//! A raw MQTT client (rumqttc 0.25, MQTT 3.1.1) for adversarial tests: it
//! sees and sends exactly what the broker carries, with no sotto logic.
//!
//! Each client drives its `EventLoop` on a private one-worker tokio runtime,
//! so the async API works from any `#[tokio::test]` (current-thread or not)
//! and [`BlockingRawClient`] works from plain `#[test]`s and std threads.
//! One `RawClient` is one connection: it does not reconnect. When the
//! connection ends (broker stopped, [`RawClient::disconnect`], an error),
//! pending operations fail; connect a new client with the same id and
//! `clean_session = false` to resume a persistent session.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnAck, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, SubscribeReasonCode,
};
use tokio::runtime::Runtime;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use super::wait::DEFAULT_TIMEOUT;

/// Max packet size both ways: room for 100 KiB garbage payloads and more.
pub const RAW_MAX_PACKET: usize = 1024 * 1024;

/// One message delivered by the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The topic it was published on.
    pub topic: String,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// Set when the broker delivered a stored retained message.
    pub retain: bool,
    /// The delivery QoS.
    pub qos: QoS,
    /// The DUP flag (a redelivery).
    pub dup: bool,
}

impl Received {
    /// The payload as (lossy) UTF-8, for assertions and messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Publish,
    Subscribe,
    Unsubscribe,
}

type Reply = oneshot::Sender<Result<(), String>>;

/// An operation whose request is in the rumqttc channel; matched in order
/// to the `Outgoing` events, which rumqttc emits in request order.
struct Queued {
    kind: Kind,
    qos: QoS,
    what: String,
    reply: Reply,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    connack: Option<ConnAck>,
    /// Why the connection ended, once it has.
    ended: Option<String>,
    queued: VecDeque<Queued>,
    awaiting_ack: HashMap<(Kind, u16), (String, Reply)>,
}

impl Inner {
    fn finish(&mut self, reason: String) {
        if self.ended.is_none() {
            self.ended = Some(reason.clone());
        }
        for q in self.queued.drain(..) {
            let _ = q.reply.send(Err(format!("{}: {reason}", q.what)));
        }
        for (_, (what, reply)) in self.awaiting_ack.drain() {
            let _ = reply.send(Err(format!("{what}: {reason}")));
        }
    }
}

struct Shared {
    inner: Mutex<Inner>,
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn finish(&self, reason: String) {
        self.lock().finish(reason);
        self.changed.notify_waiters();
    }

    /// Waits until `probe` returns `Some` (checked after every event).
    async fn wait<T>(
        &self,
        timeout: Duration,
        describe: impl Fn(&Inner) -> String,
        mut probe: impl FnMut(&Inner) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let inner = self.lock();
                if let Some(v) = probe(&inner) {
                    return v;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let inner = self.lock();
                if let Some(v) = probe(&inner) {
                    return v;
                }
                panic!("timed out after {timeout:?}: {}", describe(&inner));
            }
        }
    }
}

fn summarize(inner: &Inner) -> String {
    let mut s = format!("{} message(s) received", inner.received.len());
    for r in inner.received.iter().rev().take(10).rev() {
        s.push_str(&format!(
            "\n  {} ({} bytes{})",
            r.topic,
            r.payload.len(),
            if r.retain { ", retained" } else { "" }
        ));
    }
    if let Some(e) = &inner.ended {
        s.push_str(&format!("\n  connection ended: {e}"));
    }
    s
}

async fn drive(mut eventloop: EventLoop, shared: Arc<Shared>) {
    loop {
        let event = eventloop.poll().await;
        {
            let mut inner = shared.lock();
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => inner.connack = Some(ack),
                Ok(Event::Incoming(Packet::Publish(p))) => inner.received.push(Received {
                    topic: p.topic,
                    payload: p.payload.to_vec(),
                    retain: p.retain,
                    qos: p.qos,
                    dup: p.dup,
                }),
                Ok(Event::Incoming(Packet::PubAck(a))) => {
                    if let Some((_, reply)) = inner.awaiting_ack.remove(&(Kind::Publish, a.pkid)) {
                        let _ = reply.send(Ok(()));
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(a))) => {
                    if let Some((what, reply)) =
                        inner.awaiting_ack.remove(&(Kind::Subscribe, a.pkid))
                    {
                        let refused = a
                            .return_codes
                            .iter()
                            .any(|c| matches!(c, SubscribeReasonCode::Failure));
                        let _ = reply.send(if refused {
                            Err(format!("{what}: the broker refused it"))
                        } else {
                            Ok(())
                        });
                    }
                }
                Ok(Event::Incoming(Packet::UnsubAck(a))) => {
                    if let Some((_, reply)) =
                        inner.awaiting_ack.remove(&(Kind::Unsubscribe, a.pkid))
                    {
                        let _ = reply.send(Ok(()));
                    }
                }
                Ok(Event::Outgoing(out)) => {
                    let (kind, pkid) = match out {
                        Outgoing::Publish(p) => (Kind::Publish, p),
                        Outgoing::Subscribe(p) => (Kind::Subscribe, p),
                        Outgoing::Unsubscribe(p) => (Kind::Unsubscribe, p),
                        Outgoing::Disconnect => {
                            inner.finish("the client disconnected".to_owned());
                            drop(inner);
                            shared.changed.notify_waiters();
                            return;
                        }
                        _ => {
                            drop(inner);
                            continue;
                        }
                    };
                    match inner.queued.pop_front() {
                        Some(q) if q.kind == kind => {
                            if kind == Kind::Publish && q.qos == QoS::AtMostOnce {
                                let _ = q.reply.send(Ok(()));
                            } else {
                                inner.awaiting_ack.insert((kind, pkid), (q.what, q.reply));
                            }
                        }
                        other => {
                            let msg = format!(
                                "raw client bookkeeping out of step: sent {kind:?} {pkid}, expected {:?}",
                                other.as_ref().map(|q| q.kind)
                            );
                            if let Some(q) = other {
                                let _ = q.reply.send(Err(msg.clone()));
                            }
                            inner.finish(msg);
                            drop(inner);
                            shared.changed.notify_waiters();
                            return;
                        }
                    }
                }
                Ok(Event::Incoming(_)) => {}
                Err(e) => {
                    inner.finish(format!("connection ended: {e}"));
                    drop(inner);
                    shared.changed.notify_waiters();
                    return;
                }
            }
        }
        shared.changed.notify_waiters();
    }
}

/// An async raw MQTT connection. See the module docs.
pub struct RawClient {
    client: AsyncClient,
    shared: Arc<Shared>,
    /// Serialises "queue the reply slot + send the request" so slots stay in
    /// request order.
    send_lock: tokio::sync::Mutex<()>,
    task: Option<JoinHandle<()>>,
    runtime: Option<Runtime>,
    client_id: String,
}

impl RawClient {
    /// Options for a clean-session client to `127.0.0.1:port` with 1 MiB
    /// max packet size both ways; tweak and pass to [`Self::connect_with`].
    pub fn options(port: u16, client_id: &str) -> MqttOptions {
        assert_ne!(port, 1883, "tests must never use the shared broker on 1883");
        let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
        o.set_max_packet_size(RAW_MAX_PACKET, RAW_MAX_PACKET);
        o.set_keep_alive(Duration::from_secs(30));
        o.set_clean_session(true);
        o
    }

    /// Connects a clean-session client and waits for CONNACK.
    pub async fn connect(port: u16, client_id: &str) -> Self {
        Self::connect_with(Self::options(port, client_id)).await
    }

    /// Connects a persistent-session client (`clean_session = false`).
    pub async fn connect_persistent(port: u16, client_id: &str) -> Self {
        let mut o = Self::options(port, client_id);
        o.set_clean_session(false);
        Self::connect_with(o).await
    }

    /// Waits for CONNACK; panics with the reason if the broker refuses.
    async fn wait_connack(&self) {
        let ok = self
            .shared
            .wait(
                DEFAULT_TIMEOUT,
                |i| format!("CONNACK for {}: {}", self.client_id, summarize(i)),
                |i| match (&i.connack, &i.ended) {
                    (Some(_), _) => Some(Ok(())),
                    (None, Some(e)) => Some(Err(e.clone())),
                    (None, None) => None,
                },
            )
            .await;
        if let Err(e) = ok {
            panic!("raw client {} could not connect: {e}", self.client_id);
        }
    }

    /// Connects with explicit options (last will, credentials, ...) and
    /// waits for CONNACK; panics with the reason if the broker refuses.
    pub async fn connect_with(options: MqttOptions) -> Self {
        let client = Self::spawn(options);
        client.wait_connack().await;
        client
    }

    fn spawn(options: MqttOptions) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("raw-mqtt")
            .enable_all()
            .build()
            .expect("build raw client runtime");
        let client_id = options.client_id();
        // A generous request channel; publish() never blocks the poll task
        // because the poll task never publishes.
        let (client, eventloop) = AsyncClient::new(options, 256);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
        });
        let task = runtime.spawn(drive(eventloop, shared.clone()));
        Self {
            client,
            shared,
            send_lock: tokio::sync::Mutex::new(()),
            task: Some(task),
            runtime: Some(runtime),
            client_id,
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The underlying rumqttc handle, for anything not wrapped here.
    pub fn client(&self) -> &AsyncClient {
        &self.client
    }

    /// Whether the broker's CONNACK said it had a session for this id.
    pub fn session_present(&self) -> bool {
        self.shared
            .lock()
            .connack
            .as_ref()
            .is_some_and(|a| a.session_present)
    }

    /// Whether the connection is still up.
    pub fn is_connected(&self) -> bool {
        let inner = self.shared.lock();
        inner.connack.is_some() && inner.ended.is_none()
    }

    /// Why the connection ended, if it has.
    pub fn ended(&self) -> Option<String> {
        self.shared.lock().ended.clone()
    }

    async fn request(
        &self,
        kind: Kind,
        qos: QoS,
        what: String,
        send: impl Future<Output = Result<(), rumqttc::ClientError>>,
    ) -> Result<(), String> {
        let rx = {
            let _guard = self.send_lock.lock().await;
            let (tx, rx) = oneshot::channel();
            {
                let mut inner = self.shared.lock();
                if let Some(e) = &inner.ended {
                    return Err(format!("{what}: {e}"));
                }
                inner.queued.push_back(Queued {
                    kind,
                    qos,
                    what: what.clone(),
                    reply: tx,
                });
            }
            if let Err(e) = send.await {
                // Not sent, so not seen by the event loop: ours is the last slot.
                self.shared.lock().queued.pop_back();
                return Err(format!("{what}: {e}"));
            }
            rx
        };
        match tokio::time::timeout(DEFAULT_TIMEOUT, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(format!("{what}: the connection task went away")),
            Err(_) => Err(format!(
                "{what}: no acknowledgement within {DEFAULT_TIMEOUT:?}"
            )),
        }
    }

    /// Publishes with any QoS. QoS 1/2 return after the broker's ack, QoS 0
    /// once the packet is written to the socket.
    pub async fn try_publish_with(
        &self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
        qos: QoS,
        retain: bool,
    ) -> Result<(), String> {
        let payload = payload.into();
        let what = format!("publish of {} bytes to {topic}", payload.len());
        let send = self.client.publish(topic, qos, retain, payload);
        self.request(Kind::Publish, qos, what, send).await
    }

    /// QoS 1 publish that waits for PUBACK; panics on failure.
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>, retain: bool) {
        if let Err(e) = self
            .try_publish_with(topic, payload, QoS::AtLeastOnce, retain)
            .await
        {
            panic!("raw client {}: {e}", self.client_id);
        }
    }

    /// Clears a retained message (empty retained publish).
    pub async fn clear_retained(&self, topic: &str) {
        self.publish(topic, Vec::new(), true).await;
    }

    /// QoS 1 subscription that waits for SUBACK; panics on failure or refusal.
    pub async fn subscribe(&self, filter: &str) {
        let what = format!("subscribe to {filter}");
        let send = self.client.subscribe(filter, QoS::AtLeastOnce);
        if let Err(e) = self
            .request(Kind::Subscribe, QoS::AtLeastOnce, what, send)
            .await
        {
            panic!("raw client {}: {e}", self.client_id);
        }
    }

    /// Unsubscribes and waits for UNSUBACK.
    pub async fn unsubscribe(&self, filter: &str) {
        let what = format!("unsubscribe from {filter}");
        let send = self.client.unsubscribe(filter);
        if let Err(e) = self
            .request(Kind::Unsubscribe, QoS::AtLeastOnce, what, send)
            .await
        {
            panic!("raw client {}: {e}", self.client_id);
        }
    }

    /// Sends DISCONNECT (no last will) and waits until the connection is
    /// closed. A persistent session stays on the broker.
    pub async fn disconnect(&self) {
        if self.ended().is_some() {
            return;
        }
        if self.client.disconnect().await.is_err() {
            return; // the loop has already ended
        }
        self.shared
            .wait(
                DEFAULT_TIMEOUT,
                |i| format!("disconnect of {}: {}", self.client_id, summarize(i)),
                |i| i.ended.as_ref().map(|_| ()),
            )
            .await;
    }

    /// Drops the TCP connection without DISCONNECT, so the broker publishes
    /// the last will. Returns once the socket is closed.
    pub async fn drop_connection(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.shared
            .finish("connection dropped by the test".to_owned());
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// Everything received so far, clearing the buffer.
    pub fn take_received(&self) -> Vec<Received> {
        std::mem::take(&mut self.shared.lock().received)
    }

    /// Waits (10 s) until `probe` over all received messages returns `Some`;
    /// panics with `what` and a summary of what did arrive.
    pub async fn wait_for<T>(&self, what: &str, probe: impl FnMut(&[Received]) -> Option<T>) -> T {
        self.wait_for_within(DEFAULT_TIMEOUT, what, probe).await
    }

    /// [`Self::wait_for`] with an explicit deadline.
    pub async fn wait_for_within<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut probe: impl FnMut(&[Received]) -> Option<T>,
    ) -> T {
        self.shared
            .wait(
                timeout,
                |i| format!("{} waiting for {what}: {}", self.client_id, summarize(i)),
                |i| probe(&i.received),
            )
            .await
    }

    /// Waits until at least `n` messages have arrived; returns all of them.
    pub async fn wait_for_count(&self, n: usize) -> Vec<Received> {
        self.wait_for(&format!("{n} message(s)"), |r| {
            (r.len() >= n).then(|| r.to_vec())
        })
        .await
    }

    /// Waits for the first message on exactly `topic`.
    pub async fn wait_for_topic(&self, topic: &str) -> Received {
        self.wait_for(&format!("a message on {topic}"), |r| {
            r.iter().find(|m| m.topic == topic).cloned()
        })
        .await
    }

    /// Runs `fut` to completion on this client's own runtime (for the
    /// blocking wrapper). Panics if called from inside an async context.
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("raw client runtime")
            .block_on(fut)
    }
}

impl Drop for RawClient {
    /// Closes the socket abruptly (no DISCONNECT: a last will fires). Safe
    /// to drop inside or outside an async context.
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A blocking wrapper around [`RawClient`] for plain `#[test]`s and std
/// threads (e.g. tests that drive the `sotto` binary). Do not use it from
/// inside an async context: `block_on` would panic.
pub struct BlockingRawClient {
    inner: RawClient,
}

impl BlockingRawClient {
    /// Connects a clean-session client and waits for CONNACK.
    pub fn connect(port: u16, client_id: &str) -> Self {
        Self::connect_with(RawClient::options(port, client_id))
    }

    /// Connects a persistent-session client (`clean_session = false`).
    pub fn connect_persistent(port: u16, client_id: &str) -> Self {
        let mut o = RawClient::options(port, client_id);
        o.set_clean_session(false);
        Self::connect_with(o)
    }

    /// Connects with explicit options and waits for CONNACK.
    pub fn connect_with(options: MqttOptions) -> Self {
        let client = RawClient::spawn(options);
        client.block_on(client.wait_connack());
        Self { inner: client }
    }

    /// The async client inside (for its non-async accessors).
    pub fn inner(&self) -> &RawClient {
        &self.inner
    }

    /// See [`RawClient::session_present`].
    pub fn session_present(&self) -> bool {
        self.inner.session_present()
    }

    /// See [`RawClient::is_connected`].
    pub fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }

    /// See [`RawClient::try_publish_with`].
    pub fn try_publish_with(
        &self,
        topic: &str,
        payload: impl Into<Vec<u8>>,
        qos: QoS,
        retain: bool,
    ) -> Result<(), String> {
        self.inner
            .block_on(self.inner.try_publish_with(topic, payload, qos, retain))
    }

    /// QoS 1 publish that waits for PUBACK; panics on failure.
    pub fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>, retain: bool) {
        self.inner
            .block_on(self.inner.publish(topic, payload, retain));
    }

    /// Clears a retained message.
    pub fn clear_retained(&self, topic: &str) {
        self.inner.block_on(self.inner.clear_retained(topic));
    }

    /// QoS 1 subscription that waits for SUBACK.
    pub fn subscribe(&self, filter: &str) {
        self.inner.block_on(self.inner.subscribe(filter));
    }

    /// Unsubscribes and waits for UNSUBACK.
    pub fn unsubscribe(&self, filter: &str) {
        self.inner.block_on(self.inner.unsubscribe(filter));
    }

    /// Sends DISCONNECT and waits for the connection to close.
    pub fn disconnect(&self) {
        self.inner.block_on(self.inner.disconnect());
    }

    /// Drops the connection without DISCONNECT (the last will fires).
    pub fn drop_connection(&mut self) {
        let rt = self.inner.runtime.take();
        if let Some(rt) = &rt {
            rt.block_on(self.inner.drop_connection());
        }
        self.inner.runtime = rt;
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.received()
    }

    /// Everything received so far, clearing the buffer.
    pub fn take_received(&self) -> Vec<Received> {
        self.inner.take_received()
    }

    /// See [`RawClient::wait_for`].
    pub fn wait_for<T>(&self, what: &str, probe: impl FnMut(&[Received]) -> Option<T>) -> T {
        self.inner.block_on(self.inner.wait_for(what, probe))
    }

    /// See [`RawClient::wait_for_within`].
    pub fn wait_for_within<T>(
        &self,
        timeout: Duration,
        what: &str,
        probe: impl FnMut(&[Received]) -> Option<T>,
    ) -> T {
        self.inner
            .block_on(self.inner.wait_for_within(timeout, what, probe))
    }

    /// Waits until at least `n` messages have arrived.
    pub fn wait_for_count(&self, n: usize) -> Vec<Received> {
        self.inner.block_on(self.inner.wait_for_count(n))
    }

    /// Waits for the first message on exactly `topic`.
    pub fn wait_for_topic(&self, topic: &str) -> Received {
        self.inner.block_on(self.inner.wait_for_topic(topic))
    }
}

//! `sotto broker`: an MQTT broker built into sotto (rumqttd), so people can
//! try sotto without installing Mosquitto. It keeps everything in memory and
//! has no authentication and no TLS; it says so whenever it starts.
//!
//! rumqttd has no shutdown API and `Broker::start()` blocks for ever, so the
//! broker runs on its own thread and ends with the process.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings, Strategy};
use tokio::sync::oneshot;

/// Largest MQTT packet (remaining length) the broker accepts. Far above
/// sotto's 64 KiB envelopes, so that the clients' own size checks, not the
/// broker, deal with oversized payloads (rumqttd drops the connection of a
/// client that sends a bigger packet).
const MAX_PACKET_LEN: usize = 1024 * 1024;
const _: () = assert!(MAX_PACKET_LEN > sotto::transport::MAX_OUTGOING_PACKET_LEN);

/// rumqttd keeps every topic filter's messages in an in-memory log of
/// segments and drops the oldest segment when the log is full; persistent
/// sessions are cursors into that log. 64 segments of 1 MiB hold at least
/// 1000 maximum-size envelopes per filter, like Mosquitto's default
/// `max_queued_messages` of 1000, and far more ordinary chat lines.
const SEGMENT_LEN: usize = 1024 * 1024;
const SEGMENT_COUNT: usize = 64;

/// Enough for a demo with many rooms and clients; each room session is one
/// connection. rumqttd silently refuses connections beyond this.
const MAX_CONNECTIONS: usize = 1000;

/// How long a client may take to send CONNECT after opening the socket.
const CONNECT_TIMEOUT_MS: u16 = 10_000;

/// How long `spawn_builtin` and `run` wait for the broker to accept TCP.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

const BANNER: &str = "\
sotto's built-in MQTT broker, for trying sotto out.
It keeps everything in memory (queued messages are lost when it stops), has no \
authentication and no TLS, and listens on loopback only by default.
For real use, run Mosquitto or another MQTT broker instead.";

/// `sotto broker`: runs the built-in broker in the foreground until Ctrl-C
/// or SIGTERM.
pub fn run(listen: SocketAddr) -> anyhow::Result<()> {
    ensure_free(listen)?;
    eprintln!("{BANNER}");
    if let Some(warning) = exposure_warning(listen) {
        eprintln!("{warning}");
    }
    let mut stopped = start(listen)?;
    wait_listening(listen, &mut stopped)?;
    eprintln!("Listening on mqtt://{listen}; press Ctrl-C to stop.");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(wait_for_stop(stopped))?;
    eprintln!("Stopped the built-in broker; the messages it held are gone.");
    Ok(())
}

/// A warning when `listen` is reachable from other machines: the broker
/// has no authentication, so anyone who can reach it can use it.
fn exposure_warning(listen: SocketAddr) -> Option<String> {
    let ip = listen.ip();
    if ip.is_loopback() {
        return None;
    }
    let place = if ip.is_unspecified() {
        format!("every network interface ({ip})")
    } else {
        format!("{ip}, which is not a loopback address")
    };
    Some(format!(
        "Warning: listening on {place}, so anyone who can reach this machine on port {} \
         can use this broker. Messages stay end-to-end encrypted, but nothing stops \
         strangers from connecting.",
        listen.port()
    ))
}

/// Starts the built-in broker on a background thread (for `chat` when no
/// broker answers at the default address) and returns once it accepts
/// connections. It prints nothing: the caller explains what happened.
pub fn spawn_builtin(listen: SocketAddr) -> anyhow::Result<()> {
    ensure_free(listen)?;
    let mut stopped = start(listen)?;
    wait_listening(listen, &mut stopped)
}

/// Fails with one clear sentence when `listen` cannot be bound. Checked
/// before starting rumqttd because its server thread only logs a bind
/// failure (and we silence its logs) instead of returning it.
fn ensure_free(listen: SocketAddr) -> anyhow::Result<()> {
    match TcpListener::bind(listen) {
        // Dropping the probe frees the port again for rumqttd.
        Ok(probe) => {
            drop(probe);
            Ok(())
        }
        Err(err) => Err(anyhow!("cannot listen on {listen}: {}", bind_problem(&err))),
    }
}

/// The reason a bind failed, in words a user can act on.
fn bind_problem(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::AddrInUse => {
            "something else is already using that port (another broker?)".to_owned()
        }
        io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need administrator rights)".to_owned()
        }
        io::ErrorKind::AddrNotAvailable => {
            "that address does not belong to this machine".to_owned()
        }
        _ => err.to_string(),
    }
}

/// Starts rumqttd on its own thread. The receiver completes if the broker
/// ever stops (with the reason), or fails if its thread panicked.
fn start(listen: SocketAddr) -> anyhow::Result<oneshot::Receiver<String>> {
    let (stopped_tx, stopped_rx) = oneshot::channel();
    thread::Builder::new()
        .name("sotto-broker".to_owned())
        .spawn(move || {
            let mut broker = Broker::new(config(listen));
            let reason = match broker.start() {
                // start() returns only when its server threads have ended,
                // e.g. because the port was taken after our check.
                Ok(()) => format!("it stopped listening on {listen}"),
                Err(err) => err.to_string(),
            };
            // Nobody may be waiting any more (`spawn_builtin` returned).
            let _ = stopped_tx.send(reason);
        })
        .context("could not start the built-in broker's thread")?;
    Ok(stopped_rx)
}

/// The broker's configuration: one MQTT 3.1.1 listener, limits set
/// explicitly (rumqttd's defaults are 0, which breaks it), nothing else
/// (no console, metrics or bridge, which would open more ports).
fn config(listen: SocketAddr) -> Config {
    let server = ServerSettings {
        name: "sotto-broker-v4".to_owned(),
        listen,
        tls: None,
        // Pause between accepts: tiny, only to blunt connection floods.
        next_connection_delay_ms: 1,
        connections: connection_settings(),
    };
    Config {
        id: 0,
        router: router_config(),
        v4: Some(HashMap::from([("sotto".to_owned(), server)])),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    }
}

fn router_config() -> RouterConfig {
    RouterConfig {
        max_connections: MAX_CONNECTIONS,
        // Messages read from a log per turn for QoS 0 subscribers (QoS 1
        // ones are bounded by rumqttd's fixed 100 in-flight slots).
        max_outgoing_packet_count: 200,
        max_segment_size: SEGMENT_LEN,
        max_segment_count: SEGMENT_COUNT,
        custom_segment: None,
        initialized_filters: None,
        shared_subscriptions_strategy: Strategy::default(),
    }
}

fn connection_settings() -> ConnectionSettings {
    ConnectionSettings {
        connection_timeout_ms: CONNECT_TIMEOUT_MS,
        max_payload_size: MAX_PACKET_LEN,
        // Packets read from one connection per batch before handing them
        // to the router.
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        // Lets a client publish to a topic no one has subscribed to yet
        // instead of being refused.
        dynamic_filters: true,
    }
}

/// Waits until the broker accepts TCP connections, or fails if it stopped
/// or did not come up in time.
fn wait_listening(
    listen: SocketAddr,
    stopped: &mut oneshot::Receiver<String>,
) -> anyhow::Result<()> {
    let target = connect_address(listen);
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        match stopped.try_recv() {
            Ok(reason) => bail!("the built-in broker could not start: {reason}"),
            Err(oneshot::error::TryRecvError::Closed) => {
                bail!("the built-in broker could not start (it crashed)")
            }
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        if Instant::now() >= deadline {
            bail!("the built-in broker did not start listening on {listen} within 5 seconds");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Where to connect to reach a listener on `listen`: a wildcard address
/// (0.0.0.0 or ::) is reached through loopback.
fn connect_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// Blocks until Ctrl-C or SIGTERM (Ok) or until the broker stops (Err).
async fn wait_for_stop(stopped: oneshot::Receiver<String>) -> anyhow::Result<()> {
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("could not watch for Ctrl-C"),
        result = terminated() => result,
        reason = stopped => match reason {
            Ok(reason) => bail!("the built-in broker stopped: {reason}"),
            Err(_) => bail!("the built-in broker stopped (it crashed)"),
        },
    }
}

/// Completes on SIGTERM, the polite stop of service managers and `kill`.
#[cfg(unix)]
async fn terminated() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("could not watch for SIGTERM")?;
    term.recv().await;
    Ok(())
}

#[cfg(not(unix))]
async fn terminated() -> anyhow::Result<()> {
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listeners_are_reached_through_loopback() {
        let any4: SocketAddr = "0.0.0.0:1883".parse().unwrap();
        assert_eq!(connect_address(any4).ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 1883);
        assert_eq!(connect_address(any6).ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));
        let lan = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)), 1883);
        assert_eq!(connect_address(lan), lan);
    }

    #[test]
    fn only_addresses_others_can_reach_get_a_warning() {
        let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1883);
        assert_eq!(exposure_warning(loopback), None);
        let any = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 1883);
        assert!(exposure_warning(any).is_some_and(|w| w.contains("every network interface")));
        let lan = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2)), 1883);
        assert!(exposure_warning(lan).is_some_and(|w| w.contains("anyone who can reach")));
    }

    #[test]
    fn spawn_builtin_returns_once_the_broker_accepts_connections() {
        // The broker thread lives until this test process exits.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|probe| probe.local_addr())
            .unwrap()
            .port();
        let listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        spawn_builtin(listen).unwrap();
        assert!(TcpStream::connect(listen).is_ok());
        let again = spawn_builtin(listen).unwrap_err();
        assert!(format!("{again:#}").contains("something else is already using that port"));
    }

    #[test]
    fn config_sets_every_limit_rumqttd_needs() {
        let listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1883);
        let config = config(listen);
        assert!(config.router.max_connections > 0);
        assert!(config.router.max_segment_size >= 1024);
        assert!(config.router.max_segment_count >= 1);
        assert!(config.router.max_outgoing_packet_count > 0);
        let servers = config.v4.unwrap();
        assert_eq!(servers.len(), 1);
        assert!(servers.values().all(|s| s.listen == listen
            && s.connections.dynamic_filters
            && s.connections.max_payload_size > 70_000));
    }
}

//! Waiting for a condition with a deadline instead of fixed sleeps.

use std::future::Future;
use std::thread;
use std::time::{Duration, Instant};

/// The default deadline for anything a test waits for.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Poll interval: starts at 1 ms and backs off to 20 ms.
fn next_interval(current: Duration) -> Duration {
    (current * 2).min(Duration::from_millis(20))
}

/// Polls `probe` until it returns `Some`, and returns that value. Panics with
/// "timed out after ... waiting for {what}" at the deadline.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut interval = Duration::from_millis(1);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        let now = Instant::now();
        if now >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(interval.min(deadline - now));
        interval = next_interval(interval);
    }
}

/// Polls `cond` until it is true; panics at the deadline.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    wait_for(what, timeout, || cond().then_some(()));
}

/// Async [`wait_for`]: `probe` is a plain closure, polled with tokio sleeps.
pub async fn wait_for_async<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut interval = Duration::from_millis(1);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        let now = Instant::now();
        if now >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        interval = next_interval(interval);
    }
}

/// Async [`wait_until`].
pub async fn wait_until_async(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    wait_for_async(what, timeout, || cond().then_some(())).await;
}

/// Awaits `fut`, panicking with "timed out after ... waiting for {what}" at
/// the deadline.
pub async fn within<F: Future>(what: &str, timeout: Duration, fut: F) -> F::Output {
    match tokio::time::timeout(timeout, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {timeout:?} waiting for {what}"),
    }
}

/// Waits until something accepts TCP connections on the loopback `port`
/// (a listener the harness does not probe itself), 10 s at most.
pub fn until_accepting(what: &str, port: u16) {
    let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
    wait_until(what, Duration::from_secs(10), || {
        std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    });
}

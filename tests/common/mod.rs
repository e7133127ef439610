//! Shared integration-test harness: a private Mosquitto broker (or NATS
//! cluster) per test, a raw MQTT client for adversarial tests,
//! deadline-based waiting, and child process output capture.
//!
//! Every test crate that says `mod common;` compiles all of this, so unused
//! helpers are expected.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unused_imports,
    unused_macros
)]

pub mod attack;
pub mod broker;
pub mod certs;
pub mod contrib;
pub mod nats;
pub mod process;
pub mod raw;
pub mod tmux;
pub mod wait;

pub use broker::{MOSQUITTO_MISSING, Mosquitto, MosquittoOptions, locate_mosquitto};
pub use process::{ChildOutput, Lines};
pub use raw::{BlockingRawClient, RawClient, Received};
pub use rumqttc::{LastWill, MqttOptions, QoS};
pub use wait::{DEFAULT_TIMEOUT, wait_for, wait_for_async, wait_until, wait_until_async, within};

/// For each `fn name(mqtt: &str)` listed, generates two tests, `v5::name`
/// and `v3_1_1::name`, running it with the MQTT version forced to "5" and
/// "3.1.1" (see `home::Home::init_with_mqtt`).
macro_rules! on_both_mqtt_versions {
    ($($name:ident),+ $(,)?) => {
        mod v5 {
            $(#[test]
            fn $name() {
                super::$name("5");
            })+
        }
        mod v3_1_1 {
            $(#[test]
            fn $name() {
                super::$name("3.1.1");
            })+
        }
    };
}
pub(crate) use on_both_mqtt_versions;

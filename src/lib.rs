//! sotto: end-to-end encrypted chat rooms over MQTT.
//!
//! The broker relays only ciphertext. This library is the sans-IO core:
//! identities and key files, invites, the wire format, room state and
//! replay windows. None of these modules touches the network or the
//! terminal; [`store`] is the only one that touches the disk.
//!
//! - [`crypto`]: HKDF, XChaCha20-Poly1305, sealing to a member's X25519 key.
//! - [`secret`]: newtypes that wipe themselves and never print.
//! - [`identity`]: keys, public identities, fingerprints.
//! - [`keyfile`]: the identity and storage key files (optionally
//!   passphrase-protected).
//! - [`invite`]: `sotto1…` invite strings.
//! - [`log`]: the room's signed, hash-chained membership log.
//! - [`protocol`]: the envelope, messages, presence, sealed epoch keys.
//! - [`ratchet`]: per-sender hash ratchets (forward secrecy inside an
//!   epoch).
//! - [`replay`]: per-sender replay windows.
//! - [`room_id`]: a room's secret id and name rules (below `protocol`,
//!   `invite` and `room`, which all name rooms).
//! - [`room`]: room state, members, trust, topic ids.
//! - [`sanitize`]: untrusted text made safe for the terminal.
//! - [`topics`]: the MQTT topic layout of a room.
//! - [`when`]: durations, dates and retention as people type them.
//!
//! The I/O shell around the core:
//!
//! - [`store`]: state on disk: one SQLite database per home, every value
//!   sealed under the storage key; identity and small files (0600).
//! - [`transport`]: the MQTT connection (rumqttc), with reconnects and acks.
//! - [`tls`]: certificate verification for `mqtts://` brokers.
//! - [`session`]: one live room: transport + store + room logic, as events.
//! - [`mod@bench`]: `sotto bench`, sotto's cost against plain MQTT and the
//!   crypto floor on a real broker.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
pub mod crypto;
pub mod epoch_secret;
pub mod hex;
pub mod identity;
pub mod invite;
pub mod keyfile;
pub mod log;
pub mod protocol;
pub mod ratchet;
pub mod replay;
pub mod room;
pub mod room_id;
pub mod sanitize;
pub mod secret;
pub mod session;
pub mod store;
pub mod tls;
pub mod topics;
pub mod transport;
pub mod when;

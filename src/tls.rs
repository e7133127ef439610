//! TLS for `mqtts://` brokers: rustls with the ring provider, the system's
//! root certificates, optionally extra CA certificates from a PEM file
//! (for a private broker with its own CA), and optionally a client
//! certificate for brokers that want one (mutual TLS).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rumqttc::{TlsConfiguration, Transport};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A client certificate and its private key, both PEM files, for brokers
/// that require one (Mosquitto's `require_certificate true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// The certificate, optionally followed by intermediate CA certificates.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why TLS could not be set up (a sentence naming the file at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsSetupError(String);

/// A rumqttc TLS transport that verifies the broker's certificate and,
/// with `client`, shows the broker a certificate of our own.
pub fn transport(
    ca_file: Option<&Path>,
    client: Option<&ClientAuth>,
) -> Result<Transport, TlsSetupError> {
    // rustls panics without a process-wide provider when several are
    // compiled in; installing twice is harmless (the second is refused).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system certificate rustls cannot parse is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|err| TlsSetupError(format!("cannot read {}: {err}", path.display())))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|err| {
                TlsSetupError(format!(
                    "{} is not a PEM certificate file: {err}",
                    path.display()
                ))
            })?;
            roots
                .add(cert)
                .map_err(|err| TlsSetupError(format!("{}: {err}", path.display())))?;
            added += 1;
        }
        // pem_file_iter skips blocks that are not certificates, so a key or
        // an empty file would otherwise be accepted and trust nothing.
        if added == 0 {
            return Err(TlsSetupError(format!(
                "{} contains no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            )));
        }
    }
    if roots.is_empty() {
        return Err(TlsSetupError(
            "no trusted CA certificates found; set SOTTO_CA_FILE to your broker's CA".into(),
        ));
    }
    let builder = ClientConfig::builder().with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(client) => {
            let chain = client_chain(&client.cert)?;
            let key = client_key(&client.key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| client_auth_error(client, &err))?
        }
    };
    Ok(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(config),
    )))
}

/// The client certificate chain from a PEM file (leaf first).
fn client_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| TlsSetupError(format!("cannot read {}: {err}", path.display())))?;
    let chain = certs.collect::<Result<Vec<_>, _>>().map_err(|err| {
        TlsSetupError(format!(
            "{} is not a PEM certificate file: {err}",
            path.display()
        ))
    })?;
    if chain.is_empty() {
        return Err(TlsSetupError(format!(
            "{} contains no PEM certificate (-----BEGIN CERTIFICATE-----); give the client certificate there",
            path.display()
        )));
    }
    Ok(chain)
}

/// The client's private key from a PEM file. Errors never quote the file:
/// a parse error could carry a piece of the key.
fn client_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    use rustls_pki_types::pem::Error as PemError;
    PrivateKeyDer::from_pem_file(path).map_err(|err| {
        TlsSetupError(match err {
            PemError::Io(io) => format!("cannot read {}: {io}", path.display()),
            PemError::NoItemsFound => format!(
                "{} contains no PEM private key (-----BEGIN PRIVATE KEY-----); give the client certificate's key there",
                path.display()
            ),
            _ => format!("{} is not a readable PEM private key file", path.display()),
        })
    })
}

fn client_auth_error(client: &ClientAuth, err: &rustls::Error) -> TlsSetupError {
    TlsSetupError(match err {
        rustls::Error::InconsistentKeys(_) => format!(
            "the key in {} does not belong to the certificate in {}",
            client.key.display(),
            client.cert.display()
        ),
        _ => format!(
            "the client certificate {} and key {} cannot be used (sotto takes RSA, ECDSA P-256/P-384 and Ed25519 keys)",
            client.cert.display(),
            client.key.display()
        ),
    })
}

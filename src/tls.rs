//! TLS for `mqtts://` brokers: rustls with the ring provider, the system's
//! root certificates, and optionally extra CA certificates from a PEM file
//! (for a private broker with its own CA).

use std::path::Path;
use std::sync::Arc;

use rumqttc::{TlsConfiguration, Transport};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Why TLS could not be set up (a sentence naming the file at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsSetupError(String);

/// A rumqttc TLS transport that verifies the broker's certificate.
pub fn transport(ca_file: Option<&Path>) -> Result<Transport, TlsSetupError> {
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
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(config),
    )))
}

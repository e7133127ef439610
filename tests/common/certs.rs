//! Throwaway TLS certificates made with the openssl command-line tool: a
//! CA, and a server certificate it signed for `localhost` and `127.0.0.1`
//! (both as subject alternative names), as an operator following
//! docs/operating.md would make them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where openssl is looked for unless `SOTTO_TEST_OPENSSL` names it.
const OPENSSL: &str = "openssl";

/// The panic message when openssl cannot be run.
pub const OPENSSL_MISSING: &str = "the openssl command-line tool is needed to make test certificates: install it with `apt-get install -y openssl` (Debian/Ubuntu) or `brew install openssl` (or run scripts/test, which does), or set SOTTO_TEST_OPENSSL to its path";

/// Extensions for the CA and the server certificate.
const EXTENSIONS: &str = "\
[req]
distinguished_name = dn
prompt = no

[dn]
CN = sotto test

[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// A directory holding `ca.pem`, `ca.key`, `server.pem` and `server.key`.
/// Removed when dropped.
pub struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    /// Makes a CA (P-256, valid two days) and a server certificate it signed.
    pub fn generate() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("sotto-certs-")
            .tempdir()
            .expect("create a certificate directory");
        let certs = Self { dir };
        std::fs::write(certs.file("openssl.cnf"), EXTENSIONS).expect("write openssl.cnf");
        let key = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        certs.openssl(&[
            &[
                "req",
                "-x509",
                "-config",
                "openssl.cnf",
                "-extensions",
                "ca",
            ],
            &key[..],
            &["-days", "2", "-keyout", "ca.key", "-out", "ca.pem"],
            &["-subj", "/CN=sotto-test-CA"],
        ]);
        certs.openssl(&[
            &["req", "-new", "-config", "openssl.cnf"],
            &key[..],
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]);
        certs.sign("server.csr", "2", "server", "server.pem");
        certs
    }

    /// Signs a request with the CA, for two days, with the extensions of
    /// `extensions` in openssl.cnf.
    fn sign(&self, csr: &str, serial: &str, extensions: &str, out: &str) {
        self.openssl(&[&[
            "x509",
            "-req",
            "-in",
            csr,
            "-days",
            "2",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            serial,
            "-extfile",
            "openssl.cnf",
            "-extensions",
            extensions,
            "-out",
            out,
        ]]);
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A file in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA certificate, for `SOTTO_CA_FILE`.
    pub fn ca(&self) -> PathBuf {
        self.file("ca.pem")
    }

    /// A client certificate for `name` signed by the CA (for brokers that
    /// require one): `<name>.pem` and `<name>.key`, the key 0600 as a
    /// careful user keeps it.
    pub fn client(&self, name: &str) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        let subject = format!("/CN={name}");
        self.openssl(&[
            &["req", "-new", "-config", "openssl.cnf"],
            &[
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ],
            &["-keyout", &key, "-out", &csr, "-subj", &subject],
        ]);
        self.sign(&csr, "3", "client", &pem);
        std::fs::set_permissions(self.file(&key), std::fs::Permissions::from_mode(0o600))
            .expect("make the client key private");
        (self.file(&pem), self.file(&key))
    }

    /// The server certificate.
    pub fn server_cert(&self) -> PathBuf {
        self.file("server.pem")
    }

    /// The server's private key.
    pub fn server_key(&self) -> PathBuf {
        self.file("server.key")
    }

    fn openssl(&self, parts: &[&[&str]]) {
        let binary = std::env::var("SOTTO_TEST_OPENSSL").unwrap_or_else(|_| OPENSSL.to_owned());
        let args: Vec<&str> = parts.concat();
        let out = Command::new(&binary)
            .args(&args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| panic!("{OPENSSL_MISSING} (cannot run {binary}: {err})"));
        assert!(
            out.status.success(),
            "openssl {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

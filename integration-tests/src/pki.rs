//! A throw-away PKI for TLS tests: a CA, a server certificate for 127.0.0.1 and localhost,
//! a client certificate for mutual TLS, and a second CA nobody trusts. Everything is
//! generated fresh (rcgen, ring) and written as PEM files to a private temporary directory,
//! removed on drop.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A generated certificate and its key, as PEM text and as files.
#[derive(Debug, Clone)]
pub struct Pem {
    /// The certificate, PEM.
    pub cert: String,
    /// Its private key (PKCS#8), PEM.
    pub key: String,
    /// Where the certificate was written.
    pub cert_file: PathBuf,
    /// Where the key was written.
    pub key_file: PathBuf,
}

/// The generated PKI; its directory is removed on drop.
#[derive(Debug)]
pub struct TestPki {
    dir: PathBuf,
    /// The CA the server and client certificates are signed by.
    pub ca: Pem,
    /// The server's certificate: SANs `127.0.0.1`, `::1` and `localhost`.
    pub server: Pem,
    /// A client certificate for mutual TLS (CN `sonde-test-client`).
    pub client: Pem,
    /// A CA that signed nothing here: trusting it instead of `ca` must fail the handshake.
    pub other_ca: Pem,
}

fn ca_params(name: &str) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.distinguished_name.push(DnType::CommonName, name);
    Ok(params)
}

impl TestPki {
    /// Generates everything and writes it under a new directory in the system temp dir.
    pub fn generate() -> anyhow::Result<TestPki> {
        let unique = format!(
            "sonde-pki-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let dir = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let write = |name: &str, cert: String, key: String| -> anyhow::Result<Pem> {
            let cert_file = dir.join(format!("{name}.crt"));
            let key_file = dir.join(format!("{name}.key"));
            std::fs::write(&cert_file, &cert)?;
            std::fs::write(&key_file, &key)?;
            Ok(Pem {
                cert,
                key,
                cert_file,
                key_file,
            })
        };

        let ca_key = KeyPair::generate()?;
        let ca_p = ca_params("Sonde test CA")?;
        let ca_cert = ca_p.self_signed(&ca_key)?;
        let ca = write("ca", ca_cert.pem(), ca_key.serialize_pem())?;
        let issuer = Issuer::new(ca_p, &ca_key);

        let server_key = KeyPair::generate()?;
        let mut sp = CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            "::1".to_string(),
            "localhost".to_string(),
        ])?;
        sp.distinguished_name
            .push(DnType::CommonName, "sonde-test-receiver");
        sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = sp.signed_by(&server_key, &issuer)?;
        let server = write("server", server_cert.pem(), server_key.serialize_pem())?;

        let client_key = KeyPair::generate()?;
        let mut cp = CertificateParams::new(Vec::<String>::new())?;
        cp.distinguished_name
            .push(DnType::CommonName, "sonde-test-client");
        cp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_cert = cp.signed_by(&client_key, &issuer)?;
        let client = write("client", client_cert.pem(), client_key.serialize_pem())?;

        let other_key = KeyPair::generate()?;
        let other_cert = ca_params("Untrusted test CA")?.self_signed(&other_key)?;
        let other_ca = write("other-ca", other_cert.pem(), other_key.serialize_pem())?;

        Ok(TestPki {
            dir,
            ca,
            server,
            client,
            other_ca,
        })
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `text` to a file in the PKI's directory (e.g. a password file) and returns
    /// its path.
    pub fn write_file(&self, name: &str, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

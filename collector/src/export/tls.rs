//! TLS for both transports: one rustls client configuration per signal, with the ring
//! provider, trusting the system's roots (or the configured CA file instead), presenting a
//! client certificate when one is configured, and verifying nothing only when asked.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{load_certs, load_key, TlsSettings};
use crate::telemetry::Signal;

use super::error::ExportError;

/// The crypto provider of every TLS connection Sonde makes.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's trusted roots, read once: (certificates, how many could not be used).
fn system_roots() -> &'static (Vec<CertificateDer<'static>>, usize) {
    static ROOTS: OnceLock<(Vec<CertificateDer<'static>>, usize)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        (found.certs, found.errors.len())
    })
}

/// The client configuration for one signal's `https://` endpoint, without ALPN (each
/// transport sets its own).
pub(crate) fn client_config(
    signal: Signal,
    tls: &TlsSettings,
) -> Result<ClientConfig, ExportError> {
    let name = signal.as_str();
    let bad = |what: &str, reason: String| ExportError::Tls {
        signal: name,
        what: what.to_string(),
        reason,
    };
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocol versions", e.to_string()))?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServer { provider }))
    } else {
        let mut roots = RootCertStore::empty();
        match &tls.ca_file {
            Some(path) => {
                let certs = load_certs(path)
                    .map_err(|r| bad(&format!("CA certificate {}", path.display()), r))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(bad(
                        &format!("CA certificate {}", path.display()),
                        "none of its certificates can be used as a trust anchor".into(),
                    ));
                }
            }
            None => {
                let (certs, errors) = system_roots();
                let (added, _) = roots.add_parsable_certificates(certs.iter().cloned());
                if added == 0 {
                    return Err(bad(
                        "system trust store",
                        format!(
                            "no usable CA certificate found ({errors} errors reading it); install \
                             ca-certificates, or name a CA file with tls.ca_file or \
                             OTEL_EXPORTER_OTLP_CERTIFICATE"
                        ),
                    ));
                }
            }
        }
        builder.with_root_certificates(roots)
    };
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = load_certs(cert)
                .map_err(|r| bad(&format!("client certificate {}", cert.display()), r))?;
            let key =
                load_key(key).map_err(|r| bad(&format!("client key {}", key.display()), r))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad("client certificate and key", e.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// A configuration for `http://` endpoints: never used for a handshake, but reqwest wants
/// one (without it, it would look for a process-wide crypto provider).
pub(crate) fn unused_config(signal: Signal) -> Result<ClientConfig, ExportError> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        })
        .map_err(|e| ExportError::Tls {
            signal: signal.as_str(),
            what: "protocol versions".into(),
            reason: e.to_string(),
        })
}

/// `insecure_skip_verify`: any certificate for any name. Handshake signatures are still
/// checked, so the connection is encrypted to whoever holds the presented key.
#[derive(Debug)]
struct AcceptAnyServer {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

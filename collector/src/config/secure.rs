//! TLS and credentials: the `tls:` and `auth:` blocks of the file, the PEM files they name,
//! and the `Authorization` header they become. A secret read here (a password, a URL's
//! password) leaves this module only inside a header value, which every printer masks.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use super::error::ConfigError;

/// `tls:` as written, in the general exporter block or a signal's. Every key is optional;
/// an unset key inherits the next layer's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FileTls {
    /// PEM file of the CA(s) that sign the server's certificate, instead of the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// PEM client certificate (chain) for mutual TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// PEM private key of the client certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// Accept any server certificate. For tests against self-signed endpoints only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
}

/// `auth:` as written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FileAuth {
    /// HTTP basic authentication (Grafana Cloud: instance id and access-policy token).
    pub basic: Option<FileBasicAuth>,
}

/// `auth.basic:` as written. The user name comes from `username` or `username_env`, the
/// password from exactly one of `password_file`, `password_env` and `password` (`Debug`
/// shows `***` for it).
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FileBasicAuth {
    /// The user name (Grafana Cloud: the stack's instance id). Not a secret.
    pub username: String,
    /// The name of an environment variable holding the user name.
    pub username_env: Option<String>,
    /// The password itself. Prefer `password_file` or `password_env`.
    pub password: Option<String>,
    /// A file whose content (trailing newline removed) is the password.
    pub password_file: Option<String>,
    /// The name of an environment variable holding the password.
    pub password_env: Option<String>,
}

impl std::fmt::Debug for FileBasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileBasicAuth")
            .field("username", &self.username)
            .field("username_env", &self.username_env)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("password_file", &self.password_file)
            .field("password_env", &self.password_env)
            .finish()
    }
}

/// The TLS settings of one signal, after merging.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    /// Trusted CA certificates (PEM); `None`: the system's trust store.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate (never the default).
    pub insecure_skip_verify: bool,
}

impl TlsSettings {
    /// Whether anything differs from the defaults.
    pub fn is_default(&self) -> bool {
        *self == TlsSettings::default()
    }
}

/// The `Authorization` value of HTTP basic authentication.
pub fn basic_auth_value(username: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {token}")
}

/// The `Authorization` header an `auth:` block stands for, reading the password from where
/// it says; `origin` is its key path. Errors name the key, file or variable, never the value.
pub(crate) fn resolve_auth(
    auth: &FileAuth,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let Some(basic) = &auth.basic else {
        return Ok(None);
    };
    let origin = format!("{origin}.basic");
    let bad = |reason: String| ConfigError::Credentials {
        origin: origin.clone(),
        reason,
    };
    let from_env;
    let username = match (&basic.username_env, basic.username.trim()) {
        (Some(_), u) if !u.is_empty() => {
            return Err(bad("set only one of username and username_env".into()))
        }
        (Some(var), _) => {
            from_env = env(var).unwrap_or_default();
            if from_env.trim().is_empty() {
                return Err(bad(format!(
                    "username_env names {var}, which is unset or empty; export it (e.g. from an env file)"
                )));
            }
            from_env.trim()
        }
        (None, "") => {
            return Err(bad(
                "username is empty; set it (Grafana Cloud: the stack's instance id)".into(),
            ))
        }
        (None, u) => u,
    };
    if username.contains(':') {
        return Err(bad(
            "username cannot contain ':' in basic authentication".into()
        ));
    }
    let sources = [
        basic.password.is_some(),
        basic.password_file.is_some(),
        basic.password_env.is_some(),
    ];
    let password = match sources.iter().filter(|s| **s).count() {
        0 => {
            return Err(bad(
                "no password: set one of password_file, password_env or password".into(),
            ))
        }
        1 => {
            if let Some(p) = &basic.password {
                p.clone()
            } else if let Some(file) = &basic.password_file {
                read_secret_file(Path::new(file)).map_err(|e| {
                    bad(format!(
                        "cannot read password_file {file}: {e}; check the path and permissions"
                    ))
                })?
            } else {
                let var = basic.password_env.as_deref().unwrap_or_default();
                env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                    bad(format!(
                        "password_env names {var}, which is unset or empty; export it (e.g. from an env file)"
                    ))
                })?
            }
        }
        _ => {
            return Err(bad(
                "set only one of password, password_file and password_env".into(),
            ))
        }
    };
    if password.chars().any(char::is_control) {
        return Err(bad("the password contains a control character".into()));
    }
    Ok(Some(basic_auth_value(username, &password)))
}

/// A secret file's content without the trailing line break editors add.
fn read_secret_file(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Removes `user:password@` from an endpoint URL and returns it as an `Authorization`
/// value, so the URL can be printed and logged without leaking it.
pub(crate) fn take_url_credentials(url: &mut url::Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(url.username());
    let password = decode(url.password().unwrap_or_default());
    // Only fails for URLs that cannot have credentials, which had none to remove.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some(basic_auth_value(&user, &password))
}

/// Reads every certificate of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a valid PEM file ({e})"))?;
    if certs.is_empty() {
        return Err("no \"BEGIN CERTIFICATE\" block in it".into());
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file. Errors never quote
/// the file's content.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no \"BEGIN ... PRIVATE KEY\" block in it".to_string()
        }
        _ => "not a valid PEM private key".to_string(),
    })
}

/// Checks that the files named in resolved TLS settings load, so `check-config` catches a
/// wrong path before the agent starts. `origin` says where the settings came from.
pub(crate) fn check_tls_files(tls: &TlsSettings, origin: &str) -> Result<(), ConfigError> {
    let bad = |path: &Path, what: &str, reason: String| ConfigError::TlsFile {
        origin: origin.to_string(),
        what: what.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    if let Some(p) = &tls.ca_file {
        load_certs(p).map_err(|r| bad(p, "CA certificate", r))?;
    }
    match (&tls.client_cert, &tls.client_key) {
        (Some(c), Some(k)) => {
            load_certs(c).map_err(|r| bad(c, "client certificate", r))?;
            load_key(k).map_err(|r| bad(k, "client key", r))?;
        }
        (Some(c), None) => {
            return Err(bad(
                c,
                "client certificate",
                "it has no key: set the client key too (tls.key_file or OTEL_EXPORTER_OTLP_CLIENT_KEY)".into(),
            ))
        }
        (None, Some(k)) => {
            return Err(bad(
                k,
                "client key",
                "it has no certificate: set the client certificate too (tls.cert_file or OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)".into(),
            ))
        }
        (None, None) => {}
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn basic(user: &str) -> FileBasicAuth {
        FileBasicAuth {
            username: user.into(),
            ..FileBasicAuth::default()
        }
    }

    fn resolve(b: FileBasicAuth, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        let auth = FileAuth { basic: Some(b) };
        resolve_auth(&auth, "exporter.auth", env)
            .map(Option::unwrap)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn basic_auth_is_base64_of_user_colon_password() {
        // The RFC 7617 example.
        assert_eq!(
            basic_auth_value("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn password_comes_from_exactly_one_place() {
        let none = |_: &str| None;
        let inline = FileBasicAuth {
            password: Some("tok".into()),
            ..basic("123")
        };
        assert_eq!(resolve(inline, &none), Ok(basic_auth_value("123", "tok")));

        let env = |k: &str| (k == "GC_TOKEN").then(|| "from-env".to_string());
        let from_env = FileBasicAuth {
            password_env: Some("GC_TOKEN".into()),
            ..basic("123")
        };
        assert_eq!(
            resolve(from_env, &env),
            Ok(basic_auth_value("123", "from-env"))
        );

        let dir = std::env::temp_dir().join(format!("sonde-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let from_file = FileBasicAuth {
            password_file: Some(file.display().to_string()),
            ..basic("123")
        };
        assert_eq!(
            resolve(from_file, &none),
            Ok(basic_auth_value("123", "from-file"))
        );
        std::fs::remove_dir_all(&dir).unwrap();

        let e = resolve(basic("123"), &none).unwrap_err();
        assert!(
            e.contains("exporter.auth.basic") && e.contains("no password"),
            "{e}"
        );
        let two = FileBasicAuth {
            password: Some("a-secret".into()),
            password_env: Some("X".into()),
            ..basic("123")
        };
        let e = resolve(two, &none).unwrap_err();
        assert!(e.contains("only one") && !e.contains("a-secret"), "{e}");
        let unset = FileBasicAuth {
            password_env: Some("NOPE".into()),
            ..basic("123")
        };
        assert!(resolve(unset, &none).unwrap_err().contains("NOPE"));
        let missing = FileBasicAuth {
            password_file: Some("/nonexistent/token".into()),
            ..basic("123")
        };
        assert!(resolve(missing, &none)
            .unwrap_err()
            .contains("/nonexistent/token"));
        let e = resolve(
            FileBasicAuth {
                password: Some("p".into()),
                ..basic("")
            },
            &none,
        )
        .unwrap_err();
        assert!(e.contains("username"), "{e}");
        let both_env = |k: &str| match k {
            "GC_ID" => Some("654321".to_string()),
            "GC_TOKEN" => Some("tok".to_string()),
            _ => None,
        };
        let from_env = FileBasicAuth {
            username_env: Some("GC_ID".into()),
            password_env: Some("GC_TOKEN".into()),
            ..basic("")
        };
        assert_eq!(
            resolve(from_env.clone(), &both_env),
            Ok(basic_auth_value("654321", "tok"))
        );
        assert!(resolve(from_env, &none).unwrap_err().contains("GC_ID"));
    }

    #[test]
    fn url_credentials_become_a_header() {
        let mut url = url::Url::parse("https://inst%3A1:t%40ken@gw.example/otlp").unwrap();
        let header = take_url_credentials(&mut url).unwrap();
        assert_eq!(url.as_str(), "https://gw.example/otlp");
        assert_eq!(header, basic_auth_value("inst:1", "t@ken"));
        let mut plain = url::Url::parse("http://c:4318").unwrap();
        assert_eq!(take_url_credentials(&mut plain), None);
    }

    #[test]
    fn tls_files_are_checked() {
        let missing = TlsSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsSettings::default()
        };
        let e = check_tls_files(&missing, "OTEL_EXPORTER_OTLP_CERTIFICATE").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("/nonexistent/ca.pem") && text.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"),
            "{text}"
        );
        let dir = std::env::temp_dir().join(format!("sonde-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not pem at all").unwrap();
        assert!(load_certs(&junk)
            .unwrap_err()
            .contains("no \"BEGIN CERTIFICATE\""));
        assert!(load_key(&junk).unwrap_err().contains("PRIVATE KEY"));
        let half = TlsSettings {
            client_cert: Some(junk.clone()),
            ..TlsSettings::default()
        };
        assert!(check_tls_files(&half, "exporter.tls")
            .unwrap_err()
            .to_string()
            .contains("no key"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! What can go wrong while loading the configuration. Every message names where the bad
//! input came from (file and line, or environment variable) and what to do about it.

use std::path::PathBuf;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file given with `--config` could not be read.
    #[error("cannot read config file {path}: {source}; check the --config path")]
    ReadFile {
        /// The path given.
        path: PathBuf,
        /// Why reading failed.
        #[source]
        source: std::io::Error,
    },

    /// The file is not well-formed YAML.
    #[error("{file}:{line}:{column}: not valid YAML: {message}; fix the syntax at that position")]
    Syntax {
        /// The file (or `<built-in default>`).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The YAML parser's message.
        message: String,
    },

    /// The file has a key the schema does not know (often a typo or wrong indentation).
    #[error(
        "{file}:{line}:{column}: unknown key `{key}`; {expected} (check the spelling and the indentation)"
    )]
    UnknownKey {
        /// The file.
        file: String,
        /// The full key path, e.g. `exporter.retry.max_bakoff`.
        key: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The keys allowed there.
        expected: String,
    },

    /// A value in the file has the wrong type or form.
    #[error("{file}:{line}:{column}: invalid value for `{key}`: {message}")]
    InvalidValue {
        /// The file.
        file: String,
        /// The key path, e.g. `exporter.retry.max_backoff`.
        key: String,
        /// 1-based line (0 when the parser gave no position).
        line: usize,
        /// 1-based column (0 when the parser gave no position).
        column: usize,
        /// What is wrong, and what to write instead.
        message: String,
    },

    /// Values that are each fine but do not fit together.
    #[error("{file}: `{key}`: {message}")]
    Inconsistent {
        /// The file.
        file: String,
        /// The key path of the value to change.
        key: String,
        /// What is wrong, and what to write instead.
        message: String,
    },

    /// An endpoint is not a usable URL.
    #[error("{origin} = \"{value}\" is not a usable endpoint: {reason}; expected e.g. \"http://localhost:4317\"")]
    BadUrl {
        /// The key path or environment variable it came from.
        origin: String,
        /// The value given.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// A protocol the agent does not speak.
    #[error("{origin} = \"{value}\" is not supported; use \"grpc\" or \"http/protobuf\"")]
    UnsupportedProtocol {
        /// The key path or environment variable it came from.
        origin: String,
        /// The value given.
        value: String,
    },

    /// A command-line option has a value that cannot be used.
    #[error("command-line option {option} \"{value}\": {reason}")]
    BadOption {
        /// The option, e.g. `--prometheus-listen`.
        option: String,
        /// Its value.
        value: String,
        /// What is wrong, and what to write instead.
        reason: String,
    },

    /// An environment variable has a value that cannot be used.
    #[error("environment variable {var}=\"{value}\": {reason}")]
    BadEnv {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// What is wrong, and what to write instead.
        reason: String,
    },

    /// Credentials that cannot be used. The secret itself is never part of the message.
    #[error("{origin}: {reason}")]
    Credentials {
        /// The key path, e.g. `exporter.auth.basic`.
        origin: String,
        /// What is wrong, and what to do (naming files and variables, never values).
        reason: String,
    },

    /// A TLS file (CA, client certificate or key) that cannot be loaded.
    #[error("{origin}: cannot use {what} {path}: {reason}")]
    TlsFile {
        /// The key path or environment variable that named it.
        origin: String,
        /// Which file: "CA certificate", "client certificate", "client key".
        what: String,
        /// The path given.
        path: PathBuf,
        /// Why (never the key's content).
        reason: String,
    },

    /// A headers list (from the environment or the file) is malformed. The values are never
    /// repeated, since they are usually credentials.
    #[error("{origin}: {reason}")]
    BadHeaders {
        /// The environment variable or key path.
        origin: String,
        /// What is wrong (naming the header, never its value).
        reason: String,
    },
}

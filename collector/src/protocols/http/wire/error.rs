//! The ways an HTTP/1.x message head or chunked body can fail to parse.

use super::MAX_HEADERS;

/// Why an HTTP/1.x message could not be parsed. Offsets (`at`) are byte offsets into the
/// body bytes handed to one [`ChunkedDecoder`](super::ChunkedDecoder).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The method or request-target holds a byte a token may not (httparse `Token`).
    #[error("HTTP request line has an invalid method or target byte; not HTTP/1.x, or the capture starts mid-message")]
    BadToken,
    /// The version is not `HTTP/1.0` or `HTTP/1.1` (HTTP/2's preface ends up here too).
    #[error(
        "HTTP version is not HTTP/1.0 or HTTP/1.1; HTTP/2 and other protocols are not parsed here"
    )]
    BadVersion,
    /// The status code is not three digits (httparse `Status`).
    #[error("HTTP status line does not carry a three-digit status code")]
    BadStatus,
    /// A status code below 100.
    #[error("HTTP status code {status} is below 100, outside RFC 9110's range")]
    StatusOutOfRange {
        /// The status code from the status line.
        status: u16,
    },
    /// A header name holds a byte a token may not.
    #[error("HTTP header name has an invalid byte; a corrupt message or not HTTP")]
    BadHeaderName,
    /// A header value holds a control byte.
    #[error("HTTP header value has an invalid (control) byte; a corrupt message or not HTTP")]
    BadHeaderValue,
    /// A line ends with a CR not followed by LF, or folds (obsolete line folding).
    #[error("HTTP head has an invalid line ending (CR without LF, or obsolete line folding)")]
    BadNewLine,
    /// More header fields than Sonde reads.
    #[error(
        "HTTP head has more than {MAX_HEADERS} header fields; Sonde reads at most {MAX_HEADERS}"
    )]
    TooManyHeaders,
    /// A method longer than [`MAX_METHOD_LEN`](super::MAX_METHOD_LEN) bytes.
    #[error(
        "HTTP method is {len} bytes long, over Sonde's bound of {} bytes",
        super::MAX_METHOD_LEN
    )]
    MethodTooLong {
        /// The method's length.
        len: usize,
    },
    /// A `Content-Length` value that is not a decimal number fitting in 64 bits.
    #[error(
        "HTTP Content-Length is not a decimal number below 2^64; the message framing is invalid"
    )]
    BadContentLength,
    /// Two `Content-Length` values that differ (RFC 9112 §6.3: the framing is invalid).
    #[error("HTTP Content-Length values disagree ({first} and {second}); the message framing is invalid (possible request smuggling)")]
    ConflictingContentLength {
        /// The first value seen.
        first: u64,
        /// The first value that differs from it.
        second: u64,
    },
    /// A request whose `Transfer-Encoding` does not end in `chunked`: its body length
    /// cannot be known (RFC 9112 §6.3, a server answers 400 and closes).
    #[error("HTTP request has a Transfer-Encoding that does not end in chunked; its body length cannot be determined")]
    UnframedRequestBody,
    /// A chunk-size line that does not start with hex digits, has more than 16 of them, or
    /// continues with something other than whitespace, an extension or the line end.
    #[error("HTTP chunk size at body byte {at} is not a hex number of at most 16 digits")]
    BadChunkSize {
        /// Where the offending byte is.
        at: u64,
    },
    /// Chunk data not followed by CRLF, or a bad line end after the trailers.
    #[error("HTTP chunk at body byte {at} does not end with CRLF; the chunk sizes do not match the data")]
    BadChunkEnd {
        /// Where the offending byte is.
        at: u64,
    },
    /// A chunk-extension or trailer line longer than Sonde's bound.
    #[error(
        "HTTP chunk-extension or trailer line at body byte {at} is longer than {} bytes",
        super::MAX_CHUNK_LINE
    )]
    ChunkLineTooLong {
        /// Where the line starts.
        at: u64,
    },
    /// Bytes that were not captured run past the current chunk's data: the position of
    /// the next chunk-size line is unknown.
    #[error("{skipped} uncaptured bytes run past the current chunk at body byte {at}; chunk framing is lost (raise the capture size)")]
    ChunkSyncLost {
        /// Where the uncaptured bytes start.
        at: u64,
        /// How many bytes were not captured.
        skipped: u64,
    },
}

impl HttpError {
    /// The error for an `httparse` failure.
    pub(super) fn from_httparse(e: httparse::Error) -> Self {
        match e {
            httparse::Error::HeaderName => HttpError::BadHeaderName,
            httparse::Error::HeaderValue => HttpError::BadHeaderValue,
            httparse::Error::NewLine => HttpError::BadNewLine,
            httparse::Error::Status => HttpError::BadStatus,
            httparse::Error::Token => HttpError::BadToken,
            httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
            httparse::Error::Version => HttpError::BadVersion,
        }
    }
}

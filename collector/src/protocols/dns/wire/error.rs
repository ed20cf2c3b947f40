//! The ways a DNS message can fail to parse.

use super::codes::RecordType;

/// The section of a DNS message a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    /// The question section (QDCOUNT entries).
    Question,
    /// The answer section (ANCOUNT records).
    Answer,
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Section::Question => "question",
            Section::Answer => "answer",
        })
    }
}

/// Why a DNS message could not be parsed. Offsets (`at`) are byte offsets into the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// Shorter than the 12-byte header.
    #[error("DNS message is {len} bytes, shorter than the 12-byte header; not DNS or cut by the capture")]
    TooShort {
        /// Length of the input.
        len: usize,
    },
    /// The message ends inside a field.
    #[error("DNS message ends inside a field starting at byte {at}; the capture may be cut (raise the capture size) or the message is malformed")]
    Truncated {
        /// Where the field that does not fit starts.
        at: usize,
    },
    /// A name follows compression pointers more than 32 times: a pointer loop.
    #[error("DNS name at byte {at} follows more than 32 compression pointers: pointer loop in a malformed or hostile message")]
    PointerLoop {
        /// Where the name starts.
        at: usize,
    },
    /// A compression pointer points at or after itself (only backward pointers are valid).
    #[error("DNS compression pointer at byte {at} points forward to byte {target}; only backward pointers are valid")]
    ForwardPointer {
        /// Where the pointer is.
        at: usize,
        /// Where it points.
        target: usize,
    },
    /// A compression pointer points past the end of the message.
    #[error(
        "DNS compression pointer at byte {at} points to byte {target}, past the end of the message"
    )]
    PointerOutOfBounds {
        /// Where the pointer is.
        at: usize,
        /// Where it points.
        target: usize,
    },
    /// A label length byte of 64..=127: longer than the 63-byte limit (these values are
    /// also the obsolete "extended label" type, which no one sends).
    #[error("DNS label at byte {at} is {len} bytes, over the 63-byte limit")]
    LabelTooLong {
        /// Where the label's length byte is.
        at: usize,
        /// The declared length.
        len: u8,
    },
    /// A name longer than 255 bytes in wire form.
    #[error("DNS name at byte {at} is longer than 255 bytes")]
    NameTooLong {
        /// Where the name starts.
        at: usize,
    },
    /// A label type byte that is neither a length nor a compression pointer (0b10xxxxxx).
    #[error("DNS label at byte {at} has the reserved type byte {byte:#04x}")]
    BadLabelType {
        /// Where the label's type byte is.
        at: usize,
        /// The byte.
        byte: u8,
    },
    /// A section count that cannot fit in the bytes left (a question takes at least 5
    /// bytes, a record at least 11): a hostile or corrupt header.
    #[error("DNS {section} count {count} cannot fit in the {remaining} bytes left; corrupt or hostile header")]
    TooManyRecords {
        /// The section whose count is absurd.
        section: Section,
        /// The count from the header.
        count: u16,
        /// Bytes left in the message when the section starts.
        remaining: usize,
    },
    /// Record data whose length does not match its type (A is 4 bytes, AAAA 16, a CNAME or
    /// PTR exactly one name).
    #[error("DNS {rtype} record data at byte {at} is {len} bytes, which does not fit its type")]
    BadRdataLength {
        /// Where the record data starts.
        at: usize,
        /// The record's type.
        rtype: RecordType,
        /// The declared RDLENGTH.
        len: u16,
    },
}

//! DNS message parser (RFC 1035 wire format), written for hostile input.
//!
//! [`check`] is a cheap plausibility test; [`parse`] decodes the header, the question
//! section and the answer section. The authority and additional sections are not read:
//! nothing downstream needs them, and a capture cut short in them still parses.
//!
//! Guarantees on any input: no panic; compression pointers must point backwards and one
//! name follows at most 32 of them; names are at most 255 bytes and labels at most 63; a
//! section count that cannot fit in the bytes left is rejected before anything is
//! allocated for it, so work and memory are linear in the input's length.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod codes;
mod error;
mod name;
pub mod tcp;

pub use codes::{Rcode, RecordType};
pub use error::{DnsError, Section};
use name::read_name;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;
/// Most questions [`check`] finds plausible (real clients send one).
pub const MAX_PLAUSIBLE_QUESTIONS: u16 = 16;
/// Most CNAME hops [`resolved_addresses`] follows from the question name.
pub const MAX_CNAME_CHAIN: usize = 16;
/// Smallest wire size of a question: root name (1) + type (2) + class (2).
const MIN_QUESTION_LEN: usize = 5;
/// Smallest wire size of a resource record: root name (1) + type, class, TTL, RDLENGTH (10).
const MIN_RECORD_LEN: usize = 11;
/// Initial capacity cap for a section, whatever its count says.
const PREALLOC_CAP: usize = 16;
/// The Internet class.
const CLASS_IN: u16 = 1;

/// The fixed 12-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Transaction id.
    pub id: u16,
    /// QR: this is a response.
    pub is_response: bool,
    /// OPCODE (0 = QUERY).
    pub opcode: u8,
    /// AA: the answer is authoritative.
    pub authoritative: bool,
    /// TC: the message was truncated to fit the transport (UDP); the client retries on TCP.
    pub truncated: bool,
    /// RD: the client asked for recursion.
    pub recursion_desired: bool,
    /// RA: the server offers recursion.
    pub recursion_available: bool,
    /// RCODE from the header (the 4 low bits; EDNS extended bits are not read).
    pub rcode: Rcode,
    /// QDCOUNT.
    pub question_count: u16,
    /// ANCOUNT.
    pub answer_count: u16,
    /// NSCOUNT.
    pub authority_count: u16,
    /// ARCOUNT.
    pub additional_count: u16,
}

/// A parsed DNS message: header flags, questions and answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Transaction id.
    pub id: u16,
    /// QR: this is a response.
    pub is_response: bool,
    /// OPCODE (0 = QUERY).
    pub opcode: u8,
    /// Response code.
    pub rcode: Rcode,
    /// TC: truncated to fit the transport.
    pub truncated: bool,
    /// AA: authoritative answer.
    pub authoritative: bool,
    /// RD: recursion desired.
    pub recursion_desired: bool,
    /// RA: recursion available.
    pub recursion_available: bool,
    /// The question section.
    pub questions: Vec<Question>,
    /// The answer section.
    pub answers: Vec<Record>,
}

/// One entry of the question section.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Question {
    /// The name asked about (lowercase, no trailing dot, root = ".").
    pub name: String,
    /// QTYPE.
    pub qtype: RecordType,
    /// QCLASS (1 = IN).
    pub class: u16,
}

/// One resource record of the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The owner name (lowercase, no trailing dot, root = ".").
    pub name: String,
    /// TYPE.
    pub rtype: RecordType,
    /// CLASS (1 = IN; mDNS sets the top bit as "cache flush").
    pub class: u16,
    /// TTL in seconds.
    pub ttl: u32,
    /// The decoded record data.
    pub data: RecordData,
}

/// Record data. Only what correlation needs is decoded; everything else keeps its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    /// An IPv4 address (type A, class IN).
    A(Ipv4Addr),
    /// An IPv6 address (type AAAA, class IN).
    Aaaa(Ipv6Addr),
    /// The canonical name this name is an alias of (type CNAME, class IN).
    Cname(String),
    /// The name a reverse-lookup name points to (type PTR, class IN).
    Ptr(String),
    /// Any other type or class, undecoded.
    Other {
        /// RDLENGTH.
        len: u16,
    },
}

impl Message {
    /// The addresses the answers give for the first question's name, following the CNAME
    /// chain from it (at most [`MAX_CNAME_CHAIN`] hops), each with the smallest TTL along
    /// its chain (the mapping is only as fresh as its shortest-lived link). Empty for a
    /// message without a question.
    pub fn resolved_addresses(&self) -> Vec<(IpAddr, u32)> {
        match self.questions.first() {
            Some(q) => resolved_addresses(&q.name, &self.answers),
            None => Vec::new(),
        }
    }
}

/// The addresses `answers` give for `name`, following CNAMEs from it; see
/// [`Message::resolved_addresses`].
pub fn resolved_addresses(name: &str, answers: &[Record]) -> Vec<(IpAddr, u32)> {
    // (name, smallest TTL of the CNAMEs that led to it)
    let mut chain: Vec<(&str, u32)> = vec![(name, u32::MAX)];
    while chain.len() <= MAX_CNAME_CHAIN {
        let Some(&(current, ttl)) = chain.last() else {
            break;
        };
        let next = answers.iter().find_map(|r| match &r.data {
            RecordData::Cname(target) if r.name == current => Some((target.as_str(), r.ttl)),
            _ => None,
        });
        match next {
            Some((target, cname_ttl)) if !chain.iter().any(|(n, _)| *n == target) => {
                chain.push((target, ttl.min(cname_ttl)));
            }
            _ => break,
        }
    }
    let mut out: Vec<(IpAddr, u32)> = Vec::new();
    for r in answers {
        let ip = match r.data {
            RecordData::A(a) => IpAddr::V4(a),
            RecordData::Aaaa(a) => IpAddr::V6(a),
            _ => continue,
        };
        let Some(&(_, chain_ttl)) = chain.iter().find(|(n, _)| *n == r.name) else {
            continue;
        };
        if !out.iter().any(|(seen, _)| *seen == ip) {
            out.push((ip, r.ttl.min(chain_ttl)));
        }
    }
    out
}

/// Cheap plausibility test: at least a header, a sane opcode (QUERY, IQUERY, STATUS,
/// NOTIFY or UPDATE), 1..=16 questions, and room for them in the bytes that follow.
pub fn check(msg: &[u8]) -> bool {
    let Ok(h) = header(msg) else {
        return false;
    };
    matches!(h.opcode, 0 | 1 | 2 | 4 | 5)
        && (1..=MAX_PLAUSIBLE_QUESTIONS).contains(&h.question_count)
        && usize::from(h.question_count) * MIN_QUESTION_LEN <= msg.len() - HEADER_LEN
}

/// Decodes only the fixed header.
pub fn header(msg: &[u8]) -> Result<Header, DnsError> {
    let Some(h) = msg.get(..HEADER_LEN) else {
        return Err(DnsError::TooShort { len: msg.len() });
    };
    let word = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let flags = word(2);
    Ok(Header {
        id: word(0),
        is_response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0x0F) as u8,
        authoritative: flags & 0x0400 != 0,
        truncated: flags & 0x0200 != 0,
        recursion_desired: flags & 0x0100 != 0,
        recursion_available: flags & 0x0080 != 0,
        rcode: Rcode(flags & 0x000F),
        question_count: word(4),
        answer_count: word(6),
        authority_count: word(8),
        additional_count: word(10),
    })
}

/// Parses a whole DNS message: header, questions and answers.
pub fn parse(msg: &[u8]) -> Result<Message, DnsError> {
    let h = header(msg)?;
    let mut pos = HEADER_LEN;

    fits(
        msg,
        pos,
        Section::Question,
        h.question_count,
        MIN_QUESTION_LEN,
    )?;
    let mut questions = Vec::with_capacity(usize::from(h.question_count).min(PREALLOC_CAP));
    for _ in 0..h.question_count {
        let (question, next) = read_question(msg, pos)?;
        questions.push(question);
        pos = next;
    }

    fits(msg, pos, Section::Answer, h.answer_count, MIN_RECORD_LEN)?;
    let mut answers = Vec::with_capacity(usize::from(h.answer_count).min(PREALLOC_CAP));
    for _ in 0..h.answer_count {
        let (record, next) = read_record(msg, pos)?;
        answers.push(record);
        pos = next;
    }

    Ok(Message {
        id: h.id,
        is_response: h.is_response,
        opcode: h.opcode,
        rcode: h.rcode,
        truncated: h.truncated,
        authoritative: h.authoritative,
        recursion_desired: h.recursion_desired,
        recursion_available: h.recursion_available,
        questions,
        answers,
    })
}

/// Rejects a count whose entries cannot fit in what is left of the message.
fn fits(msg: &[u8], pos: usize, section: Section, count: u16, min: usize) -> Result<(), DnsError> {
    let remaining = msg.len().saturating_sub(pos);
    if usize::from(count) * min > remaining {
        return Err(DnsError::TooManyRecords {
            section,
            count,
            remaining,
        });
    }
    Ok(())
}

fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(msg.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(msg: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(msg.get(at..at + 4)?.try_into().ok()?))
}

fn read_question(msg: &[u8], pos: usize) -> Result<(Question, usize), DnsError> {
    let (name, p) = read_name(msg, pos)?;
    let (Some(qtype), Some(class)) = (u16_at(msg, p), u16_at(msg, p + 2)) else {
        return Err(DnsError::Truncated { at: p });
    };
    let question = Question {
        name,
        qtype: RecordType(qtype),
        class,
    };
    Ok((question, p + 4))
}

fn read_record(msg: &[u8], pos: usize) -> Result<(Record, usize), DnsError> {
    let (name, p) = read_name(msg, pos)?;
    let (Some(rtype), Some(class), Some(ttl), Some(rdlen)) = (
        u16_at(msg, p),
        u16_at(msg, p + 2),
        u32_at(msg, p + 4),
        u16_at(msg, p + 8),
    ) else {
        return Err(DnsError::Truncated { at: p });
    };
    let rtype = RecordType(rtype);
    let start = p + 10;
    let end = start + usize::from(rdlen);
    let Some(rdata) = msg.get(start..end) else {
        return Err(DnsError::Truncated { at: start });
    };
    let bad_len = DnsError::BadRdataLength {
        at: start,
        rtype,
        len: rdlen,
    };
    let data = if class & 0x7FFF != CLASS_IN {
        RecordData::Other { len: rdlen }
    } else {
        match rtype {
            RecordType::A => match <[u8; 4]>::try_from(rdata) {
                Ok(b) => RecordData::A(Ipv4Addr::from(b)),
                Err(_) => return Err(bad_len),
            },
            RecordType::AAAA => match <[u8; 16]>::try_from(rdata) {
                Ok(b) => RecordData::Aaaa(Ipv6Addr::from(b)),
                Err(_) => return Err(bad_len),
            },
            RecordType::CNAME | RecordType::PTR => {
                let (target, after) = read_name(msg, start)?;
                if after != end {
                    return Err(bad_len);
                }
                if rtype == RecordType::CNAME {
                    RecordData::Cname(target)
                } else {
                    RecordData::Ptr(target)
                }
            }
            _ => RecordData::Other { len: rdlen },
        }
    };
    let record = Record {
        name,
        rtype,
        class,
        ttl,
        data,
    };
    Ok((record, end))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) mod golden_tests;

#[cfg(test)]
pub(crate) mod mutation_tests;

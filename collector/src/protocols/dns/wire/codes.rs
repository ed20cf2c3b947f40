//! DNS record types and response codes: numbers with their IANA mnemonic names.

use std::borrow::Cow;
use std::fmt;

/// A DNS record type (TYPE / QTYPE), kept as its number so unknown types survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordType(pub u16);

impl RecordType {
    /// IPv4 address.
    pub const A: RecordType = RecordType(1);
    /// Authoritative name server.
    pub const NS: RecordType = RecordType(2);
    /// Canonical name (alias).
    pub const CNAME: RecordType = RecordType(5);
    /// Start of authority.
    pub const SOA: RecordType = RecordType(6);
    /// Domain name pointer (reverse lookups).
    pub const PTR: RecordType = RecordType(12);
    /// Mail exchange.
    pub const MX: RecordType = RecordType(15);
    /// Text.
    pub const TXT: RecordType = RecordType(16);
    /// IPv6 address.
    pub const AAAA: RecordType = RecordType(28);
    /// Service locator.
    pub const SRV: RecordType = RecordType(33);
    /// EDNS(0) pseudo-record.
    pub const OPT: RecordType = RecordType(41);
    /// Service binding.
    pub const SVCB: RecordType = RecordType(64);
    /// HTTPS service binding.
    pub const HTTPS: RecordType = RecordType(65);
    /// Any type (QTYPE only).
    pub const ANY: RecordType = RecordType(255);

    /// The mnemonic ("A", "AAAA", ...), or "TYPE<n>" (RFC 3597) for a type without one.
    pub fn name(&self) -> Cow<'static, str> {
        let known = match self.0 {
            1 => "A",
            2 => "NS",
            5 => "CNAME",
            6 => "SOA",
            12 => "PTR",
            13 => "HINFO",
            15 => "MX",
            16 => "TXT",
            28 => "AAAA",
            33 => "SRV",
            35 => "NAPTR",
            39 => "DNAME",
            41 => "OPT",
            43 => "DS",
            46 => "RRSIG",
            47 => "NSEC",
            48 => "DNSKEY",
            50 => "NSEC3",
            64 => "SVCB",
            65 => "HTTPS",
            251 => "IXFR",
            252 => "AXFR",
            255 => "ANY",
            257 => "CAA",
            n => return Cow::Owned(format!("TYPE{n}")),
        };
        Cow::Borrowed(known)
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A DNS response code. The header holds 4 bits; EDNS(0) extends it to 12, hence `u16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Rcode(pub u16);

impl Rcode {
    /// No error.
    pub const NOERROR: Rcode = Rcode(0);
    /// The server could not interpret the query.
    pub const FORMERR: Rcode = Rcode(1);
    /// The server failed to answer.
    pub const SERVFAIL: Rcode = Rcode(2);
    /// The name does not exist.
    pub const NXDOMAIN: Rcode = Rcode(3);
    /// The server does not support this kind of query.
    pub const NOTIMP: Rcode = Rcode(4);
    /// The server refused to answer.
    pub const REFUSED: Rcode = Rcode(5);

    /// The mnemonic ("NOERROR", "NXDOMAIN", ...), or "RCODE<n>" for a code without one.
    pub fn name(&self) -> Cow<'static, str> {
        let known = match self.0 {
            0 => "NOERROR",
            1 => "FORMERR",
            2 => "SERVFAIL",
            3 => "NXDOMAIN",
            4 => "NOTIMP",
            5 => "REFUSED",
            6 => "YXDOMAIN",
            7 => "YXRRSET",
            8 => "NXRRSET",
            9 => "NOTAUTH",
            10 => "NOTZONE",
            11 => "DSOTYPENI",
            16 => "BADVERS",
            17 => "BADKEY",
            18 => "BADTIME",
            19 => "BADMODE",
            20 => "BADNAME",
            21 => "BADALG",
            22 => "BADTRUNC",
            23 => "BADCOOKIE",
            n => return Cow::Owned(format!("RCODE{n}")),
        };
        Cow::Borrowed(known)
    }

    /// Whether the server reported a failure: anything but NOERROR (an NXDOMAIN counts: the
    /// client did not get an address).
    pub fn is_error(&self) -> bool {
        self.0 != 0
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

//! Just enough DER to read back certificates and private keys: rcgen writes
//! certificates but exposes no parser for them, and meshc must look inside the
//! leaves it wrote before (to keep or reissue them) and the CA a user provides.
//! Only definite lengths and single-byte tags are accepted, which is all DER
//! certificates and keys use; anything else is an error, never a panic.

use std::fmt;

pub const BOOLEAN: u8 = 0x01;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const SEQUENCE: u8 = 0x30;
/// `[n]` constructed (explicit tagging, or implicit over a constructed type).
pub const fn context(n: u8) -> u8 {
    0xA0 | n
}
/// `[n]` primitive (implicit tagging over a primitive type).
pub const fn context_primitive(n: u8) -> u8 {
    0x80 | n
}

/// Why some bytes are not the DER meshc expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerError(pub &'static str);

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    /// The value bytes.
    pub body: &'a [u8],
    /// The whole element, tag and length included.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A reader over the element's contents (for constructed elements).
    pub fn reader(&self) -> Reader<'a> {
        Reader::new(self.body)
    }
}

/// Reads consecutive elements from a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, DerError> {
        let bytes = self.rest;
        let (&tag, after_tag) = bytes.split_first().ok_or(DerError("truncated element"))?;
        if tag & 0x1F == 0x1F {
            return Err(DerError("multi-byte tags are not supported"));
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or(DerError("truncated length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 {
                return Err(DerError("unsupported length encoding"));
            }
            if after_len.len() < n {
                return Err(DerError("truncated length"));
            }
            let (len_bytes, rest) = after_len.split_at(n);
            after_len = rest;
            len_bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if after_len.len() < len {
            return Err(DerError("element longer than its container"));
        }
        let header = bytes.len() - after_len.len();
        let (raw, rest) = bytes.split_at(header + len);
        self.rest = rest;
        Ok(Tlv { tag, body: &raw[header..], raw })
    }

    /// The next element, which must have `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, DerError> {
        let tlv = self.any()?;
        if tlv.tag == tag { Ok(tlv) } else { Err(DerError("unexpected element")) }
    }

    /// The next element if it has `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) { self.any().map(Some) } else { Ok(None) }
    }
}

/// Encode one element.
pub fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(tag);
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let body = vec![7u8; len];
            let enc = tlv(OCTET_STRING, &body);
            let mut r = Reader::new(&enc);
            let t = r.expect(OCTET_STRING).unwrap();
            assert_eq!(t.body.len(), len);
            assert_eq!(t.raw, enc.as_slice());
            assert!(r.is_empty());
        }
    }

    #[test]
    fn hostile_bytes_are_errors() {
        for bad in [&[][..], &[0x30], &[0x30, 0x05, 0x00], &[0x30, 0x80], &[0x30, 0x85, 1, 1, 1, 1, 1], &[0x1F, 0]] {
            assert!(Reader::new(bad).any().is_err(), "{bad:?}");
        }
    }
}

//! PEM armour and base64, for the certificate and key files meshc reads and
//! writes. rcgen encodes PEM but does not expose a decoder, and Kuma's `inline`
//! data sources are base64.

/// One `-----BEGIN LABEL-----` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub label: String,
    pub der: Vec<u8>,
}

/// Every PEM block in `text`, in order. Text outside blocks is ignored, as
/// OpenSSL does; a block that does not decode is an error.
pub fn parse_all(text: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line.trim().strip_prefix("-----BEGIN ").and_then(|l| l.strip_suffix("-----")) else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            let line = line.trim();
            if line == end {
                closed = true;
                break;
            }
            if line.contains(':') {
                return Err(format!("PEM block {label} has headers (an encrypted key?); meshc reads plain PEM"));
            }
            body.push_str(line);
        }
        if !closed {
            return Err(format!("PEM block {label} has no END line"));
        }
        let der = decode_base64(&body).ok_or_else(|| format!("PEM block {label} is not valid base64"))?;
        blocks.push(Block { label: label.to_string(), der });
    }
    Ok(blocks)
}

/// PEM-encode DER with 64-character lines.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = encode_base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn encode_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (padding optional, whitespace ignored); `None` when invalid.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut padding = 0usize;
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return None;
        }
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero padding of less than one byte.
    (padding <= 2 && bits < 8 && acc == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for n in 0..20 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let enc = encode_base64(&bytes);
            assert_eq!(decode_base64(&enc).as_deref(), Some(bytes.as_slice()), "{enc}");
        }
        assert_eq!(encode_base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode_base64(b"fo"), "Zm8=");
        assert!(decode_base64("Zm9v!").is_none());
        assert!(decode_base64("Zm=9v").is_none());
    }

    #[test]
    fn pem_blocks_are_found_and_checked() {
        let text = format!("junk\n{}{}", encode("CERTIFICATE", b"abc"), encode("PRIVATE KEY", &[1, 2, 3, 4]));
        let blocks = parse_all(&text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0], Block { label: "CERTIFICATE".into(), der: b"abc".to_vec() });
        assert!(parse_all("-----BEGIN X-----\nabc\n").is_err());
        assert!(parse_all("-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\n-----END X-----\n").is_err());
    }
}

//! The few fields of an X.509 certificate that decide whether a leaf can be kept
//! (issuer, validity, URI SANs, key identifiers, public key) and whether a
//! provided certificate is a CA. Read with [`super::der`]; the signature itself
//! is not checked (no verifier is available without another dependency), so
//! "signed by this CA" means: same issuer name and authority key identifier.

use super::der::{self, DerError, Reader};

const OID_SAN: &[u8] = &[0x55, 0x1D, 0x11];
const OID_SKI: &[u8] = &[0x55, 0x1D, 0x0E];
const OID_AKI: &[u8] = &[0x55, 0x1D, 0x23];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1D, 0x13];

/// A parsed certificate; slices borrow from the DER.
#[derive(Debug, Clone)]
pub struct Cert<'a> {
    /// The issuer Name, as encoded.
    pub issuer: &'a [u8],
    /// The subject Name, as encoded.
    pub subject: &'a [u8],
    /// Validity bounds in Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// The subjectPublicKey bits (an EC point, or a DER RSAPublicKey).
    pub public_key: &'a [u8],
    /// URI subject alternative names, in certificate order.
    pub uris: Vec<String>,
    pub subject_key_id: Option<&'a [u8]>,
    pub authority_key_id: Option<&'a [u8]>,
    /// basicConstraints cA.
    pub is_ca: bool,
}

impl Cert<'_> {
    pub fn self_issued(&self) -> bool {
        self.issuer == self.subject
    }
}

/// Parse a DER certificate.
pub fn parse(der_bytes: &[u8]) -> Result<Cert<'_>, DerError> {
    let mut outer = Reader::new(der_bytes);
    let cert = outer.expect(der::SEQUENCE)?;
    let mut c = cert.reader();
    let tbs = c.expect(der::SEQUENCE)?;
    let mut t = tbs.reader();
    t.optional(der::context(0))?; // version
    t.expect(der::INTEGER)?; // serial
    t.expect(der::SEQUENCE)?; // signature algorithm
    let issuer = t.expect(der::SEQUENCE)?.raw;
    let validity = t.expect(der::SEQUENCE)?;
    let mut v = validity.reader();
    let not_before = time(&mut v)?;
    let not_after = time(&mut v)?;
    let subject = t.expect(der::SEQUENCE)?.raw;
    let spki = t.expect(der::SEQUENCE)?;
    let mut s = spki.reader();
    s.expect(der::SEQUENCE)?;
    let bits = s.expect(der::BIT_STRING)?.body;
    let public_key = match bits.split_first() {
        Some((0, key)) => key,
        _ => return Err(DerError("public key bit string has unused bits")),
    };
    let mut out = Cert {
        issuer,
        subject,
        not_before,
        not_after,
        public_key,
        uris: Vec::new(),
        subject_key_id: None,
        authority_key_id: None,
        is_ca: false,
    };
    t.optional(der::context_primitive(1))?; // issuerUniqueID
    t.optional(der::context_primitive(2))?; // subjectUniqueID
    if let Some(exts) = t.optional(der::context(3))? {
        let mut list = exts.reader().expect(der::SEQUENCE)?.reader();
        while !list.is_empty() {
            let ext = list.expect(der::SEQUENCE)?;
            let mut e = ext.reader();
            let oid = e.expect(der::OID)?.body;
            e.optional(der::BOOLEAN)?;
            let value = e.expect(der::OCTET_STRING)?.body;
            read_extension(&mut out, oid, value)?;
        }
    }
    Ok(out)
}

fn read_extension<'a>(out: &mut Cert<'a>, oid: &[u8], value: &'a [u8]) -> Result<(), DerError> {
    let mut r = Reader::new(value);
    if oid == OID_SAN {
        let mut names = r.expect(der::SEQUENCE)?.reader();
        while !names.is_empty() {
            let name = names.any()?;
            if name.tag == der::context_primitive(6) {
                let uri = std::str::from_utf8(name.body).map_err(|_| DerError("URI SAN is not ASCII"))?;
                out.uris.push(uri.to_string());
            }
        }
    } else if oid == OID_SKI {
        out.subject_key_id = Some(r.expect(der::OCTET_STRING)?.body);
    } else if oid == OID_AKI {
        let mut fields = r.expect(der::SEQUENCE)?.reader();
        out.authority_key_id = fields.optional(der::context_primitive(0))?.map(|t| t.body);
    } else if oid == OID_BASIC_CONSTRAINTS {
        let mut fields = r.expect(der::SEQUENCE)?.reader();
        out.is_ca = fields.optional(der::BOOLEAN)?.is_some_and(|b| b.body.first().is_some_and(|&v| v != 0));
    }
    Ok(())
}

/// A UTCTime or GeneralizedTime in Zulu form, as Unix seconds.
fn time(r: &mut Reader<'_>) -> Result<i64, DerError> {
    let t = r.any()?;
    let s = std::str::from_utf8(t.body).map_err(|_| DerError("time is not ASCII"))?;
    let digits = s.strip_suffix('Z').ok_or(DerError("time is not in UTC"))?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DerError("bad number in time"));
    }
    let full = match (t.tag, digits.len()) {
        (der::UTC_TIME, 12) => {
            let yy: i64 = num(&digits[..2])?;
            let century = if yy >= 50 { "19" } else { "20" };
            format!("{century}{digits}")
        }
        (der::GENERALIZED_TIME, 14) => digits.to_string(),
        _ => return Err(DerError("unsupported time encoding")),
    };
    let year = num(&full[0..4])?;
    let month = num(&full[4..6])?;
    let day = num(&full[6..8])?;
    let (h, m, sec) = (num(&full[8..10])?, num(&full[10..12])?, num(&full[12..14])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return Err(DerError("time out of range"));
    }
    Ok(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

fn num(s: &str) -> Result<i64, DerError> {
    s.parse().map_err(|_| DerError("bad number in time"))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    #[test]
    fn reads_what_rcgen_writes() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::default();
        p.subject_alt_names = vec![rcgen::SanType::URI("spiffe://m/web".try_into().unwrap())];
        p.not_before = rcgen::date_time_ymd(2020, 1, 2);
        p.not_after = rcgen::date_time_ymd(2060, 1, 2);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = p.self_signed(&key).unwrap();
        let c = parse(cert.der()).unwrap();
        assert_eq!(c.uris, vec!["spiffe://m/web".to_string()]);
        assert_eq!(c.not_before, days_from_civil(2020, 1, 2) * 86_400);
        assert_eq!(c.not_after, days_from_civil(2060, 1, 2) * 86_400);
        assert!(c.is_ca && c.self_issued());
        assert_eq!(c.public_key, key.public_key_raw());
        assert!(c.subject_key_id.is_some());
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"").is_err());
        assert!(parse(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_err());
    }
}

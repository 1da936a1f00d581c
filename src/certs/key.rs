//! Private keys in the PEM forms users have: PKCS#8 (`PRIVATE KEY`), SEC1
//! (`EC PRIVATE KEY`, what `openssl ecparam -genkey` writes) and PKCS#1
//! (`RSA PRIVATE KEY`). rcgen's ring backend reads only PKCS#8, so the other two
//! are wrapped into PKCS#8 first.

use rcgen::KeyPair;

use super::der::{self, Reader};
use super::pem;

/// rsaEncryption (1.2.840.113549.1.1.1).
const OID_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
/// id-ecPublicKey (1.2.840.10045.2.1).
const OID_EC: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];

/// Read the one private key in `text`.
pub fn from_pem(text: &str) -> Result<KeyPair, String> {
    let blocks = pem::parse_all(text)?;
    let mut keys = blocks.iter().filter(|b| b.label.ends_with("PRIVATE KEY"));
    let block = keys.next().ok_or("no PEM private key (-----BEGIN PRIVATE KEY-----) found")?;
    if keys.next().is_some() {
        return Err("more than one private key found; give exactly one".into());
    }
    let pkcs8 = match block.label.as_str() {
        "PRIVATE KEY" => block.der.clone(),
        "EC PRIVATE KEY" => sec1_to_pkcs8(&block.der)?,
        "RSA PRIVATE KEY" => pkcs8_wrap(&[der::tlv(der::OID, OID_RSA), der::tlv(der::NULL, &[])], &block.der),
        "ENCRYPTED PRIVATE KEY" => {
            return Err("the private key is encrypted; meshc needs it decrypted \
                        (openssl pkcs8 -in KEY -out PLAIN.key)"
                .into());
        }
        other => return Err(format!("unsupported key type {other}")),
    };
    KeyPair::try_from(pkcs8.as_slice())
        .map_err(|e| format!("cannot use the private key ({e}); meshc supports ECDSA P-256/P-384, Ed25519 and RSA"))
}

fn sec1_to_pkcs8(sec1: &[u8]) -> Result<Vec<u8>, String> {
    let bad = |_| "the EC private key is not valid SEC1 DER".to_string();
    let seq = Reader::new(sec1).expect(der::SEQUENCE).map_err(bad)?;
    let mut r = seq.reader();
    r.expect(der::INTEGER).map_err(bad)?;
    r.expect(der::OCTET_STRING).map_err(bad)?;
    let params = r.optional(der::context(0)).map_err(bad)?;
    let curve =
        params.map(|p| p.reader().expect(der::OID)).transpose().map_err(bad)?.ok_or(
            "the EC private key does not name its curve; convert it to PKCS#8 (openssl pkcs8 -topk8 -nocrypt)",
        )?;
    Ok(pkcs8_wrap(&[der::tlv(der::OID, OID_EC), curve.raw.to_vec()], sec1))
}

/// PrivateKeyInfo { version 0, AlgorithmIdentifier, OCTET STRING key }.
fn pkcs8_wrap(alg: &[Vec<u8>], key: &[u8]) -> Vec<u8> {
    let mut body = der::tlv(der::INTEGER, &[0]);
    body.extend(der::tlv(der::SEQUENCE, &alg.concat()));
    body.extend(der::tlv(der::OCTET_STRING, key));
    der::tlv(der::SEQUENCE, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_keys_load() {
        let k = KeyPair::generate().unwrap();
        let again = from_pem(&k.serialize_pem()).unwrap();
        assert_eq!(again.public_key_raw(), k.public_key_raw());
    }

    #[test]
    fn non_keys_are_clear_errors() {
        assert!(from_pem("nothing").unwrap_err().contains("no PEM private key"));
        let enc = pem::encode("ENCRYPTED PRIVATE KEY", &[1, 2]);
        assert!(from_pem(&enc).unwrap_err().contains("encrypted"));
        assert!(from_pem(&pem::encode("EC PRIVATE KEY", &[0x30, 0x00])).is_err());
    }
}

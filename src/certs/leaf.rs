//! A sidecar's identity certificate: what it must say (its URI SANs), issuing
//! it, and deciding whether the one already on disk can stay.

use std::collections::BTreeSet;

use rcgen::{
    CertificateParams, DistinguishedName, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use super::ca::Ca;
use super::{pem, x509};
use crate::model::dataplane::Dataplane;

/// The service tag (`kuma.io/service`).
const SERVICE_TAG: &str = "kuma.io/service";

/// The URI SANs of a Dataplane in `mesh` (reference §8.1): `spiffe://<mesh>/<service>`
/// per distinct inbound service, then `kuma://<tag>/<value>` per distinct inbound
/// tag, each group sorted. RBAC principals match exactly these.
pub fn wanted_sans(mesh: &str, dp: &Dataplane) -> Vec<String> {
    let inbounds = dp.networking.as_ref().map(|n| n.inbound.as_slice()).unwrap_or_default();
    sans_of_tags(mesh, inbounds.iter().map(|i| &i.tags))
}

/// The URI SANs for sets of tags (a sidecar's inbounds, a gateway's tags), as
/// [`wanted_sans`] orders them.
pub fn sans_of_tags<'t>(
    mesh: &str,
    tag_sets: impl Iterator<Item = &'t crate::model::common::StringMap>,
) -> Vec<String> {
    let mut spiffe = BTreeSet::new();
    let mut kuma = BTreeSet::new();
    for tags in tag_sets {
        for (tag, value) in tags {
            if tag == SERVICE_TAG {
                spiffe.insert(format!("spiffe://{mesh}/{value}"));
            }
            kuma.insert(format!("kuma://{tag}/{value}"));
        }
    }
    spiffe.into_iter().chain(kuma).collect()
}

/// A freshly issued leaf.
pub struct Issued {
    /// The leaf, then the CA's intermediates (if any).
    pub cert_pem: String,
    pub key_pem: String,
}

/// Issue a leaf with `sans`, valid `[not_before, not_after]`.
pub fn issue(
    sans: &[String],
    issuer: &Issuer<'_, &KeyPair>,
    ca: &Ca,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Issued, String> {
    let key = KeyPair::generate().map_err(|e| format!("cannot generate a key: {e}"))?;
    let mut p = CertificateParams::default();
    // rcgen's default subject is `CN=rcgen self signed cert`; Kuma's leaves have none.
    p.distinguished_name = DistinguishedName::new();
    p.subject_alt_names = sans
        .iter()
        .map(|s| {
            s.clone().try_into().map(SanType::URI).map_err(|_| format!("{s:?} cannot be a certificate URI (not ASCII)"))
        })
        .collect::<Result<_, _>>()?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    p.use_authority_key_identifier_extension = true;
    p.not_before = not_before;
    p.not_after = not_after;
    let cert = p.signed_by(&key, issuer).map_err(|e| format!("cannot sign: {e}"))?;
    Ok(Issued { cert_pem: cert.pem() + &ca.leaf_chain_pem(), key_pem: key.serialize_pem() })
}

/// Can the leaf in `cert_text`/`key_text` stay? It must be signed by `ca` (same
/// issuer name and authority key identifier), belong to the key next to it, have
/// exactly `sans`, have started, and have more than a third of its validity left.
pub fn keep(cert_text: &str, key_text: &str, sans: &[String], ca: &Ca, now: i64) -> bool {
    let Ok(blocks) = pem::parse_all(cert_text) else { return false };
    let Some(first) = blocks.iter().find(|b| b.label == "CERTIFICATE") else { return false };
    let Ok(cert) = x509::parse(&first.der) else { return false };
    let Ok(key) = super::key::from_pem(key_text) else { return false };
    let have: BTreeSet<&str> = cert.uris.iter().map(String::as_str).collect();
    let want: BTreeSet<&str> = sans.iter().map(String::as_str).collect();
    let total = cert.not_after - cert.not_before;
    cert.issuer == ca.subject.as_slice()
        && cert.authority_key_id == Some(ca.key_id.as_slice())
        && cert.public_key == key.public_key_raw()
        && have == want
        && cert.uris.len() == sans.len()
        && cert.not_before <= now + super::CLOCK_SKEW_SECS
        && (cert.not_after - now) * 3 > total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dp(inbounds: serde_json::Value) -> Dataplane {
        serde_json::from_value(serde_json::json!({"networking": {"address": "10.0.0.1", "inbound": inbounds}})).unwrap()
    }

    #[test]
    fn sans_are_spiffe_then_kuma_sorted_and_distinct() {
        let d = dp(serde_json::json!([
            {"port": 80, "tags": {"kuma.io/service": "web", "version": "v1"}},
            {"port": 81, "tags": {"kuma.io/service": "admin", "version": "v1"}},
        ]));
        assert_eq!(
            wanted_sans("m", &d),
            vec![
                "spiffe://m/admin",
                "spiffe://m/web",
                "kuma://kuma.io/service/admin",
                "kuma://kuma.io/service/web",
                "kuma://version/v1"
            ]
        );
    }

    #[test]
    fn a_leaf_is_kept_until_a_third_is_left() {
        let now = OffsetDateTime::now_utc();
        let ca = Ca::create_builtin("m", now, 10 * 86_400).unwrap();
        let issuer = ca.issuer().unwrap();
        let sans = vec!["spiffe://m/web".to_string()];
        let nb = now - time::Duration::minutes(5);
        let leaf = issue(&sans, &issuer, &ca, nb, now + time::Duration::days(3)).unwrap();
        let t = now.unix_timestamp();
        assert!(keep(&leaf.cert_pem, &leaf.key_pem, &sans, &ca, t));
        assert!(!keep(&leaf.cert_pem, &leaf.key_pem, &sans, &ca, t + 2 * 86_400 + 3600));
        assert!(!keep(&leaf.cert_pem, &leaf.key_pem, &["spiffe://m/other".into()], &ca, t));
        let other = Ca::create_builtin("m", now, 10 * 86_400).unwrap();
        assert!(!keep(&leaf.cert_pem, &leaf.key_pem, &sans, &other, t));
        let stranger = KeyPair::generate().unwrap().serialize_pem();
        assert!(!keep(&leaf.cert_pem, &stranger, &sans, &ca, t));
    }
}

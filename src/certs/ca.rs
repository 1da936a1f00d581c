//! A mesh's certificate authority: the builtin one meshc creates once per
//! secrets directory (and reuses after), or the one a `provided` backend points
//! at. Either way it ends up as a [`Ca`]: the signing certificate, the rest of
//! its chain, and the key.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use serde_json::Value;
use time::OffsetDateTime;

use super::{pem, x509};

/// Builtin CA lifetime when `conf.caCert.expiration` is unset (Kuma's default).
pub const DEFAULT_CA_VALIDITY_SECS: i64 = 10 * 365 * 86_400;

/// A usable CA.
pub struct Ca {
    pub key: KeyPair,
    /// The certificate that signs leaves.
    pub cert_der: Vec<u8>,
    /// The other certificates given with it (intermediates, root), in order.
    pub chain: Vec<Vec<u8>>,
    /// The signing certificate's subject, as encoded (a leaf's issuer must equal it).
    pub subject: Vec<u8>,
    /// The key identifier leaves carry as their authority key identifier.
    pub key_id: Vec<u8>,
    pub not_after: i64,
}

impl Ca {
    /// Read a CA from its certificate PEM (the signing certificate first, then
    /// its chain) and key PEM. `what` names the source in errors.
    pub fn from_pem(cert_text: &str, key_text: &str, what: &str) -> Result<Ca, String> {
        let blocks = pem::parse_all(cert_text).map_err(|e| format!("{what}: certificate: {e}"))?;
        let mut certs = blocks.into_iter().filter(|b| b.label == "CERTIFICATE").map(|b| b.der);
        let cert_der =
            certs.next().ok_or_else(|| format!("{what}: no PEM certificate (-----BEGIN CERTIFICATE-----) found"))?;
        let chain: Vec<Vec<u8>> = certs.collect();
        for (i, der) in chain.iter().enumerate() {
            x509::parse(der).map_err(|e| format!("{what}: certificate {} is not valid X.509 ({e})", i + 2))?;
        }
        let key = super::key::from_pem(key_text).map_err(|e| format!("{what}: key: {e}"))?;
        let parsed = x509::parse(&cert_der).map_err(|e| format!("{what}: the certificate is not valid X.509 ({e})"))?;
        if !parsed.is_ca {
            return Err(format!("{what}: the certificate is not a CA (basicConstraints CA:TRUE is missing)"));
        }
        if parsed.public_key != key.public_key_raw() {
            return Err(format!("{what}: the key does not belong to the certificate"));
        }
        let key_id = match parsed.subject_key_id {
            Some(id) => id.to_vec(),
            None => CertificateParams::default().key_identifier(&key),
        };
        Ok(Ca { subject: parsed.subject.to_vec(), not_after: parsed.not_after, key_id, chain, key, cert_der })
    }

    /// Create a self-signed builtin CA for `mesh`, valid from `now` for `validity_secs`.
    pub fn create_builtin(mesh: &str, now: OffsetDateTime, validity_secs: i64) -> Result<Ca, String> {
        let key = KeyPair::generate().map_err(|e| format!("cannot generate a CA key: {e}"))?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Kuma");
        dn.push(DnType::OrganizationalUnitName, "Mesh");
        dn.push(DnType::CommonName, mesh);
        p.distinguished_name = dn;
        let uri = format!("spiffe://{mesh}");
        p.subject_alt_names =
            vec![SanType::URI(uri.clone().try_into().map_err(|_| format!("mesh name {mesh:?} cannot be a URI"))?)];
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let (not_before, not_after) = super::window(now, validity_secs)?;
        p.not_before = not_before;
        p.not_after = not_after;
        let cert = p.self_signed(&key).map_err(|e| format!("cannot create the CA of mesh {mesh}: {e}"))?;
        Ca::from_pem(&cert.pem(), &key.serialize_pem(), &format!("the new CA of mesh {mesh}"))
    }

    /// The issuer rcgen signs leaves with.
    pub fn issuer(&self) -> Result<Issuer<'static, &KeyPair>, String> {
        Issuer::from_ca_cert_der(&self.cert_der.as_slice().into(), &self.key)
            .map_err(|e| format!("cannot sign with the CA: {e}"))
    }

    /// The trust bundle: the signing certificate and its chain.
    pub fn bundle_pem(&self) -> String {
        std::iter::once(&self.cert_der).chain(&self.chain).map(|d| pem::encode("CERTIFICATE", d)).collect()
    }

    /// What follows a leaf in its `cert.pem`: the signing certificate when it is
    /// an intermediate, plus the chain's other intermediates. Empty for a root CA.
    pub fn leaf_chain_pem(&self) -> String {
        let self_issued = |d: &Vec<u8>| x509::parse(d).is_ok_and(|c| c.self_issued());
        std::iter::once(&self.cert_der)
            .chain(&self.chain)
            .filter(|d| !self_issued(d))
            .map(|d| pem::encode("CERTIFICATE", d))
            .collect()
    }

    /// The PEM of the key, for the builtin CA's `ca.key`.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
}

/// Where a `provided` backend's certificate or key comes from (Kuma's DataSource).
pub fn read_data_source(conf: Option<&Value>, field: &str) -> Result<Vec<u8>, DataSourceError> {
    let source = conf.and_then(|c| c.get(field)).ok_or(DataSourceError::Missing)?;
    let get = |k: &str| source.get(k).and_then(Value::as_str);
    if let Some(path) = get("file") {
        return std::fs::read(path).map_err(|e| DataSourceError::Unreadable(format!("cannot read {path}: {e}")));
    }
    if let Some(b64) = get("inline") {
        return pem::decode_base64(b64).ok_or(DataSourceError::Invalid("`inline` is not valid base64".into()));
    }
    if let Some(text) = get("inlineString") {
        return Ok(text.as_bytes().to_vec());
    }
    if let Some(name) = get("secret") {
        return Err(DataSourceError::Secret(name.to_string()));
    }
    Err(DataSourceError::Invalid("expected one of `file`, `inline`, `inlineString` or `secret`".into()))
}

/// Why a data source could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSourceError {
    Missing,
    /// A Kubernetes Secret, which meshc cannot read offline.
    Secret(String),
    Invalid(String),
    /// An I/O error reading a file.
    Unreadable(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_ca_reads_back() {
        let ca = Ca::create_builtin("demo", OffsetDateTime::now_utc(), DEFAULT_CA_VALIDITY_SECS).unwrap();
        let again = Ca::from_pem(&ca.bundle_pem(), &ca.key_pem(), "test").unwrap();
        assert_eq!(again.cert_der, ca.cert_der);
        assert_eq!(again.key_id, ca.key_id);
        assert!(ca.leaf_chain_pem().is_empty());
        let parsed = x509::parse(&ca.cert_der).unwrap();
        assert_eq!(parsed.uris, vec!["spiffe://demo".to_string()]);
    }

    #[test]
    fn wrong_key_is_refused() {
        let a = Ca::create_builtin("a", OffsetDateTime::now_utc(), 86_400).unwrap();
        let b = Ca::create_builtin("b", OffsetDateTime::now_utc(), 86_400).unwrap();
        let err = Ca::from_pem(&a.bundle_pem(), &b.key_pem(), "x").err().unwrap();
        assert!(err.contains("does not belong"), "{err}");
    }

    #[test]
    fn data_sources() {
        let conf =
            json!({"cert": {"inlineString": "PEM"}, "key": {"inline": "UEVN"}, "s": {"secret": "ca"}, "bad": {}});
        assert_eq!(read_data_source(Some(&conf), "cert").unwrap(), b"PEM");
        assert_eq!(read_data_source(Some(&conf), "key").unwrap(), b"PEM");
        assert_eq!(read_data_source(Some(&conf), "s"), Err(DataSourceError::Secret("ca".into())));
        assert!(matches!(read_data_source(Some(&conf), "bad"), Err(DataSourceError::Invalid(_))));
        assert_eq!(read_data_source(None, "cert"), Err(DataSourceError::Missing));
    }
}

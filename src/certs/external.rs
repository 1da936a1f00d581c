//! Private keys that MeshExternalServices carry inline (`tls.verification.clientKey`
//! `inline` / `inlineString`). Compile output never holds a private key (it is
//! diffed, printed and committed), so the bootstraps name a file instead
//! ([`crate::plan::inline_key_file`]) and `meshc certs` writes it here, 0600,
//! next to the identity keys it already manages.

use std::collections::BTreeMap;

use crate::model::{Resource, Spec};

/// Every inline client key of the input: relative path in the secrets
/// directory -> key bytes. Keys that do not decode are left out (validation
/// reports them, MESH5014).
pub fn inline_keys(resources: &[Resource]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for r in resources {
        let Some(Spec::MeshExternalService(mes)) = &r.spec else { continue };
        let Some(verification) = mes.tls.as_ref().filter(|t| t.enabled).and_then(|t| t.verification.as_ref()) else {
            continue;
        };
        let Some(key) = verification.client_key.as_ref().filter(|k| k.secret.is_none()) else { continue };
        let Some(bytes) = crate::plan::inline_bytes(key) else { continue };
        let mesh = r.meta.mesh.as_deref().unwrap_or_default();
        out.insert(crate::plan::inline_key_rel(mesh, &bytes), bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_inline_string_keys_are_collected_by_content() {
        let yaml = "type: MeshExternalService\nname: a\nmesh: m\nspec:\n  match: {port: 80}\n  tls:\n    enabled: true\n    verification:\n      clientCert: {inlineString: CERT}\n      clientKey: {inlineString: KEY}\n---\ntype: MeshExternalService\nname: b\nmesh: m\nspec:\n  match: {port: 80}\n  tls:\n    enabled: true\n    verification:\n      clientCert: {inline: Q0VSVA==}\n      clientKey: {inline: S0VZ}\n---\ntype: MeshExternalService\nname: c\nmesh: m\nspec:\n  match: {port: 80}\n  tls:\n    enabled: true\n    verification:\n      clientCert: {secret: c}\n      clientKey: {secret: k}\n";
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mes.yaml");
        std::fs::write(&file, yaml).unwrap();
        let outcome = crate::validate::run(&[file], &Default::default());
        let keys = inline_keys(&outcome.resources);
        // `KEY` twice (inlineString and base64): one file.
        assert_eq!(keys.len(), 1, "{:?}", keys.keys());
        let (rel, bytes) = keys.iter().next().unwrap();
        assert!(rel.starts_with("meshes/m/inline-keys/") && rel.ends_with(".pem"), "{rel}");
        assert_eq!(bytes, b"KEY");
    }
}

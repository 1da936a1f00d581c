//! The SDS files Envoy reads through `path_config_source`: one
//! `DiscoveryResponse` holding one `Secret`, naming the PEM files by path. They
//! carry no key material, so they are ordinary (0644) files, and they only change
//! when the secrets directory moves.

use serde_json::{Value, json};

const SECRET_TYPE: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// Kuma's legacy name of a mesh's identity secret (reference §8.1, §10.1).
pub fn identity_secret_name(mesh: &str) -> String {
    format!("identity_cert:secret:{mesh}")
}

/// Kuma's legacy name of a mesh's CA secret.
pub fn ca_secret_name(mesh: &str) -> String {
    format!("mesh_ca:secret:{mesh}")
}

/// The identity `DiscoveryResponse`: certificate chain and private key by filename.
pub fn identity(mesh: &str, cert_path: &str, key_path: &str) -> Result<String, String> {
    let secret = json!({
        "@type": SECRET_TYPE,
        "name": identity_secret_name(mesh),
        "tls_certificate": {
            "certificate_chain": {"filename": cert_path},
            "private_key": {"filename": key_path},
        },
    });
    to_yaml(secret)
}

/// The trust `DiscoveryResponse`: the mesh CA bundle by filename.
pub fn ca(mesh: &str, ca_path: &str) -> Result<String, String> {
    let secret = json!({
        "@type": SECRET_TYPE,
        "name": ca_secret_name(mesh),
        "validation_context": {"trusted_ca": {"filename": ca_path}},
    });
    to_yaml(secret)
}

fn to_yaml(secret: Value) -> Result<String, String> {
    let response = json!({ "resources": [secret] });
    serde_saphyr::to_string(&response).map_err(|e| format!("cannot write an SDS file: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_file_reads_back() {
        let text = identity("default", "s/proxies/default/web/cert.pem", "s/proxies/default/web/key.pem").unwrap();
        assert!(text.contains("identity_cert:secret:default"), "{text}");
        assert!(text.contains("s/proxies/default/web/key.pem"), "{text}");
        let ca_text = ca("m", "s/meshes/m/ca.pem").unwrap();
        assert!(ca_text.contains("trusted_ca"), "{ca_text}");
    }
}

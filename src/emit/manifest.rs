//! `manifest.json`: what scripts read to find every proxy's files. Pretty JSON,
//! keys sorted, proxies sorted by identity, a trailing newline. It holds no
//! timestamp and no meshc version, so identical output after an upgrade still
//! passes `compile --check`.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Format, ProxyId};

/// One proxy's line in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// `null` for zone proxies, which serve every mesh.
    pub mesh: Option<String>,
    pub zone: Option<String>,
    pub namespace: Option<String>,
    pub name: String,
    pub kind: &'static str,
    /// The bootstrap to pass to `envoy -c`, relative to the output directory.
    pub bootstrap: String,
    /// Every file of this proxy, relative to the output directory, sorted.
    pub files: Vec<String>,
    /// SHA-256 (hex) of the files' bytes, concatenated in `files` order.
    pub sha256: String,
}

impl Entry {
    /// The entry for `id`, whose `files` are given as (relative path, bytes) in order.
    pub fn new(id: &ProxyId, bootstrap: String, files: &[(String, Vec<u8>)]) -> Self {
        let mut hasher = Sha256::new();
        for (_, bytes) in files {
            hasher.update(bytes);
        }
        Entry {
            mesh: (id.kind == super::ProxyKind::Dataplane).then(|| id.mesh.clone()),
            zone: id.zone.clone(),
            namespace: id.namespace.clone(),
            name: id.name.clone(),
            kind: id.kind.name(),
            bootstrap,
            files: files.iter().map(|(p, _)| p.clone()).collect(),
            sha256: hex(&hasher.finalize()),
        }
    }
}

#[derive(Serialize)]
struct Manifest<'a> {
    format: &'static str,
    secrets_dir: &'a str,
    proxies: &'a [Entry],
}

/// The manifest's bytes. `entries` must already be in `ProxyId` order.
pub fn render(format: Format, secrets_dir: &str, entries: &[Entry]) -> Result<Vec<u8>, String> {
    let manifest = Manifest { format: format.name(), secrets_dir, proxies: entries };
    // Through `Value` so the keys come out sorted, like every other file.
    let value = serde_json::to_value(&manifest).map_err(|e| e.to_string())?;
    let mut text = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text.into_bytes())
}

/// Whether `bytes` look like a manifest meshc wrote: a JSON object with a
/// `format` string and a `proxies` array. Only then may a run replace the
/// directory holding it.
pub fn is_meshc_manifest(bytes: &[u8]) -> bool {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return false;
    };
    map.get("format").is_some_and(|f| f.is_string()) && map.get("proxies").is_some_and(|p| p.is_array())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::ProxyKind;

    #[test]
    fn manifest_is_sorted_pretty_and_recognised() {
        let id = ProxyId {
            mesh: "default".into(),
            zone: None,
            namespace: Some("ns".into()),
            name: "web".into(),
            kind: ProxyKind::Dataplane,
        };
        let files = vec![("proxies/default/web.ns/bootstrap.yaml".to_string(), b"abc".to_vec())];
        let entry = Entry::new(&id, files[0].0.clone(), &files);
        assert_eq!(entry.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let bytes = render(Format::Bootstrap, "/etc/meshc/secrets", &[entry]).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.ends_with("}\n"));
        let keys: Vec<_> = text.lines().filter(|l| l.starts_with("  \"")).map(str::trim).collect();
        assert_eq!(keys[0], "\"format\": \"bootstrap\",");
        assert!(text.contains("\"zone\": null"));
        assert!(is_meshc_manifest(&bytes));
        assert!(!is_meshc_manifest(b"{\"name\": \"my-app\"}"));
        assert!(!is_meshc_manifest(b"not json"));
    }
}

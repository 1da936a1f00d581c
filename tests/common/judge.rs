//! The Envoy judge: every bootstrap of a meshc output directory must pass
//! `envoy --mode validate`, with the certificates `meshc certs` issues and the
//! external-service secret files a deployment would provide.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::envoy::validate;

/// The secrets directory name goldens and examples are compiled with
/// (`--secrets-dir secrets`): relative, so Envoy resolves it in its working directory.
pub const SECRETS: &str = "secrets";

/// Every bootstrap listed in `out/manifest.json`.
pub fn bootstraps(out: &Path) -> Vec<PathBuf> {
    let manifest: Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest.json"))
        .expect("manifest is JSON");
    manifest["proxies"]
        .as_array()
        .expect("proxies[]")
        .iter()
        .map(|p| out.join(p["bootstrap"].as_str().expect("bootstrap path")))
        .collect()
}

/// Validate every bootstrap of `out` (compiled from `inputs` with
/// `--secrets-dir secrets`) in a scratch working directory holding `secrets/`.
/// Returns one message per rejected proxy.
pub fn envoy_accepts(out: &Path, inputs: &[&Path]) -> Result<usize, Vec<String>> {
    let cwd = deployment(out, inputs);
    let files = bootstraps(out);
    let failures: Vec<String> =
        files.iter().filter_map(|b| validate(b, cwd.path()).err().map(|e| format!("{}: {e}", b.display()))).collect();
    if failures.is_empty() { Ok(files.len()) } else { Err(failures) }
}

/// A scratch working directory for Envoy with everything a host running `out`
/// needs: `secrets/` from `meshc certs` and the external-service secret files.
pub fn deployment(out: &Path, inputs: &[&Path]) -> tempfile::TempDir {
    let cwd = tempfile::tempdir().expect("tempdir");
    let mut args = vec!["certs".to_string()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["--out".to_string(), cwd.path().join(SECRETS).display().to_string()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let certs = super::run(&argv);
    assert!(certs.status.success(), "meshc certs failed: {}", String::from_utf8_lossy(&certs.stderr));
    for b in bootstraps(out) {
        provide_external_secrets(&b, cwd.path());
    }
    cwd
}

/// A bootstrap file read back as JSON.
pub fn read_config(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("config");
    let loaded = meshc::source::load_texts(vec![("config".into(), text)], &Default::default());
    loaded.documents.into_iter().next().expect("one document").value
}

/// MeshExternalService `secret` data sources are files under
/// `secrets/meshes/<mesh>/secrets/`: write a throwaway certificate or key there,
/// whichever the config expects.
fn provide_external_secrets(bootstrap: &Path, cwd: &Path) {
    let mut wanted = Vec::new();
    collect_files(&read_config(bootstrap), None, &mut wanted);
    let pair = rcgen::generate_simple_self_signed(vec!["external.example".to_string()]).expect("rcgen");
    for (role, path) in wanted {
        if !path.starts_with(&format!("{SECRETS}/meshes/")) || !path.contains("/secrets/") {
            continue;
        }
        let target = cwd.join(&path);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        let pem = if role == "private_key" { pair.signing_key.serialize_pem() } else { pair.cert.pem() };
        std::fs::write(target, pem).expect("write secret");
    }
}

fn collect_files(v: &Value, key: Option<&str>, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            if let (Some(k), Some(Value::String(f))) = (key, m.get("filename")) {
                out.push((k.to_string(), f.clone()));
            }
            for (k, child) in m {
                collect_files(child, Some(k), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_files(i, key, out)),
        _ => {}
    }
}

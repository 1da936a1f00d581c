//! Running one policy folder: each case compiled by the meshc binary in its own
//! temporary directory, each proxy's config compared with Kuma's.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::common;
use super::compare::{self, Probe};
use super::report::{Outcome, Report};
use super::xds;

/// The two proxies of the world, in the goldens' file names.
const PROXIES: [&str; 2] = ["demo-client", "test-server"];

/// Labels a zone control plane puts on a resource created there (Kuma's
/// `kuma.io/origin: zone` and `kuma.io/zone`, plus `kuma.io/env`): the goldens'
/// KRIs (`kri_mhttpr_envoyconfig_kuma-3__test-route_`) show the case's policies
/// carry them, and meshc resolves a `to` reference by name only among the
/// MeshServices of the policy's own zone.
const ZONE_LABELS: [(&str, &str); 3] =
    [("kuma.io/origin", "zone"), ("kuma.io/zone", "kuma-3"), ("kuma.io/env", "universal")];

/// The e2e sidecar fixtures.
pub fn sidecars() -> PathBuf {
    common::shared().join("conformance/kuma-v2.14.3/test/e2e_env/universal/envoyconfig/testdata/sidecars")
}

/// Run every case of one policy folder and report.
pub fn folder(name: &'static str) {
    let dir = sidecars().join(name);
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".input.yaml").map(str::to_string))
        .collect();
    cases.sort();
    let mut report = Report::new(name);
    for case in cases {
        let proxies = run_case(&dir, &case);
        report.case(&case, proxies);
    }
    report.finish();
}

/// Compile the world plus the case's policies and compare both proxies.
fn run_case(dir: &Path, case: &str) -> Vec<(String, Outcome)> {
    let broken = |why: String| PROXIES.iter().map(|p| (p.to_string(), Outcome::Broken(why.clone()))).collect();
    let out = match compile(&dir.join(format!("{case}.input.yaml"))) {
        Ok(out) => out,
        Err(why) => return broken(why),
    };
    PROXIES
        .iter()
        .map(|proxy| {
            let golden = dir.join(format!("{case}.{proxy}.golden.json"));
            let outcome = match compare_proxy(&out.path().join("out"), proxy, &golden) {
                Ok(ms) if ms.is_empty() => Outcome::Match,
                Ok(ms) => Outcome::Differs(ms),
                Err(why) => Outcome::Broken(why),
            };
            (proxy.to_string(), outcome)
        })
        .collect()
}

/// `meshc compile world.yaml <policies> --out DIR/out` in a fresh temporary directory.
fn compile(input: &Path) -> Result<tempfile::TempDir, String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let world = common::root().join("tests/envoy_conformance/world.yaml");
    let mut args = vec!["compile".to_string(), world.display().to_string()];
    for (i, doc) in policies(input)?.into_iter().enumerate() {
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        let file = common::write(tmp.path(), &format!("policy-{i}.json"), &text);
        args.push(file.display().to_string());
    }
    args.extend(["--out".to_string(), tmp.path().join("out").display().to_string()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = common::run(&argv);
    if !output.status.success() {
        return Err(format!("meshc compile failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(tmp)
}

/// The case's resources as JSON documents, labelled as a zone control plane
/// stores them. `kuma.io/effect: shadow` is dropped: Kuma's inspect shows a
/// shadow policy's config as if it were applied, which is what the goldens hold.
fn policies(input: &Path) -> Result<Vec<Value>, String> {
    let text = std::fs::read_to_string(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let loaded = meshc::source::load_texts(vec![(input.display().to_string(), text)], &Default::default());
    let mut docs = Vec::new();
    for doc in loaded.documents {
        let mut value = doc.value;
        let Some(obj) = value.as_object_mut() else { continue };
        let labels = obj.entry("labels").or_insert_with(|| Value::Object(Map::new()));
        if let Some(labels) = labels.as_object_mut() {
            labels.remove("kuma.io/effect");
            for (k, v) in ZONE_LABELS {
                labels.entry(k).or_insert_with(|| Value::String(v.into()));
            }
        }
        docs.push(value);
    }
    Ok(docs)
}

/// The mismatches between Kuma's config of `proxy` and the one meshc compiled.
fn compare_proxy(out: &Path, proxy: &str, golden: &Path) -> Result<Vec<compare::Mismatch>, String> {
    let text = std::fs::read_to_string(golden).map_err(|e| format!("{}: {e}", golden.display()))?;
    let golden: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", golden.display()))?;
    let mut kuma = golden["xds"].clone();
    xds::normalize(&mut kuma);
    let ours = xds::of_bootstrap(&common::read_config(&bootstrap(out, proxy)?))?;
    let diff = golden["diff"].as_array().cloned().unwrap_or_default();
    let probes: Vec<Probe> = if diff.is_empty() { compare::no_policies(&kuma) } else { compare::of_diff(&diff, &kuma) };
    Ok(probes.iter().filter_map(|p| p.check(&kuma, &ours).err()).collect())
}

/// The bootstrap of the Dataplane named `proxy`, from the output's manifest.
fn bootstrap(out: &Path, proxy: &str) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(out.join("manifest.json")).map_err(|e| format!("manifest.json: {e}"))?;
    let manifest: Value = serde_json::from_str(&text).map_err(|e| format!("manifest.json: {e}"))?;
    manifest["proxies"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == proxy && p["kind"] == "Dataplane")
        .and_then(|p| p["bootstrap"].as_str())
        .map(|b| out.join(b))
        .ok_or_else(|| format!("meshc compiled no proxy {proxy}"))
}

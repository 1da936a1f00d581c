//! `meshc compile examples/` reports nothing: the multi-zone examples give the
//! per-zone MeshServices of one display name (`redis` in zone-east and
//! zone-west) the same zone-local hostname, and that is no collision, since
//! each zone control plane names only its own services with it.

mod common;

use std::time::Duration;

#[test]
fn compiling_the_examples_reports_no_findings() {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().to_str().expect("utf-8 temp dir");
    let examples = common::root().join("examples");
    let mut cmd = common::meshc();
    cmd.args(["compile", examples.to_str().expect("utf-8 path"), "--out", out, "--message-format", "json"]);
    let output = common::run_bounded(cmd, None, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "meshc compile examples/ failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON message");
    assert_eq!(doc["findings"], serde_json::json!([]), "findings compiling examples/");
    // zone-east's `redis.svc.mesh.local` is its own redis; zone-west's is named by its zone.
    let web = std::fs::read_to_string(out_dir.path().join("proxies/multizone/zone-east/web-east-01/bootstrap.yaml"))
        .expect("web-east-01 bootstrap");
    assert!(web.contains("redis.svc.mesh.local") && web.contains("redis.svc.zone-west.mesh.local"));
    assert!(!web.contains("redis.svc.zone-east.mesh.local"), "a zone's own services have no synced name there");
}

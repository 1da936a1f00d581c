//! `meshc compile` and `meshc diff` as users and CI pipelines run them: the
//! output contract, determinism, atomicity, the drift gate, shards, JSON.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::run;

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    common::read_tree(dir)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn golden_input(case: &str) -> PathBuf {
    common::root().join("testdata/golden").join(case).join("input")
}

/// The documents of every compile golden, one per file, under new names in the
/// given order (file order must not matter).
fn scattered_world(dir: &Path, reverse: bool) {
    let mut docs = Vec::new();
    for case in [
        "compile-explicit-outbounds",
        "compile-transparent",
        "compile-external-services",
        "compile-mtls-strict",
        "compile-mtls-permissive",
        "compile-legacy-mesh",
    ] {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(golden_input(case)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            for doc in std::fs::read_to_string(&f).unwrap().split("\n---\n") {
                docs.push(doc.to_string());
            }
        }
    }
    if reverse {
        docs.reverse();
    }
    std::fs::create_dir_all(dir).unwrap();
    for (i, doc) in docs.iter().enumerate() {
        // Names sort in the opposite order of the documents when reversed.
        let name = if reverse { format!("z{:03}.yaml", 999 - i) } else { format!("a{i:03}.yaml") };
        std::fs::write(dir.join(name), doc).unwrap();
    }
}

#[test]
fn output_is_byte_identical_across_file_order_and_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("in-a"), tmp.path().join("in-b"));
    scattered_world(&a, false);
    scattered_world(&b, true);
    let mut outputs = Vec::new();
    for (input, jobs) in [(&a, "1"), (&b, "4"), (&a, "2"), (&b, "1")] {
        let out = tmp.path().join(format!("out-{}-{jobs}", outputs.len()));
        let r = run(&["compile", s(input), "--out", s(&out), "-j", jobs]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        outputs.push(snapshot(&out));
    }
    assert!(outputs[0].len() >= 17, "{} files", outputs[0].len());
    for o in &outputs[1..] {
        assert_eq!(o.keys().collect::<Vec<_>>(), outputs[0].keys().collect::<Vec<_>>());
        for (path, bytes) in o {
            assert!(bytes == &outputs[0][path], "{path} differs between runs");
        }
    }
}

#[test]
fn validation_errors_write_nothing_and_keep_the_previous_output() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    scattered_world(&input, false);
    let out = tmp.path().join("out");
    assert!(run(&["compile", s(&input), "--out", s(&out)]).status.success());
    let before = snapshot(&out);
    std::fs::write(
        input.join("broken.yaml"),
        "type: MeshTimeout\nname: t\nmesh: plain\nspec:\n  targetRef:\n    kind: Nope\n",
    )
    .unwrap();
    let r = run(&["compile", s(&input), "--out", s(&out)]);
    assert_eq!(r.status.code(), Some(1), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stderr).contains("nothing was compiled"));
    assert_eq!(snapshot(&out), before, "the previous output changed");
    let fresh = tmp.path().join("fresh");
    assert_eq!(run(&["compile", s(&input), "--out", s(&fresh)]).status.code(), Some(1));
    assert!(!fresh.exists(), "a failed compile created its output directory");
}

#[test]
fn an_unwritable_location_fails_and_keeps_the_previous_output() {
    // Root ignores permissions: run meshc as `nobody` against a directory it may read but not write.
    let tmp = tempfile::tempdir().unwrap();
    let input = golden_input("compile-explicit-outbounds");
    let parent = tmp.path().join("deploy");
    let out = parent.join("out");
    assert!(run(&["compile", s(&input), "--out", s(&out)]).status.success());
    let before = snapshot(&out);
    let chmod = |p: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(tmp.path(), 0o755);
    chmod(&parent, 0o555);
    let is_root = std::process::Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false);
    let mut cmd = if is_root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_meshc")]);
        c
    } else {
        common::meshc()
    };
    // `nobody` must be able to read the input: use a readable copy.
    let readable = tmp.path().join("input.yaml");
    let text: String = std::fs::read_dir(&input)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n");
    std::fs::write(&readable, text).unwrap();
    chmod(&readable, 0o644);
    cmd.args(["compile", s(&readable), "--out", s(&out)]);
    let r = common::run_bounded(cmd, None, std::time::Duration::from_secs(60));
    chmod(&parent, 0o755);
    assert_eq!(r.status.code(), Some(3), "stderr: {}", String::from_utf8_lossy(&r.stderr));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("nothing was written"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert_eq!(snapshot(&out), before, "the previous output changed");
    let leftovers: Vec<_> = std::fs::read_dir(&parent).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("out")], "temporary files left behind");
}

#[test]
fn check_is_the_drift_gate_and_diff_shows_the_change() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    scattered_world(&input, false);
    let out = tmp.path().join("out");
    assert!(run(&["compile", s(&input), "--out", s(&out)]).status.success());
    let ok = run(&["compile", s(&input), "--out", s(&out), "--check"]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let clean = run(&["diff", s(&input), "--against", s(&out)]);
    assert_eq!(clean.status.code(), Some(0));
    assert!(clean.stdout.is_empty());

    // A new outbound on web-01: its bootstrap (and the manifest hash) change.
    let before = snapshot(&out);
    let web = std::fs::read_dir(&input)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read_to_string(p).unwrap().contains("name: web-01"))
        .unwrap();
    let text = std::fs::read_to_string(&web).unwrap().replace(
        "    - port: 9003\n",
        "    - port: 9004\n      backendRef:\n        kind: MeshService\n        name: db\n        port: 5432\n    - port: 9003\n",
    );
    std::fs::write(&web, text).unwrap();
    let stale = run(&["compile", s(&input), "--out", s(&out), "--check"]);
    assert_eq!(stale.status.code(), Some(1));
    let err = String::from_utf8_lossy(&stale.stderr);
    assert!(err.contains("is stale") && err.contains("proxies/plain/web-01/bootstrap.yaml"), "{err}");
    assert_eq!(snapshot(&out), before, "--check wrote something");

    let diff = run(&["diff", s(&input), "--against", s(&out)]);
    assert_eq!(diff.status.code(), Some(1));
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(text.contains("--- a/proxies/plain/web-01/bootstrap.yaml"), "{text}");
    assert!(text.contains("+    name: outbound:127.0.0.1:9004"), "{text}");

    let json = run(&["diff", s(&input), "--against", s(&out), "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("diff --format json");
    assert_eq!(doc["up_to_date"], false);
    let paths: Vec<&str> = doc["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["manifest.json", "proxies/plain/web-01/bootstrap.yaml"]);
}

#[test]
fn shards_together_equal_one_full_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    scattered_world(&input, false);
    let full = tmp.path().join("full");
    assert!(run(&["compile", s(&input), "--out", s(&full)]).status.success());
    let mut union = BTreeMap::new();
    let mut proxies = 0;
    for i in 1..=3 {
        let out = tmp.path().join(format!("shard-{i}"));
        let r = run(&["compile", s(&input), "--out", s(&out), "--shard", &format!("{i}/3")]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        proxies += manifest["proxies"].as_array().unwrap().len();
        for (path, bytes) in snapshot(&out) {
            if path != "manifest.json" {
                assert!(union.insert(path.clone(), bytes).is_none(), "{path} in two shards");
            }
        }
    }
    let mut want = snapshot(&full);
    let manifest: serde_json::Value = serde_json::from_slice(&want.remove("manifest.json").unwrap()).unwrap();
    assert_eq!(proxies, manifest["proxies"].as_array().unwrap().len());
    assert_eq!(union, want);
    let bad = run(&["compile", s(&input), "--out", s(&full), "--shard", "4/3"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn json_messages_for_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let input = golden_input("compile-transparent");
    let r = run(&["compile", s(&input), "--out", s(&out), "--format", "json"]);
    assert!(r.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&r.stdout).expect("one JSON document on stdout");
    assert_eq!(doc["proxies"].as_array().unwrap().len(), 3);
    assert_eq!(doc["findings"][0]["code"], "MESH5001");
    for stage in ["read", "validate", "world", "rules", "plan", "envoy", "write"] {
        assert!(doc["timings"][stage].is_number(), "timing {stage}");
    }
    assert!(doc["written"]["files"].as_u64().unwrap() >= 4);
}

#[test]
fn one_proxy_or_one_mesh() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    scattered_world(&input, false);
    let out = tmp.path().join("out");
    let r = run(&["compile", s(&input), "--out", s(&out), "--proxy", "web-01", "--proxy", "shop/frontend-01"]);
    assert!(r.status.success());
    let files: Vec<String> = snapshot(&out).into_keys().collect();
    assert_eq!(
        files,
        ["manifest.json", "proxies/plain/web-01/bootstrap.yaml", "proxies/shop/east/frontend-01/bootstrap.yaml"]
    );
    let r = run(&["compile", s(&input), "--out", s(&out), "--mesh", "egress", "--mesh", "secure"]);
    assert!(r.status.success());
    assert_eq!(snapshot(&out).len(), 4);
}

#[test]
fn refuses_to_replace_a_directory_it_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("precious.txt"), "keep me").unwrap();
    let r = run(&["compile", s(&golden_input("compile-legacy-mesh")), "--out", s(tmp.path())]);
    assert_eq!(r.status.code(), Some(3));
    assert_eq!(std::fs::read_to_string(tmp.path().join("precious.txt")).unwrap(), "keep me");
    assert!(!tmp.path().join("manifest.json").exists());
}

#[test]
fn examples_compile_and_pass_envoy_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(common::root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with("invalid"))
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 7);
    let mut failures = Vec::new();
    let mut proxies = 0;
    for dir in &dirs {
        let out = tmp.path().join(dir.file_name().unwrap());
        let r = run(&["compile", s(dir), "--out", s(&out), "--secrets-dir", common::SECRETS, "-q"]);
        assert!(r.status.success(), "{}: {}", dir.display(), String::from_utf8_lossy(&r.stderr));
        if common::envoy().is_some() {
            match common::envoy_accepts(&out, &[dir.as_path()]) {
                Ok(n) => proxies += n,
                Err(f) => failures.extend(f),
            }
        }
    }
    assert!(failures.is_empty(), "Envoy rejects example output:\n{}", failures.join("\n"));
    assert!(common::envoy().is_none() || proxies >= 15, "{proxies} proxies validated");
}

/// A MeshProxyPatch modification that cannot be applied is a warning at the
/// modification (MESH5010), and the proxy is compiled without it.
#[test]
fn a_proxy_patch_that_cannot_apply_is_a_located_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let input = common::write(
        tmp.path(),
        "world.yaml",
        "type: Mesh\nname: m\n---\ntype: Dataplane\nname: web-01\nmesh: m\nnetworking:\n  address: 127.0.0.1\n  \
         inbound:\n    - port: 8080\n      tags:\n        kuma.io/service: web\n---\ntype: MeshProxyPatch\nname: bad\n\
         mesh: m\nspec:\n  targetRef:\n    kind: Mesh\n  default:\n    appendModifications:\n      - cluster:\n          \
         operation: Patch\n          match:\n            origin: inbound\n          jsonPatches:\n            - op: \
         replace\n              path: /nope/deeper\n              value: 1\n",
    );
    let out = tmp.path().join("out");
    let r = run(&["compile", s(&input), "--out", s(&out)]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "a warning does not fail the compile: {stderr}");
    assert!(stderr.contains("world.yaml:22:9: warning[MESH5010]"), "{stderr}");
    assert!(stderr.contains("/nope/deeper"), "{stderr}");
    assert!(out.join("manifest.json").exists(), "the proxy is compiled");
}

/// An output directory inside the input (`meshc compile . --out out`, or a policy
/// repository that commits its compiled configs) is not read back as input: the
/// second run finds the same resources and changes nothing, and validate does not
/// report the Envoy configs as unknown documents.
#[test]
fn an_output_directory_inside_the_input_is_not_input() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::root().join("examples/universal-no-transparent-proxy")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let run = |args: &[&str]| {
        let mut cmd = common::meshc();
        cmd.current_dir(dir.path()).args(args);
        common::run_bounded(cmd, None, std::time::Duration::from_secs(60))
    };
    let first = run(&["compile", ".", "--out", "out"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let second = run(&["compile", ".", "--out", "out"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stderr}");
    assert!(stderr.contains("0 written"), "{stderr}");
    let validate = run(&["validate", "--fail-level", "warning", "."]);
    assert!(validate.status.success(), "{}", String::from_utf8_lossy(&validate.stderr));
    // Named explicitly, a file in it is still read (and is not a Kuma resource).
    let named = run(&["validate", "out/manifest.json"]);
    assert_eq!(named.status.code(), Some(1), "{}", String::from_utf8_lossy(&named.stderr));
}

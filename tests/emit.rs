//! The emit stage end to end: deterministic rendering, atomic writes that never
//! lose the previous output, the comparison behind `--check`/`meshc diff`, and
//! the real Envoy accepting what we write.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use meshc::emit::write::{FailPoint, write_atomic_failing};
use meshc::emit::{
    EmitError, Encoding, Format, Options, ProxyId, ProxyKind, ProxyOutput, Status, Tree, compare, render, sample,
    write_atomic,
};

fn id(mesh: &str, zone: Option<&str>, name: &str) -> ProxyId {
    ProxyId {
        mesh: mesh.into(),
        zone: zone.map(Into::into),
        namespace: None,
        name: name.into(),
        kind: ProxyKind::Dataplane,
    }
}

fn outputs() -> Vec<ProxyOutput> {
    let mut out = Vec::new();
    for (i, (mesh, zone)) in [("default", None), ("default", Some("east")), ("payments", None)].into_iter().enumerate()
    {
        for name in ["web", "backend", "db-0"] {
            let mut bootstrap = if i == 0 { sample::every_filter_bootstrap() } else { sample::http_bootstrap(name) };
            bootstrap.node.get_or_insert_with(Default::default).id = format!("{mesh}.{name}");
            out.push(ProxyOutput { id: id(mesh, zone, name), bootstrap });
        }
    }
    out
}

fn opts(format: Format, encoding: Encoding) -> Options {
    Options { format, encoding, secrets_dir: "/etc/meshc/secrets".into(), xds_root: None, out_dir: "out".into() }
}

fn render_in_pool(threads: usize, outputs: Vec<ProxyOutput>, opts: &Options) -> Tree {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| render(outputs, opts)).unwrap()
}

/// Every file under `dir` with its bytes, by path relative to `dir`.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    common::read_tree(dir).into_iter().collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    names.sort();
    names
}

#[test]
fn output_is_independent_of_order_and_threads() {
    for format in [Format::Bootstrap, Format::Xds] {
        let opts = opts(format, Encoding::Yaml);
        let reference = render_in_pool(1, outputs(), &opts);
        let mut shuffled = outputs();
        shuffled.reverse();
        shuffled.rotate_left(4);
        assert_eq!(render_in_pool(4, shuffled, &opts), reference, "{format:?}");
        assert_eq!(render_in_pool(4, outputs(), &opts), reference, "{format:?}");
    }
}

#[test]
fn proto_maps_serialize_identically_every_time() {
    let one = || vec![ProxyOutput { id: id("m", None, "rbac"), bootstrap: sample::every_filter_bootstrap() }];
    let first = render(one(), &opts(Format::Bootstrap, Encoding::Json)).unwrap();
    let text = String::from_utf8(first.get("proxies/m/rbac/bootstrap.json").unwrap().to_vec()).unwrap();
    assert!(text.contains("MeshTrafficPermission/h"), "the sample has an RBAC policy map");
    for _ in 0..20 {
        assert_eq!(render(one(), &opts(Format::Bootstrap, Encoding::Json)).unwrap(), first);
    }
}

#[test]
fn manifest_lists_every_proxy_sorted_with_hashes() {
    let tree = render(outputs(), &opts(Format::Xds, Encoding::Json)).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(tree.get("manifest.json").unwrap()).unwrap();
    assert_eq!(manifest["format"], "xds");
    assert_eq!(manifest["secrets_dir"], "/etc/meshc/secrets");
    let proxies = manifest["proxies"].as_array().unwrap();
    assert_eq!(proxies.len(), 9);
    let first = &proxies[0];
    assert_eq!(
        (first["mesh"].as_str(), first["zone"].as_str(), first["name"].as_str()),
        (Some("default"), None, Some("backend"))
    );
    assert_eq!(first["kind"], "Dataplane");
    assert_eq!(first["bootstrap"], "proxies/default/backend/bootstrap.json");
    let files: Vec<&str> = first["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert_eq!(
        files,
        [
            "proxies/default/backend/bootstrap.json",
            "proxies/default/backend/cds.json",
            "proxies/default/backend/lds.json"
        ]
    );
    let concatenated: Vec<u8> = files.iter().flat_map(|f| tree.get(f).unwrap().to_vec()).collect();
    assert_eq!(first["sha256"], meshc::emit::manifest::sha256_hex(&concatenated));
    assert!(!String::from_utf8_lossy(tree.get("manifest.json").unwrap()).contains("version\""));
}

#[test]
fn failed_write_leaves_previous_output_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let v1 = render(outputs(), &opts(Format::Bootstrap, Encoding::Yaml)).unwrap();
    let stats = write_atomic(&out, &v1).unwrap();
    assert_eq!((stats.files, stats.bytes), (v1.len(), v1.total_bytes()));
    let before = snapshot(&out);
    let v2 = render(outputs(), &opts(Format::Xds, Encoding::Json)).unwrap();
    for point in [FailPoint::BeforeFile(0), FailPoint::BeforeFile(5), FailPoint::BeforeSwap] {
        let err = write_atomic_failing(&out, &v2, point).unwrap_err();
        assert!(matches!(err, EmitError::Injected { .. }), "{err}");
        assert_eq!(snapshot(&out), before, "{point:?} changed the output");
        assert_eq!(entries(tmp.path()), ["out"], "{point:?} left a temporary directory");
    }
    // A real write then replaces it completely (old bootstrap.yaml files are gone).
    write_atomic(&out, &v2).unwrap();
    let after = snapshot(&out);
    assert_eq!(after.len(), v2.len());
    assert!(after.iter().all(|(p, b)| v2.get(p).unwrap() == b.as_slice()));
    assert_eq!(entries(tmp.path()), ["out"]);
}

#[test]
fn a_users_directory_is_never_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    fs::create_dir(&home).unwrap();
    fs::write(home.join("thesis.tex"), "precious").unwrap();
    fs::write(home.join("manifest.json"), "{\"name\": \"not ours\"}").unwrap();
    let tree = render(outputs(), &opts(Format::Bootstrap, Encoding::Yaml)).unwrap();
    let err = write_atomic(&home, &tree).unwrap_err();
    assert!(matches!(err, EmitError::NotMeshcOutput { .. }), "{err}");
    assert!(err.to_string().contains("no meshc manifest.json"), "{err}");
    // `--out .` from inside it resolves to the same directory.
    let dot = home.join(".");
    assert!(matches!(write_atomic(&dot, &tree), Err(EmitError::NotMeshcOutput { .. })));
    assert_eq!(entries(&home), ["manifest.json", "thesis.tex"]);
    assert_eq!(entries(tmp.path()), ["home"]);
    // An empty directory is fine.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    write_atomic(&empty, &tree).unwrap();
    assert!(empty.join("manifest.json").is_file());
}

#[test]
fn bad_paths_are_rejected_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("deeper/out");
    for bad in ["proxies/../../escape", "/etc/evil", "proxies//x", "notes.txt"] {
        let mut tree = render(outputs(), &opts(Format::Bootstrap, Encoding::Yaml)).unwrap();
        tree.insert(bad, b"x".to_vec());
        let err = write_atomic(&out, &tree).unwrap_err();
        assert!(matches!(err, EmitError::BadPath { .. }), "{bad}: {err}");
        assert!(compare(&out, &tree).is_err());
        assert!(entries(tmp.path()).is_empty(), "{bad}: something was written");
    }
}

#[test]
fn compare_reports_added_removed_changed_with_diffs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let v1 = render(outputs(), &opts(Format::Bootstrap, Encoding::Yaml)).unwrap();
    assert_eq!(compare(&out, &v1).unwrap().added, v1.len(), "missing DIR: everything added");
    write_atomic(&out, &v1).unwrap();
    let same = compare(&out, &v1).unwrap();
    assert!(same.is_up_to_date(), "{}", same.summary());
    assert_eq!(same.summary(), format!("up to date ({} files)", v1.len()));

    // v2: one proxy gone, one new, one changed; a stray file outside meshc's area is ignored.
    let mut next = outputs();
    next.retain(|o| o.id != id("payments", None, "web"));
    next.push(ProxyOutput { id: id("payments", None, "api"), bootstrap: sample::http_bootstrap("api") });
    next.iter_mut().find(|o| o.id == id("default", None, "web")).unwrap().bootstrap.node.as_mut().unwrap().id =
        "renamed".into();
    fs::write(out.join("README"), "not ours").unwrap();
    let v2 = render(next, &opts(Format::Bootstrap, Encoding::Yaml)).unwrap();
    let c = compare(&out, &v2).unwrap();
    let status = |p: &str| c.files.iter().find(|f| f.path == p).map(|f| f.status);
    assert_eq!(status("proxies/payments/api/bootstrap.yaml"), Some(Status::Added));
    assert_eq!(status("proxies/payments/web/bootstrap.yaml"), Some(Status::Removed));
    assert_eq!(status("proxies/default/web/bootstrap.yaml"), Some(Status::Changed));
    assert_eq!(status("manifest.json"), Some(Status::Changed));
    assert_eq!(status("README"), None);
    assert_eq!((c.added, c.removed, c.changed), (1, 1, 2));
    assert!(!c.is_up_to_date());
    let diff = c.unified_diff();
    assert!(
        diff.contains("--- a/proxies/default/web/bootstrap.yaml\n+++ b/proxies/default/web/bootstrap.yaml\n"),
        "{diff}"
    );
    assert!(diff.contains("+  id: renamed\n"), "{diff}");
    assert!(c.summary().starts_with("4 files differ (1 added, 1 removed, 2 changed)"), "{}", c.summary());
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["changed"], 2);
    assert_eq!(json["files"][0]["status"], "changed");
}

#[test]
fn xds_files_are_discovery_responses_pointing_at_each_other() {
    let tree = render(outputs(), &opts(Format::Xds, Encoding::Json)).unwrap();
    let read = |p: &str| serde_json::from_slice::<serde_json::Value>(tree.get(p).unwrap()).unwrap();
    let boot = read("proxies/default/east/web/bootstrap.json");
    assert!(boot.get("static_resources").is_none(), "{boot}");
    let lds_config = &boot["dynamic_resources"]["lds_config"];
    assert_eq!(lds_config["path_config_source"]["path"], "out/proxies/default/east/web/lds.json");
    assert_eq!(lds_config["resource_api_version"], "V3");
    assert_eq!(
        boot["dynamic_resources"]["cds_config"]["path_config_source"]["path"],
        "out/proxies/default/east/web/cds.json"
    );
    let lds = read("proxies/default/east/web/lds.json");
    assert_eq!(lds["type_url"], "type.googleapis.com/envoy.config.listener.v3.Listener");
    assert_eq!(lds["resources"][0]["@type"], "type.googleapis.com/envoy.config.listener.v3.Listener");
    assert_eq!(lds["version_info"].as_str().unwrap().len(), 64);
    let cds = read("proxies/default/east/web/cds.json");
    assert_eq!(cds["resources"][0]["name"], "backend");
    // Same resources, same version, in either encoding.
    let yaml = render(outputs(), &opts(Format::Xds, Encoding::Yaml)).unwrap();
    let yaml_lds = String::from_utf8(yaml.get("proxies/default/east/web/lds.yaml").unwrap().to_vec()).unwrap();
    assert!(yaml_lds.contains(lds["version_info"].as_str().unwrap()));
}

/// The Envoy binary, or `None` (with a note) when it is not installed. In CI
/// (`CI=true`) a missing Envoy fails the test instead.
fn envoy() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("MESHC_ENVOY").map(PathBuf::from),
        Some(common::root().join("target/test-tools/envoy-venv/bin/envoy")),
        Some(PathBuf::from("/work/main/target/test-tools/envoy-venv/bin/envoy")),
    ];
    if let Some(found) = candidates.into_iter().flatten().find(|p| p.is_file()) {
        return Some(found);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "Envoy not found: set MESHC_ENVOY (required in CI)");
    eprintln!("note: Envoy not found (set MESHC_ENVOY); skipping envoy --mode validate");
    None
}

#[test]
fn envoy_accepts_every_format_and_encoding() {
    let Some(envoy) = envoy() else { return };
    for format in [Format::Bootstrap, Format::Xds] {
        for encoding in [Encoding::Yaml, Encoding::Json] {
            let tmp = tempfile::tempdir().unwrap();
            let proxies =
                vec![ProxyOutput { id: id("default", None, "web"), bootstrap: sample::http_bootstrap("web") }];
            let tree = render(proxies, &opts(format, encoding)).unwrap();
            write_atomic(&tmp.path().join("out"), &tree).unwrap();
            // The xDS paths are relative to Envoy's working directory: run it in the parent of `out`.
            let config = format!("out/proxies/default/web/bootstrap.{}", encoding.extension());
            let mut cmd = Command::new(&envoy);
            cmd.current_dir(tmp.path()).args(["--mode", "validate", "--log-level", "warn", "-c", &config]);
            let run = common::run_bounded(cmd, None, Duration::from_secs(120));
            assert!(
                run.status.success(),
                "envoy rejected {format:?}/{encoding:?}:\n{}\n{}",
                String::from_utf8_lossy(&run.stdout),
                String::from_utf8_lossy(&run.stderr)
            );
        }
    }
}

/// A file of the output as JSON, whatever its encoding (YAML through meshc's own reader).
fn read_value(path: &Path) -> serde_json::Value {
    let text = fs::read_to_string(path).unwrap();
    if path.extension().is_some_and(|e| e == "json") {
        return serde_json::from_str(&text).unwrap();
    }
    let parsed = meshc::source::yaml::parse(&text, &meshc::source::Limits::default());
    assert!(parsed.problems.is_empty(), "{}: {:?}", path.display(), parsed.problems);
    parsed.documents.into_iter().next().and_then(|d| d.value).unwrap()
}

/// A proto3 JSON value back into its envoy-types message, through the vendored pool.
fn decode<M: prost::Message + prost::Name + Default>(value: serde_json::Value) -> M {
    let pool = meshc::emit::descriptor::pool().unwrap();
    let descriptor = pool.get_message_by_name(&M::full_name()).unwrap();
    prost_reflect::DynamicMessage::deserialize(descriptor, value).unwrap().transcode_to::<M>().unwrap()
}

/// Envoy's validate mode only checks that the LDS/CDS files exist, not what is in
/// them. So: read the three xDS files back, rebuild the static bootstrap from
/// them, and require it to equal the one we started from (which Envoy validates
/// in bootstrap format).
#[test]
fn xds_files_hold_exactly_the_original_listeners_and_clusters() {
    use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
    use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
    use prost::Message;
    for encoding in [Encoding::Yaml, Encoding::Json] {
        let tmp = tempfile::tempdir().unwrap();
        let original = sample::every_filter_bootstrap();
        let proxies = vec![ProxyOutput { id: id("default", None, "web"), bootstrap: original.clone() }];
        write_atomic(&tmp.path().join("out"), &render(proxies, &opts(Format::Xds, encoding)).unwrap()).unwrap();
        let dir = tmp.path().join("out/proxies/default/web");
        let file = |kind: &str| dir.join(format!("{kind}.{}", encoding.extension()));
        let mut rebuilt: Bootstrap = decode(read_value(&file("bootstrap")));
        let lds: DiscoveryResponse = decode(read_value(&file("lds")));
        let cds: DiscoveryResponse = decode(read_value(&file("cds")));
        rebuilt.dynamic_resources = None;
        let statics = rebuilt.static_resources.get_or_insert_with(Default::default);
        statics.listeners = lds.resources.iter().map(|a| Message::decode(a.value.as_slice()).unwrap()).collect();
        statics.clusters = cds.resources.iter().map(|a| Message::decode(a.value.as_slice()).unwrap()).collect();
        let canonical = |b: &Bootstrap| meshc::emit::serialize::to_value(b).unwrap();
        assert_eq!(canonical(&rebuilt), canonical(&original), "{encoding:?}");
    }
}

fn meshc_ok(args: &[&str]) -> String {
    let out = common::run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "meshc {args:?}: {stderr}");
    stderr
}

fn stamp(path: &Path) -> (u64, std::time::SystemTime) {
    let meta = fs::metadata(path).unwrap();
    (std::os::unix::fs::MetadataExt::ino(&meta), meta.modified().unwrap())
}

/// `compile` into a directory it wrote before replaces only what changed,
/// removes what went, and touches nothing else (inode and mtime kept).
#[test]
fn compile_into_an_existing_output_replaces_only_changed_files() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let example = common::root().join("examples/universal-no-transparent-proxy");
    fs::create_dir(&input).unwrap();
    for file in ["dataplanes.yaml", "mesh.yaml", "services.yaml"] {
        fs::copy(example.join(file), input.join(file)).unwrap();
    }
    let out = tmp.path().join("out");
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    meshc_ok(&["compile", i, "--out", o, "--format", "xds"]);
    let before: Vec<(String, (u64, std::time::SystemTime))> =
        snapshot(&out).into_iter().map(|(p, _)| (p.clone(), stamp(&out.join(&p)))).collect();
    std::thread::sleep(Duration::from_millis(20));

    // The same input again: not one file is rewritten.
    let stderr = meshc_ok(&["compile", i, "--out", o, "--format", "xds"]);
    assert!(stderr.contains("0 written"), "{stderr}");
    let again: Vec<_> = snapshot(&out).into_iter().map(|(p, _)| (p.clone(), stamp(&out.join(&p)))).collect();
    assert_eq!(again, before);

    // A policy on one proxy: only its files and the manifest change.
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let first = manifest["proxies"].as_array().unwrap().iter().find(|p| p["mesh"].is_string()).unwrap();
    let (mesh, name) = (first["mesh"].as_str().unwrap(), first["name"].as_str().unwrap());
    let policy = format!(
        "type: MeshTimeout\nname: one\nmesh: {mesh}\nspec:\n  targetRef:\n    kind: Dataplane\n    name: {name}\n  \
         rules:\n    - default:\n        idleTimeout: 33s\n"
    );
    fs::write(input.join("policy.yaml"), policy).unwrap();
    let stderr = meshc_ok(&["compile", i, "--out", o, "--format", "xds"]);
    let ours: Vec<String> = first["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().into()).collect();
    for (path, old) in &before {
        let touched = stamp(&out.join(path)) != *old;
        let may_change = path == "manifest.json" || ours.contains(path);
        assert!(!touched || may_change, "{path} of another proxy was rewritten");
        if path == "manifest.json" {
            assert!(touched, "the manifest changes");
        }
    }
    assert!(!stderr.contains(" 0 written"), "{stderr}");
    assert!(entries(&out).iter().all(|e| !e.starts_with('.')), "{:?}", entries(&out));
}

/// A killed update (journal committed, renames half done) is reported by
/// `compile --check` and `diff`, and finished by the next `compile`.
#[test]
fn an_unfinished_update_is_reported_and_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let input = common::root().join("examples/universal-no-transparent-proxy");
    let out = tmp.path().join("out");
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    meshc_ok(&["compile", i, "--out", o]);
    let clean = snapshot(&out);
    // Another tree, whose update stops after its first rename (like a kill).
    let mut other = Tree::new();
    for (path, bytes) in &clean {
        let mut bytes = bytes.clone();
        if path != "manifest.json" {
            bytes.extend_from_slice(b"# changed\n");
        }
        other.insert(path.clone(), bytes);
    }
    assert!(write_atomic_failing(&out, &other, FailPoint::AfterJournal(1)).is_err());
    assert!(out.join(".meshc-journal").exists());

    let check = common::run(&["compile", i, "--out", o, "--check"]);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("unfinished update") && stderr.contains(".meshc-journal"), "{stderr}");
    let diff = common::run(&["diff", i, "--against", o, "--stat"]);
    let stderr = String::from_utf8_lossy(&diff.stderr);
    assert_eq!(diff.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("warning: ") && stderr.contains("unfinished update"), "{stderr}");

    let stderr = meshc_ok(&["compile", i, "--out", o]);
    assert!(stderr.contains("finished the update"), "{stderr}");
    assert_eq!(snapshot(&out), clean);
    assert!(entries(&out).iter().all(|e| !e.starts_with('.')), "{:?}", entries(&out));
    meshc_ok(&["compile", i, "--out", o, "--check"]);
}

//! Reachable services inferred from MeshTrafficPermission
//! (`--auto-reachable-services`) on synthetic meshes: what it saves when each
//! service may call a few others, and that it changes nothing when every proxy
//! may call everything.

mod common;

use std::time::Duration;

use meshc::compile::{self, Selection};
use meshc::emit::{self, ProxyKind, ProxyOutput};
use meshc::synth::{self, SynthConfig};
use meshc::world::ServiceKind;

fn options(auto: bool, selection: Selection) -> compile::Options {
    let mut opts = compile::Options {
        validate: Default::default(),
        world: meshc::world::Options { auto_reachable_services: auto, ..Default::default() },
        plan: meshc::plan::Options { secrets_dir: "secrets".into(), shadow: false, system_ca_path: None },
        selection,
    };
    opts.validate.default_mesh_exists = true;
    opts
}

/// Compile `texts` and render the files `meshc compile` would write.
fn compile(texts: &[(String, String)], opts: &compile::Options) -> (compile::Compiled, emit::Tree) {
    let compiled = compile::run_texts(texts.to_vec(), opts);
    assert!(!compiled.has_errors(), "the synthetic mesh has errors");
    let outputs = compiled
        .proxies
        .iter()
        .map(|(plan, bootstrap)| ProxyOutput { id: plan.id.clone(), bootstrap: bootstrap.clone() })
        .collect();
    let tree = emit::render(outputs, &emit::Options { out_dir: "out".into(), ..Default::default() }).expect("render");
    (compiled, tree)
}

/// Each service may call 1% of the others (one of 119): a sidecar keeps the one
/// MeshService it may call, plus the MeshExternalService and MeshMultiZoneService
/// (always reachable), instead of all 120. A deterministic sample of the proxies
/// (a shard) is compiled to keep the test quick.
#[test]
fn inference_cuts_output_tenfold_when_each_service_may_call_one_percent() {
    let cfg = SynthConfig {
        services: 120,
        dataplanes_per_service: 1,
        zones: 1,
        policies_per_kind: 1,
        external_services: 1,
        multizone_services: 1,
        callers_percent: 1,
        ..SynthConfig::default()
    };
    assert_eq!(cfg.callers(), 1);
    let texts = synth::generate(&cfg);
    let sample = || Selection { shard: Some((1, 20)), ..Default::default() };
    let (all, all_tree) = compile(&texts, &options(false, sample()));
    let (pruned, pruned_tree) = compile(&texts, &options(true, sample()));
    let sampled = pruned.proxies.iter().filter(|(p, _)| p.id.kind == ProxyKind::Dataplane).count();
    assert!(sampled >= 3, "the sample has {sampled} sidecars");
    assert_eq!(all.proxies.len(), pruned.proxies.len());
    for (plan, _) in pruned.proxies.iter().filter(|(p, _)| p.id.kind == ProxyKind::Dataplane) {
        let mut services: Vec<(ServiceKind, &str)> =
            plan.outbounds.iter().map(|o| (o.destination.kind, o.destination.name.as_str())).collect();
        services.dedup();
        let count = |k: ServiceKind| services.iter().filter(|(kind, _)| *kind == k).count();
        assert_eq!(count(ServiceKind::MeshService), 1, "{}: {services:?}", plan.id);
        assert_eq!(count(ServiceKind::MeshExternalService), 1, "{}: {services:?}", plan.id);
        assert_eq!(count(ServiceKind::MeshMultiZoneService), 1, "{}: {services:?}", plan.id);
    }
    let (before, after) = (all_tree.total_bytes(), pruned_tree.total_bytes());
    assert!(before >= 10 * after, "output {before} bytes without inference, {after} with: less than 10x smaller");
}

/// With the mesh-wide allow-all permission (and the generator's other
/// permissions, which only allow), every proxy may call every service: the
/// output is byte-identical with and without inference.
#[test]
fn allow_all_output_is_identical_with_and_without_inference() {
    let cfg = SynthConfig { services: 12, dataplanes_per_service: 2, policies: 24, ..SynthConfig::default() };
    let texts = synth::generate(&cfg);
    let (_, without) = compile(&texts, &options(false, Selection::default()));
    let (compiled, with) = compile(&texts, &options(true, Selection::default()));
    let sidecars = compiled.proxies.iter().filter(|(p, _)| p.id.kind == ProxyKind::Dataplane);
    assert!(sidecars.clone().count() == cfg.sidecars(), "every sidecar is compiled");
    assert!(sidecars.clone().all(|(p, _)| p.outbounds.len() > cfg.services), "every service is reached");
    assert_eq!(without.len(), with.len());
    for ((path, a), (_, b)) in without.files().zip(with.files()) {
        assert!(a == b, "{path} differs with --auto-reachable-services");
    }
}

/// The CLI flag and Kuma's environment variable turn inference on alike; `false`
/// (or no flag) leaves it off.
#[test]
fn flag_and_environment_variable_agree() {
    let cfg =
        SynthConfig { services: 6, dataplanes_per_service: 1, zones: 1, callers_percent: 20, ..Default::default() };
    let dir = tempfile::tempdir().expect("tempdir");
    synth::write_files(&dir.path().join("mesh"), &synth::generate(&cfg)).expect("write");
    let input = dir.path().join("mesh").display().to_string();
    let compile = |name: &str, flag: Option<&str>, env: Option<&str>| {
        let out = dir.path().join(name);
        let mut cmd = common::meshc();
        cmd.args(["compile", &input, "--out", &out.display().to_string(), "-q"]);
        cmd.args(flag);
        cmd.env_remove("KUMA_EXPERIMENTAL_AUTO_REACHABLE_SERVICES");
        if let Some(v) = env {
            cmd.env("KUMA_EXPERIMENTAL_AUTO_REACHABLE_SERVICES", v);
        }
        let result = common::run_bounded(cmd, None, Duration::from_secs(120));
        assert!(result.status.success(), "{name}: {}", String::from_utf8_lossy(&result.stderr));
        common::read_tree(&out)
    };
    let off = compile("off", None, None);
    let flag = compile("flag", Some("--auto-reachable-services"), None);
    assert_ne!(off, flag, "inference prunes this mesh");
    assert_eq!(compile("env", None, Some("true")), flag);
    assert_eq!(compile("env-false", None, Some("false")), off);
    assert_eq!(compile("flag-false", Some("--auto-reachable-services=false"), Some("true")), off);
}

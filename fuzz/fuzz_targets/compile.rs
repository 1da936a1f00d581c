//! Arbitrary bytes through the whole compiler, in memory: one YAML file, or
//! several when the input holds NUL bytes (each NUL starts the next file), then
//! validate, world, rules, plan, envoy and every serialization `meshc compile`
//! can write (bootstrap in YAML and JSON, the xDS split), plus the `explain` view
//! of the first proxy. Any panic, hang or runaway allocation is a bug.

#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use meshc::compile::{self, Selection};
use meshc::emit::{self, Encoding, Format, ProxyOutput};

/// Separates files in one fuzz input (YAML text never holds it).
const SEPARATOR: char = '\0';

fn options() -> compile::Options {
    compile::Options {
        validate: Default::default(),
        world: meshc::world::Options { default_mesh_exists: true, ..Default::default() },
        plan: meshc::plan::Options { secrets_dir: "secrets".into(), shadow: false, system_ca_path: None },
        selection: Selection::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    // One worker: a crash reproduces the same way, and libFuzzer's timeout
    // measures this input rather than a thread pool's scheduling.
    static POOL: Once = Once::new();
    POOL.call_once(|| {
        let _ = rayon::ThreadPoolBuilder::new().num_threads(1).build_global();
    });
    let Ok(text) = std::str::from_utf8(data) else { return };
    let texts: Vec<(String, String)> =
        text.split(SEPARATOR).enumerate().map(|(i, t)| (format!("fuzz-{i}.yaml"), t.to_string())).collect();
    let opts = options();
    let compiled = compile::run_texts(texts, &opts);
    if compiled.has_errors() {
        assert!(compiled.proxies.is_empty(), "errors stop a compile before planning");
        return;
    }
    let first = compiled.proxies.first().map(|(plan, _)| plan.id.clone());
    let outputs: Vec<ProxyOutput> =
        compiled.proxies.into_iter().map(|(plan, bootstrap)| ProxyOutput { id: plan.id, bootstrap }).collect();
    for (format, encoding) in
        [(Format::Bootstrap, Encoding::Yaml), (Format::Bootstrap, Encoding::Json), (Format::Xds, Encoding::Yaml)]
    {
        let emit_opts =
            emit::Options { format, encoding, out_dir: "out".into(), secrets_dir: "secrets".into(), xds_root: None };
        // Two proxies in one directory is a reported error, not a crash.
        let _ = emit::render(outputs.clone(), &emit_opts);
    }
    if let Some(id) = first {
        let selection = Selection { proxies: vec![id.name.clone()], ..Default::default() };
        let (list, _) = meshc::explain::explain(&compiled.outcome.resources, &opts.world, &opts.plan, &selection);
        let _ = serde_json::to_string(&list).expect("an explanation serializes");
    }
});

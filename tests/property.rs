//! Property test: random *valid* meshes, compiled. For every world a seed makes:
//!
//! 1. `validate` reports no error (else the generator is wrong, and the test says so);
//! 2. `meshc compile` succeeds, and every proxy's bootstrap, in both `--format
//!    bootstrap` and `--format xds`, passes `envoy --mode validate`;
//! 3. the output is byte-identical whatever the file names and order (the world is
//!    written twice: as generated, and shuffled into renamed files), the thread
//!    count (`-j 1`, `-j 2`, `-j 4`), and across runs.
//!
//! Worlds are [`meshc::synth`] meshes (services, Dataplanes, zones, zone proxies,
//! MeshExternalServices, MeshMultiZoneServices, HostnameGenerators, a policy of every
//! kind) with a random Mesh each (mTLS on or off, passthrough, zone egress, MeshService
//! mode), plus Dataplanes without transparent proxying (explicit outbounds) and random
//! policies of every kind with random targetRefs at the top level and in `to`, `from`
//! and `rules`.
//!
//! `MESHC_PROPERTY_WORLDS=N` (default 20) worlds from seeds 1..=N;
//! `MESHC_PROPERTY_SEED=S` runs only the world of seed S (to replay a failure);
//! `MESHC_PROPERTY_FIRST=F` starts at seed F. A failure prints the seed and keeps
//! the world in a temporary directory whose path it prints.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use meshc::model::Kind;
use meshc::synth::{self, Form, Rng, SynthConfig};
use serde_json::{Value, json};

use common as judge;
use common::{meshc, read_tree, run_bounded};

/// Worlds run by default: about 2 minutes on 2 cores with Envoy validation.
const DEFAULT_WORLDS: u64 = 20;
/// Envoy validations run at once (each mostly waits on Envoy's start-up).
const ENVOY_JOBS: usize = 6;

#[test]
fn random_valid_meshes_compile_to_configs_envoy_accepts_deterministically() {
    let seeds: Vec<u64> = match env_u64("MESHC_PROPERTY_SEED") {
        Some(seed) => vec![seed],
        None => {
            let first = env_u64("MESHC_PROPERTY_FIRST").unwrap_or(1);
            let n = env_u64("MESHC_PROPERTY_WORLDS").unwrap_or(DEFAULT_WORLDS);
            (first..first + n).collect()
        }
    };
    let envoy = common::envoy().is_some();
    if !envoy {
        eprintln!("note: Envoy not found: the property test checks validity and determinism only");
    }
    let start = Instant::now();
    let mut failures = Vec::new();
    let (mut proxies, mut validated) = (0, 0);
    for &seed in &seeds {
        match run_world(seed, envoy) {
            Ok(stats) => {
                proxies += stats.proxies;
                validated += stats.validated;
            }
            Err(failure) => {
                eprintln!("{failure}");
                failures.push(failure);
            }
        }
    }
    eprintln!(
        "property: {} worlds, {proxies} proxies, {validated} bootstraps through envoy --mode validate, {} failed, {:?}",
        seeds.len(),
        failures.len(),
        start.elapsed()
    );
    eprintln!("property: time per phase {:?}", PHASES.lock().unwrap());
    assert!(failures.is_empty(), "{} of {} worlds failed:\n{}", failures.len(), seeds.len(), failures.join("\n\n"));
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok().filter(|v| !v.is_empty())?;
    Some(value.parse().unwrap_or_else(|_| panic!("{name}={value} is not a number")))
}

/// Time per phase over all worlds, printed at the end (where the minutes go).
static PHASES: Mutex<BTreeMap<&'static str, Duration>> = Mutex::new(BTreeMap::new());

fn timed<T>(phase: &'static str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    *PHASES.lock().unwrap().entry(phase).or_default() += start.elapsed();
    out
}

struct Stats {
    proxies: usize,
    validated: usize,
}

/// One world through every check; `Err` says what failed, with the seed and where
/// the world was kept.
fn run_world(seed: u64, envoy: bool) -> Result<Stats, String> {
    let scratch = tempfile::tempdir().expect("tempdir");
    let logs = scratch.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");
    let files = timed("generate", || generate(seed, &logs));
    let fail = |what: String| -> String {
        let keep = tempfile::Builder::new().prefix(&format!("meshc-property-{seed}-")).tempdir().expect("tempdir");
        let keep = keep.keep();
        synth::write_files(&keep.join("world"), &files).expect("write the failing world");
        std::fs::create_dir_all(&logs).ok();
        format!(
            "seed {seed} FAILED: {what}\n  world kept in {} (replay: MESHC_PROPERTY_SEED={seed} cargo test --test property)",
            keep.join("world").display()
        )
    };

    // 1. Valid: a generator bug otherwise.
    let outcome = timed("validate", || meshc::validate::run_texts(files.clone(), &Default::default()));
    let errors: Vec<String> = outcome
        .findings
        .iter()
        .filter(|f| f.level == meshc::findings::Level::Error)
        .map(|f| format!("{} {:?} {}: {}", f.code.id, f.resource, f.field.as_deref().unwrap_or(""), f.message))
        .collect();
    if !errors.is_empty() {
        return Err(fail(format!("the generator made an invalid world (a test bug):\n    {}", errors.join("\n    "))));
    }

    // The world as generated, and shuffled into renamed files.
    let first = scratch.path().join("in");
    synth::write_files(&first, &files).expect("write world");
    let second = scratch.path().join("shuffled");
    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut order: Vec<usize> = (0..files.len()).collect();
    rng.shuffle(&mut order);
    let renamed: Vec<(String, String)> = order
        .iter()
        .enumerate()
        .map(|(i, &f)| (format!("d{}/{:03}-{}.yaml", i % 3, files.len() - i, f * 7919 % 1000), files[f].1.clone()))
        .collect();
    synth::write_files(&second, &renamed).expect("write shuffled world");

    // 2./3. Compile: the bootstrap format three ways, the xDS format two ways;
    // every fourth world keeps only the outbounds MeshTrafficPermissions allow.
    let auto_reachable = seed.is_multiple_of(4);
    let out = |name: &str| scratch.path().join(name);
    let xds_root = out("xds-a").display().to_string();
    let runs: [(&Path, &str, &str, &[&str]); 5] = [
        (&first, "boot-a", "4", &[]),
        (&second, "boot-b", "1", &[]),
        (&first, "boot-c", "2", &[]),
        (&first, "xds-a", "4", &["--format", "xds", "--xds-root", &xds_root]),
        (&second, "xds-b", "1", &["--format", "xds", "--xds-root", &xds_root]),
    ];
    let mut trees = BTreeMap::new();
    for (input, name, jobs, extra) in runs {
        let mut cmd = meshc();
        cmd.arg("compile").arg(input).arg("--out").arg(out(name));
        cmd.args(["--secrets-dir", judge::SECRETS, "-j", jobs]).args(extra);
        if auto_reachable {
            cmd.arg("--auto-reachable-services");
        }
        let output = timed("compile", || run_bounded(cmd, None, Duration::from_secs(120)));
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || stderr.contains("panicked") {
            return Err(fail(format!("meshc compile ({name}, -j {jobs}) failed ({}):\n{stderr}", output.status)));
        }
        trees.insert(name, read_tree(&out(name)));
    }
    for (a, b) in [("boot-a", "boot-b"), ("boot-a", "boot-c"), ("xds-a", "xds-b")] {
        if let Some(diff) = tree_difference(&trees[a], &trees[b]) {
            return Err(fail(format!("output differs between {a} and {b}: {diff}")));
        }
    }

    // 2. Envoy accepts every proxy, in both formats.
    let boots = judge::bootstraps(&out("boot-a"));
    let mut all = boots.clone();
    all.extend(judge::bootstraps(&out("xds-a")));
    if boots.is_empty() {
        return Err(fail("no proxy compiled".into()));
    }
    let validated = if envoy {
        let cwd = timed("certs", || judge::deployment(&out("boot-a"), &[&first]));
        let rejected = timed("envoy", || validate_all(&all, cwd.path()));
        if !rejected.is_empty() {
            return Err(fail(format!("Envoy rejected {} config(s):\n{}", rejected.len(), rejected.join("\n"))));
        }
        all.len()
    } else {
        0
    };
    Ok(Stats { proxies: boots.len(), validated })
}

/// The first path whose bytes differ (or that only one tree has).
fn tree_difference(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) -> Option<String> {
    for (path, bytes) in a {
        match b.get(path) {
            None => return Some(format!("{path} missing from the second")),
            Some(other) if other != bytes => return Some(format!("{path} differs")),
            Some(_) => {}
        }
    }
    b.keys().find(|p| !a.contains_key(*p)).map(|p| format!("{p} missing from the first"))
}

/// `envoy --mode validate` on every config, [`ENVOY_JOBS`] at a time; one message per rejection.
fn validate_all(configs: &[PathBuf], cwd: &Path) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let rejected = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..ENVOY_JOBS {
            s.spawn(|| {
                while let Some(config) = configs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if let Err(e) = common::validate(config, cwd) {
                        rejected.lock().unwrap().push(format!("{}: {e}", config.display()));
                    }
                }
            });
        }
    });
    let mut rejected = rejected.into_inner().unwrap();
    rejected.sort();
    rejected
}

// ---------------------------------------------------------------------------
// The generator.

/// What the synthetic part of a mesh holds, for targetRefs that resolve.
#[derive(Default)]
struct MeshNames {
    /// Universal MeshServices (no namespace): name and (port, protocol) list.
    services: Vec<(String, Vec<(i64, String)>)>,
    externals: Vec<String>,
    multizone: Vec<String>,
    /// `kuma.io/service` tags of the Dataplanes' inbounds.
    service_tags: Vec<String>,
    /// `app` labels of the Dataplanes.
    apps: Vec<String>,
    zones: Vec<String>,
    /// The Dataplanes without transparent proxying this test adds (inbounds `p0`..).
    clients: Vec<String>,
}

/// The world of `seed`: `(relative path, YAML)` pairs. File access logs go under `logs`.
fn generate(seed: u64, logs: &Path) -> Vec<(String, String)> {
    let mut rng = Rng::new(seed);
    let cfg = SynthConfig {
        meshes: 1 + rng.below(2),
        services: 1 + rng.below(4),
        dataplanes_per_service: 1 + rng.below(2),
        zones: 1 + rng.below(3),
        policies_per_kind: rng.below(2),
        policies: rng.below(12),
        external_services: rng.below(4),
        multizone_services: rng.below(2),
        seed: rng.next_u64(),
        form: *rng.pick(&[Form::Universal, Form::Kubernetes, Form::Mixed]),
        reachable_backends: rng.below(3),
        callers_percent: *rng.pick(&[0, 0, 50]),
    };
    let mut files = synth::generate(&cfg);
    // synth's file access logs go to /var/log/kuma, which Envoy opens: a directory that exists instead.
    let logs_dir = format!("{}/", logs.display());
    for (_, text) in &mut files {
        *text = text.replace("/var/log/kuma/", &logs_dir);
    }
    let outcome = meshc::validate::run_texts(files.clone(), &Default::default());
    let mut names: BTreeMap<String, MeshNames> = BTreeMap::new();
    for r in &outcome.resources {
        let (Some(mesh), Some(spec)) = (r.meta.mesh.clone(), r.spec.as_ref()) else { continue };
        let entry = names.entry(mesh).or_default();
        let universal = r.meta.namespace.is_none();
        let spec = spec.to_json();
        match r.meta.kind {
            Kind::MeshService if universal => {
                let ports = spec["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| Some((p["port"].as_i64()?, p["appProtocol"].as_str().unwrap_or("tcp").to_string())))
                    .collect();
                entry.services.push((r.meta.name.clone(), ports));
            }
            Kind::MeshExternalService if universal => entry.externals.push(r.meta.name.clone()),
            Kind::MeshMultiZoneService if universal => entry.multizone.push(r.meta.name.clone()),
            Kind::Dataplane => {
                for inbound in spec["networking"]["inbound"].as_array().into_iter().flatten() {
                    if let Some(tag) = inbound["tags"]["kuma.io/service"].as_str() {
                        entry.service_tags.push(tag.to_string());
                    }
                }
                entry.apps.extend(r.meta.labels.get("app").cloned());
                entry.zones.extend(r.meta.zone().map(str::to_string));
            }
            _ => {}
        }
    }
    for n in names.values_mut() {
        for list in [&mut n.service_tags, &mut n.apps, &mut n.zones] {
            list.sort();
            list.dedup();
        }
    }

    // Conflicts the output must resolve the same way whatever the file order: a
    // second HostnameGenerator making the same hostnames as synth's.
    if rng.chance(30) {
        let hg = json!({
            "type": "HostnameGenerator",
            "name": "prop-colliding-hostnames",
            "spec": {
                "selector": { "meshService": { "matchLabels": { "env": "production" } } },
                "template": "{{ .DisplayName }}.svc.{{ .Mesh }}.mesh.local",
            },
        });
        files.push(("global/prop-hostnames.yaml".into(), serde_json::to_string_pretty(&hg).expect("JSON")));
    }
    let mut next_ip = 1;
    for m in 0..cfg.meshes {
        let mesh = format!("mesh-{m}");
        let mtls = rng.chance(75);
        let path = format!("meshes/{mesh}/mesh.yaml");
        let doc = random_mesh(&mut rng, &mesh, mtls);
        match files.iter_mut().find(|(p, _)| *p == path) {
            Some(file) => file.1 = doc,
            None => files.push((path, doc)),
        }
        let Some(n) = names.get_mut(&mesh) else { continue };
        let mut extra = Vec::new();
        for i in 0..rng.below(3) {
            let dp = explicit_dataplane(&mut rng, &mesh, i, &mut next_ip, n);
            n.clients.push(dp["name"].as_str().unwrap_or_default().to_string());
            extra.push((format!("client-{i}"), dp));
        }
        let n = &*n;
        let mut routes = Vec::new();
        for i in 0..rng.below(10) {
            let kind = *rng.pick(&synth::POLICY_KINDS[..15]);
            if let Some(doc) = random_policy(&mut rng, &mesh, kind, i, n, logs, &routes) {
                if kind == "MeshHTTPRoute" {
                    routes.push(doc["name"].as_str().unwrap_or_default().to_string());
                }
                extra.push((format!("{}-{i}", kind.to_lowercase()), doc));
            }
        }
        for (name, doc) in extra {
            let text = serde_json::to_string_pretty(&doc).expect("JSON");
            files.push((format!("meshes/{mesh}/extra/{name}.yaml"), text));
        }
    }
    files.sort();
    files
}

/// A Mesh in Universal form: builtin mTLS or none, passthrough, zone egress,
/// MeshService mode.
fn random_mesh(rng: &mut Rng, name: &str, mtls: bool) -> String {
    let mut doc = json!({ "type": "Mesh", "name": name });
    if mtls {
        doc["mtls"] = json!({
            "enabledBackend": "ca-1",
            "backends": [{ "name": "ca-1", "type": "builtin" }],
        });
        if rng.chance(50) {
            doc["routing"] = json!({ "zoneEgress": true });
        }
    }
    if rng.chance(50) {
        doc["networking"] = json!({ "outbound": { "passthrough": rng.chance(50) } });
    }
    doc["meshServices"] = json!({ "mode": *rng.pick(&["Exclusive", "Exclusive", "Everywhere"]) });
    serde_json::to_string_pretty(&doc).expect("JSON")
}

/// A Dataplane without transparent proxying: inbounds of random protocols and
/// explicit outbounds to MeshServices (by `backendRef`) and to services by tag.
fn explicit_dataplane(rng: &mut Rng, mesh: &str, i: usize, next_ip: &mut u32, n: &MeshNames) -> Value {
    let ip = *next_ip;
    *next_ip += 1;
    let service = format!("client-{i}");
    let inbounds: Vec<Value> = (0..1 + rng.below(3))
        .map(|k| {
            let protocol = *rng.pick(&["http", "tcp", "grpc", "http2"]);
            json!({
                "port": 20000 + k,
                "servicePort": 30000 + k,
                "name": format!("p{k}"),
                "tags": { "kuma.io/service": service, "kuma.io/protocol": protocol, "app": service },
            })
        })
        .collect();
    let mut outbounds = Vec::new();
    let mut port = 40000;
    for (name, ports) in &n.services {
        if let Some((p, _)) = ports.first().filter(|_| rng.chance(60)) {
            outbounds.push(json!({ "port": port, "backendRef": { "kind": "MeshService", "name": name, "port": p } }));
            port += 1;
        }
    }
    for tag in &n.service_tags {
        if rng.chance(40) {
            outbounds.push(json!({ "port": port, "tags": { "kuma.io/service": tag } }));
            port += 1;
        }
    }
    let mut labels = json!({ "app": service });
    if let Some(zone) = n.zones.first().filter(|_| rng.chance(70)) {
        labels["kuma.io/zone"] = json!(zone);
    }
    json!({
        "type": "Dataplane",
        "mesh": mesh,
        "name": format!("{service}-{mesh}"),
        "labels": labels,
        "networking": {
            "address": format!("10.250.{}.{}", ip / 250, ip % 250 + 1),
            "inbound": inbounds,
            "outbound": outbounds,
            "admin": { "port": 9901 },
        },
    })
}

/// Top-level targetRefs any sidecar policy may use.
fn top_ref(rng: &mut Rng, n: &MeshNames) -> Value {
    match rng.below(5) {
        3 if !n.clients.is_empty() => {
            let mut r = json!({ "kind": "Dataplane", "name": rng.pick(&n.clients) });
            if rng.chance(50) {
                r["sectionName"] = json!("p0");
            }
            r
        }
        0 if !n.apps.is_empty() => json!({ "kind": "Dataplane", "labels": { "app": rng.pick(&n.apps) } }),
        1 if !n.zones.is_empty() => json!({ "kind": "MeshSubset", "tags": { "kuma.io/zone": rng.pick(&n.zones) } }),
        2 if !n.service_tags.is_empty() => {
            json!({ "kind": "MeshSubset", "tags": { "kuma.io/service": rng.pick(&n.service_tags) } })
        }
        _ => json!({ "kind": "Mesh" }),
    }
}

/// `to` targetRefs: the mesh, a MeshService (maybe one port of it), a
/// MeshExternalService (with `allow_mes`) or a MeshMultiZoneService.
fn to_ref(rng: &mut Rng, n: &MeshNames, allow_mes: bool) -> Value {
    match rng.below(5) {
        0 | 1 if !n.services.is_empty() => {
            let (name, ports) = rng.pick(&n.services);
            let mut r = json!({ "kind": "MeshService", "name": name });
            if let Some((port, _)) = ports.first().filter(|_| rng.chance(30)) {
                r["sectionName"] = json!(port.to_string());
            }
            r
        }
        2 if allow_mes && !n.externals.is_empty() => {
            json!({ "kind": "MeshExternalService", "name": rng.pick(&n.externals) })
        }
        3 if !n.multizone.is_empty() => json!({ "kind": "MeshMultiZoneService", "name": rng.pick(&n.multizone) }),
        _ => json!({ "kind": "Mesh" }),
    }
}

/// `from` targetRefs.
fn from_ref(rng: &mut Rng, n: &MeshNames) -> Value {
    match rng.below(3) {
        0 if !n.service_tags.is_empty() => {
            json!({ "kind": "MeshSubset", "tags": { "kuma.io/service": rng.pick(&n.service_tags) } })
        }
        _ => json!({ "kind": "Mesh" }),
    }
}

fn dur(rng: &mut Rng, unit: &str, max: usize) -> String {
    format!("{}{unit}", 1 + rng.below(max))
}

/// A policy of `kind` with random targetRefs and a small valid conf; `None` when
/// the mesh has nothing the kind needs (routes without services).
fn random_policy(
    rng: &mut Rng,
    mesh: &str,
    kind: &str,
    i: usize,
    n: &MeshNames,
    logs: &Path,
    routes: &[String],
) -> Option<Value> {
    // Policies on a route (top-level MeshHTTPRoute, `to` the whole mesh).
    if matches!(kind, "MeshTimeout" | "MeshRetry") && !routes.is_empty() && rng.chance(30) {
        let conf = if kind == "MeshTimeout" {
            json!({ "http": { "requestTimeout": dur(rng, "s", 30) } })
        } else {
            json!({ "http": { "numRetries": 1 + rng.below(4) } })
        };
        let spec = json!({
            "targetRef": { "kind": "MeshHTTPRoute", "name": rng.pick(routes) },
            "to": [{ "targetRef": { "kind": "Mesh" }, "default": conf }],
        });
        return Some(
            json!({ "type": kind, "mesh": mesh, "name": format!("prop-{}-{i}", kind.to_lowercase()), "spec": spec }),
        );
    }
    let mut top = top_ref(rng, n);
    let top_is_mesh = top["kind"] == "Mesh";
    // `from` only applies to sidecars: a Mesh-wide policy with `from` must say so.
    let sidecars = |top: &mut Value| {
        if top["kind"] == "Mesh" || top["kind"] == "MeshSubset" {
            top["proxyTypes"] = json!(["Sidecar"]);
        }
    };
    // Only these kinds accept a MeshSubset in `from`.
    let subset_from = matches!(kind, "MeshTrafficPermission" | "MeshFaultInjection");
    // Inbound side: `rules` (the current API) or `from` (legacy).
    let inbound = |rng: &mut Rng, top: &mut Value, conf: Value| -> Value {
        if kind != "MeshRateLimit" && rng.chance(50) {
            json!({ "rules": [{ "default": conf }] })
        } else {
            sidecars(top);
            let from = if subset_from { from_ref(rng, n) } else { json!({ "kind": "Mesh" }) };
            json!({ "from": [{ "targetRef": from, "default": conf }] })
        }
    };
    let outbound = |rng: &mut Rng, conf: Value, allow_mes: bool| -> Value {
        json!({ "to": [{ "targetRef": to_ref(rng, n, allow_mes && top_is_mesh), "default": conf }] })
    };
    let mut spec = match kind {
        "MeshTrafficPermission" => {
            let action = *rng.pick(&["Allow", "Deny", "AllowWithShadowDeny"]);
            if rng.chance(30) {
                let allow = json!([{ "spiffeID": { "type": "Prefix", "value": format!("spiffe://{mesh}/") } }]);
                json!({ "rules": [{ "default": { "allow": allow } }] })
            } else {
                sidecars(&mut top);
                json!({ "from": [{ "targetRef": from_ref(rng, n), "default": { "action": action } }] })
            }
        }
        "MeshTLS" => {
            let mut conf = json!({ "mode": *rng.pick(&["Strict", "Permissive"]) });
            if top_is_mesh {
                conf["tlsVersion"] = json!({ "min": "TLS12", "max": "TLS13" });
            }
            inbound(rng, &mut top, conf)
        }
        "MeshPassthrough" => {
            let mode = *rng.pick(&["All", "Matched", "None"]);
            json!({ "default": {
                "passthroughMode": mode,
                "appendMatch": [
                    { "type": "Domain", "value": format!("api{i}.example.com"), "port": 443, "protocol": "tls" },
                    { "type": "CIDR", "value": "192.168.0.0/16", "protocol": "tcp" },
                ],
            } })
        }
        "MeshLoadBalancingStrategy" => {
            let lb = *rng.pick(&["RoundRobin", "LeastRequest", "Random", "RingHash", "Maglev"]);
            outbound(rng, json!({ "loadBalancer": { "type": lb } }), false)
        }
        "MeshTimeout" => {
            let conf = json!({
                "connectionTimeout": dur(rng, "s", 10),
                "idleTimeout": dur(rng, "m", 60),
                "http": { "requestTimeout": dur(rng, "s", 30), "streamIdleTimeout": dur(rng, "m", 30) },
            });
            if rng.chance(30) { inbound(rng, &mut top, conf) } else { outbound(rng, conf, true) }
        }
        "MeshRetry" => {
            let conf = json!({
                "tcp": { "maxConnectAttempt": 1 + rng.below(5) },
                "http": { "numRetries": 1 + rng.below(5), "perTryTimeout": dur(rng, "s", 5), "retryOn": ["5xx", "ConnectFailure"] },
                "grpc": { "numRetries": 1 + rng.below(3), "retryOn": ["Unavailable"] },
            });
            outbound(rng, conf, true)
        }
        "MeshCircuitBreaker" => {
            let conf = json!({
                "connectionLimits": { "maxConnections": 1 + rng.below(1000), "maxPendingRequests": 1 + rng.below(100) },
                "outlierDetection": { "disabled": false, "detectors": { "totalFailures": { "consecutive": 1 + rng.below(10) } } },
            });
            if rng.chance(30) { inbound(rng, &mut top, conf) } else { outbound(rng, conf, true) }
        }
        "MeshHealthCheck" => {
            let conf = json!({
                "interval": dur(rng, "s", 20),
                "timeout": dur(rng, "s", 5),
                "unhealthyThreshold": 1 + rng.below(5),
                "healthyThreshold": 1 + rng.below(5),
                "http": { "path": "/healthz", "expectedStatuses": [200] },
            });
            outbound(rng, conf, true)
        }
        "MeshHTTPRoute" => {
            let http: Vec<&(String, Vec<(i64, String)>)> = n
                .services
                .iter()
                .filter(|(_, ports)| {
                    ports.first().is_some_and(|(_, p)| matches!(p.as_str(), "http" | "http2" | "grpc"))
                })
                .collect();
            if http.is_empty() {
                return None;
            }
            let target = &rng.pick(&http).0;
            let backend = *rng.pick(&http);
            let port = backend.1.first()?.0;
            json!({ "to": [{
                "targetRef": { "kind": "MeshService", "name": target },
                "rules": [{
                    "matches": [{ "path": { "type": "PathPrefix", "value": format!("/v{i}") } }],
                    "default": {
                        "filters": [{ "type": "RequestHeaderModifier", "requestHeaderModifier": { "set": [{ "name": "x-prop", "value": format!("{i}") }] } }],
                        "backendRefs": [{ "kind": "MeshService", "name": backend.0, "port": port, "weight": 1 + rng.below(10) }],
                    },
                }],
            }] })
        }
        "MeshTCPRoute" => {
            if n.services.is_empty() {
                return None;
            }
            let (target, _) = rng.pick(&n.services);
            let (backend, ports) = rng.pick(&n.services);
            let port = ports.first()?.0;
            json!({ "to": [{
                "targetRef": { "kind": "MeshService", "name": target },
                "rules": [{ "default": { "backendRefs": [{ "kind": "MeshService", "name": backend, "port": port }] } }],
            }] })
        }
        "MeshRateLimit" => {
            let conf = json!({ "local": {
                "http": { "requestRate": { "num": 1 + rng.below(100), "interval": dur(rng, "s", 10) } },
                "tcp": { "connectionRate": { "num": 1 + rng.below(100), "interval": dur(rng, "s", 10) } },
            } });
            inbound(rng, &mut top, conf)
        }
        "MeshFaultInjection" => {
            let conf = json!({ "http": [
                { "abort": { "httpStatus": 500 + rng.below(4), "percentage": rng.below(100) } },
                { "delay": { "value": dur(rng, "ms", 500), "percentage": rng.below(100) } },
            ] });
            inbound(rng, &mut top, conf)
        }
        "MeshAccessLog" => {
            let backend = match rng.below(3) {
                0 => {
                    json!({ "type": "File", "file": { "path": logs.join(format!("access-{i}.log")).display().to_string() } })
                }
                1 => json!({ "type": "Tcp", "tcp": { "address": "127.0.0.1:5170" } }),
                _ => json!({ "type": "OpenTelemetry", "openTelemetry": { "endpoint": "127.0.0.1:4317" } }),
            };
            let conf = json!({ "backends": [backend] });
            if rng.chance(50) { inbound(rng, &mut top, conf) } else { outbound(rng, conf, true) }
        }
        "MeshTrace" => {
            let backend = if rng.chance(50) {
                json!({ "type": "Zipkin", "zipkin": { "url": "http://127.0.0.1:9411/api/v2/spans" } })
            } else {
                json!({ "type": "OpenTelemetry", "openTelemetry": { "endpoint": "127.0.0.1:4317" } })
            };
            json!({ "default": { "backends": [backend], "sampling": { "overall": rng.below(101) } } })
        }
        "MeshMetric" => {
            json!({ "default": { "backends": [{ "type": "Prometheus", "prometheus": { "port": 5670 + rng.below(10), "path": "/metrics" } }] } })
        }
        _ => return None,
    };
    // `sectionName` (an inbound) is for inbound-only policies.
    let outbound_or_proxy = spec.get("to").is_some() || spec.get("default").is_some();
    if outbound_or_proxy && let Some(top) = top.as_object_mut() {
        top.remove("sectionName");
    }
    spec["targetRef"] = top;
    Some(json!({ "type": kind, "mesh": mesh, "name": format!("prop-{}-{i}", kind.to_lowercase()), "spec": spec }))
}

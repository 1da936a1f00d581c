//! `meshc compile` into an existing output, killed (SIGKILL) at random points:
//! the old output stays intact and loadable, and the next compile finishes or
//! discards what the killed one left (see `src/emit/write.rs`).
//!
//! `MESHC_KILL_ITERATIONS` (default 20) sets how many kills; `MESHC_KILL_SEED`
//! replays a run (the seed is printed, and named in every failure).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

type Files = BTreeMap<String, Vec<u8>>;

/// xorshift64*: enough randomness for kill delays, replayable from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[lo, hi]`.
    fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_micros() as u64;
        lo + Duration::from_micros(if span == 0 { 0 } else { self.next() % span })
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Two inputs: a synthetic mesh, and the same with one service gone (its
/// proxies are removed) and a MeshTimeout changing some proxies' clusters.
fn inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let old = dir.join("in-old");
    let synth = Command::new(env!("CARGO_BIN_EXE_meshc-synth"))
        .args(["--services", "10", "--dataplanes-per-service", "3", "--reachable-backends", "3", "--out"])
        .arg(&old)
        .output()
        .expect("meshc-synth runs");
    assert!(synth.status.success(), "meshc-synth: {}", String::from_utf8_lossy(&synth.stderr));
    let new = dir.join("in-new");
    copy_tree(&old, &new);
    let mut removed = 0;
    for entry in std::fs::read_dir(new.join("meshes/mesh-0/services")).unwrap() {
        for file in std::fs::read_dir(entry.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if removed == 0 && path.extension().is_some_and(|e| e == "yaml") {
                std::fs::remove_file(&path).unwrap();
                removed += 1;
            }
        }
    }
    common::write(
        &new,
        "meshes/mesh-0/policies/kill-test-timeout.yaml",
        "type: MeshTimeout\nname: kill-test-timeout\nmesh: mesh-0\nspec:\n  targetRef:\n    kind: Mesh\n  to:\n    - targetRef:\n        kind: Mesh\n      default:\n        connectionTimeout: 7s\n",
    );
    (old, new)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `meshc compile INPUT --out OUT --format xds` (absolute paths, so the
/// bootstraps' LDS/CDS paths work from any directory).
fn compile_command(input: &Path, out: &Path, secrets: &Path) -> Command {
    let mut cmd = common::meshc();
    cmd.arg("compile").arg(input).arg("--out").arg(out).arg("--secrets-dir").arg(secrets);
    cmd.args(["--format", "xds", "--quiet", "--color", "never"]);
    cmd
}

fn compile(input: &Path, out: &Path, secrets: &Path) -> String {
    let output = common::run_bounded(compile_command(input, out, secrets), None, Duration::from_secs(300));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "compile {} failed: {stderr}", input.display());
    stderr
}

/// The files meshc owns in `out` (`manifest.json`, `proxies/**`).
fn owned(out: &Path) -> Files {
    common::read_tree(out).into_iter().filter(|(p, _)| p == "manifest.json" || p.starts_with("proxies/")).collect()
}

fn hidden(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Every file the on-disk manifest names exists, parses, and is byte for byte
/// the old or the new version of that file: never a torn one. Returns the
/// bootstraps.
fn check_loadable(out: &Path, old: &Files, new: &Files, context: &str) -> Vec<String> {
    let manifest = std::fs::read(out.join("manifest.json")).unwrap_or_else(|e| panic!("{context}: manifest: {e}"));
    assert!(
        old.get("manifest.json") == Some(&manifest) || new.get("manifest.json") == Some(&manifest),
        "{context}: torn manifest"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let mut bootstraps = Vec::new();
    for proxy in manifest["proxies"].as_array().unwrap() {
        bootstraps.push(proxy["bootstrap"].as_str().unwrap().to_string());
        for file in proxy["files"].as_array().unwrap() {
            let rel = file.as_str().unwrap();
            let bytes = std::fs::read(out.join(rel)).unwrap_or_else(|e| panic!("{context}: {rel} is listed: {e}"));
            assert!(
                old.get(rel) == Some(&bytes) || new.get(rel) == Some(&bytes),
                "{context}: {rel} is neither the old nor the new version"
            );
            let text = String::from_utf8(bytes).unwrap();
            let limits = meshc::source::Limits { max_nodes: usize::MAX, ..Default::default() };
            let parsed = meshc::source::yaml::parse(&text, &limits);
            assert!(
                parsed.problems.is_empty()
                    && parsed.documents.len() == 1
                    && parsed.documents[0].value.as_ref().is_some_and(|v| v.is_object()),
                "{context}: {rel} does not parse: {:?}",
                parsed.problems
            );
        }
    }
    bootstraps
}

/// How long an in-place compile of `input` over an output takes, and how long
/// its journal exists (the apply phase): where to aim the kills.
fn calibrate(input: &Path, out: &Path, secrets: &Path) -> (Duration, Duration) {
    let started = Instant::now();
    let mut child = compile_command(input, out, secrets).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let (mut appeared, mut gone) = (None, None);
    loop {
        let exists = out.join(".meshc-journal").exists();
        if appeared.is_none() && exists {
            appeared = Some(Instant::now());
        }
        if appeared.is_some() && gone.is_none() && !exists {
            gone = Some(Instant::now());
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "calibration compile hangs");
        std::thread::sleep(Duration::from_micros(200));
    }
    let apply = match (appeared, gone) {
        (Some(a), Some(g)) => g - a,
        _ => Duration::from_millis(20),
    };
    (started.elapsed(), apply.max(Duration::from_millis(2)))
}

/// Waits (bounded) until the compile writing `out` commits its journal.
fn wait_for_journal(out: &Path, child: &mut std::process::Child, limit: Duration) {
    let started = Instant::now();
    while !out.join(".meshc-journal").exists() && started.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn killed_compiles_leave_a_loadable_output_and_the_next_run_finishes_them() {
    let iterations = env_number("MESHC_KILL_ITERATIONS").unwrap_or(20);
    let seed = env_number("MESHC_KILL_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("atomic_kill: seed {seed} (MESHC_KILL_SEED={seed} replays it), {iterations} kills");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let (in_a, in_b) = inputs(tmp.path());
    let secrets = tmp.path().join("secrets");
    let envoy = std::env::var_os("MESHC_ENVOY").is_some().then(common::envoy).flatten();
    if envoy.is_some() {
        let certs = common::run(&["certs", in_a.to_str().unwrap(), "--out", secrets.to_str().unwrap()]);
        assert!(certs.status.success(), "certs: {}", String::from_utf8_lossy(&certs.stderr));
    }
    // Clean compiles of both inputs, each into a new directory.
    let out = tmp.path().join("out");
    compile(&in_b, &out, &secrets);
    let clean_b = owned(&out);
    std::fs::remove_dir_all(&out).unwrap();
    compile(&in_a, &out, &secrets);
    let clean_a = owned(&out);
    let (total, apply) = calibrate(&in_b, &out, &secrets);
    assert_eq!(owned(&out), clean_b);
    eprintln!("atomic_kill: an in-place compile takes {total:?}, its journal exists for {apply:?}");

    let (mut from, mut to) = ((&in_b, &clean_b), (&in_a, &clean_a));
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut checked = 0;
    for i in 0..iterations {
        let context = format!("seed {seed}, kill {i}");
        // Half the kills at a random time in the whole run; half at a random
        // time after the journal is committed (during the renames and deletions).
        let aimed = i % 2 == 1;
        let mut child =
            compile_command(to.0, &out, &secrets).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        if aimed {
            wait_for_journal(&out, &mut child, total * 4 + Duration::from_secs(10));
            std::thread::sleep(rng.between(Duration::ZERO, apply));
        } else {
            std::thread::sleep(rng.between(Duration::ZERO, total));
        }
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let journal = out.join(".meshc-journal").exists();
        let on_disk = owned(&out);
        let outcome = if journal {
            "journal committed"
        } else if on_disk == *from.1 {
            "old output intact"
        } else if on_disk == *to.1 {
            // The kill can land after the last rename and the journal's removal,
            // before the process exits: the update is whole, the status is SIGKILL's.
            if status.success() { "finished before the kill" } else { "finished, killed before exiting" }
        } else {
            panic!("{context}: no journal, yet the output is neither the old one nor a finished new one");
        };
        *outcomes.entry(outcome).or_default() += 1;
        let bootstraps = check_loadable(&out, from.1, to.1, &context);
        if let Some(envoy) = &envoy {
            let pick = &bootstraps[(rng.next() % bootstraps.len() as u64) as usize];
            let validated = Command::new(envoy)
                .args(["--mode", "validate", "-l", "error", "-c"])
                .arg(out.join(pick))
                .output()
                .unwrap();
            assert!(validated.status.success(), "{context}: {pick}: {}", String::from_utf8_lossy(&validated.stderr));
            checked += 1;
        }
        // The next run finishes (or discards) what was left and writes the new output.
        let stderr = compile(to.0, &out, &secrets);
        assert_eq!(
            stderr.contains("finished the update"),
            journal,
            "{context}: the recovery run says whether it finished an update: {stderr}"
        );
        assert!(owned(&out) == *to.1, "{context}: after recovery the output is not a clean compile of the new input");
        assert_eq!(hidden(&out), Vec::<String>::new(), "{context}: staging or journal left");
        assert_eq!(hidden(tmp.path()), Vec::<String>::new(), "{context}: temporary directory left beside the output");
        std::mem::swap(&mut from, &mut to);
    }
    eprintln!("atomic_kill: seed {seed}: {outcomes:?}; {checked} bootstraps accepted by envoy --mode validate");
}

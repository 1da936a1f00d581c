//! `cargo bench --bench validate`: time the release `meshc validate` on synthetic
//! meshes of about 1,000, 10,000 and 100,000 resources (see `meshc::synth`), with
//! one worker thread and with the default (one per core), best of 3 runs each.
//!
//! Environment:
//! - `MESHC_BENCH_SIZES=1000,10000` to choose the sizes (resources, approximate);
//! - `MESHC_BENCH_RUNS=5` to change the number of runs per configuration;
//! - `MESHC_BENCH_SEED=7` to change the generator's seed.
//!
//! The binary is the `meshc` that cargo builds for this bench (release profile).
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it only runs a smoke
//! check: a small generated mesh must validate with no finding.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meshc::synth::{self, SynthConfig};

mod common;
use common::{env_list, env_one, meshc_binary};

struct Run {
    wall: Duration,
    status: i32,
}

fn run(meshc: &Path, dir: &Path, threads: Option<usize>) -> Run {
    let mut cmd = Command::new(meshc);
    cmd.arg("validate").arg("--quiet");
    if let Some(j) = threads {
        cmd.arg("-j").arg(j.to_string());
    }
    cmd.arg(dir).stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let status = cmd.status().expect("run meshc");
    Run { wall: start.elapsed(), status: status.code().unwrap_or(-1) }
}

/// (resources, errors, warnings) from `--format json`.
fn findings(meshc: &Path, dir: &Path) -> (u64, u64, u64, Vec<String>) {
    let out = Command::new(meshc)
        .args(["validate", "--format", "json"])
        .arg(dir)
        .stderr(Stdio::null())
        .output()
        .expect("run meshc");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let n = |k: &str| doc["summary"][k].as_u64().unwrap_or(0);
    let samples = doc["findings"]
        .as_array()
        .map(|a| {
            a.iter().take(5).map(|f| format!("{} {}:{} {}", f["code"], f["file"], f["line"], f["message"])).collect()
        })
        .unwrap_or_default();
    (n("resources"), n("errors"), n("warnings"), samples)
}

/// `cargo test`: one small mesh, which must validate clean.
fn smoke(meshc: &Path) {
    let cfg = SynthConfig { form: synth::Form::Mixed, ..SynthConfig::for_target(300, 1) };
    let tmp = tempfile::tempdir().expect("tempdir");
    synth::write_files(tmp.path(), &synth::generate(&cfg)).expect("write mesh");
    let (resources, errors, warnings, samples) = findings(meshc, tmp.path());
    assert_eq!(resources as usize, cfg.expected_resources(), "resources read");
    assert!(errors == 0 && warnings == 0, "{errors} errors, {warnings} warnings: {samples:#?}");
    println!("validate bench (smoke): {resources} resources, clean; `cargo bench --bench validate` measures");
}

fn main() {
    let meshc = meshc_binary();
    assert!(meshc.exists(), "{} not found: run `cargo build --release` first", meshc.display());
    if !std::env::args().any(|a| a == "--bench") {
        smoke(&meshc);
        return;
    }
    let sizes = env_list("MESHC_BENCH_SIZES", &[1_000, 10_000, 100_000]);
    let runs = env_one("MESHC_BENCH_RUNS", 3).max(1);
    let seed = env_one("MESHC_BENCH_SEED", 1) as u64;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("meshc: {}", meshc.display());
    println!("{cores} cores; best of {runs} runs; `meshc validate --quiet [-j N] DIR`\n");

    let mut rows = Vec::new();
    for &size in &sizes {
        let cfg = SynthConfig::for_target(size, seed);
        let t = Instant::now();
        let files = synth::generate(&cfg);
        let gen_time = t.elapsed();
        let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
        let tmp = tempfile::tempdir().expect("tempdir");
        let t = Instant::now();
        synth::write_files(tmp.path(), &files).expect("write mesh");
        let write_time = t.elapsed();
        let expected = cfg.expected_resources();
        println!(
            "size {size}: {expected} resources, {} files, {:.1} MiB (generated in {:.2?}, written in {:.2?})",
            files.len(),
            bytes as f64 / (1024.0 * 1024.0),
            gen_time,
            write_time
        );
        drop(files);

        let (resources, errors, warnings, samples) = findings(&meshc, tmp.path());
        if resources as usize != expected {
            println!("  !! meshc read {resources} resources, expected {expected}");
        }
        println!("  findings: {errors} errors, {warnings} warnings");
        for s in samples {
            println!("    {s}");
        }
        for threads in [Some(1), None] {
            let mut best = Duration::MAX;
            let mut status = 0;
            for _ in 0..runs {
                let r = run(&meshc, tmp.path(), threads);
                best = best.min(r.wall);
                status = r.status;
            }
            let label = threads.map_or(format!("default ({cores})"), |j| j.to_string());
            rows.push((expected, label, best, errors, warnings, status));
        }
    }

    println!();
    println!(
        "{:>10}  {:>12}  {:>10}  {:>12}  {:>6}  {:>8}  {:>4}",
        "resources", "threads", "best", "resources/s", "errors", "warnings", "exit"
    );
    for (n, threads, best, errors, warnings, status) in rows {
        let rate = n as f64 / best.as_secs_f64();
        println!(
            "{n:>10}  {threads:>12}  {:>9.3}s  {rate:>12.0}  {errors:>6}  {warnings:>8}  {status:>4}",
            best.as_secs_f64()
        );
    }
}

//! `cargo bench --bench compile`: time the release `meshc compile --timings` on
//! synthetic meshes of 2,500, 5,000 and 10,000 sidecars (`SynthConfig::for_sidecars`:
//! 5 Dataplanes per service, each reaching 20 MeshServices through
//! `reachableBackends`, builtin mTLS on, at least 1,000 policies of mixed kinds and
//! targetRef shapes on top of the mesh-wide and per-kind ones), and compare with how long
//! `envoy --mode validate` takes to load a few of the bootstraps it wrote.
//!
//! Per size it prints wall time, peak RSS of the `meshc` process (`wait4`'s
//! `ru_maxrss`), bytes and files written, proxies per second and meshc's own stage
//! timings; between consecutive sizes, how time grows against the proxy count.
//! Then, on the largest run: `meshc certs` into a secrets directory (the compile
//! runs already pointed `--secrets-dir` there, so the SDS files the bootstraps name
//! exist), and for a sample of proxies from its `manifest.json`, the ratio
//! `envoy validate time / (compile wall time / proxies)`. Last, the targets.
//!
//! Environment:
//! - `MESHC_BENCH_SIZES=2500,5000,10000` sidecars per size (rounded up to a multiple of 5);
//! - `MESHC_BENCH_REACHABLE=20` MeshServices each sidecar reaches;
//! - `MESHC_BENCH_POLICIES` policies of the weighted mix (`SynthConfig::policies`),
//!   at least 1,000 (default `max(1000, sidecars / 10)`, as `for_sidecars` picks);
//! - `MESHC_BENCH_RUNS=1` compile runs per size (the fastest is reported);
//! - `MESHC_BENCH_SAMPLE=5` proxies validated by Envoy;
//! - `MESHC_BENCH_SEED=1` the generator's seed;
//! - `MESHC_ENVOY` the Envoy binary (else `target/test-tools/envoy-venv/bin/envoy`,
//!   where `scripts/envoy.sh` installs it); without Envoy the ratio is skipped.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it only runs a smoke
//! check: a tiny mesh compiles with exit 0 and its sidecars are in the manifest.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meshc::synth::{self, SynthConfig};

mod common;
use common::{Finished, env_list, env_one, meshc_binary, run_measured};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// The targets.
const MAX_WALL_10K: Duration = Duration::from_secs(60);
const MAX_RSS_BYTES: u64 = 2 << 30;
const MIN_ENVOY_RATIO: f64 = 20.0;
/// 2x proxies within 2.2x time.
const MAX_GROWTH_PER_PROXY: f64 = 1.1;

/// Envoy, found as the tests find it (`tests/common/envoy.rs`).
fn envoy_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MESHC_ENVOY").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tools/envoy-venv/bin/envoy")).filter(|p| p.is_file())
}

/// `meshc compile --timings --secrets-dir SECRETS --out OUT MESH`, stderr into `log`.
fn compile(meshc: &Path, mesh: &Path, out: &Path, secrets: &Path, log: &Path) -> Finished {
    let mut cmd = Command::new(meshc);
    cmd.arg("compile").arg("--timings").arg("--secrets-dir").arg(secrets).arg("--out").arg(out).arg(mesh);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(File::create(log).expect("create log"));
    run_measured(cmd)
}

/// (files, bytes) under `dir`.
fn disk_usage(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes)
}

/// meshc's `--timings` block: `(stage, seconds)`.
fn parse_timings(log: &str) -> Vec<(String, f64)> {
    log.lines()
        .skip_while(|l| l.trim() != "timings:")
        .skip(1)
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next()?;
            let secs = parts.next()?.strip_suffix('s')?.parse().ok()?;
            Some((name.to_string(), secs))
        })
        .collect()
}

/// `(bootstrap path relative to the output directory)` of every proxy in the manifest.
fn manifest_bootstraps(out: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(out.join("manifest.json")).expect("read manifest.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    doc["proxies"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["bootstrap"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// `cargo test`: a tiny mesh compiles, and every sidecar and zone proxy is in the manifest.
fn smoke(meshc: &Path) {
    // A tiny mesh: a few of the weighted mix are enough to see them compile.
    let cfg = SynthConfig { policies: 40, ..SynthConfig::for_sidecars(20, 3, 1) };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mesh = tmp.path().join("mesh");
    synth::write_files(&mesh, &synth::generate(&cfg)).expect("write mesh");
    let (out, log) = (tmp.path().join("out"), tmp.path().join("compile.log"));
    let run = compile(meshc, &mesh, &out, &tmp.path().join("secrets"), &log);
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(run.status, 0, "meshc compile failed:\n{log}");
    let proxies = manifest_bootstraps(&out);
    assert_eq!(proxies.len(), cfg.sidecars() + cfg.zone_proxies(), "proxies in manifest.json");
    assert!(proxies.iter().all(|p| out.join(p).is_file()), "every bootstrap exists");
    assert!(!parse_timings(&log).is_empty(), "--timings printed:\n{log}");
    println!(
        "compile bench (smoke): {} proxies compiled in {:.2?}; `cargo bench --bench compile` measures",
        proxies.len(),
        run.wall
    );
}

/// One size's measurements.
struct Row {
    sidecars: usize,
    proxies: usize,
    resources: usize,
    run: Finished,
    files: u64,
    bytes: u64,
    timings: Vec<(String, f64)>,
}

fn main() {
    let meshc = meshc_binary();
    assert!(meshc.exists(), "{} not found: run `cargo build --release` first", meshc.display());
    if !std::env::args().any(|a| a == "--bench") {
        smoke(&meshc);
        return;
    }
    let sizes = env_list("MESHC_BENCH_SIZES", &[2_500, 5_000, 10_000]);
    let reachable = env_one("MESHC_BENCH_REACHABLE", 20);
    let runs = env_one("MESHC_BENCH_RUNS", 1).max(1);
    let sample = env_one("MESHC_BENCH_SAMPLE", 5).max(1);
    let seed = env_one("MESHC_BENCH_SEED", 1) as u64;
    // Never under 1,000 (the rules stage is measured at that scale); unset keeps
    // `for_sidecars`'s `max(1000, sidecars / 10)`.
    let policies =
        std::env::var("MESHC_BENCH_POLICIES").ok().map(|_| env_one("MESHC_BENCH_POLICIES", 1_000).max(1_000));
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("meshc: {}", meshc.display());
    println!(
        "{cores} cores; {} run(s) per size, fastest kept; `meshc compile --timings --secrets-dir S --out OUT MESH`",
        runs
    );
    println!(
        "mesh: 1 mesh, 5 Dataplanes per service over 3 zones, {reachable} reachableBackends each, builtin mTLS, 1,000+ policies of mixed kinds\n"
    );

    let mut rows: Vec<Row> = Vec::new();
    // The largest size's directory stays for the Envoy sample.
    let mut kept: Option<(tempfile::TempDir, usize)> = None;
    for &size in &sizes {
        let mut cfg = SynthConfig::for_sidecars(size, reachable, seed);
        if let Some(n) = policies {
            cfg.policies = n;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let (mesh, out, secrets) = (tmp.path().join("mesh"), tmp.path().join("out"), tmp.path().join("secrets"));
        let t = Instant::now();
        let files = synth::generate(&cfg);
        let input_bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
        synth::write_files(&mesh, &files).expect("write mesh");
        println!(
            "size {}: {} services, {} policies, {} resources, {} files, {:.1} MiB of YAML (generated and written in {:.2?})",
            cfg.sidecars(),
            cfg.services,
            cfg.policy_count(),
            cfg.expected_resources(),
            files.len(),
            input_bytes as f64 / MIB,
            t.elapsed()
        );
        drop(files);

        let log = tmp.path().join("compile.log");
        let mut best: Option<Finished> = None;
        let mut best_log = String::new();
        for _ in 0..runs {
            let run = compile(&meshc, &mesh, &out, &secrets, &log);
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if run.status != 0 {
                println!("  !! meshc compile exited {}:\n{}", run.status, tail(&text, 20));
            }
            if best.as_ref().is_none_or(|b| run.wall < b.wall) {
                best = Some(run);
                best_log = text;
            }
        }
        let run = best.expect("at least one run");
        let (files, bytes) = disk_usage(&out);
        let proxies = if out.join("manifest.json").is_file() { manifest_bootstraps(&out).len() } else { 0 };
        for line in best_log.lines().filter(|l| !l.trim().is_empty()) {
            println!("  | {line}");
        }
        rows.push(Row {
            sidecars: cfg.sidecars(),
            proxies,
            resources: cfg.expected_resources(),
            run,
            files,
            bytes,
            timings: parse_timings(&best_log),
        });
        let largest = kept.as_ref().is_none_or(|(_, n)| cfg.sidecars() >= *n);
        if largest {
            kept = Some((tmp, cfg.sidecars()));
        }
    }

    println!();
    println!(
        "{:>9}  {:>9}  {:>9}  {:>9}  {:>10}  {:>8}  {:>10}  {:>4}",
        "sidecars", "resources", "wall", "peak RSS", "written", "files", "proxies/s", "exit"
    );
    for r in &rows {
        println!(
            "{:>9}  {:>9}  {:>8.2}s  {:>5.0} MiB  {:>6.0} MiB  {:>8}  {:>10.0}  {:>4}",
            r.proxies,
            r.resources,
            r.run.wall.as_secs_f64(),
            r.run.max_rss as f64 / MIB,
            r.bytes as f64 / MIB,
            r.files,
            r.proxies as f64 / r.run.wall.as_secs_f64(),
            r.run.status
        );
    }
    let stages: Vec<String> =
        rows.first().map(|r| r.timings.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default();
    if !stages.is_empty() {
        println!();
        let header: Vec<String> = stages.iter().map(|s| format!("{s:>9}")).collect();
        println!("{:>9}  {}", "stage (s)", header.join(" "));
        for r in &rows {
            let cells: Vec<String> = r.timings.iter().map(|(_, s)| format!("{s:>9.3}")).collect();
            println!("{:>9}  {}", r.proxies, cells.join(" "));
        }
    }

    let mut growth_ok = true;
    if rows.len() > 1 {
        println!();
        println!("{:>17}  {:>12}  {:>10}  {:>16}", "growth", "proxies x", "time x", "time/proxy x");
        for w in rows.windows(2) {
            let px = w[1].proxies as f64 / w[0].proxies.max(1) as f64;
            let tx = w[1].run.wall.as_secs_f64() / w[0].run.wall.as_secs_f64();
            growth_ok &= tx / px <= MAX_GROWTH_PER_PROXY;
            println!(
                "{:>17}  {px:>12.2}  {tx:>10.2}  {:>16.2}",
                format!("{} -> {}", w[0].proxies, w[1].proxies),
                tx / px
            );
        }
    }

    let ratios = match (&kept, envoy_binary()) {
        (Some((tmp, _)), Some(envoy)) => envoy_sample(&meshc, &envoy, tmp.path(), rows.last(), sample),
        (_, None) => {
            println!("\nEnvoy not found (set MESHC_ENVOY or run scripts/envoy.sh): no validate ratio");
            Vec::new()
        }
        _ => Vec::new(),
    };

    println!("\ntargets:");
    if let Some(r) = rows.iter().find(|r| r.sidecars >= 10_000) {
        let ok = r.run.wall < MAX_WALL_10K && r.run.status == 0;
        println!("  {} {} sidecars in {:.1?} (< {MAX_WALL_10K:?})", verdict(ok), r.proxies, r.run.wall);
    }
    let peak = rows.iter().map(|r| r.run.max_rss).max().unwrap_or(0);
    println!(
        "  {} peak RSS {:.2} GiB (< {:.0} GiB)",
        verdict(peak < MAX_RSS_BYTES),
        peak as f64 / GIB,
        MAX_RSS_BYTES as f64 / GIB
    );
    if let Some(min) = ratios.iter().copied().reduce(f64::min) {
        println!(
            "  {} envoy validate / compile per proxy: min {min:.0}x (>= {MIN_ENVOY_RATIO:.0}x)",
            verdict(min >= MIN_ENVOY_RATIO)
        );
    }
    if rows.len() > 1 {
        println!("  {} time per proxy grows at most {MAX_GROWTH_PER_PROXY}x between sizes", verdict(growth_ok));
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok  " } else { "MISS" }
}

/// `meshc certs` for the largest mesh, then `envoy --mode validate` on `sample`
/// of its bootstraps; prints and returns each ratio.
fn envoy_sample(meshc: &Path, envoy: &Path, dir: &Path, row: Option<&Row>, sample: usize) -> Vec<f64> {
    let Some(row) = row.filter(|r| r.run.status == 0 && r.proxies > 0) else { return Vec::new() };
    let (mesh, out, secrets) = (dir.join("mesh"), dir.join("out"), dir.join("secrets"));
    println!("\nenvoy: {}", envoy.display());
    let t = Instant::now();
    let certs = Command::new(meshc)
        .arg("certs")
        .arg("--out")
        .arg(&secrets)
        .arg(&mesh)
        .stdout(Stdio::null())
        .output()
        .expect("run meshc certs");
    if !certs.status.success() {
        println!("  !! meshc certs failed: {}", tail(&String::from_utf8_lossy(&certs.stderr), 10));
        return Vec::new();
    }
    println!("meshc certs for {} sidecars: {:.2?}", row.proxies, t.elapsed());
    let per_proxy = row.run.wall.as_secs_f64() / row.proxies as f64;
    let bootstraps = manifest_bootstraps(&out);
    let n = bootstraps.len();
    let k = sample.min(n);
    let picks: Vec<&String> = (0..k).map(|i| &bootstraps[if k == 1 { 0 } else { i * (n - 1) / (k - 1) }]).collect();
    println!(
        "compile: {:.2}s / {} proxies = {:.2} ms per proxy\n",
        row.run.wall.as_secs_f64(),
        row.proxies,
        per_proxy * 1e3
    );
    println!("{:<60}  {:>9}  {:>14}  {:>6}  {:>4}", "proxy (bootstrap)", "size", "envoy validate", "ratio", "exit");
    let mut ratios = Vec::new();
    for rel in picks {
        let path = out.join(rel);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(envoy);
        cmd.current_dir(dir)
            .args(["--mode", "validate", "--log-level", "error", "-c"])
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let run = run_measured(cmd);
        let ratio = run.wall.as_secs_f64() / per_proxy;
        let name = rel.trim_start_matches("proxies/").trim_end_matches("/bootstrap.yaml");
        println!(
            "{name:<60}  {:>5.0} KiB  {:>13.3}s  {ratio:>5.0}x  {:>4}",
            size as f64 / 1024.0,
            run.wall.as_secs_f64(),
            run.status
        );
        if run.status == 0 {
            ratios.push(ratio);
        } else {
            println!("  !! envoy rejected {}: run `envoy --mode validate -c` on it to see why", path.display());
        }
    }
    ratios
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

//! `cargo bench --bench report`: `meshc report` on synthetic meshes of 5,000 and
//! 10,000 sidecars (1,000 and 2,000 MeshServices; the compile benchmark's largest,
//! `SynthConfig::for_sidecars`), then the page in headless Chromium.
//!
//! Per size it prints: the report's wall time and peak RSS, the page's size, and
//! in Chromium the first render (from `Page.navigate` until the page says it is
//! drawn, `document.body.dataset.ready`, and the page's own `meshcRenderMs`
//! from its script's start), then how long each view takes to draw after a
//! navigation: the service graph, the matrix, a proxy, a policy, the proxy list.
//! Last, the target: first render under 2 s on the largest mesh.
//!
//! Environment: `MESHC_BENCH_SIZES=5000,10000` sidecars; `MESHC_BENCH_SEED=1`;
//! `MESHC_CHROMIUM` (else `/usr/bin/chromium`; without it, the browser part is
//! skipped). Under `cargo test --all-targets` (no `--bench` argument) it only
//! runs a smoke check: a tiny mesh's report is written and, with Chromium, draws.

use std::process::{Command, Stdio};
use std::time::Duration;

use meshc::synth::{self, SynthConfig};

mod common;
// The tests' browser harness; the bench uses part of it.
#[allow(dead_code)]
#[path = "../tests/common/chromium.rs"]
mod chromium;

use common::{env_list, env_one, meshc_binary, run_measured};

const MIB: f64 = 1024.0 * 1024.0;
/// The target for the largest mesh.
const MAX_FIRST_RENDER: Duration = Duration::from_secs(2);
const READY: &str = "document.body.dataset.ready === '1'";

/// The views timed after the first render: (name, hash, data-view).
fn views(page: &chromium::Page) -> Vec<(&'static str, String, &'static str)> {
    let first = |js: &str| page.eval(js).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let data = "JSON.parse(document.getElementById('meshc-data').textContent)";
    let proxy = first(&format!("{data}.proxies.find(p => p.kind === 'Dataplane')?.dir ?? ''"));
    vec![
        ("service graph", "#/services".to_string(), "services"),
        ("matrix", "#/matrix".to_string(), "matrix"),
        ("proxy list", "#/proxies".to_string(), "proxies"),
        ("one proxy", format!("#/proxy/{proxy}"), "proxy"),
        ("policy list", "#/policies".to_string(), "policies"),
        ("one policy", "#/policy/0".to_string(), "policy"),
    ]
}

/// Time from setting `hash` until the view `view` is drawn.
fn time_view(page: &chromium::Page, hash: &str, view: &str) -> Result<f64, String> {
    let js = format!(
        "new Promise(done => {{ const t0 = performance.now(); location.hash = {hash};\
         const tick = () => document.getElementById('main')?.dataset.view === '{view}'\
         ? requestAnimationFrame(() => done(performance.now() - t0)) : setTimeout(tick, 1); tick(); }})",
        hash = serde_json::json!(hash)
    );
    page.eval(&js)?.as_f64().ok_or_else(|| "no time".to_string())
}

struct Measured {
    sidecars: usize,
    first_render: Option<Duration>,
}

fn bench(size: usize, seed: u64, browser: Option<&chromium::Browser>) -> Measured {
    let cfg = SynthConfig::for_sidecars(size, 20, seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mesh = tmp.path().join("mesh");
    synth::write_files(&mesh, &synth::generate(&cfg)).expect("write mesh");
    let page_path = tmp.path().join("report.html");
    let mut cmd = Command::new(meshc_binary());
    cmd.arg("report").arg(&mesh).arg("--out").arg(&page_path);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let run = run_measured(cmd);
    assert_eq!(run.status, 0, "meshc report failed on {size} sidecars");
    let bytes = std::fs::metadata(&page_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{size} sidecars ({} services, {} policies): report {:.1} s, peak RSS {:.0} MiB, page {:.1} MiB",
        cfg.services,
        cfg.policy_count(),
        run.wall.as_secs_f64(),
        run.max_rss as f64 / MIB,
        bytes as f64 / MIB
    );
    let Some(browser) = browser else { return Measured { sidecars: size, first_render: None } };
    // A fresh tab on an empty page, so that the measure starts with the report's navigation.
    let blank = tmp.path().join("blank.html");
    std::fs::write(&blank, "<!doctype html><title>blank</title>").expect("write blank page");
    let page = browser.open(&blank).expect("Chromium opens a page");
    let first = page.navigate_and_measure(&page_path, READY).expect("the page draws");
    let own = page.eval("window.meshcRenderMs").ok().and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    println!("  first render in Chromium: {:.0} ms (the script's own count: {own:.0} ms)", first.as_secs_f64() * 1e3);
    for (name, hash, view) in views(&page) {
        match time_view(&page, &hash, view) {
            Ok(ms) => println!("  {name:<14} {ms:>7.0} ms"),
            Err(e) => println!("  {name:<14} failed: {e}"),
        }
    }
    let errors = page.errors();
    assert!(errors.is_empty(), "the page raised errors: {errors:?}");
    assert!(page.requests().is_empty(), "the page made requests: {:?}", page.requests());
    Measured { sidecars: size, first_render: Some(first) }
}

/// `cargo test`: a tiny mesh's report is written, and draws when Chromium is here.
fn smoke() {
    let cfg = SynthConfig { policies: 40, ..SynthConfig::for_sidecars(20, 3, 1) };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mesh = tmp.path().join("mesh");
    synth::write_files(&mesh, &synth::generate(&cfg)).expect("write mesh");
    let page_path = tmp.path().join("report.html");
    let status = Command::new(meshc_binary())
        .arg("report")
        .arg(&mesh)
        .arg("--out")
        .arg(&page_path)
        .stderr(Stdio::null())
        .status()
        .expect("meshc runs");
    assert!(status.success(), "meshc report on a tiny synthetic mesh");
    if let Some(browser) = chromium::Browser::launch() {
        let page = browser.open(&page_path).expect("open");
        page.wait_for(READY, Duration::from_secs(15)).expect("the page draws");
        assert!(page.errors().is_empty(), "{:?}", page.errors());
    }
    println!("report smoke: ok");
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        smoke();
        return;
    }
    let sizes = env_list("MESHC_BENCH_SIZES", &[5_000, 10_000]);
    let seed = env_one("MESHC_BENCH_SEED", 1) as u64;
    let browser = chromium::Browser::launch();
    if browser.is_none() {
        println!("(no Chromium: only meshc report is timed)");
    }
    let results: Vec<Measured> = sizes.iter().map(|&s| bench(s, seed, browser.as_ref())).collect();
    if let Some(largest) = results.iter().max_by_key(|m| m.sidecars)
        && let Some(first) = largest.first_render
    {
        let ok = first <= MAX_FIRST_RENDER;
        println!(
            "target: first render of the largest mesh ({} sidecars) under {:?}: {:.2} s {}",
            largest.sidecars,
            MAX_FIRST_RENDER,
            first.as_secs_f64(),
            if ok { "OK" } else { "MISSED" }
        );
    }
}

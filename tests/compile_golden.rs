//! Compile goldens, two stages like Envoy Gateway's translator tests:
//! - policy -> plan: each proxy's plan is an insta snapshot in
//!   `testdata/golden/<case>/plans/`;
//! - plan -> Envoy: `testdata/golden/<case>/expected/` is a complete `meshc
//!   compile --secrets-dir secrets` output, checked with `meshc compile --check`.
//!
//! `MESHC_BLESS=1 cargo test --test compile_golden` rewrites both; review the
//! diff like code. Every golden bootstrap must also pass `envoy --mode validate`.

mod common;

use std::path::{Path, PathBuf};

use meshc::compile;

fn cases() -> Vec<PathBuf> {
    let dir = common::root().join("testdata/golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("compile-")))
        .collect();
    cases.sort();
    cases
}

fn bless() -> bool {
    std::env::var_os("MESHC_BLESS").is_some()
}

/// Extra `meshc compile` arguments of a case: its optional `args` file, one
/// argument per whitespace-separated word (e.g. `--system-ca-path FILE`).
fn case_args(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("args")).unwrap_or_default().split_whitespace().map(str::to_string).collect()
}

/// The value of `--flag VALUE` in a case's `args`.
fn case_arg(case: &Path, flag: &str) -> Option<String> {
    let args = case_args(case);
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1).cloned())
}

fn compile_args<'a>(input: &'a str, out: &'a str, check: bool, extra: &'a [String]) -> Vec<&'a str> {
    let mut args = vec!["compile", input, "--out", out, "--secrets-dir", common::SECRETS, "-q"];
    args.extend(extra.iter().map(String::as_str));
    if check {
        args.push("--check");
    }
    args
}

#[test]
fn envoy_output_matches_goldens() {
    let cases = cases();
    assert!(cases.len() >= 6, "compile goldens: {cases:?}");
    let mut stale = Vec::new();
    for case in &cases {
        let input = case.join("input").display().to_string();
        let expected = case.join("expected").display().to_string();
        let extra = case_args(case);
        let out = common::run(&compile_args(&input, &expected, !bless(), &extra));
        if !out.status.success() {
            let mut diff_args = vec!["diff", &input, "--against", &expected, "--secrets-dir", common::SECRETS];
            diff_args.extend(extra.iter().map(String::as_str));
            let diff = common::run(&diff_args);
            stale.push(format!(
                "{}:\n{}{}",
                case.display(),
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&diff.stdout)
            ));
        }
    }
    assert!(stale.is_empty(), "goldens differ (MESHC_BLESS=1 to update, then review):\n{}", stale.join("\n"));
}

#[test]
fn plans_match_snapshots() {
    if bless() {
        // SAFETY: set before any other thread of this test reads it.
        unsafe { std::env::set_var("INSTA_UPDATE", "always") };
    }
    for case in cases() {
        let mut opts = compile::Options {
            validate: Default::default(),
            world: meshc::world::Options { default_mesh_exists: true, ..Default::default() },
            plan: meshc::plan::Options {
                secrets_dir: common::SECRETS.into(),
                shadow: false,
                system_ca_path: case_arg(&case, "--system-ca-path"),
            },
            selection: Default::default(),
        };
        opts.validate.default_mesh_exists = true;
        opts.world.auto_reachable_services = case_args(&case).iter().any(|a| a == "--auto-reachable-services");
        let compiled = compile::run(&[case.join("input")], &opts);
        assert!(!compiled.has_errors(), "{} has errors", case.display());
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(case.join("plans"));
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.bind(|| {
            for (plan, _) in &compiled.proxies {
                let name = plan.id.dir().replace('/', "__");
                insta::assert_yaml_snapshot!(name, plan);
            }
        });
    }
}

#[test]
fn golden_outputs_pass_envoy_validate() {
    if common::envoy().is_none() {
        return;
    }
    let mut failures = Vec::new();
    let mut total = 0;
    for case in cases() {
        match common::envoy_accepts(&case.join("expected"), &[Path::new(&case.join("input"))]) {
            Ok(n) => total += n,
            Err(f) => failures.extend(f),
        }
    }
    assert!(failures.is_empty(), "Envoy rejects golden output:\n{}", failures.join("\n"));
    assert!(total >= 15, "only {total} golden proxies validated");
}

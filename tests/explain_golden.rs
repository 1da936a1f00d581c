//! `meshc explain` goldens: `testdata/golden/rules-<case>/input/` -> the text view of
//! every sidecar (`explain.txt`), one case per tie-breaker and merge rule (see each
//! input's comments). A case's `args` file adds flags (`--shadow`).
//!
//! `MESHC_BLESS=1 cargo test --test explain_golden` rewrites them; review the diff
//! like code: each line names the policy, section and item that set a field.

mod common;

use std::path::PathBuf;

fn cases() -> Vec<PathBuf> {
    let dir = common::root().join("testdata/golden");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("rules-")))
        .collect();
    cases.sort();
    cases
}

#[test]
fn explain_matches_goldens() {
    let cases = cases();
    assert!(cases.len() >= 5, "explain goldens: {cases:?}");
    let mut stale = Vec::new();
    for case in &cases {
        let input = case.join("input").display().to_string();
        let extra = std::fs::read_to_string(case.join("args")).unwrap_or_default();
        let mut args = vec!["explain", "--all", &input];
        args.extend(extra.split_whitespace());
        let out = common::run(&args);
        assert!(out.status.success(), "{}: {}", case.display(), String::from_utf8_lossy(&out.stderr));
        let got = String::from_utf8(out.stdout).unwrap();
        let golden = case.join("explain.txt");
        if std::env::var_os("MESHC_BLESS").is_some() {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if want != got {
            let diff = similar::TextDiff::from_lines(&want, &got);
            stale.push(format!("{}:\n{}", golden.display(), diff.unified_diff().context_radius(3)));
        }
    }
    assert!(stale.is_empty(), "explain goldens differ (MESHC_BLESS=1 to update, then review):\n{}", stale.join("\n"));
}

//! The bundled examples: every scenario validates clean, and every case in
//! `examples/invalid/` reports exactly its golden findings (`<case>.expected`,
//! the lines `meshc validate --concise` prints). `MESHC_BLESS=1` rewrites goldens,
//! which are then reviewed like code.

mod common;

use std::path::{Path, PathBuf};

use meshc::findings::Level;
use meshc::validate::{self, Options};

fn concise(outcome: &validate::Outcome, root: &Path) -> String {
    let mut out = String::new();
    for f in &outcome.findings {
        let file = f.location.file.and_then(|i| outcome.files.get(i)).map(|f| f.display.clone()).unwrap_or_default();
        let file = Path::new(&file).strip_prefix(root).map(|p| p.display().to_string()).unwrap_or(file);
        let at = match f.location.pos {
            Some(p) => format!("{file}:{}:{}", p.line, p.col + 1),
            None => file,
        };
        out.push_str(&format!("{at}: {}[{}]: {}\n", f.level, f.code.id, f.message));
    }
    out
}

#[test]
fn examples_validate_clean() {
    let root = common::root();
    let outcome = validate::run(&[root.join("examples")], &Options::default());
    let errors: Vec<_> = outcome.findings.iter().filter(|f| f.level == Level::Error).collect();
    assert!(errors.is_empty(), "examples/ has errors:\n{}", concise(&outcome, &root));
    assert!(outcome.resources.len() >= 30, "only {} resources in examples/", outcome.resources.len());
    // Every scenario is walked, and examples/invalid is skipped through .meshcignore.
    assert!(outcome.files.iter().all(|f| !f.display.contains("/invalid/")));
}

fn invalid_cases() -> Vec<PathBuf> {
    let dir = common::root().join("examples/invalid");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml")).collect()
        })
        .unwrap_or_default();
    cases.sort();
    cases
}

#[test]
fn invalid_examples_match_their_goldens() {
    let root = common::root();
    let cases = invalid_cases();
    assert!(cases.len() >= 20, "only {} invalid cases", cases.len());
    let bless = std::env::var_os("MESHC_BLESS").is_some();
    let mut mismatches = Vec::new();
    for case in cases {
        let outcome = validate::run(std::slice::from_ref(&case), &Options::default());
        let got = concise(&outcome, &root);
        assert!(
            outcome.findings.iter().any(|f| f.level >= Level::Warning),
            "{} has no finding:\n{got}",
            case.display()
        );
        let golden = case.with_extension("expected");
        if bless {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden).unwrap_or_default();
        if want != got {
            mismatches.push(format!("{}:\n--- expected\n{want}--- got\n{got}", case.display()));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// The same finding, at the same place, in every output format, with exit status 1
/// (`--fail-level warning`: a few cases are warnings, such as a reference to a
/// MeshService that is not in the input).
#[test]
fn invalid_examples_in_every_format() {
    for case in invalid_cases() {
        let outcome = validate::run(std::slice::from_ref(&case), &Options::default());
        let first = outcome.findings.iter().find(|f| f.level >= Level::Warning).expect("a finding");
        let (code, pos) = (first.code.id, first.location.pos);
        let path = case.to_str().unwrap();
        for format in ["text", "json", "sarif", "junit", "github"] {
            let out = common::run(&["validate", "--fail-level", "warning", "--format", format, path]);
            assert_eq!(out.status.code(), Some(1), "{path} {format}");
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(text.contains(code), "{path} {format}: no {code}");
            let Some(p) = pos else { continue };
            let (line, col) = (p.line, p.col + 1);
            let json = || serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
            let found = match format {
                "json" => json()["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["code"] == code && f["line"] == line && f["column"] == col),
                "sarif" => json()["runs"][0]["results"].as_array().unwrap().iter().any(|r| {
                    let region = &r["locations"][0]["physicalLocation"]["region"];
                    r["ruleId"] == code && region["startLine"] == line && region["startColumn"] == col
                }),
                "github" => text.contains(&format!("line={line},col={col}")),
                _ => text.contains(&format!("{path}:{line}:{col}")),
            };
            assert!(found, "{path} {format}: {code} not at {line}:{col}:\n{text}");
        }
    }
}

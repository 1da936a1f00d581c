//! `meshc fmt` goldens (`testdata/fmt/<case>/input.yaml` -> `expected.yaml`,
//! `MESHC_BLESS=1` rewrites the expected files) and the corpus property: over
//! every YAML file in `examples/` and `testdata/`, formatting is idempotent, keeps
//! every resource the same (defaults aside, which the model fills anyway) and
//! keeps `meshc validate`'s finding codes.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use meshc::findings::codes;
use meshc::fmt::{Options, format_text};
use meshc::validate;

#[test]
fn goldens() {
    let bless = std::env::var_os("MESHC_BLESS").is_some();
    let dir = common::root().join("testdata/fmt");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 7, "fmt golden cases missing");
    let mut mismatches = Vec::new();
    for case in cases {
        let input = std::fs::read_to_string(case.join("input.yaml")).unwrap();
        let got = format_text(0, &input, &Options::default()).text;
        // Goldens are fixed points too.
        assert_eq!(format_text(0, &got, &Options::default()).text, got, "{}: not idempotent", case.display());
        let expected_path = case.join("expected.yaml");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != got {
            let diff = similar::TextDiff::from_lines(&expected, &got).unified_diff().to_string();
            mismatches.push(format!("{}:\n{diff}", case.display()));
        }
    }
    assert!(
        mismatches.is_empty(),
        "fmt goldens differ (MESHC_BLESS=1 to update, then review):\n{}",
        mismatches.join("\n")
    );
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

/// What a resource means: envelope and typed spec (defaults included).
fn resources(text: &str) -> (Vec<serde_json::Value>, BTreeMap<&'static str, usize>) {
    let outcome = validate::run_texts(vec![("f.yaml".into(), text.to_string())], &validate::Options::default());
    let rs = outcome
        .resources
        .iter()
        .map(|r| {
            serde_json::json!({
                "kind": r.meta.kind.name(), "name": r.meta.name, "namespace": r.meta.namespace, "mesh": r.meta.mesh,
                "labels": r.meta.labels, "annotations": r.meta.annotations, "status": r.status,
                "spec": r.spec.as_ref().map(|s| s.to_json()),
            })
        })
        .collect();
    let mut codes = BTreeMap::new();
    for f in &outcome.findings {
        *codes.entry(f.code.id).or_insert(0) += 1;
    }
    (rs, codes)
}

#[test]
fn corpus_is_idempotent_and_keeps_meaning() {
    let root = common::root();
    let mut files = Vec::new();
    yaml_files(&root.join("examples"), &mut files);
    yaml_files(&root.join("testdata"), &mut files);
    files.sort();
    let (mut changed, mut kuma_files) = (0, 0);
    for path in &files {
        // testdata/findings holds inputs that are not UTF-8 on purpose (MESH0002).
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        let once = format_text(0, &text, &Options::default());
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        assert!(!once.findings.iter().any(|f| f.code == codes::FMT_UNSAFE), "{name}: {:?}", once.findings);
        let twice = format_text(0, &once.text, &Options::default());
        assert_eq!(twice.text, once.text, "{name}: formatting is not idempotent");
        if once.text != text {
            changed += 1;
        }
        // Resources live in inputs; `expected/` trees hold Envoy output (left as written).
        if !name.contains("/expected/") {
            kuma_files += 1;
            let (before, before_codes) = resources(&text);
            let (after, after_codes) = resources(&once.text);
            assert_eq!(before, after, "{name}: resources differ after formatting");
            assert_eq!(before_codes, after_codes, "{name}: validate findings differ after formatting");
        }
    }
    eprintln!("fmt corpus: {} files, {changed} changed by fmt, {kuma_files} checked for meaning", files.len());
    assert!(files.len() > 100);
}

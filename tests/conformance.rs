//! Kuma's own validator fixtures (`../shared/conformance/kuma-v2.14.3`) run through
//! the whole meshc pipeline: each fixture spec becomes a Universal resource, and the
//! findings meshc reports on its spec must be exactly Kuma's violations (field path
//! and message).
//!
//! Kuma's validator tests parse leniently, so unknown fields (MESH2001, which Kuma's
//! CRD schema layer rejects) are outside what these fixtures pin down and are left
//! out of the comparison.

mod common;

use std::collections::BTreeSet;

use meshc::source::yaml;
use meshc::validate::{self, Options};

const FOLDERS: &[(&str, &str)] = &[
    ("pkg/core/resources/apis/meshexternalservice/api/v1alpha1/testdata", "MeshExternalService"),
    ("pkg/plugins/policies/meshpassthrough/api/v1alpha1/testdata", "MeshPassthrough"),
    ("pkg/plugins/policies/meshtls/api/v1alpha1/testdata", "MeshTLS"),
];

fn fixture_name(case: &str) -> String {
    match case {
        "name-length-63" => "a".repeat(63),
        "name-too-long" => "a".repeat(64),
        _ => "test".to_string(),
    }
}

fn expected(path: &std::path::Path) -> BTreeSet<(String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else { return BTreeSet::new() };
    let parsed = yaml::parse(&text, &Default::default());
    let doc = parsed.documents[0].value.clone().unwrap_or_default();
    doc["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| (v["field"].as_str().unwrap().to_string(), v["message"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn kuma_validator_fixtures() {
    let base = common::shared().join("conformance/kuma-v2.14.3");
    let mut total = 0;
    let mut failures = Vec::new();
    for (folder, kind) in FOLDERS {
        let dir = base.join(folder);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".input.yaml"))
            .collect();
        inputs.sort();
        for input in inputs {
            total += 1;
            let case = input.file_name().unwrap().to_string_lossy().trim_end_matches(".input.yaml").to_string();
            let spec = std::fs::read_to_string(&input).unwrap();
            let indented: String = spec.lines().map(|l| format!("  {l}\n")).collect();
            let doc = format!("type: {kind}\nname: {}\nmesh: default\nspec:\n{indented}", fixture_name(&case));
            let outcome = validate::run_texts(vec![(format!("{case}.yaml"), doc)], &Options::default());
            let got: BTreeSet<(String, String)> = outcome
                .findings
                .iter()
                .filter(|f| {
                    f.code.id != "MESH2001"
                        && (f.code.id.starts_with("MESH2")
                            || f.code.id.starts_with("MESH3")
                            || f.code.id.starts_with("MESH1004"))
                })
                .map(|f| (f.field.clone().unwrap_or_default(), f.message.clone()))
                .collect();
            let want = expected(&input.with_file_name(format!("{case}.output.yaml")));
            if got != want {
                failures.push(format!(
                    "{kind} {case}:\n  missing: {:?}\n  unexpected: {:?}",
                    want.difference(&got).collect::<Vec<_>>(),
                    got.difference(&want).collect::<Vec<_>>()
                ));
            }
        }
    }
    println!("Kuma validator fixtures: {} of {total} match", total - failures.len());
    assert!(failures.is_empty(), "{} fixture(s) differ:\n{}", failures.len(), failures.join("\n"));
}

//! The tools around meshc: the combined JSON Schema editors use, the man pages,
//! the GitHub Action's commands and the pre-commit hooks (run for real when
//! pre-commit is installed).

mod common;

use std::path::{Path, PathBuf};

use common::root;
use serde_json::Value;

/// Every YAML document under `dir` (recursively), with the file it came from.
fn documents(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let text = std::fs::read_to_string(&p).unwrap();
                let parsed = meshc::source::yaml::parse(&text, &Default::default());
                for doc in parsed.documents {
                    if let Some(mut v) = doc.value {
                        meshc::validate::schema::strip_nulls(&mut v);
                        out.push((p.clone(), v));
                    }
                }
            }
        }
    }
    out
}

fn all_json() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas/all.json")).expect("schemas/all.json");
    let schema: Value = serde_json::from_str(&text).expect("all.json is JSON");
    jsonschema::draft7::new(&schema).expect("all.json compiles")
}

#[test]
fn every_valid_example_document_matches_all_json() {
    let validator = all_json();
    let docs: Vec<_> = documents(&root().join("examples"))
        .into_iter()
        .filter(|(p, _)| !p.components().any(|c| c.as_os_str() == "invalid"))
        .collect();
    assert!(docs.len() > 30, "the examples are there ({})", docs.len());
    let mut kinds = std::collections::BTreeSet::new();
    for (path, doc) in &docs {
        let errors: Vec<String> =
            validator.iter_errors(doc).map(|e| format!("{e} at {}", e.instance_path())).take(5).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        kinds.insert(doc.get("kind").or(doc.get("type")).and_then(Value::as_str).unwrap_or_default().to_string());
    }
    assert!(kinds.len() >= 8, "the examples cover many kinds: {kinds:?}");
}

#[test]
fn all_json_rejects_bad_documents_with_the_kinds_error() {
    let validator = all_json();
    let cases: &[(&str, &str)] = &[
        // An unknown field of MeshTimeout's own conf.
        (
            "type: MeshTimeout\nname: t\nmesh: default\nspec:\n  to:\n  - targetRef: {kind: Mesh}\n    default: {idleTimeot: 1s}\n",
            "/spec/to/0/default",
        ),
        // A MeshTrafficPermission action that is not one of the enum's.
        (
            "apiVersion: kuma.io/v1alpha1\nkind: MeshTrafficPermission\nmetadata: {name: p}\nspec:\n  from:\n  \
             - targetRef: {kind: Mesh}\n    default: {action: Alow}\n",
            "/spec/from/0/default/action",
        ),
        // A Universal Dataplane whose port is a string.
        (
            "type: Dataplane\nname: d\nmesh: default\nnetworking:\n  address: 1.2.3.4\n  inbound:\n  - port: http\n",
            "/networking/inbound/0/port",
        ),
        // Unknown kind and unknown type.
        ("apiVersion: kuma.io/v1alpha1\nkind: MeshServce\nmetadata: {name: a}\n", "/kind"),
        ("type: MeshTimout\nname: t\n", "/type"),
    ];
    for (yaml, pointer) in cases {
        let parsed = meshc::source::yaml::parse(yaml, &Default::default());
        let doc = parsed.documents[0].value.clone().expect("a document");
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.instance_path().to_string()).collect();
        assert!(errors.iter().any(|p| p == pointer), "{yaml}\nwant an error at {pointer}, got {errors:?}");
    }
}

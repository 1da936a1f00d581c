//! Helpers shared by the model's unit tests: a [`Meta`] to validate with, a
//! validator runner that returns Kuma's `(path, message)` pairs, YAML parsing, and
//! a runner for Kuma's own validator fixtures (`*.input.yaml` / `*.output.yaml`).

use std::path::{Path as FsPath, PathBuf};

use serde_json::Value;

use crate::model::common::StringMap;
use crate::model::{Form, Kind, KindSpec, Meta, PolicyRole, Scope, ValidateCtx};
use crate::validate::violations::Violations;

/// Violations as `(kuma path, message)` pairs.
pub(crate) type Pairs = Vec<(String, String)>;

/// Builds the [`Meta`] a validator test runs with: Universal form, mesh `default`
/// for mesh-scoped kinds, no namespace, no labels.
pub(crate) struct MetaBuilder(Meta);

impl MetaBuilder {
    pub(crate) fn new(kind: Kind, name: &str) -> Self {
        MetaBuilder(Meta {
            kind,
            form: Form::Universal,
            name: name.to_string(),
            namespace: None,
            mesh: (kind.scope() == Scope::Mesh).then(|| "default".into()),
            labels: StringMap::new(),
            annotations: StringMap::new(),
            file: 0,
            doc: 0,
            spec_pointer: if kind.is_legacy() { String::new() } else { "/spec".into() },
            name_pointer: "/name".into(),
        })
    }

    pub(crate) fn namespace(mut self, namespace: &str) -> Self {
        self.0.namespace = Some(namespace.to_string());
        self
    }

    pub(crate) fn label(mut self, key: &str, value: &str) -> Self {
        self.0.labels.insert(key.to_string(), value.to_string());
        self
    }

    pub(crate) fn form(mut self, form: Form) -> Self {
        self.0.form = form;
        if form == Form::Kubernetes {
            self.0.name_pointer = "/metadata/name".into();
        }
        self
    }

    pub(crate) fn build(self) -> Meta {
        self.0
    }
}

/// The default test [`Meta`] of `kind` named `name` (see [`MetaBuilder`]).
pub(crate) fn meta(kind: Kind, name: &str) -> Meta {
    MetaBuilder::new(kind, name).build()
}

/// Run `spec`'s validator as `meta`'s resource with policy role `role`; Kuma's
/// `(path, message)` pairs in the order the validator reports them.
pub(crate) fn violations<T: KindSpec>(meta: &Meta, role: PolicyRole, spec: &T) -> Pairs {
    let mut v = Violations::default();
    spec.validate(&ValidateCtx { meta, role }, &mut v);
    v.0.into_iter().map(|x| (x.path.kuma(meta.path_prefix()), x.message)).collect()
}

/// Parse `spec` as `T`, then [`violations`].
pub(crate) fn check<T: KindSpec>(meta: &Meta, role: PolicyRole, spec: Value) -> Pairs {
    let spec: T = serde_json::from_value(spec).expect("spec parses");
    violations(meta, role, &spec)
}

/// `(path, message)` literals as [`Pairs`].
pub(crate) fn pairs(expected: &[(&str, &str)]) -> Pairs {
    expected.iter().map(|(p, m)| (p.to_string(), m.to_string())).collect()
}

/// Sorted, for validators whose report order is not Kuma's.
pub(crate) fn sorted(mut pairs: Pairs) -> Pairs {
    pairs.sort();
    pairs
}

/// The first document of YAML `text` as JSON (meshc's own YAML reader); the text
/// must parse without problems.
pub(crate) fn yaml(text: &str) -> Value {
    let parsed = crate::source::yaml::parse(text, &Default::default());
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    parsed.documents.into_iter().next().and_then(|d| d.value).unwrap_or(Value::Null)
}

fn read_yaml(path: &FsPath) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let parsed = crate::source::yaml::parse(&text, &Default::default());
    assert!(parsed.problems.is_empty(), "{}: {:?}", path.display(), parsed.problems);
    parsed.documents.into_iter().next().and_then(|d| d.value).unwrap_or(Value::Null)
}

/// Where the Kuma source tree of the conformance fixtures is: `shared/` beside the
/// crate (CI's fresh clone), else `/work/shared` (a worktree elsewhere).
const KUMA_TREE: &str = "shared/conformance/kuma-v2.14.3";

/// The directory `rel` of the Kuma tree.
pub(crate) fn kuma_dir(rel: &str) -> PathBuf {
    let local = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("..").join(KUMA_TREE).join(rel);
    if local.is_dir() { local } else { FsPath::new("/work").join(KUMA_TREE).join(rel) }
}

/// Kuma's validator fixtures in the Kuma directory `rel` (e.g.
/// `pkg/plugins/policies/meshtls/api/v1alpha1/testdata`): for every
/// `<case>.input.yaml` spec (at least `min_cases` of them), `run(case, spec)` must
/// give exactly the violations of `<case>.output.yaml` (none when it is absent),
/// compared sorted.
pub(crate) fn run_kuma_fixtures(rel: &str, min_cases: usize, mut run: impl FnMut(&str, Value) -> Pairs) {
    let dir = kuma_dir(rel);
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".input.yaml").map(str::to_string))
        .collect();
    cases.sort();
    assert!(cases.len() >= min_cases, "too few fixtures in {}", dir.display());
    for case in cases {
        let input = read_yaml(&dir.join(format!("{case}.input.yaml")));
        let got = sorted(run(&case, input));
        let output = dir.join(format!("{case}.output.yaml"));
        let want: Pairs = if output.exists() {
            read_yaml(&output)["violations"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: no violations list", output.display()))
                .iter()
                .map(|x| (x["field"].as_str().unwrap().to_string(), x["message"].as_str().unwrap().to_string()))
                .collect()
        } else {
            Vec::new()
        };
        assert_eq!(got, sorted(want), "fixture {case} in {}", dir.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::meta::labels;

    #[test]
    fn meta_builder() {
        let m = meta(Kind::MeshTimeout, "t");
        assert_eq!((m.form, m.mesh.as_deref(), m.path_prefix()), (Form::Universal, Some("default"), Some("spec")));
        let m = meta(Kind::Mesh, "default");
        assert_eq!((m.mesh.as_deref(), m.path_prefix(), m.spec_pointer.as_str()), (None, None, ""));
        let m = MetaBuilder::new(Kind::MeshService, "redis")
            .form(Form::Kubernetes)
            .namespace("kuma-demo")
            .label(labels::DISPLAY_NAME, "redis")
            .build();
        assert_eq!((m.core_name(), m.display_name()), ("redis.kuma-demo".to_string(), "redis"));
    }

    #[test]
    fn yaml_and_pairs() {
        assert_eq!(yaml("a: [1, two]\n"), serde_json::json!({"a": [1, "two"]}));
        assert_eq!(sorted(pairs(&[("b", "2"), ("a", "1")])), pairs(&[("a", "1"), ("b", "2")]));
    }
}

//! Validation: envelope, JSON Schema and Kuma's validator rules per resource, then
//! checks across resources. The result is the list of resources that later stages
//! compile, and the findings.

pub mod combined_schema;
pub mod cross;
pub mod hints;
pub mod schema;
pub mod violations;

use std::path::PathBuf;

use crate::findings::{self, Finding, Target, codes, suppress::Suppression};
use crate::model::meta::{self, Envelope, EnvelopeOptions, labels};
use crate::model::{Kind, PolicyRole, Resource, ValidateCtx, role};
use crate::source::{self, Document, Limits, SourceFile};
use violations::{Path, Violations};

/// How to validate.
#[derive(Debug, Clone)]
pub struct Options {
    pub limits: Limits,
    /// Skip documents that are not kuma.io resources instead of reporting them.
    pub ignore_unknown: bool,
    /// Kuma's system namespace on Kubernetes (`kuma-system`): policies there are
    /// `system` policies.
    pub system_namespace: String,
    /// Assume the `default` mesh exists even when no Mesh resource defines it, as
    /// Kuma creates it at start-up.
    pub default_mesh_exists: bool,
    pub suppressions: Vec<Suppression>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            ignore_unknown: false,
            system_namespace: "kuma-system".into(),
            default_mesh_exists: true,
            suppressions: Vec::new(),
        }
    }
}

/// What a validation run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub files: Vec<SourceFile>,
    pub resources: Vec<Resource>,
    /// Sorted findings, positions resolved, suppressions applied.
    pub findings: Vec<Finding>,
    /// Some input could not be read at all.
    pub unreadable: bool,
    /// Time spent reading, parsing and checking documents one by one.
    pub read_time: std::time::Duration,
    /// Time spent on checks across resources, suppressions and positions.
    pub check_time: std::time::Duration,
}

/// Read and validate everything under `paths`.
pub fn run(paths: &[PathBuf], opts: &Options) -> Outcome {
    let start = std::time::Instant::now();
    let loaded = source::load_with(paths, &opts.limits, &|doc| check_document(doc, opts));
    let read_time = start.elapsed();
    let mut outcome = finish(loaded, opts);
    outcome.read_time = read_time;
    outcome.check_time = start.elapsed() - read_time;
    outcome
}

/// Validate in-memory texts, named as files (tests, fuzzing).
pub fn run_texts(texts: Vec<(String, String)>, opts: &Options) -> Outcome {
    finish(source::load_texts_with(texts, &opts.limits, &|doc| check_document(doc, opts)), opts)
}

/// Documents checked one by one (as their files were parsed); now the checks
/// across resources, suppressions, positions and order.
fn finish(loaded: source::Loaded<(Option<Resource>, Vec<Finding>)>, opts: &Options) -> Outcome {
    let mut findings = loaded.findings;
    let mut resources = Vec::with_capacity(loaded.documents.len());
    for (resource, f) in loaded.documents {
        resources.extend(resource);
        findings.extend(f);
    }
    cross::check(&resources, opts, &mut findings);
    finish_findings(&mut findings, &resources, &loaded.files, opts);
    Outcome { files: loaded.files, resources, findings, unreadable: loaded.unreadable, ..Default::default() }
}

/// Suppressions, positions and order: what every finding goes through before it
/// is shown (also those of later stages, which call this again on their own).
pub fn finish_findings(findings: &mut Vec<Finding>, resources: &[Resource], files: &[SourceFile], opts: &Options) {
    findings::suppress::apply(findings, resources, &opts.suppressions);
    findings::resolve_positions(findings, files, &opts.limits);
    findings::sort(findings, files);
}

/// Validate one document: envelope, name, labels, schema, Kuma's rules.
pub fn check_document(doc: Document, opts: &Options) -> (Option<Resource>, Vec<Finding>) {
    let mut findings = Vec::new();
    let env_opts = EnvelopeOptions { ignore_unknown: opts.ignore_unknown };
    let Envelope::Resource { meta, spec: mut spec_value, status } = meta::read_envelope(doc, &env_opts, &mut findings)
    else {
        return (None, findings);
    };
    schema::strip_nulls(&mut spec_value);
    check_name(&meta, &mut findings);
    check_labels(&meta, &mut findings);

    let schema_errors = schema::check(meta.kind, &spec_value);
    let spec = match meta.kind.parse_spec(&spec_value) {
        Ok(spec) => Some(spec),
        Err(err) => {
            if schema_errors.is_empty() {
                // The schema accepted what serde could not read: report it rather than drop it.
                let msg = format!("cannot read the {} spec: {err}", meta.kind.name());
                findings.push(meta.finding(codes::WRONG_TYPE, &Path::root(), Target::Value, msg));
            }
            None
        }
    };

    let mut role = PolicyRole::System;
    let mut kuma = Violations::default();
    if let Some(spec) = &spec {
        if let Some(view) = spec.policy() {
            match role::compute(&meta, &view, &opts.system_namespace) {
                Ok(r) => role = r,
                Err(message) => {
                    kuma.add_code(codes::POLICY_ROLE, &Path::root().field("to"), message);
                }
            }
        }
        spec.validate(&ValidateCtx { meta: &meta, role }, &mut kuma);
    }

    // Kuma's rules word some schema problems better (and match Kuma): when a rule
    // reports at the same node, under it, or at its direct parent (Kuma reports a
    // bad list item or sub-field at the list or the block), the schema's finding
    // is dropped. Unknown fields are never Kuma's rules' business.
    let kuma_pointers: Vec<String> = kuma.0.iter().map(|v| v.path.pointer()).collect();
    for e in schema_errors {
        let covered = e.code != codes::UNKNOWN_FIELD && kuma_pointers.iter().any(|p| covers(p, &e.pointer));
        if !covered {
            let path = Path::from_pointer(&e.pointer);
            findings.push(meta.finding(e.code, &path, e.target, e.message));
        }
    }
    for v in kuma.0 {
        let hint = hints::for_violation(v.code, &v.message, spec_value.pointer(&v.path.pointer()));
        findings.push(meta.finding(v.code, &v.path, v.target, v.message + &hint));
    }
    (Some(Resource { meta: *meta, spec, status, role }), findings)
}

/// Does a Kuma violation at `kuma` make the schema error at `schema` redundant?
fn covers(kuma: &str, schema: &str) -> bool {
    let under = |a: &str, b: &str| a.strip_prefix(b).is_some_and(|rest| rest.starts_with('/'));
    let direct_child = |child: &str, parent: &str| {
        !parent.is_empty() && under(child, parent) && !child[parent.len() + 1..].contains('/')
    };
    kuma == schema || under(kuma, schema) || direct_child(schema, kuma)
}

/// Kuma's resource name rule: an RFC 1123 subdomain (labels are not length-checked).
fn is_rfc1123_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn check_name(meta: &crate::model::Meta, findings: &mut Vec<Finding>) {
    let name = &meta.name;
    let problem = if meta.kind == Kind::Mesh || meta.kind.is_legacy() {
        let ok = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'));
        (!ok).then(|| {
            "invalid characters: must consist of lower case alphanumeric characters, '-', '.' and '_'.".to_string()
        })
    } else if name.len() > 253 {
        Some("must be no more than 253 characters".to_string())
    } else if !is_rfc1123_name(name) {
        Some(
            "invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character"
                .to_string(),
        )
    } else {
        None
    };
    if let Some(message) = problem {
        findings.push(meta.finding(codes::BAD_NAME, &Path::resource_name(), Target::Value, message));
    }
    if let Some(mesh) = &meta.mesh {
        let ok = !mesh.is_empty()
            && mesh.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            let message = format!(
                "mesh name {mesh:?} has invalid characters: must consist of lower case alphanumeric characters, '-', '.' and '_'."
            );
            findings.push(
                crate::findings::Finding::new(
                    codes::BAD_NAME,
                    message,
                    meta.location(&Path::resource_name(), Target::Value),
                )
                .with_resource(meta.id()),
            );
        }
    }
}

fn check_labels(meta: &crate::model::Meta, findings: &mut Vec<Finding>) {
    let allowed: &[(&str, &[&str])] = &[
        (labels::ORIGIN, &["global", "zone"]),
        (labels::EFFECT, &["shadow"]),
        (labels::POLICY_ROLE, &["system", "producer", "consumer", "workload-owner"]),
        (labels::ENV, &["kubernetes", "universal"]),
    ];
    for (key, values) in allowed {
        if let Some(v) = meta.label(key)
            && !values.contains(&v)
        {
            let message = format!("label `{key}: {v}` is not valid; expected one of: {}", values.join(", "));
            findings.push(
                Finding::new(codes::BAD_LABEL, message, meta.location(&Path::resource_name(), Target::Value))
                    .with_resource(meta.id()),
            );
        }
    }
    if meta.label(labels::ORIGIN) == Some("zone") && meta.zone().is_none() {
        let message = "`kuma.io/origin: zone` needs a `kuma.io/zone` label naming the zone";
        findings.push(
            Finding::new(codes::BAD_LABEL, message, meta.location(&Path::resource_name(), Target::Value))
                .with_resource(meta.id()),
        );
    }
}

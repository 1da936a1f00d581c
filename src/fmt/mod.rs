//! `meshc fmt`: rewrite resources into one canonical form, so that what is
//! committed is what a control plane would store (no GitOps drift from key
//! order, indentation or defaults Kuma fills in on admission).
//!
//! The canonical form of a kuma.io document:
//! - key order: the envelope first, then the spec in the model's (schema's)
//!   order, unknown keys after known ones in their original order; labels,
//!   annotations and maps sorted by key; lists keep their order (see [`canon`]);
//! - the scalar CRD defaults Kuma applies on admission written out (those the
//!   kind's JSON Schema declares with `default`, e.g. a backendRef's
//!   `weight: 1`, MeshExternalService `match.type: HostnameGenerator`);
//! - layout: two spaces per mapping level, sequences not indented under their key
//!   (`kubectl get -o yaml` style), one blank line at most between entries, a
//!   final newline (see [`render`]);
//! - scalars and flow collections (`{kind: Mesh}`, `[a, b]`) keep their exact text
//!   (quotes, block scalar style); block scalar and multi-line text keep their
//!   shape relative to their key;
//! - comments stay with the key or list item they precede, end-of-line comments
//!   stay at the end of their line, and comments before the first key stay at
//!   the top of the document (see [`cst`]).
//!
//! Left byte-for-byte as written, with a finding: documents that are not kuma.io
//! resources of a modelled kind (reported with the loader's codes, MESH1001 and
//! friends, unless `ignore_unknown`), documents using YAML that fmt does not
//! rewrite (anchors and aliases, tags on collections, explicit `?` keys, `+`
//! block scalars, a scalar or flow collection as the whole document: MESH6001),
//! and documents whose rewrite would not read back as the same resource
//! (MESH6002, a safety net that should never fire). Files with YAML errors are
//! left as written (the loader reports them). Multi-document files keep their
//! document order and `---` separators.

pub mod canon;
pub mod cst;
pub mod render;
pub mod write;

use serde_json::Value;

use crate::findings::{Finding, Level, Location, Target, codes};
use crate::model::meta::{self, Envelope, EnvelopeOptions};
use crate::source::{Document, Limits, yaml};

/// What `meshc fmt` needs besides the text.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub limits: Limits,
    /// Do not report documents that are not kuma.io resources.
    pub ignore_unknown: bool,
}

/// The canonical text of a file and what was noticed on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Formatted {
    pub text: String,
    pub findings: Vec<Finding>,
    /// Defaults written out: (document index, JSON pointer, value).
    pub filled: Vec<(usize, String, Value)>,
}

impl Formatted {
    fn unchanged(text: &str) -> Formatted {
        Formatted { text: text.to_string(), findings: Vec::new(), filled: Vec::new() }
    }
}

/// Format one file's text (`file` is its index, for findings). Never fails: what
/// cannot be formatted is returned as written.
pub fn format_text(file: usize, text: &str, opts: &Options) -> Formatted {
    let parsed = yaml::parse(text, &opts.limits);
    if !parsed.problems.is_empty() {
        return Formatted::unchanged(text);
    }
    // Files without any kuma.io resource (Envoy output, other manifests) are left
    // as written without building their tree: only their notes are needed.
    let is_kuma = |v: &Value| {
        v.get("apiVersion").and_then(Value::as_str).is_some_and(|a| a.starts_with("kuma.io/"))
            || v.get("type").and_then(Value::as_str).is_some_and(|t| crate::model::Kind::from_name(t).is_some())
    };
    if !parsed.documents.iter().any(|d| d.value.as_ref().is_some_and(is_kuma)) {
        let mut out = Formatted::unchanged(text);
        for d in parsed.documents.into_iter().filter(|d| d.value.as_ref().is_some_and(|v| !v.is_null())) {
            let document = Document { file, index: d.index, start: d.start, value: d.value.unwrap_or_default() };
            let env_opts = EnvelopeOptions { ignore_unknown: opts.ignore_unknown };
            let _ = meta::read_envelope(document, &env_opts, &mut out.findings);
        }
        out.findings = out.findings.into_iter().map(|f| f.with_level(Level::Info)).collect();
        return out;
    }
    let Ok(docs) = cst::parse(text, opts.limits.max_depth) else {
        return Formatted::unchanged(text);
    };
    if docs.is_empty() {
        return Formatted::unchanged(text);
    }
    let mut out = Formatted::unchanged("");
    for (index, doc) in docs.into_iter().enumerate() {
        let original = &text[doc.range.clone()];
        let value = parsed.documents.iter().find(|d| d.index == index);
        let at = Location::pointer(file, index, "", Target::Value);
        match format_doc(file, index, doc, value.and_then(|d| d.value.clone()), opts) {
            DocResult::Formatted(s, filled) => {
                out.text.push_str(&s);
                out.filled.extend(filled.into_iter().map(|(p, v)| (index, p, v)));
            }
            DocResult::AsWritten(findings) => {
                out.text.push_str(original);
                out.findings.extend(findings);
            }
            DocResult::Unsupported(why) => {
                out.text.push_str(original);
                let msg = format!("document left as written: it uses {why}, which `meshc fmt` does not rewrite");
                out.findings.push(Finding::new(codes::FMT_UNSUPPORTED_YAML, msg, at));
            }
            DocResult::Unsafe(why) => {
                out.text.push_str(original);
                let msg = format!(
                    "document left as written: the formatted text would not read back as the same resource \
                     ({why}); please report this with the document"
                );
                out.findings.push(Finding::new(codes::FMT_UNSAFE, msg, at));
            }
        }
    }
    out
}

enum DocResult {
    Formatted(String, canon::Filled),
    AsWritten(Vec<Finding>),
    Unsupported(String),
    Unsafe(String),
}

fn format_doc(file: usize, index: usize, mut doc: cst::Doc, value: Option<Value>, opts: &Options) -> DocResult {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        // Nothing but comments: normalise them (when the text is understood).
        return match doc.unsupported.take() {
            Some(why) => DocResult::Unsupported(why),
            None => DocResult::Formatted(render::doc(&doc), Vec::new()),
        };
    };
    let mut findings = Vec::new();
    let document = Document { file, index, start: yaml::Pos::default(), value: value.clone() };
    let env_opts = EnvelopeOptions { ignore_unknown: opts.ignore_unknown };
    let Envelope::Resource { meta, spec: mut spec_value, .. } = meta::read_envelope(document, &env_opts, &mut findings)
    else {
        // Not fmt's business to judge: the same findings as the loader's, as notes.
        return DocResult::AsWritten(findings.into_iter().map(|f| f.with_level(Level::Info)).collect());
    };
    if let Some(why) = doc.unsupported.take() {
        return DocResult::Unsupported(why);
    }
    let Some(cst::Node::Map(root)) = doc.root.as_mut() else {
        return DocResult::Unsupported("a flow collection (JSON) as the whole document".into());
    };
    crate::validate::schema::strip_nulls(&mut spec_value);
    let spec = meta.kind.parse_spec(&spec_value).ok();
    let mut expected = value;
    let filled = canon::canonicalize(root, &mut expected, &meta, spec.as_ref());
    let text = render::doc(&doc);
    // The safety net: the new text must read back as the same document, defaults aside.
    let reread = yaml::parse(&text, &opts.limits);
    let back = match (reread.problems.first(), reread.documents.as_slice()) {
        (None, [one]) => one.value.clone(),
        (Some(p), _) => return DocResult::Unsafe(p.message.clone()),
        (None, _) => return DocResult::Unsafe("a different number of documents".into()),
    };
    if back.as_ref() != Some(&expected) {
        return DocResult::Unsafe("a different value".into());
    }
    DocResult::Formatted(text, filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        let out = format_text(0, text, &Options::default());
        assert!(out.findings.iter().all(|f| f.code != codes::FMT_UNSAFE), "{:?}", out.findings);
        out.text
    }

    #[test]
    fn non_ascii_text_and_nested_sequences() {
        let text = "type: MeshTimeout\nname: t\nmesh: default\nspec:\n  to:\n    - targetRef:\n        kind: Mesh # héllo ünïcode\n      default:\n        idleTimeout: 1m\n";
        let want = "type: MeshTimeout\nname: t\nmesh: default\nspec:\n  to:\n  - targetRef:\n      kind: Mesh # héllo ünïcode\n    default:\n      idleTimeout: 1m\n";
        assert_eq!(fmt(text), want);
    }

    #[test]
    fn unknown_keys_keep_their_order_after_known_ones() {
        let text = "apiVersion: kuma.io/v1alpha1\nkind: MeshTimeout\nmetadata:\n  name: t\nspec:\n  zz: 1\n  aa: 2\n  targetRef:\n    kind: Mesh\n";
        let want = "apiVersion: kuma.io/v1alpha1\nkind: MeshTimeout\nmetadata:\n  name: t\nspec:\n  targetRef:\n    kind: Mesh\n  zz: 1\n  aa: 2\n";
        assert_eq!(fmt(text), want);
    }

    #[test]
    fn blank_lines_collapse_and_crlf_is_read() {
        let text = "type: Mesh\r\nname: default\r\n\r\n\r\n# mtls\r\nmtls:\r\n  enabledBackend: ca\r\n";
        let got = fmt(text);
        assert_eq!(fmt(&got), got);
        assert!(got.contains("\n\n# mtls\nmtls:\n"), "{got:?}");
    }

    #[test]
    fn empty_string_zero_values_are_not_filled() {
        let text = "apiVersion: kuma.io/v1alpha1\nkind: MeshHTTPRoute\nmetadata:\n  name: r\nspec:\n  to:\n  - targetRef:\n      kind: Mesh\n    rules:\n    - matches:\n      - headers:\n        - value: v2\n";
        let got = fmt(text);
        assert!(got.contains("type: Exact") && !got.contains("name: \"\""), "{got}");
    }

    #[test]
    fn no_kuma_document_is_untouched() {
        let text = "b: 1\na:   2\n";
        assert_eq!(format_text(0, text, &Options::default()).text, text);
    }
}

//! Suppressing findings: `--suppress CODE=KIND/NAME` (globs) on the command line,
//! and the `meshc.io/suppress: "CODE,CODE"` label or annotation on a resource.

use std::str::FromStr;

use crate::findings::Finding;
use crate::model::Resource;

/// One `--suppress` rule: a code glob, and optionally a `KIND/NAME` glob.
#[derive(Debug, Clone)]
pub struct Suppression {
    code: glob::Pattern,
    target: Option<(glob::Pattern, glob::Pattern)>,
    raw: String,
}

impl FromStr for Suppression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (code, target) = match s.split_once('=') {
            Some((c, t)) => (c, Some(t)),
            None => (s, None),
        };
        let pattern = |p: &str| {
            if p.is_empty() {
                return Err(format!("`{s}`: empty pattern; expected CODE or CODE=KIND/NAME (globs allowed)"));
            }
            glob::Pattern::new(p).map_err(|e| format!("invalid glob `{p}` in `{s}`: {e}"))
        };
        let code_pattern = pattern(&code.to_ascii_uppercase())?;
        let target = match target {
            None => None,
            Some(t) => {
                let (kind, name) = t.split_once('/').ok_or_else(|| {
                    format!("`{s}`: expected CODE=KIND/NAME (globs allowed, e.g. MESH4002=MeshTimeout/*)")
                })?;
                Some((pattern(kind)?, pattern(name)?))
            }
        };
        Ok(Suppression { code: code_pattern, target, raw: s.to_string() })
    }
}

impl Suppression {
    pub fn raw(&self) -> &str {
        &self.raw
    }

    fn matches(&self, f: &Finding) -> bool {
        if !self.code.matches(f.code.id) {
            return false;
        }
        match (&self.target, &f.resource) {
            (None, _) => true,
            (Some((kind, name)), Some(r)) => {
                kind.matches(&r.kind)
                    && (name.matches(&r.name)
                        || r.namespace.as_ref().is_some_and(|ns| name.matches(&format!("{}.{ns}", r.name))))
            }
            (Some(_), None) => false,
        }
    }
}

/// Drop suppressed findings.
pub fn apply(findings: &mut Vec<Finding>, resources: &[Resource], rules: &[Suppression]) {
    // By document, not by name: two resources can share a name (other zones,
    // duplicates), and a label on one must not silence the other.
    let by_document: std::collections::HashMap<(usize, usize), Vec<String>> = resources
        .iter()
        .filter_map(|r| {
            let codes = r.meta.suppressed_codes();
            (!codes.is_empty()).then_some(((r.meta.file, r.meta.doc), codes))
        })
        .collect();
    findings.retain(|f| {
        if rules.iter().any(|s| s.matches(f)) {
            return false;
        }
        let document = f.location.file.zip(f.location.doc);
        match document.and_then(|d| by_document.get(&d)) {
            Some(codes) => !codes.iter().any(|c| c == f.code.id),
            None => true,
        }
    });
}

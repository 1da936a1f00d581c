//! Findings: what meshc reports, where, and how. Every problem is a [`Finding`] with a
//! stable [`Code`]. Stages produce findings that point into the input by
//! (file, document, JSON pointer); [`resolve_positions`] turns those into line and
//! column only when a report is written.

pub mod codes;
pub mod pages;
pub mod render;
pub mod suppress;

use std::fmt;

use serde::Serialize;

pub use codes::Code;

use crate::source::{Limits, SourceFile, yaml::Pos, yaml::SpanIndex};

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        })
    }
}

/// The resource a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ResourceId {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.kind)?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(mesh) = &self.mesh {
            write!(f, " (mesh {mesh})")?;
        }
        Ok(())
    }
}

/// Which part of a mapping entry a finding points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// The value (or, for a missing child, the mapping that should hold it).
    #[default]
    Value,
    /// The key of the entry (unknown fields).
    Key,
}

/// Where a finding points. `pointer` is resolved to `pos` by [`resolve_positions`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// Index into the file table.
    pub file: Option<usize>,
    /// Zero-based document index within the file.
    pub doc: Option<usize>,
    /// RFC 6901 pointer into the document.
    pub pointer: Option<String>,
    pub target: Target,
    /// Start (and end) of the offending text, once known.
    pub pos: Option<Pos>,
    pub end: Option<Pos>,
}

impl Location {
    pub fn file(file: usize) -> Self {
        Location { file: Some(file), ..Default::default() }
    }

    pub fn at(file: usize, pos: Pos) -> Self {
        Location { file: Some(file), pos: Some(pos), ..Default::default() }
    }

    pub fn pointer(file: usize, doc: usize, pointer: impl Into<String>, target: Target) -> Self {
        Location { file: Some(file), doc: Some(doc), pointer: Some(pointer.into()), target, ..Default::default() }
    }
}

/// A secondary location that helps explain a finding (the first of two duplicates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    pub location: Location,
    pub message: String,
}

/// One problem, with everything a person or a script needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: Code,
    pub level: Level,
    pub message: String,
    pub location: Location,
    pub resource: Option<ResourceId>,
    /// The field in Kuma's notation (`spec.to[0].targetRef.kind`), when there is one.
    pub field: Option<String>,
    pub related: Vec<Related>,
}

impl Finding {
    pub fn new(code: Code, message: impl Into<String>, location: Location) -> Self {
        Finding {
            code,
            level: code.level,
            message: message.into(),
            location,
            resource: None,
            field: None,
            related: Vec::new(),
        }
    }

    pub fn with_resource(mut self, resource: ResourceId) -> Self {
        self.resource = Some(resource);
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    pub fn with_related(mut self, location: Location, message: impl Into<String>) -> Self {
        self.related.push(Related { location, message: message.into() });
        self
    }
}

/// A value shortened for a message: user input can be megabytes long.
pub fn excerpt(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        format!("{:?}… ({} characters)", s.chars().take(MAX).collect::<String>(), s.chars().count())
    }
}

/// Fill in line and column for every pointer-based location, one parse per file.
pub fn resolve_positions(findings: &mut [Finding], files: &[SourceFile], limits: &Limits) {
    let mut by_file: std::collections::BTreeMap<usize, Vec<(usize, Option<usize>)>> = Default::default();
    for (i, f) in findings.iter().enumerate() {
        if let Some(file) = needs_position(&f.location) {
            by_file.entry(file).or_default().push((i, None));
        }
        for (r, rel) in f.related.iter().enumerate() {
            if let Some(file) = needs_position(&rel.location) {
                by_file.entry(file).or_default().push((i, Some(r)));
            }
        }
    }
    for (file, wanted) in by_file {
        let Some(text) = files.get(file).and_then(|f| f.text.as_deref()) else { continue };
        let pointers: Vec<(usize, String)> = wanted
            .iter()
            .filter_map(|(i, related)| {
                let loc = match related {
                    None => &findings[*i].location,
                    Some(r) => &findings[*i].related[*r].location,
                };
                Some((loc.doc?, loc.pointer.clone()?))
            })
            .collect();
        let index = SpanIndex::build(text, limits, pointers.iter().map(|(d, p)| (*d, p.as_str())));
        for (i, related) in wanted {
            let loc = match related {
                None => &mut findings[i].location,
                Some(r) => &mut findings[i].related[r].location,
            };
            let (Some(doc), Some(pointer)) = (loc.doc, loc.pointer.as_deref()) else { continue };
            if let Some(span) = index.lookup(doc, pointer) {
                let (start, end) = match (loc.target, span.key) {
                    (Target::Key, Some(key)) => key,
                    _ => span.value,
                };
                loc.pos = Some(start);
                loc.end = Some(end);
            }
        }
    }
}

fn needs_position(loc: &Location) -> Option<usize> {
    if loc.pos.is_none() && loc.pointer.is_some() { loc.file } else { None }
}

/// Sort findings into their reporting order: file, position, code, message.
/// Positions must be resolved first for the order to be by line.
pub fn sort(findings: &mut [Finding], files: &[SourceFile]) {
    let path = |f: &Finding| f.location.file.and_then(|i| files.get(i)).map(|f| f.display.clone());
    findings.sort_by(|a, b| {
        path(a)
            .cmp(&path(b))
            .then_with(|| {
                let pa = a.location.pos.map(|p| (p.line, p.col));
                let pb = b.location.pos.map(|p| (p.line, p.col));
                pa.cmp(&pb)
            })
            .then_with(|| a.location.doc.cmp(&b.location.doc))
            .then_with(|| a.code.id.cmp(b.code.id))
            .then_with(|| a.message.cmp(&b.message))
    });
}

/// Counts by level, for the summary line and exit codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

impl Counts {
    pub fn of(findings: &[Finding]) -> Counts {
        let mut c = Counts::default();
        for f in findings {
            match f.level {
                Level::Error => c.errors += 1,
                Level::Warning => c.warnings += 1,
                Level::Info => c.infos += 1,
            }
        }
        c
    }
}

/// The run a report describes: what was read, and how many resources it held.
pub struct Report<'a> {
    pub findings: &'a [Finding],
    pub files: &'a [SourceFile],
    pub resources: &'a [crate::model::Resource],
}

impl Report<'_> {
    /// (file, resource) of every resource read, for formats that list passing checks.
    pub fn files_with_resources(&self) -> Vec<(String, String)> {
        self.resources
            .iter()
            .map(|r| {
                let file = self.files.get(r.meta.file).map(|f| f.display.clone()).unwrap_or_default();
                (file, r.meta.id().to_string())
            })
            .collect()
    }

    /// `N resources in M files: E errors, W warnings`.
    pub fn summary(&self) -> String {
        let c = Counts::of(self.findings);
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{} in {}: {}, {}",
            plural(self.resources.len(), "resource", "resources"),
            plural(self.files.len(), "file", "files"),
            plural(c.errors, "error", "errors"),
            plural(c.warnings, "warning", "warnings"),
        )
    }
}

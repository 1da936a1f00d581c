//! `--format json`: one document with a summary and every finding.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{end_line_col, file_of, line_col};
use crate::findings::{Counts, Finding, Location, Report};
use crate::source::SourceFile;

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let c = Counts::of(report.findings);
    let doc = json!({
        "version": 1,
        "tool": { "name": "meshc", "version": env!("CARGO_PKG_VERSION") },
        "summary": {
            "files": report.files.len(),
            "resources": report.resources.len(),
            "errors": c.errors,
            "warnings": c.warnings,
            "infos": c.infos,
        },
        "findings": report.findings.iter().map(|f| finding(f, report.files)).collect::<Vec<_>>(),
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

fn finding(f: &Finding, files: &[SourceFile]) -> Value {
    let mut v = json!({
        "code": f.code.id,
        "level": f.level,
        "title": f.code.title,
        "message": f.message,
    });
    location(&mut v, &f.location, files);
    if let Some(field) = &f.field {
        v["field"] = json!(field);
    }
    if let Some(r) = &f.resource {
        v["resource"] = json!(r);
    }
    if !f.related.is_empty() {
        v["related"] = f
            .related
            .iter()
            .map(|r| {
                let mut rv = json!({ "message": r.message });
                location(&mut rv, &r.location, files);
                rv
            })
            .collect();
    }
    v
}

fn location(v: &mut Value, loc: &Location, files: &[SourceFile]) {
    let f = Finding::new(crate::findings::codes::INTERNAL, "", loc.clone());
    if let Some(file) = file_of(&f, files) {
        v["file"] = json!(file);
    }
    if let Some((line, col)) = line_col(loc) {
        v["line"] = json!(line);
        v["column"] = json!(col);
    }
    if let Some((line, col)) = end_line_col(loc) {
        v["end_line"] = json!(line);
        v["end_column"] = json!(col);
    }
    if let Some(doc) = loc.doc {
        v["document"] = json!(doc);
    }
    if let Some(p) = &loc.pointer {
        v["pointer"] = json!(p);
    }
}

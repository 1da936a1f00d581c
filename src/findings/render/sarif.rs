//! `--format sarif`: SARIF 2.1.0, the format GitHub code scanning ingests. Every
//! code in the registry is a rule, so a viewer can show its documentation.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{end_line_col, file_of, line_col};
use crate::findings::{Finding, Level, Location, Report, codes};
use crate::source::SourceFile;

const INFO_URI: &str = "https://github.com/meshc-dev/meshc";

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let rules: Vec<Value> = codes::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "name": pascal(c.title),
                "shortDescription": { "text": c.title },
                "fullDescription": { "text": c.doc.trim().replace('\n', " ") },
                "defaultConfiguration": { "level": level(c.level) },
                // The code's page (what it means, an input that triggers it, the fix),
                // which code scanning shows with each alert.
                "help": {
                    "text": format!("{} Run `meshc rule {}` for an example and the fix.", c.doc.trim().replace('\n', " "), c.id),
                    "markdown": crate::findings::pages::page(c.id).unwrap_or(c.doc),
                },
                "helpUri": format!("{INFO_URI}/blob/main/docs/findings/{}.md", c.id),
            })
        })
        .collect();
    let results: Vec<Value> = report.findings.iter().map(|f| result(f, report.files)).collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "meshc",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": INFO_URI,
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

fn level(l: Level) -> &'static str {
    match l {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Info => "note",
    }
}

fn pascal(title: &str) -> String {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            cs.next().map(|c| c.to_ascii_uppercase().to_string() + cs.as_str()).unwrap_or_default()
        })
        .collect()
}

fn result(f: &Finding, files: &[SourceFile]) -> Value {
    let index = codes::ALL.iter().position(|c| c.id == f.code.id).unwrap_or(0);
    let mut text = f.message.clone();
    if let Some(r) = &f.resource {
        text.push_str(&format!(" ({r}"));
        if let Some(field) = &f.field {
            text.push_str(&format!(", {field}"));
        }
        text.push(')');
    }
    let mut v = json!({
        "ruleId": f.code.id,
        "ruleIndex": index,
        "level": level(f.level),
        "message": { "text": text },
    });
    if let Some(loc) = location(&f.location, files, None) {
        v["locations"] = json!([loc]);
    }
    let related: Vec<Value> =
        f.related.iter().enumerate().filter_map(|(i, r)| location(&r.location, files, Some((i, &r.message)))).collect();
    if !related.is_empty() {
        v["relatedLocations"] = json!(related);
    }
    v
}

fn location(loc: &Location, files: &[SourceFile], related: Option<(usize, &str)>) -> Option<Value> {
    let probe = Finding::new(codes::INTERNAL, "", loc.clone());
    let file = file_of(&probe, files)?;
    let uri = if file == crate::source::STDIN_NAME { "stdin".to_string() } else { uri(file) };
    let mut physical = json!({ "artifactLocation": { "uri": uri } });
    if let Some((line, col)) = line_col(loc) {
        let mut region = json!({ "startLine": line, "startColumn": col });
        if let Some((el, ec)) = end_line_col(loc).filter(|end| *end >= (line, col)) {
            region["endLine"] = json!(el);
            region["endColumn"] = json!(ec);
        }
        physical["region"] = region;
    }
    let mut v = json!({ "physicalLocation": physical });
    if let Some((id, message)) = related {
        v["id"] = json!(id);
        v["message"] = json!({ "text": message });
    }
    Some(v)
}

/// A relative URI reference for a path: forward slashes, percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.replace('\\', "/").bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

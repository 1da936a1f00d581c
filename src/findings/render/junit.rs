//! `--format junit`: JUnit XML, one test suite per file and one test case per
//! resource (plus one for problems of the file itself). Errors are failures;
//! warnings and notes are attached as output.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{file_of, line_col};
use crate::findings::{Finding, Level, Report};

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    // file -> case name -> findings
    let mut suites: BTreeMap<String, BTreeMap<String, Vec<&Finding>>> = BTreeMap::new();
    for f in &report.files_with_resources() {
        suites.entry(f.0.clone()).or_default().entry(f.1.clone()).or_default();
    }
    for f in report.findings {
        let file = file_of(f, report.files).unwrap_or("(input)").to_string();
        let case = f.resource.as_ref().map(|r| r.to_string()).unwrap_or_else(|| "file".to_string());
        suites.entry(file).or_default().entry(case).or_default().push(f);
    }
    let total: usize = suites.values().map(BTreeMap::len).sum();
    let failures: usize =
        suites.values().flat_map(BTreeMap::values).filter(|fs| fs.iter().any(|f| f.level == Level::Error)).count();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(out, r#"<testsuites name="meshc validate" tests="{total}" failures="{failures}" errors="0">"#)?;
    for (file, cases) in &suites {
        let fails = cases.values().filter(|fs| fs.iter().any(|f| f.level == Level::Error)).count();
        writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{fails}" errors="0" skipped="0">"#,
            esc(file),
            cases.len()
        )?;
        for (case, findings) in cases {
            write!(out, r#"    <testcase classname="{}" name="{}""#, esc(file), esc(case))?;
            if findings.is_empty() {
                writeln!(out, "/>")?;
                continue;
            }
            writeln!(out, ">")?;
            let errors: Vec<_> = findings.iter().filter(|f| f.level == Level::Error).collect();
            if let Some(first) = errors.first() {
                let body: Vec<String> = errors.iter().map(|f| line(f, file)).collect();
                writeln!(
                    out,
                    r#"      <failure type="{}" message="{}">{}</failure>"#,
                    first.code.id,
                    esc(&first.message),
                    esc(&body.join("\n"))
                )?;
            }
            let others: Vec<String> =
                findings.iter().filter(|f| f.level != Level::Error).map(|f| line(f, file)).collect();
            if !others.is_empty() {
                writeln!(out, "      <system-out>{}</system-out>", esc(&others.join("\n")))?;
            }
            writeln!(out, "    </testcase>")?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

fn line(f: &Finding, file: &str) -> String {
    let at = line_col(&f.location).map(|(l, c)| format!("{file}:{l}:{c}")).unwrap_or_else(|| file.to_string());
    let field = f.field.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
    format!("{at}: {}[{}]: {}{field}", f.level, f.code.id, f.message)
}

/// Text for XML (and HTML) element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry these, not even as character references.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{fffd}'),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

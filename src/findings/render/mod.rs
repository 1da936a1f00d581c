//! Report formats. `text` goes to stderr; every other format writes exactly one
//! document to stdout, whatever the number of findings.

mod github;
mod json;
pub(crate) mod junit;
mod sarif;
mod text;

use std::io::{self, Write};

use clap::ValueEnum;

use super::{Finding, Report};
use crate::source::SourceFile;

pub use text::TextOptions;

/// Output format of findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable diagnostics with source snippets, on stderr.
    Text,
    /// One JSON document on stdout.
    Json,
    /// SARIF 2.1.0 on stdout, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// JUnit XML on stdout, for CI test report viewers.
    Junit,
    /// GitHub Actions workflow commands (`::error file=...::`) on stdout.
    Github,
}

/// Write `report` in `format`. Text goes to `err`, everything else to `out`.
pub fn write(
    format: Format,
    report: &Report,
    text: &TextOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Text => text::write(report, text, err),
        Format::Json => json::write(report, out),
        Format::Sarif => sarif::write(report, out),
        Format::Junit => junit::write(report, out),
        Format::Github => github::write(report, out),
    }
}

/// Text made safe for a terminal or a log: control characters (escape sequences
/// from user input) and bidirectional overrides (text that reads differently than
/// it is, "Trojan Source") are shown escaped, never sent. Resource names reach
/// messages unchecked when MESH1004 is suppressed, so every message that names
/// one goes through this.
pub fn printable(s: &str) -> String {
    s.chars().map(|c| if is_unsafe_char(c) { c.escape_default().to_string() } else { c.to_string() }).collect()
}

fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The file a finding is in, as shown to users (forward slashes).
fn file_of<'a>(f: &Finding, files: &'a [SourceFile]) -> Option<&'a str> {
    f.location.file.and_then(|i| files.get(i)).map(|s| s.display.as_str())
}

/// 1-based line and column of a finding's start, when known.
fn line_col(loc: &super::Location) -> Option<(usize, usize)> {
    loc.pos.map(|p| (p.line, p.col + 1))
}

fn end_line_col(loc: &super::Location) -> Option<(usize, usize)> {
    loc.end.map(|p| (p.line, p.col + 1))
}

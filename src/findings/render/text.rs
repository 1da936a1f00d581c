//! `--format text`: miette diagnostics with a source snippet, on stderr.
//!
//! The snippet is a small window of the file (a few lines, each clipped around the
//! finding) so a 10 MB single-line file cannot flood the terminal, and values of
//! secret-bearing keys and PEM blocks are redacted before anything is shown.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteSpanContents, Severity, SourceCode,
    SourceSpan, SpanContents,
};

use super::{file_of, line_col};
use crate::findings::{Finding, Level, Report};
use crate::source::yaml::{Pos, SECRET_KEYS, SpanIndex};
use crate::source::{Limits, SourceFile};

/// Presentation options for text output.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    pub color: bool,
    /// Only the summary line.
    pub quiet: bool,
    /// One `file:line:col: level[CODE]: message` line per finding, no snippets.
    pub concise: bool,
}

pub fn write(report: &Report, opts: &TextOptions, out: &mut dyn Write) -> io::Result<()> {
    if !opts.quiet {
        let theme = if opts.color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100).with_context_lines(1);
        // Secret values of each file, found once per file that has findings.
        let mut secrets: HashMap<usize, Vec<(Pos, Pos)>> = HashMap::new();
        for f in report.findings {
            let at = printable(&location_text(f, report.files));
            writeln!(out, "{at}: {}[{}]: {}", f.level, f.code.id, printable(&f.message))?;
            if opts.concise {
                continue;
            }
            let file_secrets = f.location.file.map(|i| {
                secrets.entry(i).or_insert_with(|| {
                    let text = report.files.get(i).and_then(|f| f.text.as_deref()).unwrap_or_default();
                    SpanIndex::build(text, &Limits::default(), []).secrets().to_vec()
                })
            });
            let diag = TextDiagnostic::new(f, report.files, file_secrets.map(|s| s.as_slice()).unwrap_or_default());
            let mut rendered = String::new();
            if handler.render_report(&mut rendered, &diag).is_ok() {
                out.write_all(rendered.as_bytes())?;
            }
        }
    }
    writeln!(out, "{}", report.summary())
}

fn location_text(f: &Finding, files: &[SourceFile]) -> String {
    let file = file_of(f, files).unwrap_or("<input>");
    match line_col(&f.location) {
        Some((l, c)) => format!("{file}:{l}:{c}"),
        None => file.to_string(),
    }
}

struct TextDiagnostic {
    message: String,
    severity: Severity,
    help: Option<String>,
    snippet: Option<Snippet>,
}

impl TextDiagnostic {
    fn new(f: &Finding, files: &[SourceFile], secrets: &[(Pos, Pos)]) -> Self {
        let severity = match f.level {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
            Level::Info => Severity::Advice,
        };
        let mut help = Vec::new();
        if let Some(r) = &f.resource {
            match &f.field {
                Some(field) => help.push(format!("in {r}, at {field}")),
                None => help.push(format!("in {r}")),
            }
        }
        for rel in &f.related {
            let probe = Finding::new(f.code, "", rel.location.clone());
            help.push(format!("{}: {}", location_text(&probe, files), rel.message));
        }
        help.push(format!("{}: {} (meshc rule {})", f.code.id, f.code.title, f.code.id));
        let snippet = Snippet::build(f, files, secrets);
        let help = help.iter().map(|h| printable(h)).collect::<Vec<_>>().join("\n");
        TextDiagnostic { message: printable(&f.message), severity, help: Some(help), snippet }
    }
}

impl fmt::Debug for TextDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for TextDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TextDiagnostic {}

impl Diagnostic for TextDiagnostic {
    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.snippet.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let s = self.snippet.as_ref()?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(Some("here".into()), s.label))))
    }
}

/// A window of a source file around a finding.
struct Snippet {
    name: String,
    text: String,
    /// Line number (1-based) of the window's first line.
    first_line: usize,
    /// The finding's column in the file (0-based, in characters), for the header:
    /// the window's own columns are shifted by clipping and counted in bytes.
    column: usize,
    label: SourceSpan,
}

const CONTEXT: usize = 2;
const MAX_LINE: usize = 160;

impl Snippet {
    fn build(f: &Finding, files: &[SourceFile], secrets: &[(Pos, Pos)]) -> Option<Snippet> {
        let file = files.get(f.location.file?)?;
        // Private keys outside key fields (MESH1006) are masked wherever they are.
        let text = crate::source::secrets::mask_text(file.text.as_deref()?);
        let pos = f.location.pos?;
        let end = f.location.end.filter(|e| e.line == pos.line).map(|e| e.col).unwrap_or(pos.col + 1);
        let lines: Vec<&str> = text.lines().collect();
        let idx = pos.line.checked_sub(1)?;
        if idx >= lines.len() {
            return None;
        }
        let first = idx.saturating_sub(CONTEXT);
        let last = (idx + CONTEXT).min(lines.len() - 1);
        let redacted = redact(&lines, first, last);
        let mut window = String::new();
        let mut label = SourceSpan::from((0, 0));
        for (i, line) in redacted.iter().enumerate() {
            let n = first + i;
            let chars = mask(line, n + 1, secrets);
            // Clip long lines around the finding's column.
            let start = if n == idx && pos.col > MAX_LINE / 2 { pos.col - MAX_LINE / 4 } else { 0 };
            let start = start.min(chars.len());
            let stop = (start + MAX_LINE).min(chars.len());
            let mut shown: String = chars[start..stop].iter().collect();
            if start > 0 {
                shown.insert(0, '…');
            }
            if stop < chars.len() {
                shown.push('…');
            }
            if n == idx {
                let prefix = usize::from(start > 0);
                let col = (pos.col.saturating_sub(start) + prefix).min(shown.chars().count());
                let end_col = (end.saturating_sub(start) + prefix).clamp(col + 1, shown.chars().count().max(col + 1));
                let byte = |c: usize| shown.char_indices().nth(c).map(|(b, _)| b).unwrap_or(shown.len());
                let (b0, b1) = (byte(col), byte(end_col));
                label = SourceSpan::from((window.len() + b0, b1.saturating_sub(b0).max(usize::from(b0 < shown.len()))));
            }
            window.push_str(&shown);
            window.push('\n');
        }
        Some(Snippet { name: file.display.clone(), text: window, first_line: first + 1, column: pos.col, label })
    }
}

impl SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self.text.read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line - 1,
            self.column,
            inner.line_count(),
        )))
    }
}

/// The characters of line `line` (1-based) as shown: secret values masked with
/// `*` (spans from the YAML parser), control characters replaced, columns kept.
fn mask(text: &str, line: usize, secrets: &[(Pos, Pos)]) -> Vec<char> {
    let mut chars: Vec<char> = text.chars().map(|c| if c.is_control() && c != '\t' { '\u{fffd}' } else { c }).collect();
    for (start, end) in secrets.iter().filter(|(s, e)| s.line <= line && line <= e.line) {
        let from = if start.line == line { start.col } else { 0 };
        let to = if end.line == line { end.col } else { chars.len() };
        for c in chars.iter_mut().take(to).skip(from) {
            if !c.is_whitespace() {
                *c = '*';
            }
        }
    }
    chars
}

use super::printable;

/// Redact secret values in lines `first..=last`, looking back for block scalars
/// that started above the window.
fn redact(lines: &[&str], first: usize, last: usize) -> Vec<String> {
    let mut out = Vec::new();
    // Indentation of an open secret block scalar, if any.
    let mut block: Option<usize> = None;
    let scan_from = first.saturating_sub(200);
    for (n, line) in lines.iter().enumerate().take(last + 1).skip(scan_from) {
        let indent = line.len() - line.trim_start().len();
        let mut shown = line.to_string();
        if let Some(b) = block {
            if line.trim().is_empty() || indent > b {
                shown = format!("{}<redacted>", &line[..indent]);
            } else {
                block = None;
            }
        }
        if block.is_none() {
            let trimmed = line.trim_start().trim_start_matches("- ");
            if let Some((key, value)) = trimmed.split_once(':') {
                let key = key.trim().trim_matches('"').trim_matches('\'');
                let value = value.trim();
                if SECRET_KEYS.contains(&key) && !value.is_empty() {
                    let cut = line.len() - line.trim_start().len() + line.trim_start().find(':').unwrap_or(0) + 1;
                    shown = format!("{} <redacted>", &line[..cut]);
                    if value.starts_with('|') || value.starts_with('>') {
                        block = Some(indent);
                    }
                }
            }
            if line.contains("-----BEGIN") || line.contains("PRIVATE KEY") {
                shown = format!("{}<redacted>", &line[..indent]);
            }
        }
        if n >= first {
            out.push(shown);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacts_secret_values_and_blocks() {
        let lines = [
            "tls:",
            "  clientKey:",
            "    inline: c2VjcmV0",
            "  caCert:",
            "    inlineString: |",
            "      -----BEGIN",
            "      abc",
            "  mode: x",
        ];
        let out = redact(&lines, 0, lines.len() - 1);
        assert_eq!(out[2], "    inline: <redacted>");
        assert_eq!(out[4], "    inlineString: <redacted>");
        assert_eq!(out[5], "      <redacted>");
        assert_eq!(out[6], "      <redacted>");
        assert_eq!(out[7], "  mode: x");
    }
}

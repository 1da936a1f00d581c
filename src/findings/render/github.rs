//! `--format github`: GitHub Actions workflow commands, one line per finding, so
//! findings appear as annotations on the pull request.

use std::io::{self, Write};

use super::{end_line_col, file_of, line_col};
use crate::findings::{Level, Report};

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for f in report.findings {
        let command = match f.level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "notice",
        };
        let mut props = Vec::new();
        if let Some(file) = file_of(f, report.files) {
            props.push(format!("file={}", property(file)));
        }
        if let Some((line, col)) = line_col(&f.location) {
            props.push(format!("line={line}"));
            props.push(format!("col={col}"));
            if let Some((el, ec)) = end_line_col(&f.location) {
                props.push(format!("endLine={el}"));
                if el == line {
                    props.push(format!("endColumn={ec}"));
                }
            }
        }
        props.push(format!("title={}", property(&format!("{} {}", f.code.id, f.code.title))));
        let mut message = f.message.clone();
        if let Some(r) = &f.resource {
            message.push_str(&format!("\n{r}"));
            if let Some(field) = &f.field {
                message.push_str(&format!(" at {field}"));
            }
        }
        writeln!(out, "::{command} {}::{}", props.join(","), data(&message))?;
    }
    Ok(())
}

fn data(s: &str) -> String {
    let escaped = s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    // Other control characters (escape sequences from user input) are shown, not sent.
    super::printable(&escaped)
}

fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

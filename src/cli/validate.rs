//! `meshc validate [PATH...]`.

use std::io::Write;

use super::input::{FailLevel, InputArgs};
use super::{Color, exit};
use crate::findings::render::{self, Format, TextOptions};
use crate::findings::{Level, Report, codes};
use crate::validate;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  meshc validate                         # everything under the current directory
  meshc validate policies/ mesh.yaml     # some directories and files
  kubectl get meshtimeouts -A -o yaml | meshc validate -
  meshc validate --format sarif > meshc.sarif
  meshc validate --suppress 'MESH4002=MeshTimeout/*'

Resources are read in Kubernetes form (apiVersion: kuma.io/v1alpha1, kind,
metadata, spec) or Universal form (type, name, mesh, labels, spec). A resource
can silence codes for itself with the label or annotation
  meshc.io/suppress: \"MESH4002,MESH4005\"")]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,

    /// Output format. `text` goes to stderr; the others write one document to stdout.
    #[arg(long, short, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Exit with status 1 when a finding is at or above this level.
    #[arg(long, value_enum, default_value_t = FailLevel::Error)]
    pub fail_level: FailLevel,

    /// Print the table of finding codes and exit.
    #[arg(long)]
    pub list_codes: bool,

    /// Only print the summary line (text format).
    #[arg(long, short)]
    pub quiet: bool,

    /// One line per finding, without source snippets (text format).
    #[arg(long)]
    pub concise: bool,
}

pub fn run(args: Args, color: Color) -> i32 {
    if args.list_codes {
        return list_codes(args.format);
    }
    args.input.apply_jobs();
    let outcome = validate::run(&args.input.paths, &args.input.options());
    let report = Report { findings: &outcome.findings, files: &outcome.files, resources: &outcome.resources };
    let text = TextOptions { color: color.enabled(), quiet: args.quiet, concise: args.concise };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let written = render::write(args.format, &report, &text, &mut stdout.lock(), &mut stderr.lock());
    if args.format != Format::Text {
        let _ = writeln!(stderr.lock(), "{}", report.summary());
    }
    if written.is_err() {
        return exit::UNREADABLE;
    }
    let status = exit_status(&outcome, args.fail_level);
    // The process ends right after this: freeing every resource one by one would
    // only cost time (about a tenth of a large run).
    std::mem::forget(outcome);
    status
}

fn exit_status(outcome: &validate::Outcome, fail_level: FailLevel) -> i32 {
    let threshold = match fail_level {
        FailLevel::Error => Level::Error,
        FailLevel::Warning => Level::Warning,
    };
    if outcome.unreadable || outcome.findings.iter().any(|f| f.code == codes::INTERNAL) {
        exit::UNREADABLE
    } else if outcome.findings.iter().any(|f| f.level >= threshold) {
        exit::FINDINGS
    } else {
        exit::CLEAN
    }
}

fn list_codes(format: Format) -> i32 {
    match format {
        Format::Json => {
            let v: Vec<_> = codes::ALL
                .iter()
                .map(|c| serde_json::json!({"code": c.id, "level": c.level, "title": c.title, "doc": c.doc.trim()}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        _ => print!("{}", codes::markdown_table()),
    }
    exit::CLEAN
}

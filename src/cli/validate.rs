//! `meshc validate [PATH...]`.

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;

use super::{Color, exit};
use crate::findings::render::{self, Format, TextOptions};
use crate::findings::suppress::Suppression;
use crate::findings::{Level, Report, codes};
use crate::source::Limits;
use crate::validate::{self, Options};

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
    /// Files or directories to read (`-` for stdin). Directories are walked for
    /// *.yaml, *.yml and *.json, skipping hidden, .gitignore'd and .meshcignore'd paths.
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Output format. `text` goes to stderr; the others write one document to stdout.
    #[arg(long, short, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Exit with status 1 when a finding is at or above this level.
    #[arg(long, value_enum, default_value_t = FailLevel::Error)]
    pub fail_level: FailLevel,

    /// Skip documents that are not kuma.io resources instead of reporting MESH1001.
    #[arg(long)]
    pub ignore_unknown: bool,

    /// Silence findings: `CODE` everywhere, or `CODE=KIND/NAME` for some resources.
    /// Globs are allowed (`MESH4*=MeshTimeout/team-*`). Repeatable.
    #[arg(long, value_name = "CODE[=KIND/NAME]")]
    pub suppress: Vec<Suppression>,

    /// Print the table of finding codes and exit.
    #[arg(long)]
    pub list_codes: bool,

    /// Only print the summary line (text format).
    #[arg(long, short)]
    pub quiet: bool,

    /// One line per finding, without source snippets (text format).
    #[arg(long)]
    pub concise: bool,

    /// Kuma's system namespace on Kubernetes: policies there have the `system` role.
    #[arg(long, value_name = "NS", default_value = "kuma-system")]
    pub system_namespace: String,

    /// Do not assume that the `default` mesh exists (Kuma creates it at start-up).
    #[arg(long)]
    pub no_default_mesh: bool,

    /// Largest file read, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_file_size)]
    pub max_file_size: u64,

    /// Deepest nesting of a YAML document.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_depth)]
    pub max_depth: usize,

    /// Most nodes in one YAML document, counting every use of an alias.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_nodes)]
    pub max_nodes: usize,

    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailLevel {
    Error,
    Warning,
}

pub fn run(args: Args, color: Color) -> i32 {
    if args.list_codes {
        return list_codes(args.format);
    }
    if let Some(n) = args.jobs {
        // Ignore the error of a pool that is already built (tests call run twice).
        let _ = rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global();
    }
    let opts = Options {
        limits: Limits { max_file_size: args.max_file_size, max_depth: args.max_depth, max_nodes: args.max_nodes },
        ignore_unknown: args.ignore_unknown,
        system_namespace: args.system_namespace.clone(),
        default_mesh_exists: !args.no_default_mesh,
        suppressions: args.suppress.clone(),
    };
    let outcome = validate::run(&args.paths, &opts);
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

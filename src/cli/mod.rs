//! The command line: one module per subcommand over the library.

mod certs;
mod compile;
mod completions;
mod diff;
mod explain;
mod fmt;
mod git;
mod input;
mod man;
mod progress;
mod report;
mod rule;
mod schema;
mod validate;
mod watch;

use std::io::IsTerminal;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit statuses, the same in every output format.
pub mod exit {
    /// No findings at or above `--fail-level`.
    pub const CLEAN: i32 = 0;
    /// Findings at or above `--fail-level`.
    pub const FINDINGS: i32 = 1;
    /// The command line was wrong.
    pub const USAGE: i32 = 2;
    /// Input could not be read, or meshc failed internally.
    pub const UNREADABLE: i32 = 3;
}

const LONG_ABOUT: &str = "\
meshc reads Kuma service-mesh resources (Mesh, Dataplane, MeshService, \
MeshExternalService, MeshTrafficPermission, MeshTimeout, MeshHTTPRoute and the \
other targetRef policies) from YAML or JSON files, in Kubernetes or Universal \
form, checks them the way Kuma's control plane would, and compiles every sidecar's \
static Envoy configuration (`meshc compile`), offline.

Exit status: 0 clean, 1 findings at or above --fail-level (compile: error \
findings or a stale --check; diff: something would change), 2 usage error, \
3 input could not be read, output could not be written, or internal error.";

/// Offline validator and compiler for Kuma service-mesh resources.
#[derive(Debug, Parser)]
#[command(name = "meshc", version, about, long_about = LONG_ABOUT, propagate_version = true)]
pub struct Cli {
    /// When to use colors in text output.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Color when stderr is a terminal and NO_COLOR is not set (or empty, as
    /// no-color.org says). An explicit `--color always` wins over NO_COLOR.
    Auto,
    Always,
    Never,
}

impl Color {
    pub fn enabled(self) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check resources as Kuma would and report findings.
    Validate(validate::Args),
    /// Compile every sidecar's static Envoy configuration into a directory.
    Compile(compile::Args),
    /// Compile into a directory, then again on every change of the input.
    Watch(watch::Args),
    /// Show what `meshc compile` would change in a directory, as a unified diff.
    Diff(diff::Args),
    /// Show which policies reach a proxy and what they merge into, field by field.
    ///
    /// For each inbound and outbound of a sidecar, and each policy kind: the
    /// effective configuration and which policy, section and item set each field
    /// (Kuma's inspect API and shadow mode, without a control plane).
    Explain(explain::Args),
    /// Write one self-contained HTML page that shows the mesh: services, who may
    /// call whom, every proxy's effective policies, every policy's reach.
    ///
    /// No server and no request: styles, script and data are inline, so the page
    /// opens from disk and from a CI artifact. With --against or --against-git it
    /// also shows what a change does to each proxy.
    Report(report::Args),
    /// Issue sidecar mTLS certificates and mesh CA bundles for Envoy (SDS files).
    ///
    /// Each sidecar Dataplane in a mesh with mTLS gets an identity certificate
    /// signed by the mesh's CA (builtin: created once in the secrets directory;
    /// provided: read from the Mesh's conf.cert/conf.key), so a static Envoy
    /// deployment of meshc's configs needs no other tool.
    Certs(certs::Args),
    /// Rewrite resources in one canonical form (key order, defaults), keeping comments.
    ///
    /// Keys in the order of Kuma's schema, maps sorted, lists as `kubectl get -o yaml`
    /// lays them out, the defaults Kuma fills on admission written out; comments stay
    /// with what they precede.
    Fmt(fmt::Args),
    /// Write the JSON Schema of every kind, for editors and other tools.
    Schema(schema::Args),
    /// Explain a finding code: what it means, an input that triggers it, and the fix.
    Rule(rule::Args),
    /// Print a shell completion script.
    Completions(completions::Args),
    /// Print the man page, or write one per command into a directory.
    Man(man::Args),
}

/// Run the command line; returns the exit status. A panic anywhere (a bug) is
/// reported as internal error MESH9001 with exit status 3, never as a crash
/// status a pipeline would not recognise.
pub fn main() -> i32 {
    crate::source::secrets::install_panic_hook();
    match std::panic::catch_unwind(run) {
        Ok(status) => status,
        Err(_) => {
            eprintln!(
                "error[{}]: meshc failed internally (the panic message is above). \
                 Please report it with the input that caused it.",
                crate::findings::codes::INTERNAL.id
            );
            exit::UNREADABLE
        }
    }
}

fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::CLEAN };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Validate(args) => validate::run(args, cli.color),
        Command::Compile(args) => compile::run(args, cli.color),
        Command::Watch(args) => watch::run(args, cli.color),
        Command::Diff(args) => diff::run(args, cli.color),
        Command::Explain(args) => explain::run(args, cli.color),
        Command::Report(args) => report::run(args, cli.color),
        Command::Certs(args) => certs::run(args, cli.color),
        Command::Fmt(args) => fmt::run(args, cli.color),
        Command::Schema(args) => schema::run(args),
        Command::Rule(args) => rule::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

//! `meshc compile [PATH...] --out DIR`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::ValueEnum;

use super::input::InputArgs;
use super::progress;
use super::{Color, exit};
use crate::compile::{self, Rendered, Selection, Timings};
use crate::emit::ProxyId;
use crate::emit::{self, Comparison, Tree};
use crate::findings::render::{self, Format as FindingsFormat, TextOptions};
use crate::findings::{Level, Report};
use crate::validate::Outcome;
use crate::world::Cidrs;

/// Where `meshc certs` output is expected on the hosts, unless `--secrets-dir` says otherwise.
pub const DEFAULT_SECRETS_DIR: &str = "/etc/meshc/secrets";
/// kuma-dp's override of the system CA bundle, honoured by `--system-ca-path`.
pub const SYSTEM_CA_ENV: &str = "KUMA_DATAPLANE_RUNTIME_DYNAMIC_SYSTEM_CA_PATH";

/// What the proxies reach and how they trust external services: the options
/// `compile`, `diff` and `explain` share.
#[derive(Debug, Clone, clap::Args)]
pub struct ReachArgs {
    /// The CA bundle that verifies MeshExternalServices with `tls.enabled` and no
    /// `verification.caCert`, as the proxies' hosts see it (kuma-dp autodetects
    /// the OS bundle; a static config names one). Default:
    /// /etc/ssl/certs/ca-certificates.crt (Debian, Ubuntu, Alpine).
    #[arg(long, value_name = "FILE", env = SYSTEM_CA_ENV)]
    pub system_ca_path: Option<String>,

    /// Give each sidecar outbounds only to the services MeshTrafficPermission lets
    /// it call, as Kuma's `experimental.autoReachableServices` does: no permission
    /// is a deny; MeshExternalServices and MeshMultiZoneServices are always kept;
    /// `reachableServices` / `reachableBackends`, where set, decide instead.
    #[arg(
        long,
        env = "KUMA_EXPERIMENTAL_AUTO_REACHABLE_SERVICES",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
        default_value = "false",
        hide_default_value = true,
        hide_possible_values = true
    )]
    pub auto_reachable_services: bool,
}

impl ReachArgs {
    /// The world and plan options of `explain` and `report`: the default VIP
    /// ranges and secrets directory, `shadow` policies applied or not.
    pub fn options(&self, default_mesh_exists: bool, shadow: bool) -> (crate::world::Options, crate::plan::Options) {
        let world = crate::world::Options {
            default_mesh_exists,
            auto_reachable_services: self.auto_reachable_services,
            ..Default::default()
        };
        let plan = crate::plan::Options {
            secrets_dir: DEFAULT_SECRETS_DIR.to_string(),
            shadow,
            system_ca_path: self.system_ca_path.clone(),
        };
        (world, plan)
    }
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  meshc compile policies/ --out out/              # every sidecar's Envoy bootstrap
  envoy -c out/proxies/default/backend-01/bootstrap.yaml
  meshc compile policies/ --out out/ --check      # CI: exit 1 when out/ is stale
  meshc compile . --out out/ --format xds         # bootstrap + LDS/CDS files per proxy
  meshc compile . --out out/ --shard 2/4          # one quarter of the proxies
  meshc compile global/ --out out/ --zone zone-1  # only zone-1's proxies (multi-zone)
  meshc compile . --out out/ --timings

A new output directory is created atomically; an existing one is updated in place:
only files whose bytes change are replaced (each by a rename, so Envoy's file-based
xDS reloads only the proxies that changed), removed proxies' files are deleted, and
manifest.json goes last; a journal lets the next run finish an update that was killed.
Either way DIR ends up holding exactly what this run compiles:
out/manifest.json lists every proxy (mesh, zone, namespace, name, kind, bootstrap
path, sha256); out/proxies/<mesh>/[<zone>/]<name>/ holds its files. A directory
that has files but no meshc manifest is never replaced. Validation errors stop the
compile with exit 1 and nothing written. With mesh mTLS, run `meshc certs` with the
same --secrets-dir to issue the certificates the configs point at.")]
pub struct Args {
    #[command(flatten)]
    pub input: CompileInput,

    /// The output directory.
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,

    /// Write nothing; exit 1 with a summary of what differs when DIR is not what
    /// this run would write (the CI drift gate).
    #[arg(long)]
    pub check: bool,

    /// Print the time each stage took (read, validate, world, rules, plan, envoy, render, write).
    #[arg(long)]
    pub timings: bool,
}

/// Everything `compile` and `diff` share: input, selection, rendering.
#[derive(Debug, clap::Args)]
pub struct CompileInput {
    #[command(flatten)]
    pub input: InputArgs,

    /// What each proxy gets: one self-contained `bootstrap`, or a bootstrap plus
    /// LDS/CDS files for Envoy's file-based xDS (`xds`). `json` is short for the
    /// bootstrap layout with `--message-format json`.
    #[arg(long, value_enum, default_value_t = OutputFormat::Bootstrap)]
    pub format: OutputFormat,

    /// File encoding of the Envoy configs.
    #[arg(long, value_enum, default_value_t = emit::Encoding::Yaml)]
    pub encoding: emit::Encoding,

    /// Where the proxies find the certificates `meshc certs` issues (SDS files).
    /// Recorded in the manifest. A relative path is relative to Envoy's working directory.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_SECRETS_DIR)]
    pub secrets_dir: String,

    #[command(flatten)]
    pub reach: ReachArgs,

    /// With `--format xds`: the directory the bootstraps name for their LDS/CDS
    /// files, as Envoy will see it (default: the output directory as given).
    #[arg(long, value_name = "DIR")]
    pub xds_root: Option<String>,

    /// Only this proxy (`name`, `name.namespace` or `mesh/name`). Repeatable.
    #[arg(long, value_name = "NAME")]
    pub proxy: Vec<String>,

    /// Only proxies of this mesh. Repeatable.
    #[arg(long, value_name = "MESH")]
    pub mesh: Vec<String>,

    /// Only proxies of this zone (a Dataplane's `kuma.io/zone` label). Repeatable,
    /// or a comma-separated list. The input stays the whole global view: proxies
    /// of the zone still reach the other zones' services through their zone
    /// ingresses. Proxies without a zone are left out when this is given.
    #[arg(long, value_name = "ZONE", value_delimiter = ',')]
    pub zone: Vec<String>,

    /// Only shard I of N (1-based): a deterministic share of the proxies, by a hash
    /// of their identity, so a CI matrix can split a large mesh. The shards
    /// together are one full run.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(u64, u64)>,

    /// VIP range of MeshServices (Kuma's KUMA_IPAM_MESH_SERVICE_CIDR).
    #[arg(long, value_name = "CIDR", default_value_t = Cidrs::default().mesh_service)]
    pub mesh_service_cidr: ipnet::IpNet,

    /// VIP range of MeshExternalServices.
    #[arg(long, value_name = "CIDR", default_value_t = Cidrs::default().mesh_external_service)]
    pub mesh_external_service_cidr: ipnet::IpNet,

    /// VIP range of MeshMultiZoneServices.
    #[arg(long, value_name = "CIDR", default_value_t = Cidrs::default().mesh_multi_zone_service)]
    pub mesh_multi_zone_service_cidr: ipnet::IpNet,

    /// VIP range of legacy `<service>.mesh` names (Kuma's KUMA_DNS_SERVER_CIDR).
    #[arg(long, value_name = "CIDR", default_value_t = Cidrs::default().legacy)]
    pub legacy_vip_cidr: ipnet::IpNet,

    /// `human` (text on stderr) or `json` (one document on stdout, for scripts).
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,

    /// Only print errors and the result line.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Bootstrap,
    Xds,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s.split_once('/').ok_or("expected I/N, e.g. 2/4")?;
    let i: u64 = i.trim().parse().map_err(|_| format!("shard index `{i}` is not a number"))?;
    let n: u64 = n.trim().parse().map_err(|_| format!("shard count `{n}` is not a number"))?;
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {i}/{n} does not exist: I must be between 1 and N"));
    }
    Ok((i, n))
}

impl CompileInput {
    pub fn options(&self) -> compile::Options {
        let validate = self.input.options();
        compile::Options {
            world: crate::world::Options {
                cidrs: Cidrs {
                    mesh_service: self.mesh_service_cidr,
                    mesh_external_service: self.mesh_external_service_cidr,
                    mesh_multi_zone_service: self.mesh_multi_zone_service_cidr,
                    legacy: self.legacy_vip_cidr,
                },
                default_mesh_exists: validate.default_mesh_exists,
                auto_reachable_services: self.reach.auto_reachable_services,
            },
            validate,
            plan: crate::plan::Options {
                secrets_dir: self.secrets_dir.clone(),
                shadow: false,
                system_ca_path: self.reach.system_ca_path.clone(),
            },
            selection: Selection {
                proxies: self.proxy.clone(),
                meshes: self.mesh.clone(),
                zones: self.zone.clone(),
                shard: self.shard,
            },
        }
    }

    pub fn emit_options(&self, out: &std::path::Path) -> emit::Options {
        emit::Options {
            format: if self.format == OutputFormat::Xds { emit::Format::Xds } else { emit::Format::Bootstrap },
            encoding: self.encoding,
            secrets_dir: self.secrets_dir.clone(),
            xds_root: self.xds_root.clone(),
            out_dir: out.to_string_lossy().into_owned(),
        }
    }

    /// A progress bar on stderr: a person watching a terminal, not CI or a script.
    pub fn progress_wanted(&self) -> bool {
        progress::wanted(self.quiet, self.json())
    }

    /// Messages for scripts: one JSON document on stdout.
    pub fn json(&self) -> bool {
        self.message_format == MessageFormat::Json || self.format == OutputFormat::Json
    }

    fn selects_subset(&self) -> bool {
        !self.proxy.is_empty() || !self.mesh.is_empty() || self.shard.is_some()
    }

    /// Read, validate, compile and render (for output directory `out`); print
    /// findings (human format). Each proxy is rendered as soon as it is built, so
    /// no more than one `Bootstrap` per worker is ever in memory.
    pub fn compile(&self, color: Color, out: &std::path::Path) -> Rendered {
        self.input.apply_jobs();
        let bar = progress::Bar::start("compiling", self.progress_wanted());
        let compiled = compile::run_rendered(&self.input.paths, &self.options(), &self.emit_options(out));
        bar.finish();
        self.print_findings(&compiled.outcome, color);
        compiled
    }

    /// The exit status when the run must stop before writing: unreadable input or errors.
    pub fn stop_status(&self, outcome: &Outcome, proxies: &[ProxyId]) -> Option<i32> {
        let status = if outcome.unreadable {
            exit::UNREADABLE
        } else if outcome.findings.iter().any(|f| f.level == Level::Error) {
            exit::FINDINGS
        } else {
            if self.selects_subset() && proxies.is_empty() && !self.json() {
                eprintln!("warning: no proxy matches --proxy / --mesh / --shard");
            }
            return None;
        };
        if !self.json() && status == exit::FINDINGS {
            eprintln!("error: nothing was compiled: fix the errors above first");
        }
        Some(status)
    }

    pub fn print_findings(&self, o: &Outcome, color: Color) {
        if self.json() {
            return;
        }
        let shown: Vec<_> = o.findings.iter().filter(|f| !self.quiet || f.level == Level::Error).cloned().collect();
        if shown.is_empty() {
            return;
        }
        let report = Report { findings: &shown, files: &o.files, resources: &o.resources };
        let text = TextOptions { color: color.enabled(), quiet: false, concise: false };
        let stderr = std::io::stderr();
        let _ = render::write(FindingsFormat::Text, &report, &text, &mut std::io::sink(), &mut stderr.lock());
    }

    /// What writing `compiled` into `dir` would change (narrowed to the selected
    /// proxies); the error is printed and turned into an exit status.
    pub fn compare_with(&self, compiled: &mut Rendered, dir: &std::path::Path) -> Result<Comparison, i32> {
        let tree = std::mem::replace(&mut compiled.tree, Ok(Tree::new())).map_err(|e| {
            eprintln!("error: {e}");
            exit::UNREADABLE
        })?;
        match emit::compare(dir, &tree) {
            Ok(c) => Ok(self.narrow(compiled, c)),
            Err(e) => {
                eprintln!("error: cannot compare with {}: {e}", dir.display());
                Err(exit::UNREADABLE)
            }
        }
    }

    /// A comparison narrowed to the selected proxies (the manifest lists them all,
    /// so it is left out when only some are compiled).
    fn narrow(&self, compiled: &Rendered, comparison: Comparison) -> Comparison {
        if !self.selects_subset() {
            return comparison;
        }
        let dirs: Vec<String> = compiled.proxies.iter().map(|id| format!("proxies/{}/", id.dir())).collect();
        let mut narrowed = Comparison::default();
        for f in comparison.files {
            if dirs.iter().any(|d| f.path.starts_with(d.as_str())) {
                match f.status {
                    emit::Status::Added => narrowed.added += 1,
                    emit::Status::Removed => narrowed.removed += 1,
                    emit::Status::Changed => narrowed.changed += 1,
                    emit::Status::Unchanged => narrowed.unchanged += 1,
                }
                narrowed.files.push(f);
            }
        }
        narrowed
    }
}

pub fn run(args: Args, color: Color) -> i32 {
    if args.check {
        return check(&args, color);
    }
    let input = &args.input;
    let dir = args.out.display().to_string();
    input.input.apply_jobs();
    let bar = progress::Bar::start("compiling", input.progress_wanted());
    let written = compile::run_written(&input.input.paths, &input.options(), &input.emit_options(&args.out), &args.out);
    bar.finish();
    input.print_findings(&written.outcome, color);
    let summary = Summary { outcome: &written.outcome, proxies: &written.proxies, timings: &written.timings };
    if let Some(status) = input.stop_status(&written.outcome, &written.proxies) {
        if input.json() {
            print_json(&summary, None, None, &dir, false);
        }
        return status;
    }
    let stats = match &written.written {
        Ok(s) => *s,
        Err(e) => {
            eprintln!("error: nothing was written to {dir}: {e}");
            return exit::UNREADABLE;
        }
    };
    if input.json() {
        print_json(&summary, None, Some(&stats), &dir, false);
    } else {
        report_recovery(&stats, &dir);
        let n = written.proxies.len();
        eprintln!(
            "compiled {n} prox{} into {dir} ({} files, {}; {})",
            if n == 1 { "y" } else { "ies" },
            stats.files,
            human_bytes(stats.bytes),
            file_changes(&stats)
        );
        print_timings(args.timings, &written.timings);
    }
    exit::CLEAN
}

/// `3 written, 12 unchanged, 0 removed`.
pub fn file_changes(stats: &emit::WriteStats) -> String {
    format!("{} written, {} unchanged, {} removed", stats.written, stats.unchanged, stats.removed)
}

/// Says what a write found left by an interrupted run and finished first.
pub fn report_recovery(stats: &emit::WriteStats, dir: &str) {
    if stats.recovered.rolled_forward {
        eprintln!("note: finished the update of {dir} that an interrupted meshc run had committed");
    }
}

/// The error when DIR holds the journal of an update a killed run did not finish.
pub fn unfinished_write(out: &std::path::Path) -> Option<String> {
    emit::write::unfinished(out).map(|journal| {
        format!(
            "{} holds an unfinished update ({}): a meshc run was stopped while replacing files, so the \
             directory mixes two outputs; run `meshc compile --out {}` (or `meshc watch`) to finish it",
            out.display(),
            journal.display(),
            out.display()
        )
    })
}

/// `--check`: render in memory and compare with DIR; write nothing.
fn check(args: &Args, color: Color) -> i32 {
    let input = &args.input;
    let dir = args.out.display().to_string();
    if let Some(message) = unfinished_write(&args.out) {
        eprintln!("error: {message}");
        return exit::FINDINGS;
    }
    let mut compiled = input.compile(color, &args.out);
    if let Some(status) = input.stop_status(&compiled.outcome, &compiled.proxies) {
        if input.json() {
            let summary =
                Summary { outcome: &compiled.outcome, proxies: &compiled.proxies, timings: &compiled.timings };
            print_json(&summary, None, None, &dir, true);
        }
        return status;
    }
    let started = Instant::now();
    let comparison = match input.compare_with(&mut compiled, &args.out) {
        Ok(c) => c,
        Err(status) => return status,
    };
    compiled.timings.write = started.elapsed();
    let stale = !comparison.is_up_to_date();
    let summary = Summary { outcome: &compiled.outcome, proxies: &compiled.proxies, timings: &compiled.timings };
    if input.json() {
        print_json(&summary, Some(&comparison), None, &dir, true);
    } else {
        if stale {
            eprintln!("error: {dir} is stale: {}", comparison.summary());
            for f in comparison.differing() {
                eprintln!("  {:<8} {}", format!("{:?}", f.status).to_lowercase(), f.path);
            }
            eprintln!("run `meshc compile` without --check to update it, or `meshc diff` to see the changes");
        } else {
            eprintln!("{dir} is up to date ({} proxies)", compiled.proxies.len());
        }
        print_timings(args.timings, &compiled.timings);
    }
    if stale { exit::FINDINGS } else { exit::CLEAN }
}

/// What the JSON message reports about a run.
pub struct Summary<'a> {
    pub outcome: &'a Outcome,
    pub proxies: &'a [ProxyId],
    pub timings: &'a Timings,
}

pub fn print_json(
    run: &Summary,
    comparison: Option<&Comparison>,
    stats: Option<&emit::WriteStats>,
    dir: &str,
    check: bool,
) {
    let doc = serde_json::json!({
        "out": dir,
        "check": check,
        "up_to_date": comparison.map(Comparison::is_up_to_date),
        "comparison": comparison.map(|c| serde_json::json!({
            "added": c.added, "removed": c.removed, "changed": c.changed, "unchanged": c.unchanged,
            "files": c.differing().map(|f| serde_json::json!({"path": f.path, "status": f.status})).collect::<Vec<_>>(),
        })),
        "written": stats.map(|s| serde_json::json!({
            "files": s.files, "bytes": s.bytes, "replaced": s.written, "unchanged": s.unchanged, "removed": s.removed,
        })),
        "proxies": run.proxies,
        "findings": run.outcome.findings.iter().map(|f| serde_json::json!({
            "code": f.code.id, "level": f.level.to_string(), "message": f.message,
        })).collect::<Vec<_>>(),
        "timings": run.timings,
    });
    let stdout = std::io::stdout();
    let _ = writeln!(stdout.lock(), "{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}

pub fn print_timings(enabled: bool, t: &Timings) {
    if !enabled {
        return;
    }
    let total: f64 = t.stages().iter().map(|(_, d)| d.as_secs_f64()).sum();
    eprintln!("timings:");
    for (name, d) in t.stages() {
        let s = d.as_secs_f64();
        let share = if total > 0.0 { s / total * 100.0 } else { 0.0 };
        eprintln!("  {name:<9} {s:>9.3}s {share:>5.1}%");
    }
    eprintln!("  {:<9} {total:>9.3}s", "total");
}

pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

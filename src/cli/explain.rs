//! `meshc explain PROXY [PATH...]` and `meshc explain --policy KIND/NAME [PATH...]`.

use std::fmt::Write as _;
use std::io::Write;

use clap::ValueEnum;

use super::input::InputArgs;
use super::{Color, exit};
use crate::compile::Selection;
use crate::explain::{self, Explanation, Reach, dotted};
use crate::findings::render::{self, Format as FindingsFormat, TextOptions};
use crate::findings::{Level, Report};
use crate::rules::effective::Effective;
use crate::source::secrets::{redact_text, redact_value};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  meshc explain backend-01 policies/                  # every inbound and outbound, every policy kind
  meshc explain default/backend-01 policies/ --format json | jq '.[0].inbounds'
  meshc explain backend-01 policies/ --shadow         # what kuma.io/effect: shadow policies would change
  meshc explain --all policies/                       # every sidecar
  meshc explain --policy MeshTimeout/timeout-backend policies/   # the proxies a policy reaches

PROXY is a Dataplane's `name`, `name.namespace` or `mesh/name`. For each inbound and
outbound, each policy kind shows its effective configuration and, field by field,
the policy, section and item that set it (`MeshTimeout/a to[0]`); policies whose
every field was overridden are listed as overridden. `(mesh default)` marks the
default policies Kuma creates with a mesh. Then the policies that select the proxy
(in merge order: the last wins) and the ones of its mesh that select nothing of it.

Exit status: 0, 1 when the input has errors (they are printed), 2 when PROXY or
the policy is not in the input, 3 when the input cannot be read.")]
pub struct Args {
    /// The proxy to explain (`name`, `name.namespace` or `mesh/name`). With
    /// `--policy`, this is the first PATH.
    #[arg(value_name = "PROXY")]
    pub proxy: Option<String>,

    #[command(flatten)]
    pub input: InputArgs,

    /// Instead of a proxy: the proxies, inbounds and outbounds a policy reaches
    /// (`KIND/NAME`, e.g. `MeshTimeout/timeout-backend`).
    #[arg(long, value_name = "KIND/NAME")]
    pub policy: Option<String>,

    /// Explain every sidecar of the input (PROXY is then the first PATH).
    #[arg(long, conflicts_with = "policy")]
    pub all: bool,

    /// Count `kuma.io/effect: shadow` policies as applied and show what they change.
    #[arg(long)]
    pub shadow: bool,

    #[command(flatten)]
    pub reach: super::compile::ReachArgs,

    /// `text` for people, `json` or `yaml` for scripts.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Yaml,
}

pub fn run(mut args: Args, color: Color) -> i32 {
    if (args.policy.is_some() || args.all)
        && let Some(path) = args.proxy.take()
    {
        // `explain --policy K/N PATH...`: the positional is a path.
        if args.input.paths == [std::path::PathBuf::from(".")] {
            args.input.paths.clear();
        }
        args.input.paths.insert(0, path.into());
    }
    args.input.apply_jobs();
    let validate_opts = args.input.options();
    let outcome = crate::validate::run(&args.input.paths, &validate_opts);
    let errors: Vec<_> = outcome.findings.iter().filter(|f| f.level == Level::Error).cloned().collect();
    if outcome.unreadable || !errors.is_empty() {
        let report = Report { findings: &errors, files: &outcome.files, resources: &outcome.resources };
        let text = TextOptions { color: color.enabled(), quiet: false, concise: false };
        let _ =
            render::write(FindingsFormat::Text, &report, &text, &mut std::io::sink(), &mut std::io::stderr().lock());
        eprintln!("error: the input has errors: fix them first");
        return if outcome.unreadable { exit::UNREADABLE } else { exit::FINDINGS };
    }
    let (world_opts, plan_opts) = args.reach.options(validate_opts.default_mesh_exists, args.shadow);
    let written = if let Some(policy) = &args.policy {
        match explain::reach(&outcome.resources, &world_opts, &plan_opts, policy) {
            Ok(reach) => print(args.format, &reach, || reach_text(policy, &reach)),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        }
    } else {
        let proxy = args.proxy.clone().unwrap_or_default();
        if proxy.is_empty() && !args.all {
            eprintln!("error: name a PROXY to explain, use --all, or a policy with --policy KIND/NAME (see --help)");
            return exit::USAGE;
        }
        let proxies = if args.all { Vec::new() } else { vec![proxy.clone()] };
        let selection = Selection { proxies, ..Default::default() };
        let (list, _) = explain::explain(&outcome.resources, &world_opts, &plan_opts, &selection);
        if list.is_empty() && !args.all {
            if is_gateway(&outcome.resources, &selection) {
                eprintln!("error: `{proxy}` is a gateway Dataplane: explain covers sidecars only for now");
                return exit::USAGE;
            }
            if let Some(kind) = zone_proxy_kind(&outcome.resources, &selection) {
                eprintln!(
                    "error: `{proxy}` is a {kind}: it has no inbounds, outbounds or policies of its own to explain; \
                     `meshc compile --proxy {proxy}` writes its SNI chains (one per destination, see the README)"
                );
                return exit::USAGE;
            }
            eprintln!("error: no sidecar Dataplane `{proxy}` in the input{}", known_proxies(&outcome.resources));
            return exit::USAGE;
        }
        print(args.format, &list, || {
            list.iter().map(|e| explanation_text(e, args.shadow)).collect::<Vec<_>>().join("\n")
        })
    };
    if written.is_err() { exit::UNREADABLE } else { exit::CLEAN }
}

/// Print in `format`. Private keys a policy carries (a MeshProxyPatch can hold
/// one, MESH1006) are redacted from every format.
fn print<T: serde::Serialize>(format: Format, value: &T, text: impl FnOnce() -> String) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let value = || {
        let mut v = serde_json::to_value(value).unwrap_or_default();
        redact_value(&mut v);
        v
    };
    match format {
        Format::Text => write!(out, "{}", redact_text(&text())),
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&value()).unwrap_or_default()),
        Format::Yaml => write!(out, "{}", serde_saphyr::to_string(&value()).unwrap_or_default()),
    }
}

/// Whether the proxy `selection` names is a gateway Dataplane.
fn is_gateway(resources: &[crate::model::Resource], selection: &Selection) -> bool {
    resources
        .iter()
        .filter_map(crate::rules::select::Proxy::of)
        .any(|p| p.spec.is_gateway() && selection.keeps(&crate::plan::proxy_id(p.resource)))
}

/// The kind of the ZoneIngress or ZoneEgress `selection` names, if it names one.
fn zone_proxy_kind(resources: &[crate::model::Resource], selection: &Selection) -> Option<&'static str> {
    resources
        .iter()
        .filter_map(crate::plan::zone_proxies::proxy_id)
        .find(|id| selection.keeps(id))
        .map(|id| id.kind.name())
}

/// ` (proxies: a, b, c ...)` to help a user who mistyped.
fn known_proxies(resources: &[crate::model::Resource]) -> String {
    let names: Vec<String> = resources
        .iter()
        .filter(|r| r.meta.kind == crate::model::Kind::Dataplane)
        .map(|r| format!("{}/{}", r.meta.mesh.as_deref().unwrap_or_default(), r.meta.core_name()))
        .collect();
    if names.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
    let more =
        if names.len() > shown.len() { format!(" and {} more", names.len() - shown.len()) } else { String::new() };
    format!(" (Dataplanes: {}{more})", shown.join(", "))
}

/// The text view of one proxy.
pub fn explanation_text(e: &Explanation, shadow: bool) -> String {
    let mut s = String::new();
    let p = &e.proxy;
    let _ = write!(s, "Dataplane {} (mesh {}", p.core_name(), p.mesh);
    if let Some(zone) = &p.zone {
        let _ = write!(s, ", zone {zone}");
    }
    let _ = writeln!(s, ")");
    for place in e.inbounds.iter().chain(&e.outbounds) {
        let _ = writeln!(s, "\n{} ({})", place.describe, place.listener);
        effective_text(&mut s, &place.policies);
    }
    if !e.proxy_wide.is_empty() {
        let _ = writeln!(s, "\nproxy-wide");
        effective_text(&mut s, &e.proxy_wide);
    }
    let _ = writeln!(s, "\npolicies that select this proxy (merge order, the last wins):");
    if e.matched.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for k in &e.matched {
        let _ = writeln!(s, "  {}: {}", k.kind, names(k));
    }
    if !e.unmatched.is_empty() {
        let _ = writeln!(s, "policies of mesh {} that select nothing of this proxy:", p.mesh);
        for k in &e.unmatched {
            let _ = writeln!(s, "  {}: {}", k.kind, names(k));
        }
    }
    if shadow {
        let _ = writeln!(s, "\nshadow policies would change:");
        if e.shadow_changes.is_empty() {
            let _ = writeln!(s, "  nothing");
        }
        for c in &e.shadow_changes {
            let show = |v: &Option<serde_json::Value>| v.as_ref().map_or("(unset)".to_string(), scalar);
            let _ = writeln!(s, "  {} {} {}: {} -> {}", c.place, c.kind, c.field, show(&c.before), show(&c.after));
        }
    }
    s
}

/// The policies of one kind without the repeated `Kind/` prefix.
fn names(k: &explain::KindPolicies) -> String {
    let prefix = format!("{}/", k.kind);
    k.policies.iter().map(|p| p.strip_prefix(&prefix).unwrap_or(p)).collect::<Vec<_>>().join(", ")
}

/// Each kind's fields with the origin that set them, then the overridden confs.
fn effective_text(s: &mut String, list: &[Effective]) {
    if list.is_empty() {
        let _ = writeln!(s, "  no policies");
    }
    for e in list {
        match &e.when {
            Some(when) => {
                let _ = writeln!(s, "  {} ({when})", e.kind);
            }
            None => {
                let _ = writeln!(s, "  {}", e.kind);
            }
        }
        let rows: Vec<(String, String)> = e
            .fields
            .iter()
            .map(|(pointer, &origin)| {
                let value = e.conf.pointer(pointer).map_or_else(String::new, scalar);
                let field = if pointer.is_empty() { "(whole)".to_string() } else { dotted(pointer) };
                (format!("{field}: {value}"), e.origins.get(origin).map(|o| o.label()).unwrap_or_default())
            })
            .collect();
        let width = rows.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0).min(60);
        for (left, origin) in rows {
            let _ = writeln!(s, "    {left:<width$}  <- {origin}");
        }
        for o in e.overridden() {
            let _ = writeln!(s, "    overridden: {}", o.label());
        }
    }
}

/// A value as people write it in YAML: strings unquoted.
fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(x) => x.clone(),
        other => other.to_string(),
    }
}

fn reach_text(policy: &str, reach: &[Reach]) -> String {
    let mut s = String::new();
    if reach.is_empty() {
        let _ = writeln!(s, "{policy} reaches no proxy");
        return s;
    }
    let _ = writeln!(s, "{policy} selects {} proxy(ies):", reach.len());
    for r in reach {
        let _ = writeln!(s, "  {}/{}", r.proxy.mesh, r.proxy.core_name());
        for i in &r.inbounds {
            let _ = writeln!(s, "    inbound  {i}");
        }
        for o in &r.outbounds {
            let _ = writeln!(s, "    outbound {o}");
        }
        if r.proxy_wide {
            let _ = writeln!(s, "    proxy-wide");
        }
        if r.inbounds.is_empty() && r.outbounds.is_empty() && !r.proxy_wide {
            let _ = writeln!(s, "    (selected, but sets nothing here: overridden, or no destination it names)");
        }
    }
    s
}

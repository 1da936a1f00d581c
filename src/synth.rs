//! Synthetic meshes: a deterministic, seeded generator of realistic Kuma 2.14
//! GitOps repositories, for benchmarks, fuzzing seeds and smoke tests.
//!
//! [`generate`] returns `(relative path, YAML text)` pairs laid out as a GitOps
//! repository would be:
//!
//! ```text
//! global/hostname-generators.yaml            HostnameGenerators
//! zones/<zone>.yaml                          ZoneIngress + ZoneEgress of one zone
//! meshes/<mesh>/mesh.yaml                    the Mesh (builtin mTLS, MeshServices Exclusive)
//! meshes/<mesh>/services/<team>/<svc>.yaml   a MeshService and its Dataplanes
//! meshes/<mesh>/external-services/<n>.yaml   one MeshExternalService
//! meshes/<mesh>/multizone-services.yaml      every MeshMultiZoneService of the mesh
//! meshes/<mesh>/policies/<kind>/<name>.yaml  one policy per file
//! ```
//!
//! Policies come in two sets: `policies_per_kind` of each of the 16 kinds (the
//! first of each mesh-wide), and `policies` more of a weighted mix
//! ([`POLICY_MIX`]: mostly permissions, timeouts, retries, routes, circuit
//! breakers and health checks) with more targetRef shapes: top-level `Mesh`,
//! `MeshSubset` by tags, `MeshService`, `Dataplane` by labels (with a
//! `sectionName` on inbound policies), and `to` the whole `Mesh` or a
//! `MeshService` by name, with or without `sectionName`.
//!
//! Every resource is meant to validate clean (no finding) under Kuma 2.14's rules.
//! The same [`SynthConfig`] (seed included) always yields the same bytes.
//!
//! # Resource count
//!
//! With `M = meshes`, `S = services`, `D = dataplanes_per_service`, `Z = zones`,
//! `P = policies_per_kind`, `Q = policies`, `E = external_services`,
//! `X = multizone_services` (all per mesh except `Z`; `M`, `S` and `Z` are raised
//! to at least 1):
//!
//! ```text
//! total = HG + 2·Z + M · (1 + S·(1 + D) + E + X + 16·P + Q)
//! HG    = 1 + (E > 0) + (X > 0)         HostnameGenerators (one per selected kind)
//! ```
//!
//! [`SynthConfig::expected_resources`] computes it; [`SynthConfig::for_target`]
//! picks parameters that land close to a wanted total.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// Which of Kuma's YAML forms the generated resources use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Form {
    /// `apiVersion: kuma.io/v1alpha1` + `kind` + `metadata` (namespaces, `kuma.io/mesh` labels).
    Kubernetes,
    /// `type` + `name` + `mesh` (legacy kinds with their spec inline).
    #[default]
    Universal,
    /// Both, alternating per service, policy and global resource.
    Mixed,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthConfig {
    /// Number of meshes.
    pub meshes: usize,
    /// Services per mesh (one MeshService each).
    pub services: usize,
    /// Dataplanes per service, spread over the zones.
    pub dataplanes_per_service: usize,
    /// Number of zones (one ZoneIngress and one ZoneEgress each).
    pub zones: usize,
    /// Policies of each of the 16 policy kinds, per mesh.
    pub policies_per_kind: usize,
    /// More policies per mesh, of the kinds in [`POLICY_MIX`] (cycled), with more
    /// targetRef shapes (see the module docs).
    pub policies: usize,
    /// MeshExternalServices per mesh.
    pub external_services: usize,
    /// MeshMultiZoneServices per mesh.
    pub multizone_services: usize,
    /// Seed of the pseudo-random choices (protocols, ports, policy shapes, targets).
    pub seed: u64,
    pub form: Form,
    /// MeshServices each Dataplane lists in `transparentProxying.reachableBackends.refs`
    /// (the services after its own, wrapping; at most `services - 1`). 0 (the default)
    /// writes no `reachableBackends`, so every service of the mesh is reachable: fine for
    /// validation, but a compiled sidecar then has an outbound per service, which is
    /// quadratic in the mesh size. The compile benchmark sets it to 20, as a real mesh
    /// with a few hundred services would. With `Form::Mixed`, refs from Kubernetes
    /// Dataplanes to Universal services do not resolve (a name ref resolves in the
    /// Dataplane's namespace), as they would not in Kuma.
    pub reachable_backends: usize,
    /// Percent of the other services of the mesh each service accepts calls from
    /// (at least one): a MeshTrafficPermission per service allows the services
    /// before it (wrapping), so each service may call the same share after it, and
    /// the mesh-wide permission denies instead of allowing. 0 (the default) writes
    /// only the mesh-wide allow-all: every service may call every other. For
    /// `meshc compile --auto-reachable-services`, which keeps the outbounds a
    /// permission allows.
    pub callers_percent: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            meshes: 1,
            services: 10,
            dataplanes_per_service: 3,
            zones: 2,
            policies_per_kind: 2,
            policies: 0,
            external_services: 2,
            multizone_services: 1,
            seed: 1,
            form: Form::Universal,
            reachable_backends: 0,
            callers_percent: 0,
        }
    }
}

/// The 16 policy kinds, in the order their directories and counts use.
pub const POLICY_KINDS: [&str; 16] = [
    "MeshTrafficPermission",
    "MeshTLS",
    "MeshPassthrough",
    "MeshLoadBalancingStrategy",
    "MeshTimeout",
    "MeshRetry",
    "MeshCircuitBreaker",
    "MeshHealthCheck",
    "MeshHTTPRoute",
    "MeshTCPRoute",
    "MeshRateLimit",
    "MeshFaultInjection",
    "MeshAccessLog",
    "MeshTrace",
    "MeshMetric",
    "MeshProxyPatch",
];

/// Kinds of the [`SynthConfig::policies`] policies, cycled: a production mesh
/// has mostly permissions, timeouts, retries, routes, circuit breakers and health
/// checks, some of the rest, and its observability policies mesh-wide only.
pub const POLICY_MIX: [&str; 20] = [
    "MeshTrafficPermission",
    "MeshTimeout",
    "MeshRetry",
    "MeshHTTPRoute",
    "MeshCircuitBreaker",
    "MeshTrafficPermission",
    "MeshHealthCheck",
    "MeshTimeout",
    "MeshLoadBalancingStrategy",
    "MeshAccessLog",
    "MeshTrafficPermission",
    "MeshRetry",
    "MeshHTTPRoute",
    "MeshCircuitBreaker",
    "MeshPassthrough",
    "MeshTimeout",
    "MeshTCPRoute",
    "MeshRateLimit",
    "MeshFaultInjection",
    "MeshTLS",
];

impl SynthConfig {
    /// The configuration with `meshes`, `services` and `zones` raised to at least 1.
    pub fn normalized(&self) -> SynthConfig {
        SynthConfig {
            meshes: self.meshes.max(1),
            services: self.services.max(1),
            zones: self.zones.max(1),
            ..self.clone()
        }
    }

    /// Number of HostnameGenerators generated (one per kind that exists to select).
    pub fn hostname_generators(&self) -> usize {
        1 + usize::from(self.external_services > 0) + usize::from(self.multizone_services > 0)
    }

    /// Exactly how many resources [`generate`] produces (see the module docs).
    pub fn expected_resources(&self) -> usize {
        let c = self.normalized();
        let per_mesh = 1
            + c.services * (1 + c.dataplanes_per_service)
            + c.external_services
            + c.multizone_services
            + POLICY_KINDS.len() * c.policies_per_kind
            + c.policies
            + if c.callers_percent > 0 { c.services } else { 0 };
        c.hostname_generators() + 2 * c.zones + c.meshes * per_mesh
    }

    /// Parameters for a mesh of about `target` resources: 3 zones, 6 Dataplanes per
    /// service, a policy of each kind per 12 services, an external service per 10
    /// and a multi-zone service per 25; one mesh below 20,000 resources, two above.
    pub fn for_target(target: usize, seed: u64) -> SynthConfig {
        let meshes = if target < 20_000 { 1 } else { 2 };
        let at = |services: usize| SynthConfig {
            meshes,
            services,
            dataplanes_per_service: 6,
            zones: 3,
            policies_per_kind: (services / 12).max(1),
            policies: 0,
            external_services: (services / 10).max(1),
            multizone_services: (services / 25).max(1),
            seed,
            form: Form::Universal,
            reachable_backends: 0,
            callers_percent: 0,
        };
        let mut services = 1;
        while at(services + 1).expected_resources() <= target {
            services += 1;
        }
        at(services)
    }
}

impl SynthConfig {
    /// Parameters for a compile benchmark of about `sidecars` sidecars: one mesh,
    /// 5 Dataplanes per service over 3 zones, each reaching `reachable` MeshServices
    /// (`reachableBackends`), and the same policy, external and multi-zone service
    /// density as [`SynthConfig::for_target`], plus [`SynthConfig::policies`] =
    /// `max(1000, sidecars / 10)` policies of the weighted mix, so that the rules
    /// stage always has over a thousand policies to select, sort and merge.
    /// `sidecars` is rounded up to a multiple of 5.
    pub fn for_sidecars(sidecars: usize, reachable: usize, seed: u64) -> SynthConfig {
        let services = sidecars.div_ceil(5).max(1);
        SynthConfig {
            meshes: 1,
            services,
            dataplanes_per_service: 5,
            zones: 3,
            policies_per_kind: (services / 12).max(1),
            policies: (sidecars / 10).max(1000),
            external_services: (services / 10).max(1),
            multizone_services: (services / 25).max(1),
            seed,
            form: Form::Universal,
            reachable_backends: reachable,
            callers_percent: 0,
        }
    }

    /// Number of policies generated.
    pub fn policy_count(&self) -> usize {
        let c = self.normalized();
        let callers = if c.callers_percent > 0 { c.services } else { 0 };
        c.meshes * (POLICY_KINDS.len() * c.policies_per_kind + c.policies + callers)
    }

    /// How many services each service accepts calls from with [`SynthConfig::callers_percent`].
    pub fn callers(&self) -> usize {
        let others = self.services.max(1) - 1;
        if self.callers_percent == 0 {
            others
        } else {
            (others * self.callers_percent / 100).clamp(1.min(others), others)
        }
    }

    /// Number of sidecars (Dataplanes) generated.
    pub fn sidecars(&self) -> usize {
        let c = self.normalized();
        c.meshes * c.services * c.dataplanes_per_service
    }

    /// The zone proxies it generates (a ZoneIngress and a ZoneEgress per zone),
    /// which `meshc compile` compiles next to the sidecars.
    pub fn zone_proxies(&self) -> usize {
        2 * self.normalized().zones
    }
}

// ---------------------------------------------------------------------------
// Pseudo-random numbers: SplitMix64 (deterministic, no dependency).

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x6a09_e667_f3bc_c909)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the tiny modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------
// A small ordered YAML tree and its block-style emitter.

/// An ordered YAML value (serde_json's map would sort keys).
#[derive(Debug, Clone, PartialEq)]
enum Y {
    Map(Vec<(String, Y)>),
    Seq(Vec<Y>),
    Str(String),
    Int(i64),
    Bool(bool),
}

impl From<&str> for Y {
    fn from(s: &str) -> Y {
        Y::Str(s.to_string())
    }
}
impl From<String> for Y {
    fn from(s: String) -> Y {
        Y::Str(s)
    }
}
impl From<&String> for Y {
    fn from(s: &String) -> Y {
        Y::Str(s.clone())
    }
}
impl From<i64> for Y {
    fn from(n: i64) -> Y {
        Y::Int(n)
    }
}
impl From<u16> for Y {
    fn from(n: u16) -> Y {
        Y::Int(n.into())
    }
}
impl From<u32> for Y {
    fn from(n: u32) -> Y {
        Y::Int(n.into())
    }
}
impl From<bool> for Y {
    fn from(b: bool) -> Y {
        Y::Bool(b)
    }
}
impl From<Vec<Y>> for Y {
    fn from(v: Vec<Y>) -> Y {
        Y::Seq(v)
    }
}

macro_rules! map {
    ($($k:expr => $v:expr),* $(,)?) => { Y::Map(vec![$(($k.to_string(), Y::from($v))),*]) };
}
macro_rules! seq {
    ($($v:expr),* $(,)?) => { Y::Seq(vec![$(Y::from($v)),*]) };
}

impl Y {
    /// Append `key: value` to a mapping.
    fn push(&mut self, key: &str, value: impl Into<Y>) {
        if let Y::Map(entries) = self {
            entries.push((key.to_string(), value.into()));
        }
    }

    fn is_empty_collection(&self) -> bool {
        matches!(self, Y::Map(m) if m.is_empty()) || matches!(self, Y::Seq(s) if s.is_empty())
    }
}

/// Whether a string can be written as a plain scalar and read back as the same string.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    let charset = s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'));
    // A leading digit is fine for strings that are not numbers (`10.0.0.1`, `5s`), but
    // not with a colon (YAML 1.1 readers take `1:30` for a sexagesimal number).
    let digit_ok = first.is_ascii_digit() && !s.contains(':') && !s.starts_with("0x") && !s.starts_with("0o");
    let reserved = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
    );
    charset
        && !reserved
        && (first.is_ascii_alphabetic() || first == '/' || digit_ok)
        && !s.ends_with(':')
        && !s.contains(": ")
        && s.parse::<f64>().is_err()
}

fn scalar(out: &mut String, s: &str) {
    if plain_ok(s) {
        out.push_str(s);
    } else {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    }
}

fn emit_inline(out: &mut String, v: &Y) {
    match v {
        Y::Str(s) => scalar(out, s),
        Y::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Y::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Y::Map(_) => out.push_str("{}"),
        Y::Seq(_) => out.push_str("[]"),
    }
}

/// Emit a value that follows `key:` (or starts a document when `indent` is 0 and it is a map).
fn emit_block(out: &mut String, v: &Y, indent: usize) {
    match v {
        Y::Map(entries) if !entries.is_empty() => {
            for (k, val) in entries {
                pad(out, indent);
                emit_entry(out, k, val, indent);
            }
        }
        Y::Seq(items) if !items.is_empty() => {
            for item in items {
                pad(out, indent);
                out.push_str("- ");
                emit_seq_item(out, item, indent + 2);
            }
        }
        other => {
            pad(out, indent);
            emit_inline(out, other);
            out.push('\n');
        }
    }
}

/// `key: value` at the current position (indentation already written).
fn emit_entry(out: &mut String, k: &str, val: &Y, indent: usize) {
    scalar(out, k);
    out.push(':');
    match val {
        Y::Map(_) | Y::Seq(_) if !val.is_empty_collection() => {
            out.push('\n');
            // Sequences under a key are indented too (kubectl style).
            emit_block(out, val, indent + 2);
        }
        _ => {
            out.push(' ');
            emit_inline(out, val);
            out.push('\n');
        }
    }
}

/// A sequence item after `- ` (its first line shares the dash's line).
fn emit_seq_item(out: &mut String, item: &Y, indent: usize) {
    match item {
        Y::Map(entries) if !entries.is_empty() => {
            for (i, (k, val)) in entries.iter().enumerate() {
                if i > 0 {
                    pad(out, indent);
                }
                emit_entry(out, k, val, indent);
            }
        }
        Y::Seq(items) if !items.is_empty() => {
            for (i, inner) in items.iter().enumerate() {
                if i > 0 {
                    pad(out, indent);
                }
                out.push_str("- ");
                emit_seq_item(out, inner, indent + 2);
            }
        }
        other => {
            emit_inline(out, other);
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// A multi-document YAML file.
fn yaml_docs(docs: &[Y]) -> String {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        emit_block(&mut out, d, 0);
    }
    out
}

// ---------------------------------------------------------------------------
// The world being generated.

const SYSTEM_NS: &str = "kuma-system";

const SERVICE_WORDS: &[&str] = &[
    "checkout",
    "payments",
    "catalog",
    "orders",
    "users",
    "inventory",
    "shipping",
    "search",
    "reviews",
    "auth",
    "billing",
    "notifications",
    "recommendations",
    "cart",
    "analytics",
    "ledger",
    "pricing",
    "fraud",
    "profile",
    "media",
    "geo",
    "email",
    "invoices",
    "loyalty",
    "coupons",
    "wishlist",
    "returns",
    "tax",
    "audit",
    "reports",
];

const TEAM_WORDS: &[&str] = &["storefront", "payments", "platform", "identity", "fulfilment", "data", "growth", "risk"];

const ZONE_WORDS: &[&str] = &["us-east", "us-west", "eu-central", "eu-west", "ap-south", "ap-northeast"];

/// (name, host) of well-known external APIs; later ones are numbered partners.
const EXTERNAL_APIS: &[(&str, &str)] = &[
    ("stripe-api", "api.stripe.com"),
    ("github-api", "api.github.com"),
    ("slack-hooks", "hooks.slack.com"),
    ("google-oauth", "oauth2.googleapis.com"),
    ("sendgrid-api", "api.sendgrid.com"),
    ("twilio-api", "api.twilio.com"),
    ("pagerduty-events", "events.pagerduty.com"),
    ("datadog-intake", "http-intake.logs.datadoghq.com"),
];

/// One port of a service: the MeshService port and the Dataplane inbound behind it.
#[derive(Debug, Clone)]
struct PortDef {
    name: &'static str,
    port: u16,
    target: u16,
    /// MeshService `targetPort` names the inbound instead of giving its number.
    target_by_name: bool,
    protocol: &'static str,
}

#[derive(Debug, Clone)]
struct Svc {
    name: String,
    form: Form,
    /// Kubernetes namespace (Kubernetes form only).
    ns: Option<String>,
    team: String,
    ports: Vec<PortDef>,
    /// Pod-template hash for Kubernetes Dataplane names.
    pod_hash: String,
}

impl Svc {
    /// The `kuma.io/service` tag value of a port's inbound.
    fn service_tag(&self, p: &PortDef) -> String {
        match &self.ns {
            Some(ns) => format!("{}_{ns}_svc_{}", self.name, p.port),
            None => self.name.clone(),
        }
    }

    fn primary(&self) -> &PortDef {
        &self.ports[0]
    }

    fn is_http(&self) -> bool {
        matches!(self.primary().protocol, "http" | "http2" | "grpc")
    }
}

#[derive(Debug, Clone)]
struct External {
    name: String,
    form: Form,
}

#[derive(Debug, Clone)]
struct MultiZone {
    name: String,
    form: Form,
}

/// Where a policy lives and who it is about.
struct PolicyCtx<'a> {
    mesh: &'a str,
    form: Form,
    /// Kubernetes namespace of the policy.
    ns: Option<String>,
}

struct Gen<'a> {
    cfg: &'a SynthConfig,
    rng: Rng,
    zones: Vec<String>,
    files: Vec<(String, String)>,
    /// Next Dataplane address (10.0.0.0/8, counted across meshes).
    next_ip: u32,
}

/// Generate the whole repository: `(relative path, YAML text)`, sorted by path.
pub fn generate(cfg: &SynthConfig) -> Vec<(String, String)> {
    let cfg = cfg.normalized();
    let mut rng = Rng::new(cfg.seed);
    let zones = (0..cfg.zones)
        .map(|z| {
            let word = ZONE_WORDS[z % ZONE_WORDS.len()];
            let round = z / ZONE_WORDS.len();
            if round == 0 { format!("{word}-1") } else { format!("{word}-{}", round + 1) }
        })
        .collect();
    let _ = rng.next_u64();
    let mut g = Gen { cfg: &cfg, rng, zones, files: Vec::new(), next_ip: 1 };
    g.global();
    for m in 0..cfg.meshes {
        g.mesh(m);
    }
    let mut files = g.files;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Write generated files under `dir`, creating directories as needed.
pub fn write_files(dir: &Path, files: &[(String, String)]) -> io::Result<()> {
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
    }
    Ok(())
}

/// Number of YAML documents (resources) in generated files.
pub fn count_resources(files: &[(String, String)]) -> usize {
    files.iter().map(|(_, t)| 1 + t.matches("\n---\n").count()).sum()
}

fn form_at(form: Form, i: usize) -> Form {
    match form {
        Form::Mixed if i.is_multiple_of(2) => Form::Kubernetes,
        Form::Mixed => Form::Universal,
        f => f,
    }
}

/// Build a resource in `form`. `legacy` kinds put their spec inline in Universal form;
/// `mesh` is `None` for global kinds.
fn resource(
    form: Form,
    kind: &str,
    name: &str,
    mesh: Option<&str>,
    ns: Option<&str>,
    labels: Vec<(String, String)>,
    spec: Y,
) -> Y {
    let legacy = matches!(kind, "Mesh" | "Dataplane" | "ZoneIngress" | "ZoneEgress");
    let label_map = |extra: Option<(&str, &str)>| {
        let mut entries: Vec<(String, Y)> = Vec::new();
        if let Some((k, v)) = extra {
            entries.push((k.to_string(), Y::from(v)));
        }
        entries.extend(labels.iter().map(|(k, v)| (k.clone(), Y::from(v))));
        Y::Map(entries)
    };
    match form {
        Form::Kubernetes => {
            let mut doc = map! { "apiVersion" => "kuma.io/v1alpha1", "kind" => kind };
            if legacy && let Some(mesh) = mesh {
                doc.push("mesh", mesh);
            }
            let mut metadata = map! { "name" => name };
            if let Some(ns) = ns {
                metadata.push("namespace", ns);
            }
            let mesh_label = if legacy { None } else { mesh.map(|m| ("kuma.io/mesh", m)) };
            let lm = label_map(mesh_label);
            if !lm.is_empty_collection() {
                metadata.push("labels", lm);
            }
            doc.push("metadata", metadata);
            doc.push("spec", spec);
            doc
        }
        _ => {
            let mut doc = map! { "type" => kind, "name" => name };
            if let Some(mesh) = mesh {
                doc.push("mesh", mesh);
            }
            let lm = label_map(None);
            if !lm.is_empty_collection() {
                doc.push("labels", lm);
            }
            if legacy {
                if let Y::Map(entries) = spec {
                    for (k, v) in entries {
                        doc.push(&k, v);
                    }
                }
            } else {
                doc.push("spec", spec);
            }
            doc
        }
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl Gen<'_> {
    fn add(&mut self, path: String, docs: &[Y]) {
        self.files.push((path, yaml_docs(docs)));
    }

    fn next_address(&mut self) -> String {
        let n = self.next_ip;
        self.next_ip += 1;
        format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
    }

    /// HostnameGenerators and the zone proxies.
    fn global(&mut self) {
        let cfg = self.cfg;
        let mut hgs = vec![("synth-mesh-service", "meshService", "{{ .DisplayName }}.svc.{{ .Mesh }}.mesh.local")];
        if cfg.external_services > 0 {
            hgs.push((
                "synth-mesh-external-service",
                "meshExternalService",
                "{{ .DisplayName }}.extsvc.{{ .Mesh }}.mesh.local",
            ));
        }
        if cfg.multizone_services > 0 {
            hgs.push((
                "synth-mesh-multi-zone-service",
                "meshMultiZoneService",
                "{{ .DisplayName }}.mzsvc.{{ .Mesh }}.mesh.local",
            ));
        }
        let docs: Vec<Y> = hgs
            .iter()
            .enumerate()
            .map(|(i, (name, selector, template))| {
                let form = form_at(cfg.form, i);
                let spec = map! {
                    "selector" => map! { *selector => map! { "matchLabels" => map! { "env" => "production" } } },
                    "template" => *template,
                };
                let ns = (form == Form::Kubernetes).then_some(SYSTEM_NS);
                resource(form, "HostnameGenerator", name, None, ns, vec![], spec)
            })
            .collect();
        self.add("global/hostname-generators.yaml".into(), &docs);

        for z in 0..self.zones.len() {
            let zone = self.zones[z].clone();
            let form = form_at(cfg.form, z);
            let ns = (form == Form::Kubernetes).then_some(SYSTEM_NS);
            let octet = z % 250 + 1;
            let hi = z / 250;
            let ingress = resource(
                form,
                "ZoneIngress",
                &format!("{zone}-ingress"),
                None,
                ns,
                vec![],
                map! {
                    "zone" => zone.as_str(),
                    "networking" => map! {
                        "address" => format!("172.16.{}.{octet}", hi * 2),
                        "advertisedAddress" => format!("198.51.{}.{octet}", 100 + hi),
                        "port" => 10001u16,
                        "advertisedPort" => 10001u16,
                        "admin" => map! { "port" => 9901u16 },
                    },
                },
            );
            let egress = resource(
                form,
                "ZoneEgress",
                &format!("{zone}-egress"),
                None,
                ns,
                vec![],
                map! {
                    "zone" => zone.as_str(),
                    "networking" => map! {
                        "address" => format!("172.16.{}.{octet}", hi * 2 + 1),
                        "port" => 10002u16,
                        "admin" => map! { "port" => 9901u16 },
                    },
                },
            );
            self.add(format!("zones/{zone}.yaml"), &[ingress, egress]);
        }
    }

    fn mesh(&mut self, m: usize) {
        let cfg = self.cfg;
        let mesh = format!("mesh-{m}");
        let sfx = if m == 0 { String::new() } else { format!("-m{m}") };

        // The Mesh.
        let form = form_at(cfg.form, m);
        let spec = map! {
            "mtls" => map! {
                "enabledBackend" => "ca-1",
                "backends" => seq![map! {
                    "name" => "ca-1",
                    "type" => "builtin",
                    "dpCert" => map! { "rotation" => map! { "expiration" => "24h" } },
                }],
            },
            "meshServices" => map! { "mode" => "Exclusive" },
            "routing" => map! { "zoneEgress" => true },
        };
        let doc = resource(form, "Mesh", &mesh, None, None, vec![], spec);
        self.add(format!("meshes/{mesh}/mesh.yaml"), &[doc]);

        // Services, names shuffled by the seed.
        let mut words: Vec<&str> = SERVICE_WORDS.to_vec();
        self.rng.shuffle(&mut words);
        let mut services = Vec::with_capacity(cfg.services);
        for s in 0..cfg.services {
            let word = words[s % words.len()];
            let round = s / words.len();
            let name = if round == 0 { format!("{word}{sfx}") } else { format!("{word}-{round}{sfx}") };
            let form = form_at(cfg.form, s);
            let team_idx = s / 6;
            let team = format!("{}-{}", TEAM_WORDS[team_idx % TEAM_WORDS.len()], team_idx / TEAM_WORDS.len());
            let ns = (form == Form::Kubernetes).then(|| format!("{team}{sfx}"));
            let ports = self.ports();
            let pod_hash = format!("{:08x}", self.rng.next_u64() as u32)[..7].to_string();
            services.push(Svc { name, form, ns, team, ports, pod_hash });
        }
        for s in 0..services.len() {
            self.service(&mesh, &services, s);
        }

        // External and multi-zone services.
        let mut externals = Vec::new();
        for e in 0..cfg.external_services {
            let (name, host) = match EXTERNAL_APIS.get(e) {
                Some((n, h)) => (n.to_string(), h.to_string()),
                None => (format!("partner-{e}"), format!("api.partner-{e}.example.com")),
            };
            let ext = External { name: format!("{name}{sfx}"), form: form_at(cfg.form, e) };
            self.external(&mesh, &ext, &host, e);
            externals.push(ext);
        }
        let mut multizone = Vec::new();
        let mut mz_docs = Vec::new();
        for x in 0..cfg.multizone_services {
            let svc = &services[x % services.len()];
            let round = x / services.len();
            let name = if round == 0 { format!("{}-mz", svc.name) } else { format!("{}-mz-{round}", svc.name) };
            let mz = MultiZone { name, form: form_at(cfg.form, x) };
            mz_docs.push(self.multizone(&mesh, &mz, svc));
            multizone.push(mz);
        }
        if !mz_docs.is_empty() {
            self.add(format!("meshes/{mesh}/multizone-services.yaml"), &mz_docs);
        }

        // Policies.
        let world = World { mesh: &mesh, sfx: &sfx, services: &services, externals: &externals, multizone: &multizone };
        for (k, kind) in POLICY_KINDS.iter().enumerate() {
            for p in 0..cfg.policies_per_kind {
                let (name, doc) = self.policy(&world, k, p, false);
                let dir = kebab(kind);
                self.add(format!("meshes/{mesh}/policies/{dir}/{name}.yaml"), &[doc]);
            }
        }
        // The weighted mix, numbered per kind after the ones above (names stay unique).
        let mut next = [cfg.policies_per_kind; POLICY_KINDS.len()];
        for i in 0..cfg.policies {
            let kind = POLICY_MIX[i % POLICY_MIX.len()];
            let k = POLICY_KINDS.iter().position(|x| *x == kind).unwrap_or(0);
            let p = next[k];
            next[k] += 1;
            let (name, doc) = self.policy(&world, k, p, true);
            let dir = kebab(POLICY_KINDS[k]);
            self.add(format!("meshes/{mesh}/policies/{dir}/{name}.yaml"), &[doc]);
        }
        if cfg.callers_percent > 0 {
            for s in 0..services.len() {
                let (name, doc) = callers_mtp(&mesh, &services, s, cfg.callers());
                self.add(format!("meshes/{mesh}/policies/mesh-traffic-permission/{name}.yaml"), &[doc]);
            }
        }
    }

    fn ports(&mut self) -> Vec<PortDef> {
        let roll = self.rng.below(100);
        let mut p = match roll {
            0..=44 => PortDef { name: "http", port: 80, target: 8080, target_by_name: false, protocol: "http" },
            45..=64 => PortDef { name: "grpc", port: 9090, target: 9090, target_by_name: false, protocol: "grpc" },
            65..=69 => PortDef { name: "h2c", port: 8000, target: 8000, target_by_name: false, protocol: "http2" },
            70..=94 => {
                let (name, port) =
                    *self.rng.pick(&[("postgres", 5432u16), ("redis", 6379), ("mysql", 3306), ("tcp", 7000)]);
                PortDef { name, port, target: port, target_by_name: false, protocol: "tcp" }
            }
            _ => PortDef { name: "kafka", port: 9092, target: 9092, target_by_name: false, protocol: "kafka" },
        };
        p.target_by_name = self.rng.chance(20);
        let mut ports = vec![p];
        if self.rng.chance(25) {
            ports.push(PortDef { name: "admin", port: 8081, target: 8081, target_by_name: false, protocol: "http" });
        }
        ports
    }

    /// A MeshService and its Dataplanes, in one file (`services[s]`).
    fn service(&mut self, mesh: &str, services: &[Svc], s: usize) {
        let cfg = self.cfg;
        let svc = &services[s];
        let mut transparent = map! { "redirectPortInbound" => 15006u16, "redirectPortOutbound" => 15001u16 };
        let refs = reachable_refs(services, s, cfg.reachable_backends);
        if !refs.is_empty() {
            transparent.push("reachableBackends", map! { "refs" => Y::Seq(refs) });
        }
        let k8s = svc.form == Form::Kubernetes;
        let selector = match &svc.ns {
            Some(ns) => map! { "app" => svc.name.as_str(), "k8s.kuma.io/namespace" => ns.as_str() },
            None => map! { "kuma.io/service" => svc.name.as_str() },
        };
        let ports: Vec<Y> = svc
            .ports
            .iter()
            .map(|p| {
                let target = if p.target_by_name { Y::from(p.name) } else { Y::from(p.target) };
                map! { "name" => p.name, "port" => p.port, "targetPort" => target, "appProtocol" => p.protocol }
            })
            .collect();
        let env = if k8s { "kubernetes" } else { "universal" };
        let ms_labels = labels(&[("app", &svc.name), ("team", &svc.team), ("env", "production"), ("kuma.io/env", env)]);
        let mut docs = vec![resource(
            svc.form,
            "MeshService",
            &svc.name,
            Some(mesh),
            svc.ns.as_deref(),
            ms_labels,
            map! { "selector" => map! { "dataplaneTags" => selector }, "ports" => Y::Seq(ports) },
        )];
        for i in 0..cfg.dataplanes_per_service {
            let zone = self.zones[i % self.zones.len()].clone();
            let version = if i % 4 == 3 { "v2" } else { "v1" };
            let name =
                if k8s { format!("{}-{}-{i}", svc.name, svc.pod_hash) } else { format!("{}-{zone}-{i}", svc.name) };
            let inbound: Vec<Y> = svc
                .ports
                .iter()
                .map(|p| {
                    let mut tags = map! {
                        "kuma.io/service" => svc.service_tag(p),
                        "kuma.io/protocol" => p.protocol,
                        "kuma.io/zone" => zone.as_str(),
                        "app" => svc.name.as_str(),
                        "version" => version,
                    };
                    if let Some(ns) = &svc.ns {
                        tags.push("k8s.kuma.io/namespace", ns.as_str());
                    }
                    map! { "port" => p.target, "name" => p.name, "tags" => tags }
                })
                .collect();
            let address = self.next_address();
            let spec = map! {
                "networking" => map! {
                    "address" => address,
                    "inbound" => Y::Seq(inbound),
                    "transparentProxying" => transparent.clone(),
                    "admin" => map! { "port" => 9901u16 },
                },
            };
            let dp_labels = labels(&[("app", &svc.name), ("version", version), ("kuma.io/zone", &zone)]);
            docs.push(resource(svc.form, "Dataplane", &name, Some(mesh), svc.ns.as_deref(), dp_labels, spec));
        }
        self.add(format!("meshes/{mesh}/services/{}/{}.yaml", svc.team, svc.name), &docs);
    }

    fn external(&mut self, mesh: &str, ext: &External, host: &str, e: usize) {
        let spec = if e % 3 == 2 {
            // Plain HTTP to an IP-addressed partner.
            map! {
                "match" => map! { "type" => "HostnameGenerator", "port" => 80u16, "protocol" => "http" },
                "endpoints" => seq![map! {
                    "address" => format!("203.0.113.{}", e % 250 + 1),
                    "port" => 8080u16,
                }],
            }
        } else {
            map! {
                "match" => map! { "type" => "HostnameGenerator", "port" => 443u16, "protocol" => "tcp" },
                "endpoints" => seq![map! { "address" => host, "port" => 443u16 }],
                "tls" => map! {
                    "enabled" => true,
                    "version" => map! { "min" => "TLS12", "max" => "TLS13" },
                    "verification" => map! { "mode" => "Secured", "serverName" => host },
                },
            }
        };
        let ns = (ext.form == Form::Kubernetes).then_some(SYSTEM_NS);
        let lbl = labels(&[("app", &ext.name), ("env", "production")]);
        let doc = resource(ext.form, "MeshExternalService", &ext.name, Some(mesh), ns, lbl, spec);
        self.add(format!("meshes/{mesh}/external-services/{}.yaml", ext.name), &[doc]);
    }

    fn multizone(&mut self, mesh: &str, mz: &MultiZone, svc: &Svc) -> Y {
        let ports: Vec<Y> = svc
            .ports
            .iter()
            .map(|p| map! { "name" => p.name, "port" => p.port, "appProtocol" => p.protocol })
            .collect();
        let spec = map! {
            "selector" => map! { "meshService" => map! { "matchLabels" => map! { "app" => svc.name.as_str() } } },
            "ports" => Y::Seq(ports),
        };
        let ns = (mz.form == Form::Kubernetes).then_some(SYSTEM_NS);
        let lbl = labels(&[("app", &mz.name), ("env", "production")]);
        resource(mz.form, "MeshMultiZoneService", &mz.name, Some(mesh), ns, lbl, spec)
    }
}

/// `reachableBackends.refs` of the Dataplanes of `services[s]`: the `n` services
/// after it (wrapping, never itself), by name, with the namespace on Kubernetes.
/// No RNG draw, so the rest of the mesh is the same whatever `n` is.
fn reachable_refs(services: &[Svc], s: usize, n: usize) -> Vec<Y> {
    let n = n.min(services.len().saturating_sub(1));
    (1..=n)
        .map(|k| {
            let other = &services[(s + k) % services.len()];
            let mut r = map! { "kind" => "MeshService", "name" => other.name.as_str() };
            if let Some(ns) = &other.ns {
                r.push("namespace", ns.as_str());
            }
            r
        })
        .collect()
}

/// The MeshTrafficPermission of `services[s]` with [`SynthConfig::callers_percent`]:
/// its proxies, selected by the tags its MeshService selects (so that Kuma's
/// reachable-services graph matches them), accept the `n` services before it
/// (wrapping, never itself), by their primary inbound's `kuma.io/service` tag.
/// No RNG draw, so the rest of the mesh is the same whatever the percentage.
fn callers_mtp(mesh: &str, services: &[Svc], s: usize, n: usize) -> (String, Y) {
    let svc = &services[s];
    let top = match &svc.ns {
        Some(ns) => {
            map! { "kind" => "MeshSubset", "tags" => map! { "app" => svc.name.as_str(), "k8s.kuma.io/namespace" => ns.as_str() } }
        }
        None => tr_subset(svc.name.clone()),
    };
    let mut from: Vec<Y> = (1..=n.min(services.len().saturating_sub(1)))
        .map(|k| {
            let caller = &services[(s + services.len() - k) % services.len()];
            map! { "targetRef" => tr_subset(caller.service_tag(caller.primary())), "default" => map! { "action" => "Allow" } }
        })
        .collect();
    if from.is_empty() {
        // No other service to accept (a mesh of one): Kuma rejects an empty `from`,
        // so say "nobody" explicitly, as the mesh-wide permission does.
        from.push(map! { "targetRef" => tr_mesh(), "default" => map! { "action" => "Deny" } });
    }
    let name = format!("callers-{}", svc.name);
    let ns = (svc.form == Form::Kubernetes).then_some(SYSTEM_NS);
    let doc = resource(
        svc.form,
        "MeshTrafficPermission",
        &name,
        Some(mesh),
        ns,
        vec![],
        map! { "targetRef" => top, "from" => Y::Seq(from) },
    );
    (name, doc)
}

/// What policies of one mesh can refer to.
struct World<'a> {
    mesh: &'a str,
    sfx: &'a str,
    services: &'a [Svc],
    externals: &'a [External],
    multizone: &'a [MultiZone],
}

fn kebab(kind: &str) -> String {
    let mut out = String::new();
    for (i, c) in kind.chars().enumerate() {
        if c.is_ascii_uppercase() {
            // "MeshHTTPRoute" -> "mesh-httproute": a dash only before a capital that follows a lowercase letter.
            let prev_lower = i > 0 && kind.as_bytes()[i - 1].is_ascii_lowercase();
            if prev_lower {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

// targetRef helpers.
fn tr_mesh() -> Y {
    map! { "kind" => "Mesh" }
}

fn tr_sidecars() -> Y {
    map! { "kind" => "Mesh", "proxyTypes" => seq!["Sidecar"] }
}

fn tr_dataplanes(svc: &Svc) -> Y {
    map! { "kind" => "Dataplane", "labels" => map! { "app" => svc.name.as_str() } }
}

fn tr_subset(tag: String) -> Y {
    map! { "kind" => "MeshSubset", "tags" => map! { "kuma.io/service" => tag } }
}

/// `kind: MeshService` reference from a policy, with the namespace only when it differs.
fn ms_ref(pol: &PolicyCtx, svc: &Svc, section: Option<&str>) -> Y {
    let mut r = map! { "kind" => "MeshService", "name" => svc.name.as_str() };
    if let Some(ns) = &svc.ns
        && pol.ns.as_deref() != Some(ns.as_str())
    {
        r.push("namespace", ns.as_str());
    }
    if let Some(s) = section {
        r.push("sectionName", s);
    }
    r
}

fn backend_ref(pol: &PolicyCtx, svc: &Svc, port: u16, weight: i64) -> Y {
    let mut r = ms_ref(pol, svc, None);
    r.push("port", port);
    r.push("weight", weight);
    r
}

fn mes_ref(ext: &External) -> Y {
    map! { "kind" => "MeshExternalService", "labels" => map! { "app" => ext.name.as_str() } }
}

fn mzs_ref(mz: &MultiZone) -> Y {
    map! { "kind" => "MeshMultiZoneService", "labels" => map! { "app" => mz.name.as_str() } }
}

/// How a policy is placed: mesh-wide system policy, or owned by a service's team.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Universal, or the system namespace on Kubernetes.
    System,
    /// Kubernetes: in the service's namespace, `to` its own MeshService only (producer).
    Producer,
    /// Kubernetes: in the service's namespace, selecting its own Dataplanes (workload-owner).
    Owner,
}

impl Gen<'_> {
    /// One policy of kind `POLICY_KINDS[k]`: its name and document; `vary` adds
    /// the targetRef shapes of the weighted mix.
    fn policy(&mut self, w: &World, k: usize, p: usize, vary: bool) -> (String, Y) {
        let kind = POLICY_KINDS[k];
        let svc = &w.services[self.rng.below(w.services.len())];
        let client = &w.services[self.rng.below(w.services.len())];
        // Mesh-wide policies (p == 0, except routes) alternate forms by kind; the others
        // follow their service, so that references by name resolve.
        let mesh_wide = p == 0 && !matches!(kind, "MeshHTTPRoute" | "MeshTCPRoute");
        let form = if mesh_wide { form_at(self.cfg.form, k) } else { svc.form };
        let k8s_svc = form == Form::Kubernetes && svc.form == Form::Kubernetes && !mesh_wide;
        let placement = match kind {
            "MeshTimeout" | "MeshRetry" | "MeshHTTPRoute" if k8s_svc && self.rng.chance(40) => Placement::Producer,
            "MeshTrafficPermission" | "MeshRateLimit" | "MeshFaultInjection" if k8s_svc && self.rng.chance(50) => {
                Placement::Owner
            }
            _ => Placement::System,
        };
        let ns = match (form, placement) {
            (Form::Kubernetes, Placement::System) => Some(SYSTEM_NS.to_string()),
            (Form::Kubernetes, _) => svc.ns.clone(),
            _ => None,
        };
        let pol = PolicyCtx { mesh: w.mesh, form, ns };
        let ext = (!w.externals.is_empty()).then(|| w.externals[self.rng.below(w.externals.len())].clone());
        let mz = (!w.multizone.is_empty()).then(|| w.multizone[self.rng.below(w.multizone.len())].clone());
        let variant = self.rng.below(100);

        let (prefix, spec) = match kind {
            "MeshTrafficPermission" => ("allow", self.mtp(&pol, w, svc, client, p, variant)),
            "MeshTLS" => ("tls", self.mtls(svc, p)),
            "MeshPassthrough" => ("passthrough", self.passthrough(svc, p)),
            "MeshLoadBalancingStrategy" => ("lb", self.mlbs(&pol, svc, mz.as_ref(), p, variant)),
            "MeshTimeout" => ("timeout", self.timeout(&pol, svc, ext.as_ref(), mz.as_ref(), p, variant, placement)),
            "MeshRetry" => ("retry", self.retry(&pol, svc, ext.as_ref(), p, variant, placement)),
            "MeshCircuitBreaker" => ("circuit-breaker", self.circuit_breaker(&pol, svc, ext.as_ref(), p, variant)),
            "MeshHealthCheck" => ("health-check", self.health_check(&pol, svc, p)),
            "MeshHTTPRoute" => ("route", self.http_route(&pol, w, svc, p, placement)),
            "MeshTCPRoute" => ("tcp-route", self.tcp_route(&pol, w, svc, p)),
            "MeshRateLimit" => ("rate-limit", self.rate_limit(svc, p, variant)),
            "MeshFaultInjection" => ("fault", self.fault(svc, client, p, variant)),
            "MeshAccessLog" => ("access-log", self.access_log(&pol, svc, ext.as_ref(), p, variant)),
            "MeshTrace" => ("trace", self.trace(svc, p)),
            "MeshMetric" => ("metrics", self.metric(svc, p)),
            _ => ("patch", self.proxy_patch(svc, p)),
        };
        let mut spec = spec;
        if vary && p > 0 {
            self.vary_targets(kind, &pol, placement, svc, client, &mut spec);
        }
        let name =
            if mesh_wide { format!("{prefix}-mesh-wide{}", w.sfx) } else { format!("{prefix}-{}-{p}", svc.name) };
        let doc = resource(pol.form, kind, &name, Some(pol.mesh), pol.ns.as_deref(), vec![], spec);
        (name, doc)
    }

    fn mtp(&mut self, pol: &PolicyCtx, w: &World, svc: &Svc, client: &Svc, p: usize, variant: usize) -> Y {
        if p == 0 {
            let action = if self.cfg.callers_percent > 0 { "Deny" } else { "Allow" };
            return map! {
                "targetRef" => tr_mesh(),
                "from" => seq![map! { "targetRef" => tr_mesh(), "default" => map! { "action" => action } }],
            };
        }
        if variant < 30 {
            let spiffe = format!("spiffe://{}/{}", pol.mesh, client.service_tag(client.primary()));
            return map! {
                "targetRef" => tr_dataplanes(svc),
                "rules" => seq![map! {
                    "default" => map! { "allow" => seq![map! { "spiffeID" => map! { "type" => "Exact", "value" => spiffe } }] },
                }],
            };
        }
        let other = &w.services[(p * 7 + 3) % w.services.len()];
        let mut from = vec![map! {
            "targetRef" => tr_subset(client.service_tag(client.primary())),
            "default" => map! { "action" => "Allow" },
        }];
        if other.name != client.name {
            from.push(map! {
                "targetRef" => tr_subset(other.service_tag(other.primary())),
                "default" => map! { "action" => if variant < 60 { "AllowWithShadowDeny" } else { "Allow" } },
            });
        }
        map! { "targetRef" => tr_dataplanes(svc), "from" => Y::Seq(from) }
    }

    fn mtls(&mut self, svc: &Svc, p: usize) -> Y {
        if p == 0 {
            return map! {
                "targetRef" => tr_mesh(),
                "from" => seq![map! {
                    "targetRef" => tr_mesh(),
                    "default" => map! { "mode" => "Strict", "tlsVersion" => map! { "min" => "TLS12", "max" => "TLS13" } },
                }],
            };
        }
        let mode = if self.rng.chance(20) { "Permissive" } else { "Strict" };
        map! { "targetRef" => tr_dataplanes(svc), "rules" => seq![map! { "default" => map! { "mode" => mode } }] }
    }

    fn passthrough(&mut self, svc: &Svc, p: usize) -> Y {
        if p == 0 {
            return map! {
                "targetRef" => tr_mesh(),
                "default" => map! {
                    "passthroughMode" => "Matched",
                    "appendMatch" => seq![
                        map! { "type" => "Domain", "value" => "api.stripe.com", "port" => 443u16, "protocol" => "tls" },
                        map! { "type" => "CIDR", "value" => "192.168.0.0/16", "protocol" => "tcp" },
                    ],
                },
            };
        }
        let n = p % 250 + 1;
        map! {
            "targetRef" => tr_dataplanes(svc),
            "default" => map! {
                "appendMatch" => seq![
                    map! { "type" => "Domain", "value" => format!("*.svc{n}.example.com"), "port" => 443u16, "protocol" => "tls" },
                    map! { "type" => "Domain", "value" => format!("status{n}.example.com"), "port" => 80u16, "protocol" => "http" },
                    map! { "type" => "IP", "value" => format!("198.51.100.{n}"), "port" => 5432u16, "protocol" => "tcp" },
                ],
            },
        }
    }

    fn mlbs(&mut self, pol: &PolicyCtx, svc: &Svc, mz: Option<&MultiZone>, p: usize, variant: usize) -> Y {
        if p == 0 {
            return map! {
                "targetRef" => tr_mesh(),
                "to" => seq![map! {
                    "targetRef" => tr_mesh(),
                    "default" => map! {
                        "localityAwareness" => map! {
                            "localZone" => map! { "affinityTags" => seq![map! { "key" => "k8s.io/node" }] },
                            "crossZone" => map! { "failover" => seq![map! { "to" => map! { "type" => "Any" } }] },
                        },
                    },
                }],
            };
        }
        let (target, conf) = match (variant, mz) {
            (0..=24, Some(mz)) => (mzs_ref(mz), map! { "loadBalancer" => map! { "type" => "RoundRobin" } }),
            (25..=59, _) => (
                ms_ref(pol, svc, None),
                map! { "loadBalancer" => map! { "type" => "LeastRequest", "leastRequest" => map! { "choiceCount" => 3i64 } } },
            ),
            _ => (
                ms_ref(pol, svc, None),
                map! {
                    "loadBalancer" => map! {
                        "type" => "RingHash",
                        "ringHash" => map! {
                            "hashFunction" => "XXHash",
                            "minRingSize" => 1024i64,
                            "maxRingSize" => 8192i64,
                            "hashPolicies" => seq![
                                map! { "type" => "Header", "header" => map! { "name" => "x-user-id" } },
                                map! { "type" => "Connection", "connection" => map! { "sourceIP" => true }, "terminal" => true },
                            ],
                        },
                    },
                },
            ),
        };
        map! { "targetRef" => tr_mesh(), "to" => seq![map! { "targetRef" => target, "default" => conf }] }
    }

    #[allow(clippy::too_many_arguments)]
    fn timeout(
        &mut self,
        pol: &PolicyCtx,
        svc: &Svc,
        ext: Option<&External>,
        mz: Option<&MultiZone>,
        p: usize,
        variant: usize,
        placement: Placement,
    ) -> Y {
        if p == 0 {
            return map! {
                "targetRef" => tr_mesh(),
                "to" => seq![map! {
                    "targetRef" => tr_mesh(),
                    "default" => map! {
                        "connectionTimeout" => "5s",
                        "idleTimeout" => "1h",
                        "http" => map! { "requestTimeout" => "15s", "streamIdleTimeout" => "30m" },
                    },
                }],
            };
        }
        let secs = 5 + self.rng.below(55);
        let http_conf = map! {
            "idleTimeout" => "30m",
            "http" => map! { "requestTimeout" => format!("{secs}s"), "maxStreamDuration" => "0s" },
        };
        let tcp_conf = map! { "connectionTimeout" => "3s", "idleTimeout" => "10m" };
        let conf = if svc.is_http() { http_conf } else { tcp_conf.clone() };
        if placement == Placement::System && variant < 20 {
            // Inbound side: the service's own request timeouts.
            return map! {
                "targetRef" => tr_dataplanes(svc),
                "rules" => seq![map! { "default" => map! { "http" => map! { "requestTimeout" => format!("{}s", secs + 5) } } }],
            };
        }
        let target = match (placement, variant, ext, mz) {
            (Placement::System, 20..=34, Some(e), _) => {
                return map! { "targetRef" => tr_mesh(), "to" => seq![map! { "targetRef" => mes_ref(e), "default" => tcp_conf }] };
            }
            (Placement::System, 35..=44, _, Some(mz)) => mzs_ref(mz),
            _ => ms_ref(pol, svc, section(svc, variant)),
        };
        map! { "targetRef" => tr_mesh(), "to" => seq![map! { "targetRef" => target, "default" => conf }] }
    }

    fn retry(
        &mut self,
        pol: &PolicyCtx,
        svc: &Svc,
        ext: Option<&External>,
        p: usize,
        variant: usize,
        placement: Placement,
    ) -> Y {
        let http = map! {
            "numRetries" => 3i64,
            "perTryTimeout" => "2s",
            "backOff" => map! { "baseInterval" => "25ms", "maxInterval" => "250ms" },
            "retryOn" => seq!["5xx", "GatewayError", "ConnectFailure", "RefusedStream"],
        };
        let grpc = map! {
            "numRetries" => 2i64,
            "perTryTimeout" => "1s",
            "retryOn" => seq!["Unavailable", "DeadlineExceeded", "ResourceExhausted"],
        };
        let tcp = map! { "maxConnectAttempt" => 3i64 };
        if p == 0 {
            return map! {
                "targetRef" => tr_mesh(),
                "to" => seq![map! {
                    "targetRef" => tr_mesh(),
                    "default" => map! { "tcp" => map! { "maxConnectAttempt" => 5i64 }, "http" => http, "grpc" => grpc },
                }],
            };
        }
        let (target, conf) = match (placement, variant, ext) {
            (Placement::System, 0..=19, Some(e)) => (mes_ref(e), map! { "tcp" => tcp }),
            _ => {
                let conf = match svc.primary().protocol {
                    "http" | "http2" => map! { "http" => http },
                    "grpc" => map! { "grpc" => grpc },
                    _ => map! { "tcp" => tcp },
                };
                (ms_ref(pol, svc, None), conf)
            }
        };
        map! { "targetRef" => tr_mesh(), "to" => seq![map! { "targetRef" => target, "default" => conf }] }
    }

    fn circuit_breaker(&mut self, pol: &PolicyCtx, svc: &Svc, ext: Option<&External>, p: usize, variant: usize) -> Y {
        let limits = map! {
            "maxConnections" => 1024i64,
            "maxPendingRequests" => 1024i64,
            "maxRequests" => 1024i64,
            "maxRetries" => 3i64,
        };
        if p == 0 {
            return map! {
                "targetRef" => tr_mesh(),
                "to" => seq![map! { "targetRef" => tr_mesh(), "default" => map! { "connectionLimits" => limits } }],
            };
        }
        if variant < 25 {
            return map! {
                "targetRef" => tr_dataplanes(svc),
                "rules" => seq![map! {
                    "default" => map! { "connectionLimits" => map! { "maxConnections" => 256i64, "maxPendingRequests" => 64i64 } },
                }],
            };
        }
        let outlier = map! {
            "disabled" => false,
            "interval" => "10s",
            "baseEjectionTime" => "30s",
            "maxEjectionPercent" => 20i64,
            "splitExternalAndLocalErrors" => false,
            "detectors" => map! {
                "totalFailures" => map! { "consecutive" => 5i64 },
                "gatewayFailures" => map! { "consecutive" => 3i64 },
                "failurePercentage" => map! { "minimumHosts" => 3i64, "requestVolume" => 50i64, "threshold" => 85i64 },
            },
        };
        let target = match (variant, ext) {
            (25..=39, Some(e)) => mes_ref(e),
            _ => ms_ref(pol, svc, None),
        };
        map! { "targetRef" => tr_mesh(), "to" => seq![map! { "targetRef" => target, "default" => map! { "outlierDetection" => outlier } }] }
    }

    fn health_check(&mut self, pol: &PolicyCtx, svc: &Svc, p: usize) -> Y {
        let mut conf = map! {
            "interval" => "10s",
            "timeout" => "2s",
            "unhealthyThreshold" => 3i64,
            "healthyThreshold" => 1i64,
        };
        if p == 0 {
            conf.push("tcp", map! { "disabled" => false });
            return map! { "targetRef" => tr_mesh(), "to" => seq![map! { "targetRef" => tr_mesh(), "default" => conf }] };
        }
        match svc.primary().protocol {
            "http" | "http2" => {
                conf.push("http", map! { "path" => "/healthz", "expectedStatuses" => seq![200i64, 204i64] })
            }
            "grpc" => conf.push("grpc", map! { "serviceName" => svc.name.as_str() }),
            _ => conf.push("tcp", map! { "disabled" => false }),
        }
        conf.push("intervalJitterPercent", 10i64);
        map! { "targetRef" => tr_mesh(), "to" => seq![map! { "targetRef" => ms_ref(pol, svc, None), "default" => conf }] }
    }

    fn http_route(&mut self, pol: &PolicyCtx, w: &World, svc: &Svc, p: usize, placement: Placement) -> Y {
        // Routes are about HTTP services: prefer one (same form, so references resolve).
        let svc = if svc.is_http() || placement != Placement::System {
            svc
        } else {
            w.services.iter().find(|s| s.is_http() && s.form == svc.form).unwrap_or(svc)
        };
        let port = svc.primary().port;
        let version = 2 + p % 3;
        // Canary traffic: 10% to another HTTP service of the same form, when there is one.
        let canary = match w.services.iter().find(|s| s.is_http() && s.form == svc.form && s.name != svc.name) {
            Some(other) => vec![backend_ref(pol, svc, port, 90), backend_ref(pol, other, other.primary().port, 10)],
            None => vec![backend_ref(pol, svc, port, 100)],
        };
        let rules = seq![
            map! {
                "matches" => seq![map! {
                    "path" => map! { "type" => "PathPrefix", "value" => format!("/api/v{version}") },
                    "method" => "GET",
                }],
                "default" => map! {
                    "filters" => seq![map! {
                        "type" => "RequestHeaderModifier",
                        "requestHeaderModifier" => map! { "set" => seq![map! { "name" => "x-api-version", "value" => format!("v{version}") }] },
                    }],
                    "backendRefs" => seq![backend_ref(pol, svc, port, 100)],
                },
            },
            map! {
                "matches" => seq![map! {
                    "path" => map! { "type" => "Exact", "value" => "/legacy" },
                }],
                "default" => map! {
                    "filters" => seq![map! {
                        "type" => "URLRewrite",
                        "urlRewrite" => map! { "path" => map! { "type" => "ReplaceFullPath", "replaceFullPath" => "/v1/legacy" } },
                    }],
                },
            },
            map! {
                "matches" => seq![map! {
                    "headers" => seq![map! { "type" => "Exact", "name" => "x-canary", "value" => "true" }],
                }],
                "default" => map! { "backendRefs" => Y::Seq(canary) },
            },
        ];
        map! {
            "targetRef" => tr_mesh(),
            "to" => seq![map! { "targetRef" => ms_ref(pol, svc, None), "rules" => rules }],
        }
    }

    fn tcp_route(&mut self, pol: &PolicyCtx, w: &World, svc: &Svc, p: usize) -> Y {
        let svc = if !svc.is_http() {
            svc
        } else {
            w.services.iter().find(|s| !s.is_http() && s.form == svc.form).unwrap_or(svc)
        };
        let port = svc.primary().port;
        let top = if p.is_multiple_of(2) { tr_mesh() } else { tr_sidecars() };
        map! {
            "targetRef" => top,
            "to" => seq![map! {
                "targetRef" => ms_ref(pol, svc, None),
                "rules" => seq![map! { "default" => map! { "backendRefs" => seq![backend_ref(pol, svc, port, 1)] } }],
            }],
        }
    }

    fn rate_limit(&mut self, svc: &Svc, p: usize, variant: usize) -> Y {
        let http = map! {
            "requestRate" => map! { "num" => 100i64 + (p as i64 % 10) * 50, "interval" => "1s" },
            "onRateLimit" => map! {
                "status" => 429i64,
                "headers" => map! { "set" => seq![map! { "name" => "x-kuma-rate-limited", "value" => "true" }] },
            },
        };
        let tcp = map! { "connectionRate" => map! { "num" => 50i64, "interval" => "1s" } };
        let local = if svc.is_http() {
            map! { "http" => http }
        } else {
            map! { "tcp" => tcp }
        };
        if p == 0 {
            return map! {
                "targetRef" => tr_sidecars(),
                "from" => seq![map! { "targetRef" => tr_mesh(), "default" => map! { "local" => map! { "tcp" => map! { "connectionRate" => map! { "num" => 1000i64, "interval" => "1s" } } } } }],
            };
        }
        if variant < 50 {
            return map! { "targetRef" => tr_dataplanes(svc), "rules" => seq![map! { "default" => map! { "local" => local } }] };
        }
        map! { "targetRef" => tr_dataplanes(svc), "from" => seq![map! { "targetRef" => tr_mesh(), "default" => map! { "local" => local } }] }
    }

    fn fault(&mut self, svc: &Svc, client: &Svc, p: usize, variant: usize) -> Y {
        let http = seq![
            map! { "abort" => map! { "httpStatus" => 503i64, "percentage" => 5i64 } },
            map! { "delay" => map! { "value" => "2s", "percentage" => "2.5" } },
        ];
        if p == 0 {
            return map! {
                "targetRef" => tr_sidecars(),
                "from" => seq![map! {
                    "targetRef" => tr_mesh(),
                    "default" => map! { "http" => seq![map! { "abort" => map! { "httpStatus" => 500i64, "percentage" => 0i64 } }] },
                }],
            };
        }
        if variant < 40 {
            return map! {
                "targetRef" => tr_dataplanes(svc),
                "rules" => seq![map! { "default" => map! { "http" => seq![map! { "responseBandwidth" => map! { "limit" => "10Mbps", "percentage" => 50i64 } }] } }],
            };
        }
        map! {
            "targetRef" => tr_dataplanes(svc),
            "from" => seq![map! { "targetRef" => tr_subset(client.service_tag(client.primary())), "default" => map! { "http" => http } }],
        }
    }

    fn access_log(&mut self, pol: &PolicyCtx, svc: &Svc, ext: Option<&External>, p: usize, variant: usize) -> Y {
        if p == 0 {
            return map! {
                "targetRef" => tr_mesh(),
                "from" => seq![map! {
                    "targetRef" => tr_mesh(),
                    "default" => map! { "backends" => seq![map! {
                        "type" => "File",
                        "file" => map! {
                            "path" => "/dev/stdout",
                            "format" => map! { "type" => "Plain", "plain" => "[%START_TIME%] %KUMA_MESH% %UPSTREAM_HOST% %RESPONSE_CODE%" },
                        },
                    }] },
                }],
            };
        }
        let tcp_backend = map! {
            "type" => "Tcp",
            "tcp" => map! {
                "address" => "logstash.logging.svc.cluster.local:5000",
                "format" => map! {
                    "type" => "Json",
                    "json" => seq![
                        map! { "key" => "start_time", "value" => "%START_TIME%" },
                        map! { "key" => "status", "value" => "%RESPONSE_CODE%" },
                    ],
                },
            },
        };
        let target = match (variant, ext) {
            (0..=29, Some(e)) => mes_ref(e),
            _ => ms_ref(pol, svc, None),
        };
        if variant >= 70 {
            return map! {
                "targetRef" => tr_dataplanes(svc),
                "rules" => seq![map! { "default" => map! { "backends" => seq![map! {
                    "type" => "File",
                    "file" => map! { "path" => format!("/var/log/kuma/{}.log", svc.name) },
                }] } }],
            };
        }
        map! { "targetRef" => tr_mesh(), "to" => seq![map! { "targetRef" => target, "default" => map! { "backends" => seq![tcp_backend] } }] }
    }

    fn trace(&mut self, svc: &Svc, p: usize) -> Y {
        if p == 0 {
            return map! {
                "targetRef" => tr_mesh(),
                "default" => map! {
                    "backends" => seq![map! {
                        "type" => "Zipkin",
                        "zipkin" => map! { "url" => "http://zipkin.observability.svc:9411/api/v2/spans" },
                    }],
                    "sampling" => map! { "overall" => 10i64 },
                },
            };
        }
        map! {
            "targetRef" => tr_dataplanes(svc),
            "default" => map! {
                // The mesh-wide policy's backend applies; `backends` must still be present.
                "backends" => Y::Seq(vec![]),
                "sampling" => map! { "overall" => 50i64, "client" => 100i64, "random" => 25i64 },
                "tags" => seq![
                    map! { "name" => "team", "literal" => svc.team.as_str() },
                    map! { "name" => "user-agent", "header" => map! { "name" => "user-agent", "default" => "unknown" } },
                ],
            },
        }
    }

    fn metric(&mut self, svc: &Svc, p: usize) -> Y {
        if p == 0 {
            return map! {
                "targetRef" => tr_mesh(),
                "default" => map! {
                    "sidecar" => map! { "profiles" => map! { "appendProfiles" => seq![map! { "name" => "Basic" }] } },
                    "backends" => seq![map! {
                        "type" => "Prometheus",
                        "prometheus" => map! { "clientId" => "main-prometheus", "port" => 5670u16, "path" => "/metrics" },
                    }],
                },
            };
        }
        map! {
            "targetRef" => tr_dataplanes(svc),
            "default" => map! {
                "sidecar" => map! {
                    "profiles" => map! {
                        "exclude" => seq![map! { "type" => "Regex", "match" => "envoy_cluster_external_upstream_rq_.*" }],
                    },
                },
                "applications" => seq![map! { "name" => svc.name.as_str(), "path" => "/metrics", "port" => 9102u16 }],
            },
        }
    }

    fn proxy_patch(&mut self, svc: &Svc, p: usize) -> Y {
        let top = if p == 0 { tr_mesh() } else { tr_dataplanes(svc) };
        map! {
            "targetRef" => top,
            "default" => map! {
                "appendModifications" => seq![
                    map! {
                        "cluster" => map! {
                            "operation" => "Patch",
                            "match" => map! { "origin" => "outbound" },
                            "jsonPatches" => seq![map! { "op" => "replace", "path" => "/connectTimeout", "value" => "5s" }],
                        },
                    },
                    map! {
                        "listener" => map! {
                            "operation" => "Patch",
                            "match" => map! { "origin" => "inbound" },
                            "jsonPatches" => seq![map! { "op" => "add", "path" => "/perConnectionBufferLimitBytes", "value" => 32768i64 }],
                        },
                    },
                ],
            },
        }
    }
}

impl Gen<'_> {
    /// More targetRef shapes than the base generator writes, without changing what
    /// a policy is about: a top-level `Dataplane` by labels (the service's proxies)
    /// becomes a `MeshSubset` by its `kuma.io/service` tag or, where the kind allows
    /// it, a `MeshService` of that tag, or gets a `sectionName` (its primary inbound) on an
    /// inbound policy; a mesh-wide policy `to` one `MeshService` becomes one from a
    /// client's proxies `to` the whole `Mesh`, or names the service's port.
    fn vary_targets(
        &mut self,
        kind: &str,
        pol: &PolicyCtx,
        placement: Placement,
        svc: &Svc,
        client: &Svc,
        spec: &mut Y,
    ) {
        let roll = self.rng.below(100);
        let inbound = field(spec, "rules").is_some() || field(spec, "from").is_some();
        if field(spec, "targetRef") == Some(&tr_dataplanes(svc)) {
            // Inbound rate limits and faults must not reach gateways: a subset says
            // `proxyTypes: [Sidecar]`, and a MeshService (which may be a gateway's) is out.
            let sidecars_only = matches!(kind, "MeshRateLimit" | "MeshFaultInjection");
            let top_service_ok = !sidecars_only && !matches!(kind, "MeshTLS" | "MeshPassthrough");
            let top = match roll {
                0..=29 => {
                    let mut r = tr_subset(svc.service_tag(svc.primary()));
                    if sidecars_only {
                        r.push("proxyTypes", seq!["Sidecar"]);
                    }
                    r
                }
                // Top-level MeshService is one of Kuma's "old kinds": it selects the
                // inbounds tagged `kuma.io/service: <name>`.
                30..=54 if top_service_ok => map! { "kind" => "MeshService", "name" => svc.service_tag(svc.primary()) },
                55..=69 if inbound => {
                    let mut r = tr_dataplanes(svc);
                    r.push("sectionName", svc.primary().name);
                    r
                }
                _ => return,
            };
            set_field(spec, "targetRef", top);
            return;
        }
        let system = placement == Placement::System;
        let outbound = matches!(kind, "MeshTimeout" | "MeshRetry" | "MeshCircuitBreaker" | "MeshHealthCheck");
        if !(system && outbound && field(spec, "targetRef") == Some(&tr_mesh())) {
            return;
        }
        let Some(Y::Seq(to)) = field_mut(spec, "to") else { return };
        let Some(item) = to.first_mut() else { return };
        if field(item, "targetRef") != Some(&ms_ref(pol, svc, None)) {
            return;
        }
        match roll {
            0..=24 => {
                set_field(item, "targetRef", tr_mesh());
                let top =
                    if roll < 12 { tr_dataplanes(client) } else { tr_subset(client.service_tag(client.primary())) };
                set_field(spec, "targetRef", top);
            }
            25..=59 if svc.ports.len() > 1 => set_field(item, "targetRef", ms_ref(pol, svc, Some(svc.primary().name))),
            _ => {}
        }
    }
}

/// The value of `key` in a mapping.
fn field<'a>(y: &'a Y, key: &str) -> Option<&'a Y> {
    match y {
        Y::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

fn field_mut<'a>(y: &'a mut Y, key: &str) -> Option<&'a mut Y> {
    match y {
        Y::Map(entries) => entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

/// Replace the value of `key` in a mapping (in place, keeping the key order).
fn set_field(y: &mut Y, key: &str, value: Y) {
    if let Some(v) = field_mut(y, key) {
        *v = value;
    }
}

/// A `sectionName` for a multi-port service, sometimes.
fn section(svc: &Svc, variant: usize) -> Option<&'static str> {
    (svc.ports.len() > 1 && variant.is_multiple_of(2)).then(|| svc.primary().name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SynthConfig {
        SynthConfig { services: 12, dataplanes_per_service: 3, zones: 3, policies_per_kind: 4, ..Default::default() }
    }

    #[test]
    fn same_seed_same_bytes() {
        for form in [Form::Universal, Form::Kubernetes, Form::Mixed] {
            let cfg = SynthConfig { form, ..small() };
            assert_eq!(generate(&cfg), generate(&cfg));
        }
        let a = generate(&small());
        let b = generate(&SynthConfig { seed: 2, ..small() });
        assert_ne!(a, b, "a different seed changes the mesh");
    }

    #[test]
    fn counts_match_the_formula() {
        let configs = [
            SynthConfig::default(),
            small(),
            SynthConfig { meshes: 3, services: 40, zones: 7, form: Form::Mixed, ..small() },
            SynthConfig { external_services: 0, multizone_services: 0, policies_per_kind: 0, ..small() },
            SynthConfig { meshes: 0, services: 0, zones: 0, dataplanes_per_service: 0, ..small() },
            SynthConfig { multizone_services: 30, external_services: 11, form: Form::Kubernetes, ..small() },
            SynthConfig { policies: 45, form: Form::Mixed, ..small() },
            SynthConfig { policies: 7, policies_per_kind: 0, ..small() },
        ];
        for cfg in configs {
            let files = generate(&cfg);
            assert_eq!(count_resources(&files), cfg.expected_resources(), "{cfg:?}");
            let loaded = crate::source::load_texts(files, &crate::source::Limits::default());
            assert_eq!(loaded.documents.len(), cfg.expected_resources(), "{cfg:?}");
            assert!(loaded.findings.is_empty(), "{:?}", loaded.findings);
        }
    }

    #[test]
    fn formula_by_hand() {
        // 3 HG + 2·2 zone proxies + (1 mesh + 10·4 services and DPs + 2 MES + 1 MMZS + 16·2 policies)
        assert_eq!(SynthConfig::default().expected_resources(), 3 + 4 + 1 + 40 + 2 + 1 + 32);
    }

    #[test]
    fn for_target_lands_close() {
        for target in [1_000, 10_000, 100_000] {
            let cfg = SynthConfig::for_target(target, 7);
            let n = cfg.expected_resources();
            assert!(n <= target && n * 100 >= target * 97, "{target}: {n} {cfg:?}");
        }
    }

    #[test]
    fn names_and_paths_are_unique() {
        for form in [Form::Universal, Form::Kubernetes, Form::Mixed] {
            let cfg = SynthConfig { meshes: 2, services: 70, form, ..small() };
            let files = generate(&cfg);
            let mut paths: Vec<&String> = files.iter().map(|(p, _)| p).collect();
            paths.dedup();
            assert_eq!(paths.len(), files.len());
            let out = crate::validate::run_texts(files, &Default::default());
            let mut ids: Vec<String> = out
                .resources
                .iter()
                .map(|r| format!("{}/{:?}/{:?}/{}", r.meta.kind.name(), r.meta.mesh, r.meta.namespace, r.meta.name))
                .collect();
            ids.sort();
            let n = ids.len();
            ids.dedup();
            assert_eq!(ids.len(), n, "duplicate resource identities");
        }
    }

    #[test]
    fn yaml_scalars_round_trip() {
        for s in
            ["5s", "2.5", "true", "", "a: b", "{{ .Name }}", "it's", "10.0.0.1", "1e3", "-x", "spiffe://m/s", "0x1f"]
        {
            let doc = map! { "k" => s };
            let text = yaml_docs(&[doc]);
            let loaded = crate::source::load_texts(vec![("t.yaml".into(), text.clone())], &Default::default());
            assert_eq!(loaded.documents[0].value["k"], serde_json::json!(s), "{text}");
        }
    }

    #[test]
    fn kebab_names() {
        assert_eq!(kebab("MeshHTTPRoute"), "mesh-httproute");
        assert_eq!(kebab("MeshTLS"), "mesh-tls");
        assert_eq!(kebab("MeshLoadBalancingStrategy"), "mesh-load-balancing-strategy");
    }

    /// `callers_percent` adds one MeshTrafficPermission per service and turns the
    /// mesh-wide one into a deny, and nothing else (no RNG draw); every form
    /// validates clean and the count formula holds.
    #[test]
    fn callers_percent_adds_one_permission_per_service() {
        for form in [Form::Universal, Form::Kubernetes, Form::Mixed] {
            let base = SynthConfig { services: 30, form, ..small() };
            let cfg = SynthConfig { callers_percent: 10, ..base.clone() };
            assert_eq!(cfg.callers(), 2);
            let (plain, files) = (generate(&base), generate(&cfg));
            let added: Vec<&(String, String)> = files.iter().filter(|f| !plain.contains(f)).collect();
            assert_eq!(added.len(), cfg.services + 1, "a permission per service and the mesh-wide one");
            assert!(added.iter().any(|(p, t)| p.contains("allow-mesh-wide") && t.contains("action: Deny")));
            assert_eq!(count_resources(&files), cfg.expected_resources());
            let out = crate::validate::run_texts(files, &Default::default());
            assert!(out.findings.is_empty(), "{form:?}: {:?}", out.findings.first());
        }
    }

    /// A mesh of one service has no caller to accept: its permission still
    /// validates (found by tests/property.rs, seed 20: an empty `from`).
    #[test]
    fn callers_percent_with_one_service_validates_clean() {
        for form in [Form::Universal, Form::Kubernetes] {
            let cfg = SynthConfig { services: 1, callers_percent: 50, form, ..small() };
            let files = generate(&cfg);
            assert_eq!(count_resources(&files), cfg.expected_resources());
            let out = crate::validate::run_texts(files, &Default::default());
            assert!(out.findings.is_empty(), "{form:?}: {:?}", out.findings.first());
        }
    }

    /// `reachable_backends` adds refs to the Dataplanes only: no RNG draw, so every
    /// other file is byte-identical, and the mesh still validates clean and compiles
    /// with exactly the listed services as outbound destinations.
    #[test]
    fn reachable_backends_validate_and_compile() {
        // Not Form::Mixed: a name ref from a Kubernetes Dataplane resolves in its own
        // namespace (Kuma's KRI), which a Universal-form service does not have.
        for form in [Form::Universal, Form::Kubernetes] {
            let base = SynthConfig { form, ..small() };
            let cfg = SynthConfig { reachable_backends: 4, ..base.clone() };
            let (plain, reach) = (generate(&base), generate(&cfg));
            assert_eq!(plain.len(), reach.len());
            for ((p1, t1), (p2, t2)) in plain.iter().zip(&reach) {
                assert_eq!(p1, p2);
                assert_eq!(t1 == t2, !p1.contains("/services/"), "{p1}");
            }
            let opts = crate::compile::Options {
                validate: Default::default(),
                world: Default::default(),
                plan: crate::plan::Options { secrets_dir: "/s".into(), shadow: false, system_ca_path: None },
                selection: Default::default(),
            };
            let compiled = crate::compile::run_texts(reach, &opts);
            let findings: Vec<String> = compiled.outcome.findings.iter().map(|f| f.message.clone()).collect();
            assert!(findings.is_empty(), "{form:?}: {findings:#?}");
            let sidecars: Vec<_> = compiled.proxies.iter().filter(|(p, _)| p.zone_proxy.is_none()).collect();
            assert_eq!(sidecars.len(), cfg.sidecars());
            for (plan, _) in sidecars {
                let mut names: Vec<&str> = plan.outbounds.iter().map(|o| o.destination.name.as_str()).collect();
                names.dedup();
                assert_eq!(names.len(), 4, "{}: {names:?}", plan.id);
                let own = |n: &&str| plan.node_cluster == *n || plan.node_cluster.starts_with(&format!("{n}_"));
                assert!(!names.iter().any(own), "{}: reaches itself", plan.id);
            }
        }
    }

    #[test]
    fn for_sidecars_counts() {
        let cfg = SynthConfig::for_sidecars(10_000, 20, 1);
        assert_eq!((cfg.services, cfg.sidecars(), cfg.reachable_backends), (2_000, 10_000, 20));
        assert_eq!(cfg.policies, 1_000);
        assert_eq!(cfg.policy_count(), 16 * 166 + 1_000);
        assert_eq!(SynthConfig::for_sidecars(20_000, 20, 1).policies, 2_000);
        assert_eq!(SynthConfig::for_sidecars(2_500, 20, 1).policies, 1_000);
    }

    #[test]
    fn policy_mix_kinds_are_policy_kinds() {
        for kind in POLICY_MIX {
            assert!(POLICY_KINDS.contains(&kind), "{kind}");
        }
    }

    /// The weighted mix validates clean in every form, and has every targetRef
    /// shape it promises.
    #[test]
    fn policy_mix_validates_clean_with_every_shape() {
        let mut tops = std::collections::BTreeSet::new();
        let mut tos = std::collections::BTreeSet::new();
        for (form, seed) in [(Form::Universal, 1), (Form::Kubernetes, 5), (Form::Mixed, 9)] {
            let cfg = SynthConfig { form, seed, policies: 400, ..small() };
            let out = crate::validate::run_texts(generate(&cfg), &Default::default());
            assert_eq!(out.resources.len(), cfg.expected_resources());
            let findings: Vec<String> = out
                .findings
                .iter()
                .map(|f| format!("{:?} {} {:?} {:?} {}", f.level, f.code.id, f.resource, f.field, f.message))
                .collect();
            assert!(findings.is_empty(), "{form:?}: {findings:#?}");
            let policies: Vec<serde_json::Value> = out
                .resources
                .iter()
                .filter(|r| r.meta.kind.is_policy())
                .filter_map(|r| r.spec.as_ref().map(|s| s.to_json()))
                .collect();
            assert_eq!(policies.len(), cfg.policy_count());
            let shape = |t: &serde_json::Value| {
                let kind = t["kind"].as_str().unwrap_or("Mesh").to_string();
                match (t.get("sectionName"), t.get("labels"), t.get("tags")) {
                    (Some(_), _, _) => format!("{kind}+sectionName"),
                    (_, Some(_), _) => format!("{kind}+labels"),
                    (_, _, Some(_)) => format!("{kind}+tags"),
                    _ => kind,
                }
            };
            for spec in &policies {
                tops.insert(shape(&spec["targetRef"]));
                for item in spec["to"].as_array().into_iter().flatten() {
                    tos.insert(shape(&item["targetRef"]));
                }
            }
        }
        for want in ["Mesh", "MeshSubset+tags", "MeshService", "Dataplane+labels", "Dataplane+sectionName"] {
            assert!(tops.contains(want), "top-level {want}: {tops:?}");
        }
        for want in ["Mesh", "MeshService", "MeshService+sectionName"] {
            assert!(tos.contains(want), "to {want}: {tos:?}");
        }
    }

    /// Every generated resource validates clean: no finding at all, in every form.
    #[test]
    fn generated_mesh_validates_clean() {
        let configs = [
            SynthConfig { form: Form::Universal, ..small() },
            SynthConfig { form: Form::Kubernetes, seed: 5, ..small() },
            SynthConfig { form: Form::Mixed, meshes: 2, seed: 9, multizone_services: 3, ..small() },
        ];
        for cfg in configs {
            let out = crate::validate::run_texts(generate(&cfg), &Default::default());
            assert_eq!(out.resources.len(), cfg.expected_resources());
            let findings: Vec<String> = out
                .findings
                .iter()
                .map(|f| format!("{} {:?} {:?} {}", f.code.id, f.resource, f.field, f.message))
                .collect();
            assert!(findings.is_empty(), "{:?}: {findings:#?}", cfg.form);
        }
    }
}

//! The whole pipeline behind `meshc compile`, `meshc diff` and the benchmarks:
//! read and validate, resolve the world, plan every selected proxy, build its
//! Envoy config. Writing is the caller's (see [`crate::emit`]).
//!
//! Two entry points: [`run`] keeps every plan and `Bootstrap` (goldens, tests,
//! `explain`); [`run_rendered`] turns each proxy into file bytes on the worker
//! that planned it and drops the plan and message at once, which is what keeps
//! a 10,000-sidecar compile's memory near the size of its output
//! (`cargo bench --bench compile`).

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
use rayon::prelude::*;

use crate::emit::{self, EmitError, ProxyId, ProxyOutput, Tree};
use crate::envoy::policies::mesh_proxy_patch::{self, PatchProblem};
use crate::findings::{Finding, Level};
use crate::plan::ProxyPlan;
use crate::rules::proxy::PolicySet;
use crate::validate::{self, Outcome};
use crate::world::{self, World};

/// Which proxies to compile.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Proxy names (`name`, `name.namespace` or `mesh/name`; zone proxies by
    /// `name` or `name.namespace`); empty = all.
    pub proxies: Vec<String>,
    /// Only proxies of these meshes; empty = all.
    pub meshes: Vec<String>,
    /// Only proxies of these zones (a Dataplane's `kuma.io/zone`, a zone proxy's
    /// zone); empty = all. Proxies without a zone are left out when set.
    pub zones: Vec<String>,
    /// `(i, n)`: only the proxies whose identity hashes to shard `i` of `n` (1-based).
    pub shard: Option<(u64, u64)>,
}

impl Selection {
    pub fn keeps(&self, id: &ProxyId) -> bool {
        let name_ok = self.proxies.is_empty()
            || self
                .proxies
                .iter()
                .any(|p| *p == id.name || *p == id.core_name() || *p == format!("{}/{}", id.mesh, id.core_name()));
        // Zone proxies serve every mesh: `--mesh` keeps them (their config holds that mesh's chains).
        let zone_proxy = id.kind != crate::emit::ProxyKind::Dataplane;
        let mesh_ok = self.meshes.is_empty() || zone_proxy || self.meshes.contains(&id.mesh);
        let zone_ok = self.zones.is_empty() || id.zone.as_ref().is_some_and(|z| self.zones.contains(z));
        let shard_ok = self.shard.is_none_or(|(i, n)| shard_of(id, n) == i);
        name_ok && mesh_ok && zone_ok && shard_ok
    }
}

/// The shard (1..=n) of a proxy: FNV-1a of its directory, so a proxy stays in its
/// shard when others come and go.
pub fn shard_of(id: &ProxyId, n: u64) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in id.dir().bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    hash % n.max(1) + 1
}

/// How far the running compile is, for a progress display that polls it from
/// another thread (the library itself never prints). One per process: a display
/// only; nothing depends on it.
#[derive(Debug, Default)]
pub struct Progress {
    /// Proxies to build in the running compile (0 until the world is built).
    pub total: std::sync::atomic::AtomicUsize,
    /// Proxies built, rendered (and written) so far.
    pub done: std::sync::atomic::AtomicUsize,
}

/// The progress of the compile running in this process.
pub static PROGRESS: Progress =
    Progress { total: std::sync::atomic::AtomicUsize::new(0), done: std::sync::atomic::AtomicUsize::new(0) };

#[derive(Debug, Clone)]
pub struct Options {
    pub validate: validate::Options,
    pub world: world::Options,
    pub plan: crate::plan::Options,
    pub selection: Selection,
}

/// Time per stage, like `cargo build --timings` (write is the caller's).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    #[serde(serialize_with = "secs")]
    pub read: Duration,
    #[serde(serialize_with = "secs")]
    pub validate: Duration,
    #[serde(serialize_with = "secs")]
    pub world: Duration,
    #[serde(serialize_with = "secs")]
    pub rules: Duration,
    #[serde(serialize_with = "secs")]
    pub plan: Duration,
    #[serde(serialize_with = "secs")]
    pub envoy: Duration,
    /// Envoy messages to file bytes ([`run_rendered`] only; for [`run`] the
    /// caller's rendering counts as `write`).
    #[serde(serialize_with = "secs")]
    pub render: Duration,
    #[serde(serialize_with = "secs")]
    pub write: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e6)
}

impl Timings {
    pub fn stages(&self) -> [(&'static str, Duration); 8] {
        [
            ("read", self.read),
            ("validate", self.validate),
            ("world", self.world),
            ("rules", self.rules),
            ("plan", self.plan),
            ("envoy", self.envoy),
            ("render", self.render),
            ("write", self.write),
        ]
    }
}

/// What a compile produced before writing.
pub struct Compiled {
    /// The validation outcome; its findings include those of later stages.
    pub outcome: Outcome,
    /// Sorted by proxy identity.
    pub proxies: Vec<(ProxyPlan, Bootstrap)>,
    pub timings: Timings,
}

impl Compiled {
    /// Validation errors stop a compile: nothing is planned or written.
    pub fn has_errors(&self) -> bool {
        self.outcome.unreadable || self.outcome.findings.iter().any(|f| f.level == Level::Error)
    }
}

pub fn run(paths: &[PathBuf], opts: &Options) -> Compiled {
    let outcome = validate::run(paths, &opts.validate);
    compile_outcome(outcome, opts)
}

/// Compile in-memory texts (tests and fuzzing).
pub fn run_texts(texts: Vec<(String, String)>, opts: &Options) -> Compiled {
    let start = Instant::now();
    let mut outcome = validate::run_texts(texts, &opts.validate);
    outcome.read_time = start.elapsed();
    compile_outcome(outcome, opts)
}

fn compile_outcome(mut outcome: Outcome, opts: &Options) -> Compiled {
    let mut timings = Timings { read: outcome.read_time, validate: outcome.check_time, ..Default::default() };
    if stops(&outcome) {
        return Compiled { outcome, proxies: Vec::new(), timings };
    }
    let mut later: Vec<Finding> = Vec::new();
    let plans = {
        let start = Instant::now();
        let world = World::build(&outcome.resources, &opts.world);
        timings.world = start.elapsed();
        later.extend(world.findings.iter().cloned());
        let start = Instant::now();
        let implicit = crate::rules::defaults::for_meshes(&outcome.resources, opts.world.default_mesh_exists);
        let policies = PolicySet::of_world(&outcome.resources, &implicit, &world);
        timings.rules = start.elapsed();
        let start = Instant::now();
        let (plans, findings) = crate::plan::plan_all(&world, &policies, &opts.plan, &|id| opts.selection.keeps(id));
        let wall = start.elapsed();
        let rules: Duration = plans.iter().map(|p| p.rules_time).sum();
        let rules = share_of(wall, rules, plans.len());
        timings.rules += rules;
        timings.plan = wall.saturating_sub(rules);
        later.extend(findings);
        plans
    };
    let start = Instant::now();
    let built: Vec<(ProxyPlan, Bootstrap, Vec<PatchProblem>)> = plans
        .into_par_iter()
        .map(|p| {
            let b = crate::envoy::bootstrap(&p);
            (p, b, mesh_proxy_patch::take_problems())
        })
        .collect();
    let mut problems = Vec::new();
    let mut proxies = Vec::with_capacity(built.len());
    for (p, b, ps) in built {
        problems.extend(ps.into_iter().map(|problem| (p.id.to_string(), problem)));
        proxies.push((p, b));
    }
    later.extend(mesh_proxy_patch::findings(problems, &outcome.resources));
    timings.envoy = start.elapsed();
    add_later_findings(&mut outcome, later, opts);
    Compiled { outcome, proxies, timings }
}

/// The part of a parallel stage's `wall` time that `busy` (summed over the
/// workers that ran `jobs` jobs) stands for.
fn share_of(wall: Duration, busy: Duration, jobs: usize) -> Duration {
    let capacity = wall.as_secs_f64() * rayon::current_num_threads().min(jobs).max(1) as f64;
    if capacity == 0.0 {
        return Duration::ZERO;
    }
    wall.mul_f64((busy.as_secs_f64() / capacity).min(1.0))
}

/// Validation errors (or unreadable input) stop a compile before the world stage.
fn stops(outcome: &Outcome) -> bool {
    outcome.unreadable || outcome.findings.iter().any(|f| f.level == Level::Error)
}

/// Findings of the world and plan stages join the validation findings, sorted.
fn add_later_findings(outcome: &mut Outcome, mut later: Vec<Finding>, opts: &Options) {
    if !later.is_empty() {
        validate::finish_findings(&mut later, &outcome.resources, &outcome.files, &opts.validate);
        outcome.findings.extend(later);
        crate::findings::sort(&mut outcome.findings, &outcome.files);
    }
}

/// What [`run_rendered`] produced: the proxies as files, not as messages.
pub struct Rendered {
    /// The validation outcome; its findings include those of later stages.
    pub outcome: Outcome,
    /// The compiled proxies, sorted.
    pub proxies: Vec<ProxyId>,
    /// Every output file plus the manifest (empty when the input has errors), or
    /// why rendering failed.
    pub tree: Result<Tree, EmitError>,
    pub timings: Timings,
}

impl Rendered {
    /// Validation errors stop a compile: nothing is planned or written.
    pub fn has_errors(&self) -> bool {
        stops(&self.outcome)
    }
}

/// [`run`] and [`emit::render`] in one pass that never holds more than one plan
/// and `Bootstrap` per worker thread: each proxy is planned, built and rendered
/// on one worker, and only its file bytes are kept. The tree is byte-identical to
/// rendering [`run`]'s output.
///
/// Plan, envoy and render overlap in time, so their timings are the stage's wall
/// time split in proportion to the time the workers spent in each.
pub fn run_rendered(paths: &[PathBuf], opts: &Options, emit_opts: &emit::Options) -> Rendered {
    let outcome = validate::run(paths, &opts.validate);
    render_outcome(outcome, opts, emit_opts)
}

fn render_outcome(outcome: Outcome, opts: &Options, emit_opts: &emit::Options) -> Rendered {
    let (outcome, proxies, result, mut timings) = stream(outcome, opts, emit_opts, None);
    if stops(&outcome) {
        return Rendered { outcome, proxies, tree: Ok(Tree::new()), timings };
    }
    let start = Instant::now();
    let tree = result.and_then(|rendered| emit::assemble(rendered, emit_opts));
    timings.render += start.elapsed();
    Rendered { outcome, proxies, tree, timings }
}

/// What [`run_written`] produced.
pub struct Written {
    /// The validation outcome; its findings include those of later stages.
    pub outcome: Outcome,
    /// The compiled proxies, sorted.
    pub proxies: Vec<ProxyId>,
    /// What was written (nothing when the input has errors), or why nothing was.
    pub written: Result<emit::WriteStats, EmitError>,
    pub timings: Timings,
}

impl Written {
    pub fn has_errors(&self) -> bool {
        stops(&self.outcome)
    }
}

/// [`run_rendered`] writing each proxy's files into `out`'s temporary directory
/// as soon as they are rendered (see [`emit::StreamingWrite`]), so memory never
/// holds the whole output; then the manifest and the atomic swap. Nothing is
/// touched when the input has errors, and a failure leaves `out` as it was.
pub fn run_written(paths: &[PathBuf], opts: &Options, emit_opts: &emit::Options, out: &std::path::Path) -> Written {
    let outcome = validate::run(paths, &opts.validate);
    if stops(&outcome) {
        let timings = Timings { read: outcome.read_time, validate: outcome.check_time, ..Default::default() };
        return Written { outcome, proxies: Vec::new(), written: Ok(Default::default()), timings };
    }
    let sink = match emit::StreamingWrite::begin(out) {
        Ok(sink) => sink,
        Err(e) => {
            let timings = Timings { read: outcome.read_time, validate: outcome.check_time, ..Default::default() };
            return Written { outcome, proxies: Vec::new(), written: Err(e), timings };
        }
    };
    let (outcome, proxies, result, mut timings) = stream(outcome, opts, emit_opts, Some(&sink));
    if stops(&outcome) {
        // An error of a later stage (no free VIP, ...): drop the temporary tree.
        return Written { outcome, proxies, written: Ok(Default::default()), timings };
    }
    let start = Instant::now();
    let written = result.and_then(|rendered| emit::finish(rendered, emit_opts, sink));
    timings.write += start.elapsed();
    Written { outcome, proxies, written, timings }
}

type Streamed = Result<Vec<emit::RenderedProxy>, EmitError>;
/// One proxy through the per-proxy stages: identity, files, and the time spent
/// building Envoy messages, rendering, writing and matching policies.
type ProxyResult =
    (ProxyId, Result<emit::RenderedProxy, EmitError>, Duration, Duration, Duration, Duration, Vec<PatchProblem>);

/// World, then per proxy on one worker: plan, Envoy messages, file bytes (and,
/// with a sink, the files written and their bytes dropped).
fn stream(
    mut outcome: Outcome,
    opts: &Options,
    emit_opts: &emit::Options,
    sink: Option<&emit::StreamingWrite>,
) -> (Outcome, Vec<ProxyId>, Streamed, Timings) {
    let mut timings = Timings { read: outcome.read_time, validate: outcome.check_time, ..Default::default() };
    if stops(&outcome) {
        return (outcome, Vec::new(), Ok(Vec::new()), timings);
    }
    let mut later: Vec<Finding> = Vec::new();
    let start = Instant::now();
    let world = World::build(&outcome.resources, &opts.world);
    timings.world = start.elapsed();
    later.extend(world.findings.iter().cloned());
    let start = Instant::now();
    let implicit = crate::rules::defaults::for_meshes(&outcome.resources, opts.world.default_mesh_exists);
    let policies = PolicySet::of_world(&outcome.resources, &implicit, &world);
    timings.rules = start.elapsed();

    // Per proxy: identity, rendered files (or the error), and the time spent
    // building Envoy messages, rendering and writing.
    let start = Instant::now();
    let keep = |id: &ProxyId| opts.selection.keeps(id);
    let total = world.dataplanes.iter().filter(|dp| !dp.spec.is_gateway() && keep(&crate::plan::proxy_id(dp.resource)));
    let zone_total = world.zone_proxies.resources().iter();
    let zone_total = zone_total.filter(|r| crate::plan::zone_proxies::proxy_id(r).is_some_and(|id| keep(&id)));
    PROGRESS.done.store(0, Relaxed);
    PROGRESS.total.store(total.count() + zone_total.count(), Relaxed);
    let (results, findings) = crate::plan::plan_each(&world, &policies, &opts.plan, &keep, &|plan| {
        let planned = Instant::now();
        let rules_time = plan.rules_time;
        let bootstrap = crate::envoy::bootstrap(&plan);
        let problems = mesh_proxy_patch::take_problems();
        let built = Instant::now();
        let id = plan.id.clone();
        drop(plan);
        let mut rendered = emit::render_one(ProxyOutput { id: id.clone(), bootstrap }, emit_opts);
        let done = Instant::now();
        if let (Some(sink), Ok(r)) = (sink, &mut rendered)
            && let Err(e) = r.spill(sink)
        {
            rendered = Err(e);
        }
        PROGRESS.done.fetch_add(1, Relaxed);
        (id, rendered, built - planned, done - built, done.elapsed(), rules_time, problems)
    });
    let wall = start.elapsed();
    drop(world);
    later.extend(findings);

    let sum = |f: fn(&ProxyResult) -> Duration| results.iter().map(f).sum::<Duration>();
    let (envoy, render, write, rules) = (sum(|r| r.2), sum(|r| r.3), sum(|r| r.4), sum(|r| r.5));
    // Stages overlap on the workers: each gets the share of the wall time the
    // workers spent in it; what is not rules, envoy, render or write was planning.
    let share = |d: Duration| share_of(wall, d, results.len());
    timings.envoy = share(envoy);
    timings.render = share(render);
    timings.write = share(write);
    timings.rules += share(rules);
    timings.plan = wall.saturating_sub(timings.envoy + timings.render + timings.write + share(rules));

    let mut proxies = Vec::with_capacity(results.len());
    let mut rendered = Vec::with_capacity(results.len());
    let mut first_error: Option<(ProxyId, EmitError)> = None;
    let mut problems = Vec::new();
    for (id, r, .., patch_problems) in results {
        problems.extend(patch_problems.into_iter().map(|p| (id.to_string(), p)));
        match r {
            Ok(r) => rendered.push(r),
            // The first failing proxy in sorted order, whatever the thread count.
            Err(e) if first_error.as_ref().is_none_or(|(first, _)| id < *first) => first_error = Some((id.clone(), e)),
            Err(_) => {}
        }
        proxies.push(id);
    }
    proxies.sort();
    later.extend(mesh_proxy_patch::findings(problems, &outcome.resources));
    add_later_findings(&mut outcome, later, opts);
    // Two proxies in one directory show up as a failed write of the second: say why.
    let result = match (emit::check_unique_dirs(proxies.iter()), first_error) {
        (Err(e), _) | (Ok(()), Some((_, e))) => Err(e),
        (Ok(()), None) => Ok(rendered),
    };
    (outcome, proxies, result, timings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{self, Form, SynthConfig};

    fn options() -> Options {
        Options {
            validate: Default::default(),
            world: Default::default(),
            plan: crate::plan::Options { secrets_dir: "secrets".into(), shadow: false, system_ca_path: None },
            selection: Default::default(),
        }
    }

    /// The streaming pipeline writes exactly what rendering `run`'s output writes.
    #[test]
    fn run_rendered_matches_run_then_render() {
        for (form, format) in [(Form::Universal, emit::Format::Bootstrap), (Form::Mixed, emit::Format::Xds)] {
            let cfg = SynthConfig { form, services: 8, zones: 2, reachable_backends: 3, ..SynthConfig::default() };
            let texts = synth::generate(&cfg);
            let emit_opts = emit::Options { format, out_dir: "out".into(), ..Default::default() };

            let compiled = run_texts(texts.clone(), &options());
            let outputs = compiled
                .proxies
                .iter()
                .map(|(plan, bootstrap)| ProxyOutput { id: plan.id.clone(), bootstrap: bootstrap.clone() })
                .collect();
            let expected = emit::render(outputs, &emit_opts).expect("render");

            let mut outcome = validate::run_texts(texts, &options().validate);
            outcome.read_time = Duration::ZERO;
            let rendered = render_outcome(outcome, &options(), &emit_opts);
            assert!(!rendered.has_errors());
            let ids: Vec<&ProxyId> = compiled.proxies.iter().map(|(p, _)| &p.id).collect();
            assert_eq!(rendered.proxies.iter().collect::<Vec<_>>(), ids);
            assert_eq!(rendered.tree.expect("tree"), expected, "{form:?} {format:?}");
            assert_eq!(
                rendered.outcome.findings.len(),
                compiled.outcome.findings.len(),
                "the same findings from later stages"
            );
        }
    }

    /// Input errors stop the streaming pipeline before anything is planned.
    #[test]
    fn run_rendered_stops_on_errors() {
        let texts = vec![("m.yaml".to_string(), "type: Mesh\nname: m\nmtls: {enabledBackend: nope}\n".to_string())];
        let outcome = validate::run_texts(texts, &options().validate);
        let rendered = render_outcome(outcome, &options(), &emit::Options::default());
        assert!(rendered.has_errors());
        assert!(rendered.proxies.is_empty() && rendered.tree.is_ok_and(|t| t.is_empty()));
    }
}

//! The whole pipeline behind `meshc compile`, `meshc diff` and the benchmarks:
//! read and validate, resolve the world, plan every selected proxy, build its
//! Envoy config. Writing is the caller's (see [`crate::emit`]).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
use rayon::prelude::*;

use crate::emit::ProxyId;
use crate::findings::{Finding, Level};
use crate::plan::ProxyPlan;
use crate::validate::{self, Outcome};
use crate::world::{self, World};

/// Which proxies to compile.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Proxy names (`name`, `name.namespace` or `mesh/name`); empty = all.
    pub proxies: Vec<String>,
    /// Only proxies of these meshes; empty = all.
    pub meshes: Vec<String>,
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
        let mesh_ok = self.meshes.is_empty() || self.meshes.contains(&id.mesh);
        let shard_ok = self.shard.is_none_or(|(i, n)| shard_of(id, n) == i);
        name_ok && mesh_ok && shard_ok
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
    #[serde(serialize_with = "secs")]
    pub write: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e6)
}

impl Timings {
    pub fn stages(&self) -> [(&'static str, Duration); 7] {
        [
            ("read", self.read),
            ("validate", self.validate),
            ("world", self.world),
            ("rules", self.rules),
            ("plan", self.plan),
            ("envoy", self.envoy),
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
    let stops = outcome.unreadable || outcome.findings.iter().any(|f| f.level == Level::Error);
    if stops {
        return Compiled { outcome, proxies: Vec::new(), timings };
    }
    let mut later: Vec<Finding> = Vec::new();
    let plans = {
        let start = Instant::now();
        let world = World::build(&outcome.resources, &opts.world);
        timings.world = start.elapsed();
        later.extend(world.findings.iter().cloned());
        let start = Instant::now();
        let (plans, findings) = crate::plan::plan_all(&world, &opts.plan, &|id| opts.selection.keeps(id));
        timings.plan = start.elapsed();
        later.extend(findings);
        plans
    };
    let start = Instant::now();
    let proxies: Vec<(ProxyPlan, Bootstrap)> = plans
        .into_par_iter()
        .map(|p| {
            let b = crate::envoy::bootstrap(&p);
            (p, b)
        })
        .collect();
    timings.envoy = start.elapsed();
    if !later.is_empty() {
        validate::finish_findings(&mut later, &outcome.resources, &outcome.files, &opts.validate);
        outcome.findings.extend(later);
        crate::findings::sort(&mut outcome.findings, &outcome.files);
    }
    Compiled { outcome, proxies, timings }
}

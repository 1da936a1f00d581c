//! `meshc-synth`: write a synthetic Kuma mesh (a GitOps-style tree of YAML files)
//! to disk, for benchmarks and experiments. See `meshc::synth`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use meshc::synth::{self, Form, SynthConfig};

#[derive(Debug, Parser)]
#[command(
    name = "meshc-synth",
    version,
    about = "Write a deterministic synthetic Kuma mesh (GitOps-style YAML tree) into a directory",
    after_help = "\
Every resource is valid Kuma 2.14, so `meshc validate DIR` should report nothing.
The same options (seed included) always write the same bytes.

Resource count (M meshes, S services, D dataplanes per service, Z zones,
P policies per kind, Q more policies, E external services, X multi-zone services):
  HG + 2*Z + M * (1 + S*(1 + D) + E + X + 16*P + Q)
  where HG = 1 + (E > 0) + (X > 0) HostnameGenerators.

Examples:
  meshc-synth --services 50 --dataplanes-per-service 4 --zones 3 --out /tmp/mesh
  meshc-synth --target 100000 --seed 7 --out /tmp/mesh-100k
  meshc-synth --services 2000 --dataplanes-per-service 5 --reachable-backends 20 --out /tmp/mesh-10k-sidecars
  meshc-synth --services 200 --policies 1000 --out /tmp/mesh-1k-policies
  meshc-synth --services 500 --dataplanes-per-service 5 --callers-percent 1 --out /tmp/mesh-mtp
  meshc validate --quiet /tmp/mesh"
)]
struct Args {
    /// Directory to write into; it must be empty or not exist.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// Services per mesh (one MeshService each).
    #[arg(long, default_value_t = 10)]
    services: usize,

    /// Dataplanes per service, spread over the zones.
    #[arg(long, default_value_t = 3)]
    dataplanes_per_service: usize,

    /// Zones (one ZoneIngress and one ZoneEgress each).
    #[arg(long, default_value_t = 2)]
    zones: usize,

    /// Meshes.
    #[arg(long, default_value_t = 1)]
    meshes: usize,

    /// Policies of each of the 16 policy kinds, per mesh [default: services / 5, at least 1].
    #[arg(long)]
    policies_per_kind: Option<usize>,

    /// More policies per mesh, a weighted mix of kinds (mostly permissions, timeouts,
    /// retries, routes, circuit breakers, health checks) and targetRef shapes.
    #[arg(long, default_value_t = 0, value_name = "N")]
    policies: usize,

    /// MeshExternalServices per mesh [default: services / 10, at least 1].
    #[arg(long)]
    external_services: Option<usize>,

    /// MeshMultiZoneServices per mesh [default: services / 25, at least 1].
    #[arg(long)]
    multizone_services: Option<usize>,

    /// MeshServices each Dataplane may reach (`transparentProxying.reachableBackends`);
    /// 0 = every service of the mesh (no `reachableBackends`).
    #[arg(long, default_value_t = 0, value_name = "N")]
    reachable_backends: usize,

    /// Each service accepts calls from this percent of the other services (at least
    /// one; a MeshTrafficPermission per service, the mesh-wide one then denies), so
    /// each may call the same share: the mesh `meshc compile --auto-reachable-services`
    /// prunes. 0 = the mesh-wide allow-all only.
    #[arg(long, default_value_t = 0, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    callers_percent: u8,

    /// Seed of the pseudo-random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// YAML form of the resources.
    #[arg(long, value_enum, default_value_t = FormArg::Universal)]
    form: FormArg,

    /// Pick the sizes for about this many resources instead (overrides the size options).
    #[arg(long, value_name = "N")]
    target: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormArg {
    Kubernetes,
    Universal,
    Mixed,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let form = match args.form {
        FormArg::Kubernetes => Form::Kubernetes,
        FormArg::Universal => Form::Universal,
        FormArg::Mixed => Form::Mixed,
    };
    let cfg = match args.target {
        Some(n) => {
            let base = SynthConfig::for_target(n, args.seed);
            SynthConfig {
                form,
                reachable_backends: args.reachable_backends,
                policies: args.policies,
                callers_percent: args.callers_percent.into(),
                ..base
            }
        }
        None => SynthConfig {
            meshes: args.meshes,
            services: args.services,
            dataplanes_per_service: args.dataplanes_per_service,
            zones: args.zones,
            policies_per_kind: args.policies_per_kind.unwrap_or((args.services / 5).max(1)),
            policies: args.policies,
            external_services: args.external_services.unwrap_or((args.services / 10).max(1)),
            multizone_services: args.multizone_services.unwrap_or((args.services / 25).max(1)),
            seed: args.seed,
            form,
            reachable_backends: args.reachable_backends,
            callers_percent: args.callers_percent.into(),
        },
    };
    match write(&cfg, &args.out) {
        Ok(files) => {
            println!(
                "{} resources in {files} files written to {} ({} meshes, {} services, {} dataplanes per service, {} zones, {} policies per kind, {} policies in all)",
                cfg.expected_resources(),
                args.out.display(),
                cfg.meshes.max(1),
                cfg.services.max(1),
                cfg.dataplanes_per_service,
                cfg.zones.max(1),
                cfg.policies_per_kind,
                cfg.policy_count(),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("meshc-synth: {e}");
            ExitCode::from(2)
        }
    }
}

/// Generate into a sibling temporary directory, then rename it to `out`, so `out`
/// never holds a partial mesh.
fn write(cfg: &SynthConfig, out: &Path) -> Result<usize, String> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(format!("{} is not empty", out.display()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", out.display())),
    }
    let name = out.file_name().ok_or_else(|| format!("{}: not a directory name", out.display()))?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let tmp = parent.join(format!(".{}.meshc-synth-{}", name.to_string_lossy(), std::process::id()));
    let files = synth::generate(cfg);
    let result = synth::write_files(&tmp, &files)
        .map_err(|e| format!("{}: {e}", tmp.display()))
        // rename(2) replaces an empty directory.
        .and_then(|()| std::fs::rename(&tmp, out).map_err(|e| format!("{}: {e}", out.display())));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.map(|()| files.len())
}

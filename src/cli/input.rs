//! The input flags every command that reads resources shares, and the one way
//! to turn them into validation options.

use std::path::PathBuf;

use clap::ValueEnum;

use crate::findings::suppress::Suppression;
use crate::source::Limits;
use crate::validate::Options;

#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Files or directories to read (`-` for stdin). Directories are walked for
    /// *.yaml, *.yml and *.json, skipping hidden, .gitignore'd and .meshcignore'd paths.
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Skip documents that are not kuma.io resources instead of reporting MESH1001.
    #[arg(long)]
    pub ignore_unknown: bool,

    /// Silence findings: `CODE` everywhere, or `CODE=KIND/NAME` for some resources.
    /// Globs are allowed (`MESH4*=MeshTimeout/team-*`). Repeatable.
    #[arg(long, value_name = "CODE[=KIND/NAME]")]
    pub suppress: Vec<Suppression>,

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

    /// Most YAML documents in one file, empty ones included.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_documents)]
    pub max_documents: usize,

    /// Largest input in total, in bytes (files in path order, then stdin).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_total_size)]
    pub max_total_size: u64,

    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
}

impl InputArgs {
    pub fn options(&self) -> Options {
        Options {
            limits: Limits {
                max_file_size: self.max_file_size,
                max_depth: self.max_depth,
                max_nodes: self.max_nodes,
                max_documents: self.max_documents,
                max_total_size: self.max_total_size,
            },
            ignore_unknown: self.ignore_unknown,
            system_namespace: self.system_namespace.clone(),
            default_mesh_exists: !self.no_default_mesh,
            suppressions: self.suppress.clone(),
        }
    }

    /// Size the worker pool (`-j`). Later calls keep the first pool (tests run
    /// several commands in one process).
    pub fn apply_jobs(&self) {
        if let Some(n) = self.jobs {
            let _ = rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global();
        }
    }
}

/// The level at which findings fail a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailLevel {
    Error,
    Warning,
}

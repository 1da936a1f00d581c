//! Everything that can stop the emit stage, each with the file or proxy it is
//! about and what the user can do.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::ProxyId;

#[derive(Debug)]
pub enum EmitError {
    /// An Envoy message could not be turned into proto3 JSON (a meshc bug: the
    /// envoy stage built something the descriptor set does not describe).
    Serialize { proxy: String, message: String },
    /// Two proxies would share one output directory.
    DuplicateDir { dir: String, first: Box<ProxyId>, second: Box<ProxyId> },
    /// A path in the output tree is not a safe relative path meshc owns.
    BadPath { path: String, reason: &'static str },
    /// The output directory exists, is not empty and was not written by meshc.
    NotMeshcOutput { dir: PathBuf },
    /// The output path exists but is not a directory.
    NotADirectory { dir: PathBuf },
    /// The output path cannot be used as a directory to replace (`/`, `..`, ...).
    UnusableDir { dir: PathBuf, reason: &'static str },
    /// A file system operation failed.
    Io { path: PathBuf, action: &'static str, source: io::Error },
    /// A write was stopped on purpose by a test hook.
    Injected { point: String },
    /// Another meshc run kept the output directory locked.
    Busy { dir: PathBuf },
    /// The journal of an interrupted update cannot be read as one.
    BadJournal { path: PathBuf, reason: String },
}

impl EmitError {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        EmitError::Io { path: path.into(), action, source }
    }
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::Serialize { proxy, message } => write!(
                f,
                "cannot serialize the Envoy configuration of {proxy}: {message} (this is a meshc bug; please report it)"
            ),
            EmitError::DuplicateDir { dir, first, second } => {
                write!(f, "proxies {first} and {second} would both be written to proxies/{dir}; rename one of them")
            }
            EmitError::BadPath { path, reason } => {
                write!(f, "refusing to write output file {path:?}: {reason} (this is a meshc bug)")
            }
            EmitError::NotMeshcOutput { dir } => write!(
                f,
                "refusing to replace {}: it is not empty and has no meshc manifest.json; \
                 choose an empty or new directory for --out",
                dir.display()
            ),
            EmitError::NotADirectory { dir } => {
                write!(f, "{} exists and is not a directory; choose another --out", dir.display())
            }
            EmitError::UnusableDir { dir, reason } => {
                write!(f, "cannot use {} as the output directory: {reason}", dir.display())
            }
            EmitError::Io { path, action, source } => write!(f, "cannot {action} {}: {source}", path.display()),
            EmitError::Injected { point } => write!(f, "write stopped by a test hook ({point})"),
            EmitError::Busy { dir } => write!(
                f,
                "another meshc run is writing {} (it stayed locked for 10 s); wait for it to finish or stop it",
                dir.display()
            ),
            EmitError::BadJournal { path, reason } => write!(
                f,
                "{} is not a journal meshc can finish ({reason}); if no meshc run is writing this directory, \
                 delete it and the .meshc-staging-* directories beside it, then compile again",
                path.display()
            ),
        }
    }
}

impl std::error::Error for EmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EmitError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

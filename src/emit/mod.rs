//! The last stage: Envoy messages to bytes on disk. Canonical proto3 JSON/YAML
//! (through prost-reflect and a vendored descriptor set), the output layout with
//! its manifest, atomic replacement of the output directory, and the comparison
//! of what would be written against what is there (`--check`, `meshc diff`).
//!
//! [`render`] turns every proxy's `Bootstrap` into a [`Tree`] (all files, in
//! memory, byte-identical whatever the input order or thread count);
//! [`write_atomic`] puts a tree on disk (a new directory atomically, an existing
//! one by replacing only the files that changed, with a journal: see [`mod@write`]); [`compare()`] diffs it against a directory.

pub mod compare;
pub mod descriptor;
mod error;
mod journal;
pub mod layout;
pub mod manifest;
#[doc(hidden)]
pub mod sample;
pub mod serialize;
pub mod tree;
pub mod write;
pub mod xds;

use std::collections::HashMap;

use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
use rayon::prelude::*;

pub use compare::{Comparison, FileComparison, Status, compare};
pub use error::EmitError;
pub use layout::{ProxyId, ProxyKind};
pub use tree::{MANIFEST, Tree};
pub use write::{StreamingWrite, WriteStats, write_atomic};

/// One proxy's complete configuration, as the envoy stage built it.
#[derive(Debug, Clone)]
pub struct ProxyOutput {
    pub id: ProxyId,
    pub bootstrap: Bootstrap,
}

/// What each proxy's directory holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One self-contained bootstrap per proxy.
    #[default]
    Bootstrap,
    /// A bootstrap plus `lds` and `cds` files for Envoy's file-based xDS.
    Xds,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Bootstrap => "bootstrap",
            Format::Xds => "xds",
        }
    }
}

/// The file encoding; it also gives the file extension.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    #[default]
    Yaml,
    Json,
}

impl Encoding {
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Yaml => "yaml",
            Encoding::Json => "json",
        }
    }
}

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub format: Format,
    pub encoding: Encoding,
    /// Recorded in the manifest (the SDS paths inside the configs already use it).
    pub secrets_dir: String,
    /// The directory the xDS paths in each bootstrap start with, as Envoy will
    /// see it (relative = relative to Envoy's working directory). `None`: `out_dir`.
    pub xds_root: Option<String>,
    /// The output directory as the user gave it (`--out`); only used for the
    /// xDS paths when `xds_root` is `None`.
    pub out_dir: String,
}

impl Options {
    fn xds_root(&self) -> &str {
        let root = self.xds_root.as_deref().unwrap_or(&self.out_dir);
        match root.trim_end_matches('/') {
            "" if root.starts_with('/') => "/",
            "" => ".",
            trimmed => trimmed,
        }
    }
}

/// Every file for `outputs`, plus the manifest. Proxies render in parallel; the
/// result does not depend on their order or the thread count.
pub fn render(mut outputs: Vec<ProxyOutput>, opts: &Options) -> Result<Tree, EmitError> {
    outputs.sort_by(|a, b| a.id.cmp(&b.id));
    check_unique_dirs(outputs.iter().map(|o| &o.id))?;
    let rendered: Vec<Result<RenderedProxy, EmitError>> =
        outputs.into_par_iter().map(|o| render_one(o, opts)).collect();
    let rendered = rendered.into_iter().collect::<Result<Vec<_>, _>>()?;
    assemble(rendered, opts)
}

/// The tree of proxies rendered one by one with [`render_one`], plus the manifest:
/// the same bytes [`render`] makes from their `ProxyOutput`s, whatever the order of
/// `rendered`. This is how `compile` keeps memory flat: each `Bootstrap` is turned
/// into bytes and dropped right after the envoy stage built it (a 10,000-sidecar
/// mesh holds about 2 GiB of `Bootstrap` messages but under 1 GiB of YAML).
pub fn assemble(mut rendered: Vec<RenderedProxy>, opts: &Options) -> Result<Tree, EmitError> {
    rendered.sort_by(|a, b| a.id.cmp(&b.id));
    check_unique_dirs(rendered.iter().map(|r| &r.id))?;
    let mut tree = Tree::new();
    let mut entries = Vec::with_capacity(rendered.len());
    for proxy in rendered {
        for (path, bytes) in proxy.files {
            tree.insert(path, bytes);
        }
        entries.push(proxy.entry);
    }
    let manifest = manifest::render(opts.format, &opts.secrets_dir, &entries)
        .map_err(|message| EmitError::Serialize { proxy: "the manifest".into(), message })?;
    tree.insert(tree::MANIFEST, manifest);
    Ok(tree)
}

impl RenderedProxy {
    /// Writes this proxy's files into `sink` and lets go of their bytes; the
    /// manifest entry stays for [`finish`].
    pub fn spill(&mut self, sink: &StreamingWrite) -> Result<(), EmitError> {
        for (path, bytes) in std::mem::take(&mut self.files) {
            sink.put(&path, &bytes)?;
        }
        Ok(())
    }
}

/// Completes a [`StreamingWrite`] whose proxies were [`RenderedProxy::spill`]ed:
/// the manifest, then the swap.
pub fn finish(mut rendered: Vec<RenderedProxy>, opts: &Options, sink: StreamingWrite) -> Result<WriteStats, EmitError> {
    rendered.sort_by(|a, b| a.id.cmp(&b.id));
    check_unique_dirs(rendered.iter().map(|r| &r.id))?;
    let entries: Vec<manifest::Entry> = rendered.into_iter().map(|r| r.entry).collect();
    let manifest = manifest::render(opts.format, &opts.secrets_dir, &entries)
        .map_err(|message| EmitError::Serialize { proxy: "the manifest".into(), message })?;
    sink.commit(&[(tree::MANIFEST, &manifest)])
}

/// Two proxies in one directory would overwrite each other: refuse. `ids` are sorted.
pub fn check_unique_dirs<'a>(ids: impl Iterator<Item = &'a ProxyId>) -> Result<(), EmitError> {
    let mut seen: HashMap<String, &ProxyId> = HashMap::new();
    for id in ids {
        let dir = id.dir();
        if let Some(first) = seen.get(&dir) {
            return Err(EmitError::DuplicateDir {
                dir,
                first: Box::new((*first).clone()),
                second: Box::new(id.clone()),
            });
        }
        seen.insert(dir, id);
    }
    Ok(())
}

/// One proxy's files (sorted by path) and manifest entry, ready for [`assemble`].
pub struct RenderedProxy {
    pub id: ProxyId,
    files: Vec<(String, Vec<u8>)>,
    entry: manifest::Entry,
}

/// One proxy's files and manifest entry; the `Bootstrap` is consumed.
pub fn render_one(output: ProxyOutput, opts: &Options) -> Result<RenderedProxy, EmitError> {
    let ProxyOutput { id, bootstrap } = output;
    let fail = |message: String| EmitError::Serialize { proxy: id.to_string(), message };
    let dir = format!("{}/{}", tree::PROXIES, id.dir());
    let bootstrap_path = format!("{dir}/bootstrap.{}", opts.encoding.extension());
    let mut files = match opts.format {
        Format::Bootstrap => {
            let value = serialize::to_value(&bootstrap).map_err(fail)?;
            vec![(bootstrap_path.clone(), serialize::to_bytes(&value, opts.encoding).map_err(fail)?)]
        }
        Format::Xds => xds_files(bootstrap, &dir, opts).map_err(fail)?,
    };
    files.sort_by(|a, b| a.0.cmp(&b.0));
    // The text grew by doubling: up to half of each buffer is spare capacity, and
    // the tree keeps every file until it is written (about 1 GiB for 10,000 sidecars).
    for (_, bytes) in &mut files {
        bytes.shrink_to_fit();
    }
    let entry = manifest::Entry::new(&id, bootstrap_path, &files);
    Ok(RenderedProxy { id, files, entry })
}

/// `bootstrap`, `lds` and `cds` files for one proxy directory `dir` (relative).
fn xds_files(bootstrap: Bootstrap, dir: &str, opts: &Options) -> Result<Vec<(String, Vec<u8>)>, String> {
    let ext = opts.encoding.extension();
    let root = opts.xds_root();
    let source = |kind: &str| format!("{root}/{dir}/{kind}.{ext}");
    let split = xds::split(bootstrap, source("lds"), source("cds"));
    let bootstrap = serialize::to_value(&split.bootstrap)?;
    Ok(vec![
        (format!("{dir}/bootstrap.{ext}"), serialize::to_bytes(&bootstrap, opts.encoding)?),
        (format!("{dir}/lds.{ext}"), serialize::to_bytes(&xds::versioned(&split.lds)?, opts.encoding)?),
        (format!("{dir}/cds.{ext}"), serialize::to_bytes(&xds::versioned(&split.cds)?, opts.encoding)?),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(name: &str) -> ProxyOutput {
        ProxyOutput {
            id: ProxyId {
                mesh: "default".into(),
                zone: None,
                namespace: None,
                name: name.into(),
                kind: ProxyKind::Dataplane,
            },
            bootstrap: sample::http_bootstrap(name),
        }
    }

    #[test]
    fn xds_root_trims_trailing_slashes() {
        let at = |root: &str| Options { out_dir: root.into(), ..Default::default() }.xds_root().to_string();
        assert_eq!(at("out/"), "out");
        assert_eq!(at("/"), "/");
        assert_eq!(at(""), ".");
        assert_eq!(Options { xds_root: Some("/srv/x//".into()), ..Default::default() }.xds_root(), "/srv/x");
    }

    #[test]
    fn duplicate_directories_are_refused() {
        let err = render(vec![output("web"), output("web")], &Options::default()).unwrap_err();
        assert!(matches!(err, EmitError::DuplicateDir { .. }), "{err}");
    }

    #[test]
    fn layout_and_manifest() {
        let opts = Options { format: Format::Xds, out_dir: "out".into(), ..Default::default() };
        let tree = render(vec![output("b"), output("a")], &opts).unwrap();
        let paths: Vec<_> = tree.files().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "manifest.json",
                "proxies/default/a/bootstrap.yaml",
                "proxies/default/a/cds.yaml",
                "proxies/default/a/lds.yaml",
                "proxies/default/b/bootstrap.yaml",
                "proxies/default/b/cds.yaml",
                "proxies/default/b/lds.yaml",
            ]
        );
        let boot = String::from_utf8(tree.get("proxies/default/a/bootstrap.yaml").unwrap().to_vec()).unwrap();
        assert!(boot.contains("path: out/proxies/default/a/lds.yaml"), "{boot}");
        tree.check_paths().unwrap();
    }
}

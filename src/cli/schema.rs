//! `meshc schema --out DIR`: one JSON Schema per kind, and `all.json` for any kind.

use std::path::PathBuf;

use super::exit;
use crate::validate::combined_schema::published;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each <kind>.json describes a whole document of one kind, in Kubernetes or Universal
form; all.json describes a document of any kind (it dispatches on `kind` / `type`),
for a directory of mixed kinds. For yaml-language-server (VS Code YAML, Neovim,
Helix...), start a file with:
  # yaml-language-server: $schema=./schemas/meshtimeout.json
or map a glob to all.json in the editor's `yaml.schemas` setting.")]
pub struct Args {
    /// Directory to write `<kind>.json` files and `all.json` into (created if missing).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Write nothing; exit 1 if any file in DIR differs from what would be written.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args) -> i32 {
    let mut stale = Vec::new();
    if !args.check
        && let Err(e) = std::fs::create_dir_all(&args.out)
    {
        eprintln!("error: cannot create {}: {e}", args.out.display());
        return exit::UNREADABLE;
    }
    let files = published();
    for (name, want) in &files {
        let path = args.out.join(name);
        if args.check {
            if std::fs::read_to_string(&path).ok().as_ref() != Some(want) {
                stale.push(path);
            }
            continue;
        }
        // Write through a temporary file so a reader never sees half a schema.
        let tmp = path.with_extension("json.tmp");
        if let Err(e) = std::fs::write(&tmp, want).and_then(|_| std::fs::rename(&tmp, &path)) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return exit::UNREADABLE;
        }
    }
    if args.check && !stale.is_empty() {
        for p in &stale {
            eprintln!("stale: {}", p.display());
        }
        return exit::FINDINGS;
    }
    if !args.check {
        eprintln!("wrote {} schemas to {}", files.len(), args.out.display());
    }
    exit::CLEAN
}

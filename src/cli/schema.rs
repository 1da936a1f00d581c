//! `meshc schema --out DIR`: one JSON Schema per kind.

use std::path::PathBuf;

use super::exit;
use crate::model::Kind;
use crate::validate::schema::{document_schema, file_name, render};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each file describes a whole document of one kind, in Kubernetes or Universal form.
For yaml-language-server (VS Code YAML, Neovim, Helix...), start a file with:
  # yaml-language-server: $schema=./schemas/meshtimeout.json")]
pub struct Args {
    /// Directory to write `<kind>.json` files into (created if missing).
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
    for kind in Kind::ALL {
        let path = args.out.join(file_name(*kind));
        let want = render(&document_schema(*kind));
        if args.check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
                stale.push(path);
            }
            continue;
        }
        // Write through a temporary file so a reader never sees half a schema.
        let tmp = path.with_extension("json.tmp");
        if let Err(e) = std::fs::write(&tmp, &want).and_then(|_| std::fs::rename(&tmp, &path)) {
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
        eprintln!("wrote {} schemas to {}", Kind::ALL.len(), args.out.display());
    }
    exit::CLEAN
}

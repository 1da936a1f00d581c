//! `meshc man [--out DIR]`: roff man pages generated from the command line's own
//! definition (clap_mangen), so they never drift from `--help`.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::{Cli, exit};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  meshc man | man -l -                          # read the page now
  meshc man --out /usr/local/share/man/man1     # meshc.1 and meshc-<command>.1
  man meshc-compile")]
pub struct Args {
    /// Write meshc.1 and one meshc-<command>.1 per subcommand into DIR (created
    /// if missing) instead of printing meshc.1 to stdout.
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> i32 {
    let pages = match pages() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot render the man pages: {e}");
            return exit::UNREADABLE;
        }
    };
    let Some(dir) = args.out else {
        use std::io::Write;
        let main = pages.first().map(|(_, page)| page.as_slice()).unwrap_or_default();
        return match std::io::stdout().lock().write_all(main) {
            Ok(()) => exit::CLEAN,
            Err(_) => exit::UNREADABLE,
        };
    };
    match write_all(&dir, &pages) {
        Ok(()) => {
            eprintln!("wrote {} man pages to {}", pages.len(), dir.display());
            exit::CLEAN
        }
        Err(e) => {
            eprintln!("error: cannot write man pages to {}: {e} (is the directory writable?)", dir.display());
            exit::UNREADABLE
        }
    }
}

/// `meshc.1` first, then `meshc-<command>.1` for every subcommand, as (file name, roff).
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut pages = vec![("meshc.1".to_string(), render(cmd.clone())?)];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help" && !s.is_hide_set()) {
        let name = format!("meshc-{}", sub.get_name());
        // The page's NAME and SYNOPSIS read `meshc-compile`, as git's pages do.
        let page = sub.clone().display_name(name.clone()).bin_name(name.clone());
        pages.push((format!("{name}.1"), render(page)?));
    }
    Ok(pages)
}

fn render(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut buf)?;
    Ok(buf)
}

fn write_all(dir: &Path, pages: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, page) in pages {
        std::fs::write(dir.join(name), page)?;
    }
    Ok(())
}

//! `meshc rule [CODE]`: a finding code's documentation, with an example and the fix.

use super::exit;
use crate::findings::{codes, pages};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  meshc rule MESH3005     what MESH3005 means, an input that triggers it, and the fix
  meshc rule              every code with its level and title (as validate --list-codes)
The same pages are in docs/findings/ (Markdown).")]
pub struct Args {
    /// The finding code (`MESH3005`; `mesh3005` and `3005` work too). Without it,
    /// every code is listed.
    pub code: Option<String>,
}

pub fn run(args: Args) -> i32 {
    let Some(asked) = args.code else {
        print!("{}", codes::markdown_table());
        return exit::CLEAN;
    };
    let id = normalize(&asked);
    match pages::page(&id) {
        Some(page) => {
            print!("{page}");
            exit::CLEAN
        }
        None => {
            let known: Vec<String> = codes::ALL.iter().map(|c| c.id.to_string()).collect();
            let hint = crate::validate::schema::suggest(&id, &known)
                .map(|s| format!(", did you mean `{s}`?"))
                .unwrap_or_else(|| "; `meshc rule` lists every code".to_string());
            eprintln!("error: {} is not a meshc finding code{hint}", crate::findings::excerpt(&asked));
            exit::USAGE
        }
    }
}

/// `mesh3005` and `3005` mean `MESH3005`.
fn normalize(code: &str) -> String {
    let upper = code.trim().to_ascii_uppercase();
    if upper.len() == 4 && upper.bytes().all(|b| b.is_ascii_digit()) { format!("MESH{upper}") } else { upper }
}

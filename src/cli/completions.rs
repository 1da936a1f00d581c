//! `meshc completions SHELL`.

use clap::CommandFactory;

use super::{Cli, exit};

#[derive(Debug, clap::Args)]
#[command(after_help = "Example: meshc completions bash > /etc/bash_completion.d/meshc")]
pub struct Args {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: Args) -> i32 {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "meshc", &mut std::io::stdout());
    exit::CLEAN
}

//! One module per command. Each offers the operation as a library
//! function returning its own result value, and a `run` for the CLI that
//! returns an `Outcome` for `app` to render.

pub mod backup;
pub mod compare;
pub mod fetch;
pub mod list;
pub mod prune;
pub mod report;
pub mod restore;
pub mod schedule;
pub mod verify;

use crate::app::outcome::{Ending, Outcome};
use crate::cli::Command;
use crate::config::{Config, Draft};
use crate::progress::Reporter;
use anyhow::Result;
use std::io::IsTerminal;
use std::path::PathBuf;

/// What a command runs with.
pub struct Context<'a> {
    pub config: &'a Config,
    pub reporter: &'a Reporter,
    /// Hears the ending of each run a long-lived command makes (each
    /// backup of `schedule`), as it happens.
    pub ended: &'a dyn Fn(&Ending),
}

/// One subcommand: its flags on top of the file's settings, then its run.
pub trait Cmd {
    /// Puts the command's flags on top of lifeboat.toml's settings, and
    /// names the shared flag groups it takes.
    fn configure<'a>(&'a self, _draft: &mut Draft<'a>) -> Result<()> {
        Ok(())
    }
    /// The directory of sets it reads or writes, where what a killed run
    /// left is swept away first.
    fn sets_dir(&self, _config: &Config) -> Option<PathBuf> {
        None
    }
    /// A database URL given besides the configured ones (restore's --to),
    /// whose password is masked like theirs.
    fn target_url(&self) -> Option<&str> {
        None
    }
    fn run(&self, cx: &Context) -> Result<Outcome>;
}

/// The command a command line names.
pub fn of(command: &Command) -> &dyn Cmd {
    match command {
        Command::Backup(a) => a,
        Command::Restore(a) => a,
        Command::Verify(a) => a,
        Command::List(a) => a,
        Command::Info(a) => a,
        Command::Size(a) => a,
        Command::Compare(a) => a,
        Command::Prune(a) => a,
        Command::Fetch(a) => a,
        Command::Report(a) => a,
        Command::Schedule(a) => a,
    }
}

/// The directory a command that names one set, or `--latest` in a
/// directory, works in.
pub fn dir_of(set: &Option<PathBuf>, latest: bool, config: &Config) -> Option<PathBuf> {
    match (set, latest) {
        (Some(dir), true) => Some(dir.clone()),
        (None, true) => Some(config.out_dir.clone()),
        (Some(set), false) => set.parent().map(|p| p.to_path_buf()),
        (None, false) => None,
    }
}

/// Asks a yes/no question on the terminal; `false` when there is none.
pub fn confirm(question: &str) -> bool {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Whether a person could answer a question right now.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

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

use std::io::IsTerminal;

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

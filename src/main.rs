//! The `lifeboat` binary: parse, run, map the outcome to an exit code.

use clap::Parser;
use lifeboat::{ExitCode, cli::Cli};

fn main() -> std::process::ExitCode {
    // An action input left empty arrives as an empty variable: it means
    // "not set", not "set to nothing".
    for (key, value) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LIFEBOAT_") && value.is_empty() {
            // SAFETY: nothing else runs yet; no thread reads the environment.
            unsafe { std::env::remove_var(key) };
        }
    }
    let cli = Cli::parse();
    match lifeboat::run(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            // Errors quote names from sets and databases: neutralised, so
            // they cannot print workflow commands or terminal escapes.
            eprintln!(
                "error: {}",
                lifeboat::github::workflow::neutralize_lines(&format!("{err:#}"))
            );
            if lifeboat::fsutil::is_disk_full(&err) {
                eprintln!(
                    "hint: the disk is full: free space or write somewhere else (--out, --to), then run again; existing sets and databases were left as they were."
                );
            }
            ExitCode::for_error(&err).into()
        }
    }
}

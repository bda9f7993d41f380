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
    lifeboat::cancel::install();
    install_panic_hook();
    let cli = Cli::parse();
    // A panic that escapes lib::run (say, while reading the configuration)
    // still ends as a failure with a message, never as exit 101.
    let result = std::panic::catch_unwind(|| lifeboat::run(cli))
        .unwrap_or_else(|payload| Err(lifeboat::panic_error(payload.as_ref())));
    match result {
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

/// Panics become errors (lib::run and main catch them and report them as
/// failures), so the hook prints nothing of its own, except a backtrace
/// when RUST_BACKTRACE asks for one. Printing into a closed pipe
/// (`lifeboat list | head -1`) is not a failure: the reader has what it
/// wanted, so the run ends quietly with 0, as ripgrep does.
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = lifeboat::panic_message(info.payload());
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        lifeboat::remember_panic_location(info.location().map(|l| l.to_string()));
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            default(info);
        }
    }));
}

//! lifeboat: database backups for CI that have been restored before anyone
//! needs them.
//!
//! The library offers the same operations as the command line, for
//! programs that embed lifeboat (say, a backup before a migration):
//!
//! ```no_run
//! use lifeboat::{Config, Reporter, engine::DatabaseSpec};
//! let config = Config {
//!     databases: vec![DatabaseSpec::parse("sqlite:app.db")],
//!     kind: Some("pre-migration".into()),
//!     ..Config::default()
//! };
//! let set = lifeboat::backup(&config, &Reporter::silent())?;
//! println!("{}", set.path.display());
//! # anyhow::Ok(())
//! ```

pub mod alert;
pub mod app;
pub mod archive;
pub mod cancel;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod digest;
pub mod engine;
pub mod error;
pub mod exit_codes;
pub mod fsutil;
pub mod github;
pub mod http;
pub mod lock;
pub mod progress;
pub mod retention;
pub mod secrets;
pub mod store;
pub mod verify;

pub use commands::backup::{BackupOutcome, backup};
pub use commands::compare::compare;
pub use commands::list::{info, info_at, list, size};
pub use commands::prune::prune;
pub use commands::restore::{RestoreRequest, restore};
pub use commands::verify::{VerifyRequest, verify};
pub use config::Config;
pub use exit_codes::ExitCode;
pub use progress::Reporter;

pub use app::run;

static PANIC_LOCATION: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Keeps where the last panic happened, for the error it becomes; the
/// binary's panic hook calls this.
pub fn remember_panic_location(location: Option<String>) {
    if let Ok(mut slot) = PANIC_LOCATION.lock() {
        *slot = location;
    }
}

/// The text a panic carried.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// A caught panic as an error: a bug in lifeboat, reported like any
/// failure (message, job summary, failure issue, exit 1).
pub fn panic_error(payload: &(dyn std::any::Any + Send)) -> anyhow::Error {
    let location = PANIC_LOCATION
        .lock()
        .ok()
        .and_then(|l| l.clone())
        .map(|l| format!(" at {l}"))
        .unwrap_or_default();
    anyhow::anyhow!(
        "lifeboat stopped on an internal error (a bug): {}{location}. What it had started was cleaned up as on any \
         failure; please report it with the command you ran",
        panic_message(payload)
    )
}

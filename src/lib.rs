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

pub mod archive;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod digest;
pub mod engine;
pub mod error;
pub mod exit_codes;
pub mod fsutil;
pub mod progress;
pub mod retention;
pub mod store;
pub mod verify;

pub use commands::backup::{BackupOutcome, backup};
pub use commands::compare::compare;
pub use commands::list::{info, list, size};
pub use commands::prune::prune;
pub use commands::restore::{RestoreRequest, restore};
pub use commands::verify::{VerifyRequest, verify};
pub use config::Config;
pub use exit_codes::ExitCode;
pub use progress::Reporter;

use cli::{Cli, Command};

/// Runs one command line to its end and says how the process should exit.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = config::resolve(&cli)?;
    let reporter = Reporter::new(config.quiet, config.log_file.clone())?;
    match &cli.command {
        Command::Backup(args) => {
            let mut outcome =
                backup(&config, &reporter).inspect_err(|e| reporter.log(&format!("backup failed: {e:#}")))?;
            let report = match config.verify.level {
                Some(_) => Some(commands::verify::verify_set(
                    &outcome.path,
                    &config.verify,
                    None,
                    &reporter,
                )?),
                None => None,
            };
            if let Some(r) = &report {
                outcome.verified = Some(r.passed);
                outcome.report_path = Some(store::local::verified_path(&outcome.path));
                if !config.quiet || !r.passed {
                    eprint!("{}", r.to_markdown());
                }
            }
            outcome.print(args.json)?;
            if report.is_some_and(|r| !r.passed) {
                return Ok(ExitCode::VerificationFailed);
            }
        }
        Command::Restore(args) => {
            let request = RestoreRequest {
                set: args.set.clone(),
                latest: args.latest,
                to: args.to.clone(),
                database: args.database.clone(),
                force: args.force,
                no_safety_backup: args.no_safety_backup,
            };
            let outcome = restore(&config, &request, &reporter)
                .inspect_err(|e| reporter.log(&format!("restore failed: {e:#}")))?;
            outcome.print(args.json)?;
        }
        Command::Verify(args) => {
            let request = VerifyRequest {
                set: args.set.clone(),
                latest: args.latest,
                report: args.report.clone(),
            };
            let report = verify(&config, &request, &reporter)?;
            commands::verify::print(&report, args.json)?;
            if !report.passed {
                return Ok(ExitCode::VerificationFailed);
            }
        }
        Command::List(args) => commands::list::print_list(&config.out_dir, &list(&config)?, args.json)?,
        Command::Size(args) => size(&config)?.print(args.json)?,
        Command::Info(args) => commands::list::print_info(&args.set, &info(&args.set)?, args.json)?,
        Command::Compare(args) => {
            let comparison = compare(&args.set, &args.database, args.database_name.as_deref())?;
            comparison.print(args.json)?;
            if !comparison.differences.is_empty() {
                return Ok(ExitCode::VerificationFailed);
            }
        }
        Command::Prune(args) => prune(&config, args.dry_run, &reporter)?.print(args.json)?,
    }
    Ok(ExitCode::Success)
}

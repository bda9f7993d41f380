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

use cli::{Cli, Command};

/// Runs one command line to its end and says how the process should exit.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let no_issue = cli::GithubArgs::default();
    let github_args = cli.command.github().unwrap_or(&no_issue);
    let class = match &cli.command {
        Command::Backup(_) => "backup",
        Command::Verify(_) => "verify",
        Command::Restore(_) => "restore",
        Command::Prune(_) => "prune",
        Command::Schedule(_) => "schedule",
        _ => "",
    };
    // A usage error is a failure like any other in a workflow: it gets its
    // annotation and, for the classes GitHub hears about, its issue.
    let config = match config::resolve(&cli) {
        Ok(config) => config,
        Err(e) => {
            if !class.is_empty() {
                let failed = ending(class, None, true, commands::report::error_details(class, &e));
                commands::report::tell_github(github_args, &failed, &Reporter::silent());
            } else {
                github::workflow::error("lifeboat", &format!("{e:#}"));
            }
            return Err(e);
        }
    };
    let to_url = match &cli.command {
        Command::Restore(a) => a.to.clone(),
        Command::Compare(a) => Some(a.database.clone()),
        _ => None,
    };
    commands::report::mask_secrets(&config, &to_url.iter().map(String::as_str).collect::<Vec<_>>());
    let reporter = Reporter::new(config.quiet, config.log_file.clone())?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_command(&cli, &config, &reporter)))
        .unwrap_or_else(|payload| Err(panic_error(payload.as_ref())));
    if let Err(e) = &result
        && let Some(cancelled) = cancel::is_cancelled(e)
    {
        // Stopped, not failed: no failure issue; CI shows the job as
        // cancelled.
        reporter.log(&format!(
            "{} {cancelled}",
            if class.is_empty() { "lifeboat" } else { class }
        ));
        if github::workflow::in_actions() {
            github::workflow::warning("lifeboat cancelled", &cancelled.to_string());
        }
        return result.map(|(code, _)| code);
    }
    let ending = match &result {
        Ok((_, ending)) => ending.clone(),
        Err(e) if !class.is_empty() => {
            reporter.log(&format!("{class} failed: {e:#}"));
            Some(ending(
                class,
                config.set_name.clone(),
                true,
                commands::report::error_details(class, e),
            ))
        }
        Err(e) => {
            github::workflow::error("lifeboat", &format!("{e:#}"));
            None
        }
    };
    if let Some(ending) = &ending {
        commands::report::tell_github(github_args, ending, &reporter);
        let secrets = commands::report::secrets(&config, &to_url.iter().map(String::as_str).collect::<Vec<_>>());
        alert::notify(&config.alerts, ending, &config.out_dir, &secrets, &reporter);
    }
    result.map(|(code, _)| code)
}

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

fn ending(class: &str, set: Option<String>, failed: bool, details: String) -> commands::report::Ending {
    commands::report::Ending {
        class: class.into(),
        set,
        failed,
        details,
        headline: None,
    }
}

/// The first error finding of a failed verification, for the annotation.
pub(crate) fn first_error(report: &verify::Report) -> Option<String> {
    report
        .findings
        .iter()
        .find(|f| f.severity == verify::Severity::Error)
        .map(|f| format!("{}: {}", f.object, f.message))
}

/// A path as outputs give it: absolute, or a store URL as it is.
fn absolute(path: &std::path::Path) -> String {
    store::shown(path)
}

/// The directory of sets a command reads or writes, when it has one:
/// where a set named by path lies, the `--latest` directory, or `--out`.
/// (prune sweeps on its own, keeping to `--dry-run`.)
fn sets_dir(cli: &Cli, config: &Config) -> Option<std::path::PathBuf> {
    let named = |set: &Option<std::path::PathBuf>, latest: bool| match (set, latest) {
        (Some(dir), true) => Some(dir.clone()),
        (None, true) => Some(config.out_dir.clone()),
        (Some(set), false) => set.parent().map(|p| p.to_path_buf()),
        (None, false) => None,
    };
    let dir = match &cli.command {
        Command::Backup(_) | Command::List(_) | Command::Size(_) => Some(config.out_dir.clone()),
        Command::Restore(a) if a.artifact.is_none() => named(&a.set, a.latest),
        Command::Verify(a) => named(&a.set, a.latest),
        Command::Info(a) => a.set.parent().map(|p| p.to_path_buf()),
        Command::Compare(a) => a.set.parent().map(|p| p.to_path_buf()),
        _ => None,
    }?;
    Some(if dir.as_os_str().is_empty() { ".".into() } else { dir })
}

/// Runs the command; the ending, for commands whose outcome GitHub hears.
fn run_command(
    cli: &Cli,
    config: &Config,
    reporter: &Reporter,
) -> anyhow::Result<(ExitCode, Option<commands::report::Ending>)> {
    use github::workflow::set_outputs;
    // What a killed run left in the directory this command works on goes
    // first, whatever the command: a SIGKILL is cleaned up by the next run.
    if let Some(dir) = sets_dir(cli, config) {
        store::LocalStore::new(dir).sweep_and_tell(reporter);
    }
    // Likewise a scratch cluster whose verify was killed, on this machine.
    engine::postgres::leftovers::stop_stale_scratch_clusters(reporter);
    match &cli.command {
        Command::Backup(args) => {
            commands::report::refuse_public_upload(config.crypt.encryption.is_some())?;
            let (mut outcome, report) = commands::backup::backup_verified(config, reporter)?;
            let mut details = outcome.to_markdown();
            if let Some(r) = &report {
                outcome.verified = Some(r.passed);
                outcome.report_path = Some(store::local::verified_path(&outcome.path));
                if !config.quiet || !r.passed {
                    eprint!("{}", r.to_markdown());
                }
                details.push('\n');
                details.push_str(&r.to_markdown());
            }
            set_outputs(&[
                ("backup-path", absolute(&outcome.path)),
                ("backup-name", outcome.file_name.clone()),
                ("set-name", outcome.set.clone()),
                ("sha256", outcome.sha256.clone()),
                ("size-bytes", outcome.size_bytes.to_string()),
                ("verified", outcome.verified.map(|v| v.to_string()).unwrap_or_default()),
                // Absolute: the upload step resolves paths against the
                // workspace, not the action's working-directory.
                (
                    "report-path",
                    outcome.report_path.as_deref().map(absolute).unwrap_or_default(),
                ),
            ])?;
            outcome.print(args.json)?;
            let failed = report.as_ref().is_some_and(|r| !r.passed);
            let code = if failed {
                ExitCode::VerificationFailed
            } else {
                ExitCode::Success
            };
            let mut e = ending("backup", Some(outcome.set.clone()), failed, details);
            e.headline = report.as_ref().and_then(first_error);
            Ok((code, Some(e)))
        }
        Command::Restore(args) => {
            let set = match &args.artifact {
                Some(name) => Some(fetch_artifact(name, &args.artifact_filter, &config.out_dir, reporter)?),
                None => args.set.clone(),
            };
            // A fetched set sits in a made-up artifact-<id>-* directory, where
            // nobody would look for the safety backup: it goes beside the
            // user's own sets instead, in <out>/safety.
            let fetched_config;
            let config = if args.artifact.is_some() && config.safety_dir.is_none() {
                fetched_config = Config {
                    safety_dir: Some(config.out_dir.join("safety")),
                    ..config.clone()
                };
                &fetched_config
            } else {
                config
            };
            let request = RestoreRequest {
                set,
                latest: args.latest && args.artifact.is_none(),
                to: args.to.clone(),
                database: args.database.clone(),
                force: args.force,
                no_safety_backup: args.no_safety_backup,
            };
            let outcome = restore(config, &request, reporter)?;
            outcome.print(args.json)?;
            let name = outcome.set.file_name().map(|n| n.to_string_lossy().into_owned());
            set_outputs(&[("restored-from", absolute(&outcome.set))])?;
            let set = name.as_deref().and_then(store::SetName::parse).map(|n| n.set);
            Ok((
                ExitCode::Success,
                Some(ending("restore", set, false, outcome.to_markdown())),
            ))
        }
        Command::Verify(args) => {
            let request = VerifyRequest {
                set: args.set.clone(),
                latest: args.latest,
                report: args.report.clone(),
            };
            let report = verify(config, &request, reporter)?;
            commands::verify::print(&report, args.json)?;
            let set_path = report.set.clone();
            set_outputs(&[
                ("verified", report.passed.to_string()),
                ("report-path", absolute(&store::local::verified_path(&set_path))),
            ])?;
            let set = set_path
                .file_name()
                .and_then(|n| store::SetName::parse(&n.to_string_lossy()))
                .map(|n| n.set);
            let code = if report.passed {
                ExitCode::Success
            } else {
                ExitCode::VerificationFailed
            };
            let mut e = ending("verify", set, !report.passed, report.to_markdown());
            e.headline = first_error(&report);
            Ok((code, Some(e)))
        }
        Command::List(args) => {
            commands::list::print_list(&config.out_dir, &list(config)?, args.json)?;
            Ok((ExitCode::Success, None))
        }
        Command::Size(args) => {
            size(config)?.print(args.json)?;
            Ok((ExitCode::Success, None))
        }
        Command::Info(args) => {
            commands::list::print_info(
                &args.set,
                &info_at(&args.set, &config.store, &config.crypt.keys)?,
                args.json,
            )?;
            Ok((ExitCode::Success, None))
        }
        Command::Compare(args) => {
            let comparison = compare(
                &args.set,
                &args.database,
                args.database_name.as_deref(),
                &config.crypt.keys,
            )?;
            comparison.print(args.json)?;
            let code = if comparison.differences.is_empty() {
                ExitCode::Success
            } else {
                ExitCode::VerificationFailed
            };
            Ok((code, None))
        }
        Command::Prune(args) => {
            let plan = prune(config, args.dry_run, reporter)?;
            plan.print(args.json)?;
            Ok((ExitCode::Success, Some(ending("prune", None, false, String::new()))))
        }
        Command::Report(args) => {
            if !github::workflow::in_actions() {
                usage_bail!(
                    "report tells GitHub how a workflow step ended, and this is not a GitHub Actions step (GITHUB_ACTIONS is not true): nothing was reported"
                );
            }
            let failed = match args.outcome.as_str() {
                "failure" | "failed" => true,
                "success" | "succeeded" => false,
                other => usage_bail!("--outcome is failure or success, not {other:?}"),
            };
            let details = args.message.clone().unwrap_or_else(|| {
                if failed {
                    "A step of the lifeboat action failed; see the run's log.".into()
                } else {
                    "All steps succeeded.".into()
                }
            });
            let e = ending(
                &args.class,
                config.set_name.clone(),
                failed,
                format!("### lifeboat {}\n\n{details}\n", args.class),
            );
            commands::report::tell_github(&args.github, &e, reporter);
            Ok((ExitCode::Success, None))
        }
        Command::Schedule(args) => {
            let code = commands::schedule::run(&args.cron, args.initial, config, reporter)?;
            Ok((code, None))
        }
        Command::Fetch(args) => {
            let path = fetch_artifact(&args.artifact, &args.filter, &config.out_dir, reporter)?;
            println!("{}", path.display());
            set_outputs(&[("backup-path", path.display().to_string())])?;
            Ok((ExitCode::Success, None))
        }
    }
}

fn fetch_artifact(
    name: &str,
    filter: &cli::ArtifactArgs,
    out: &std::path::Path,
    reporter: &Reporter,
) -> anyhow::Result<std::path::PathBuf> {
    let repo = github::Repo::from_env()?;
    let wanted = github::artifacts::Wanted {
        name: name.to_string(),
        run_id: filter.run_id,
        branch: filter.branch.clone(),
        workflow: filter.workflow.clone(),
    };
    reporter.info(&format!(
        "fetching the newest artifact {name:?} from {}/{}",
        repo.owner, repo.name
    ));
    let artifacts = store::github_artifacts::ArtifactStore::new(wanted, out.to_path_buf());
    let set = store::latest(&artifacts, None)?;
    reporter.info(&format!("chose {}", artifacts.origin().unwrap_or("?")));
    reporter.info(&format!("fetched {}", set.path.display()));
    Ok(set.path)
}

//! The command line run end to end: configuration resolved, the command
//! run, its `Outcome` printed, and how it ended told to GitHub and the
//! webhook. The one place that knows about step outputs, summaries,
//! failure issues and alerts; commands only describe how they ended.

pub mod outcome;

use crate::cli::{self, Cli, Command};
use crate::config::{self, Config};
use crate::exit_codes::ExitCode;
use crate::github::{self, report};
use crate::progress::Reporter;
use crate::{alert, cancel, commands, engine, store};
use outcome::{Ending, Outcome};
use std::io::Write;

/// Runs one command line to its end and says how the process should exit.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let no_issue = cli::GithubArgs::default();
    let github_args = cli.command.github().unwrap_or(&no_issue);
    let class = class(&cli.command);
    // A usage error is a failure like any other in a workflow: it gets its
    // annotation and, for the classes GitHub hears about, its issue.
    let config = match config::resolve(&cli) {
        Ok(config) => config,
        Err(e) => {
            if !class.is_empty() {
                report::tell_github(github_args, &Ending::from_error(class, None, &e), &Reporter::silent());
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
    let extra_urls: Vec<&str> = to_url.iter().map(String::as_str).collect();
    report::mask_secrets(&config, &extra_urls);
    let reporter = Reporter::new(config.quiet, config.log_file.clone())?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let outcome = run_command(&cli, &config, &reporter)?;
        print(&outcome)?;
        anyhow::Ok(outcome)
    }))
    .unwrap_or_else(|payload| Err(crate::panic_error(payload.as_ref())));
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
        return result.map(|o| o.code);
    }
    let (ending, alerts) = match &result {
        Ok(outcome) => (outcome.ending.clone(), outcome.alert),
        Err(e) if !class.is_empty() => {
            reporter.log(&format!("{class} failed: {e:#}"));
            (Some(Ending::from_error(class, config.set_name.clone(), e)), true)
        }
        Err(e) => {
            github::workflow::error("lifeboat", &format!("{e:#}"));
            (None, false)
        }
    };
    if let Some(ending) = &ending {
        report::tell_github(github_args, ending, &reporter);
        if alerts {
            alert_on(&config, ending, &extra_urls, &reporter);
        }
    }
    result.map(|o| o.code)
}

/// The failure class GitHub and alerts hear a command's ending under;
/// empty for the commands they do not.
fn class(command: &Command) -> &'static str {
    match command {
        Command::Backup(_) => "backup",
        Command::Verify(_) => "verify",
        Command::Restore(_) => "restore",
        Command::Prune(_) => "prune",
        Command::Schedule(_) => "schedule",
        _ => "",
    }
}

/// Sends the webhook alert an ending calls for, with every secret the
/// run knows of taken out.
fn alert_on(config: &Config, ending: &Ending, extra_urls: &[&str], reporter: &Reporter) {
    let secrets = crate::secrets::known(config, extra_urls);
    alert::notify(&config.alerts, ending, &config.out_dir, &secrets, reporter);
}

/// Prints an outcome and writes its step outputs.
fn print(outcome: &Outcome) -> anyhow::Result<()> {
    eprint!("{}", outcome.stderr);
    print!("{}", outcome.stdout);
    // A closed pipe fails here as println! would, and ends quietly the same way.
    std::io::stdout().flush().ok();
    github::workflow::set_outputs(&outcome.outputs)
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

/// Runs the command to its outcome.
fn run_command(cli: &Cli, config: &Config, reporter: &Reporter) -> anyhow::Result<Outcome> {
    // What a killed run left in the directory this command works on goes
    // first, whatever the command: a SIGKILL is cleaned up by the next run.
    if let Some(dir) = sets_dir(cli, config) {
        store::LocalStore::new(dir).sweep_and_tell(reporter);
    }
    // Likewise a scratch cluster whose verify was killed, on this machine.
    for kind in engine::KINDS {
        kind.sweep_leftovers(reporter);
    }
    match &cli.command {
        Command::Backup(args) => {
            report::refuse_public_upload(config.crypt.encryption.is_some())?;
            commands::backup::run(args, config, reporter)
        }
        Command::Restore(args) => commands::restore::run(args, config, reporter),
        Command::Verify(args) => commands::verify::run(args, config, reporter),
        Command::List(args) => commands::list::run_list(args, config),
        Command::Size(args) => commands::list::run_size(args, config),
        Command::Info(args) => commands::list::run_info(args, config),
        Command::Compare(args) => commands::compare::run(args, config),
        Command::Prune(args) => commands::prune::run(args, config, reporter),
        Command::Report(args) => commands::report::run(args, config),
        Command::Schedule(args) => commands::schedule::run(args, config, reporter, &|ending| {
            alert_on(config, ending, &[], reporter)
        }),
        Command::Fetch(args) => commands::fetch::run(args, config, reporter),
    }
}

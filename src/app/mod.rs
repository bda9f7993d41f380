//! The command line run end to end: configuration resolved, the command
//! run, its `Outcome` printed, and how it ended told to GitHub and the
//! webhook. The one place that knows about step outputs, summaries,
//! failure issues and alerts; commands only describe how they ended.

pub mod outcome;

use crate::cli::{self, Cli, Command};
use crate::commands::Cmd;
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
    let command = commands::of(&cli.command);
    // A usage error is a failure like any other in a workflow: it gets its
    // annotation and, for the classes GitHub hears about, its issue.
    let config = match config::resolve_for(&cli.global, command) {
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
    let extra_urls: Vec<&str> = command.target_url().into_iter().collect();
    report::mask_secrets(&config, &extra_urls);
    let reporter = Reporter::new(config.quiet, config.log_file.clone())?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let outcome = run_command(&cli, command, &config, &reporter)?;
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

/// Runs the command to its outcome.
fn run_command(cli: &Cli, command: &dyn Cmd, config: &Config, reporter: &Reporter) -> anyhow::Result<Outcome> {
    // What a killed run left in the directory this command works on goes
    // first, whatever the command: a SIGKILL is cleaned up by the next run.
    // (prune sweeps on its own, keeping to `--dry-run`.)
    if let Some(dir) = command.sets_dir(config) {
        let dir = if dir.as_os_str().is_empty() { ".".into() } else { dir };
        store::LocalStore::new(dir).sweep_and_tell(reporter);
    }
    // Likewise a scratch cluster whose verify was killed, on this machine.
    for kind in engine::KINDS {
        kind.sweep_leftovers(reporter);
    }
    // A set of a public repository's artifacts is anyone's to download.
    if matches!(cli.command, Command::Backup(_)) {
        report::refuse_public_upload(config.crypt.encryption.is_some())?;
    }
    let ended = |ending: &Ending| alert_on(config, ending, &[], reporter);
    command.run(&commands::Context {
        config,
        reporter,
        ended: &ended,
    })
}

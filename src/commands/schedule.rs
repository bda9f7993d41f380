//! `lifeboat schedule`: a service that backs up on a cron schedule, each
//! run as `backup` would (verification, off-site copies), then retention
//! and alerts, with one log line per run, until SIGINT or SIGTERM. A
//! signal during a run cancels it as it would cancel `backup`: nothing
//! half-written is left, and the service ends.

use crate::app::outcome::{Ending, Outcome};
use crate::cancel;
use crate::cli::ScheduleArgs;
use crate::commands::{Cmd, Context};
use crate::config::Config;
use crate::config::{Draft, usage};
use crate::progress::Reporter;
use crate::retention::{Policy, parse_span};
use anyhow::{Context as _, Result};
use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use std::time::{Duration, Instant};

/// Parses five fields (minute hour day-of-month month day-of-week), six
/// with seconds first, or a nickname (@daily, @hourly).
pub fn parse_cron(expression: &str) -> Result<Cron> {
    let expression = expression.trim();
    let fields = expression.split_whitespace().count();
    if !expression.starts_with('@') && !(5..=6).contains(&fields) {
        crate::usage_bail!(
            "--cron {expression:?} has {fields} fields: write five (minute hour day month weekday, as \"0 2 * * *\") or six with seconds first"
        );
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(expression)
        .map_err(|e| {
            anyhow::Error::new(crate::error::UsageError(format!(
                "--cron {expression:?} is not a cron expression: {e}"
            )))
        })
}

/// The next time the schedule fires after `after`.
fn next_after(cron: &Cron, after: DateTime<Utc>) -> Result<DateTime<Utc>> {
    cron.find_next_occurrence(&after, false)
        .with_context(|| format!("the cron expression {} never fires again", cron.pattern))
}

impl Cmd for ScheduleArgs {
    /// A backup's settings, and the keep rules each run prunes with.
    fn configure<'a>(&'a self, draft: &mut Draft<'a>) -> Result<()> {
        self.backup.configure(draft)?;
        let k = &self.keep;
        let flags = Policy {
            keep_last: k.keep_last,
            keep_daily: k.keep_daily,
            keep_weekly: k.keep_weekly,
            keep_monthly: k.keep_monthly,
            keep_within: k.keep_within.as_deref().map(parse_span).transpose().map_err(usage)?,
            ..Default::default()
        };
        if !flags.is_empty() {
            draft.config.retention = flags;
        }
        Ok(())
    }

    /// Runs until a signal; each run's ending goes to `cx.ended` (which
    /// alerts) as it happens.
    fn run(&self, cx: &Context) -> Result<Outcome> {
        serve(&self.cron, self.initial, cx.config, cx.reporter, cx.ended)
    }
}

/// The service loop; it ends well when a signal stopped it cleanly.
fn serve(
    cron_text: &str,
    initial: bool,
    config: &Config,
    reporter: &Reporter,
    ended: &dyn Fn(&Ending),
) -> Result<Outcome> {
    let cron = parse_cron(cron_text)?;
    if config.databases.is_empty() {
        crate::usage_bail!(
            "nothing to back up: name a database (lifeboat schedule --cron '0 2 * * *' sqlite:app.db) or list [[databases]] in lifeboat.toml"
        );
    }
    let first = next_after(&cron, Utc::now())?;
    log_line(
        reporter,
        &format!(
            "schedule {cron_text:?} started; {} to {}; next run {}",
            if initial { "a first backup now, then" } else { "backups" },
            config.out_dir.display(),
            first.to_rfc3339()
        ),
    );
    let secrets = crate::secrets::known(config, &[]);
    let mut pending_initial = initial;
    loop {
        if !pending_initial {
            let next = next_after(&cron, Utc::now())?;
            if !sleep_until(next) {
                break;
            }
        }
        pending_initial = false;
        if !run_once(config, &secrets, reporter, ended) {
            break;
        }
    }
    log_line(
        reporter,
        &format!(
            "schedule stopped by {}; nothing half-written was left",
            signal_name(cancel::requested())
        ),
    );
    Ok(Outcome::printed(String::new()))
}

/// Waits for `at`; false when a signal came first.
fn sleep_until(at: DateTime<Utc>) -> bool {
    loop {
        if cancel::requested().is_some() {
            return false;
        }
        let left = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(200)));
    }
}

/// One run: backup, verification, copies, retention, alert and its log
/// line. False when a signal stopped it.
fn run_once(config: &Config, secrets: &[String], reporter: &Reporter, ended: &dyn Fn(&Ending)) -> bool {
    let clock = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (outcome, report) = super::backup::backup_verified(config, reporter)?;
        let pruned = match config.retention.is_empty() {
            true => None,
            false => Some(super::prune::prune(config, false, reporter)?),
        };
        anyhow::Ok((outcome, report, pruned))
    }))
    .unwrap_or_else(|payload| Err(crate::panic_error(payload.as_ref())));
    let seconds = clock.elapsed().as_secs_f64();
    let (line, ending) = match result {
        Err(e) if cancel::is_cancelled(&e).is_some() => {
            log_line(
                reporter,
                &format!(
                    "backup cancelled by {} after {seconds:.1}s",
                    signal_name(cancel::requested())
                ),
            );
            return false;
        }
        Err(e) => {
            let text = crate::secrets::redact(&format!("{e:#}"), secrets);
            (
                format!("backup FAILED after {seconds:.1}s: {text}"),
                Ending::from_error("backup", config.set_name.clone(), &e),
            )
        }
        Ok((outcome, report, pruned)) => {
            let failed = report.as_ref().is_some_and(|r| !r.passed);
            let verified = match &report {
                Some(r) if r.passed => format!(", verified ({})", r.level),
                Some(r) => format!(", verification FAILED ({} errors)", r.errors),
                None => String::new(),
            };
            let copies = match outcome.copies.len() {
                0 => String::new(),
                n => format!(", {n} cop{}", if n == 1 { "y" } else { "ies" }),
            };
            let pruned = pruned
                .map(|p| {
                    let removed: usize = p
                        .groups
                        .iter()
                        .map(|g| g.decisions.iter().filter(|d| !d.keep).count())
                        .sum();
                    format!(", pruned {removed}")
                })
                .unwrap_or_default();
            let mut details = outcome.to_markdown();
            if let Some(r) = &report {
                details.push('\n');
                details.push_str(&r.to_markdown());
            }
            (
                format!(
                    "backup {} {} ({}){verified}{copies}{pruned} in {seconds:.1}s",
                    if failed { "FAILED" } else { "ok" },
                    outcome.path.display(),
                    crate::progress::human_bytes(outcome.size_bytes),
                ),
                Ending {
                    headline: report.as_ref().and_then(crate::verify::Report::first_error),
                    ..Ending::new("backup", Some(outcome.set.clone()), failed, details)
                },
            )
        }
    };
    log_line(reporter, &line);
    ended(&ending);
    // A signal during the alert still ends the service.
    cancel::requested().is_none()
}

/// One line on standard output (the service's log) and in the log file.
fn log_line(reporter: &Reporter, line: &str) {
    println!(
        "{} {}",
        Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        crate::github::workflow::neutralize(line)
    );
    reporter.log(line);
}

fn signal_name(signal: Option<i32>) -> &'static str {
    match signal {
        Some(libc::SIGTERM) => "SIGTERM",
        Some(libc::SIGINT) => "SIGINT",
        _ => "a signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_six_fields_are_taken_and_others_refused() {
        let at = Utc::now();
        let five = parse_cron("0 2 * * *").unwrap();
        let next = next_after(&five, at).unwrap();
        assert_eq!(next.format("%H:%M:%S").to_string(), "02:00:00");
        let six = parse_cron("*/5 * * * * *").unwrap();
        let next = next_after(&six, at).unwrap();
        assert!(next - at <= chrono::TimeDelta::seconds(5), "{next} after {at}");
        assert!(parse_cron("* * * *").is_err());
        assert!(parse_cron("0 0 2 * * * 2030").is_err());
        assert!(parse_cron("61 * * * *").is_err());
    }
}

//! `lifeboat verify`: the quick level always, the restore level on a set
//! that passed it, then the policies; every finding is reported and the
//! command fails at the end if any was an error.

use super::restore::resolve_set;
use crate::app::outcome::{self, Ending, Outcome};
use crate::archive::crypt::Keys;
use crate::cli::VerifyArgs;
use crate::commands::{Cmd, Context};
use crate::config::{Config, Draft, Level, VerifySettings, apply_checks};
use crate::exit_codes::ExitCode;
use crate::fsutil;
use crate::progress::Reporter;
use crate::store::OpenedSet;
use crate::store::local::verified_path;
use crate::verify::{self, Report};
use anyhow::{Context as _, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, Default)]
pub struct VerifyRequest {
    pub set: Option<PathBuf>,
    pub latest: bool,
    /// Where to write the JSON report, besides the record beside the set.
    pub report: Option<PathBuf>,
}

/// Verifies the set a request names. The report says whether it passed;
/// the CLI turns a failure into exit code 3.
pub fn verify(config: &Config, request: &VerifyRequest, reporter: &Reporter) -> Result<Report> {
    let opened = resolve_set(config, request.set.as_ref(), request.latest, reporter)?;
    verify_opened(
        &opened,
        &config.verify,
        &config.crypt.keys,
        request.report.as_deref(),
        reporter,
    )
}

/// Verifies one set file and records the outcome beside it.
pub fn verify_set(
    path: &Path,
    settings: &VerifySettings,
    keys: &Keys,
    report_path: Option<&Path>,
    reporter: &Reporter,
) -> Result<Report> {
    verify_opened(
        &OpenedSet::local(path.to_path_buf()),
        settings,
        keys,
        report_path,
        reporter,
    )
}

/// Verifies a set and records the outcome beside it: in its store too,
/// when it came from one, where the policies also find its siblings.
pub fn verify_opened(
    opened: &OpenedSet,
    settings: &VerifySettings,
    keys: &Keys,
    report_path: Option<&Path>,
    reporter: &Reporter,
) -> Result<Report> {
    let path = opened.path.as_path();
    let started = Instant::now();
    if !path.is_file() {
        anyhow::bail!(
            "no backup set at {}: check the path, or use --latest DIR",
            path.display()
        );
    }
    let level = settings.level.unwrap_or(Level::Quick);
    let mut durations = BTreeMap::new();
    let (mut findings, scan, source) = verify::quick(path, keys, true, reporter)?;
    durations.insert("quick".to_string(), started.elapsed().as_millis() as u64);
    let mut checked = Vec::new();
    if level == Level::Restore {
        match &source {
            Some(set) if findings.errors() == 0 => {
                let clock = Instant::now();
                checked = verify::restore_level(set, &settings.restore, &mut findings, reporter);
                durations.insert("restore".to_string(), clock.elapsed().as_millis() as u64);
            }
            None if scan.locked.is_some() => {
                findings.error(
                    "restore",
                    &path.display().to_string(),
                    "the restore level needs to open the set, and it is encrypted with no key given".into(),
                    "give LIFEBOAT_PASSPHRASE or --passphrase-file / --identity, or verify at the quick level",
                );
            }
            _ => {
                findings.warning(
                    "restore",
                    &path.display().to_string(),
                    "the restore level did not run because the quick level found errors".into(),
                    "replace the set first: the quick level's findings say what is wrong",
                );
            }
        }
    }
    if !settings.policies.is_empty() {
        let clock = Instant::now();
        verify::check_policies(
            path,
            opened.remote_store(),
            source.as_ref().map(|s| &s.manifest),
            &settings.policies,
            &mut findings,
        );
        durations.insert("policies".to_string(), clock.elapsed().as_millis() as u64);
    }
    // A check cut short by a signal proves nothing either way: no report
    // and no record, and the run ends as cancelled, not as failed.
    crate::cancel::check()?;
    // Without the key only the file's hash was checked: the record says
    // so, and never passes for a check of the contents.
    let level_name = if scan.locked.is_some() {
        "integrity"
    } else {
        level.name()
    };
    let mut report = verify::report(
        path,
        level_name,
        findings,
        &scan,
        source.as_ref().map(|s| &s.manifest),
        started,
    );
    report.checked_tables = checked;
    report.durations_ms = durations;
    report.set = opened.shown.clone();
    let json = serde_json::to_vec_pretty(&report)?;
    fsutil::write_private(&verified_path(path), &json)
        .with_context(|| format!("recording the verification beside {}", path.display()))?;
    if let Some(store) = opened.remote_store() {
        store
            .put_record(&opened.file_name(), &verified_path(path))
            .with_context(|| format!("recording the verification beside {}", opened.shown.display()))?;
    }
    if let Some(out) = report_path {
        std::fs::write(out, &json).with_context(|| format!("writing report {}", out.display()))?;
    }
    reporter.log(&format!(
        "verify {} at {} level {}: {} errors, {} warnings",
        opened.shown.display(),
        report.level,
        if report.passed { "passed" } else { "failed" },
        report.errors,
        report.warnings
    ));
    Ok(report)
}

impl Cmd for VerifyArgs {
    fn configure<'a>(&'a self, draft: &mut Draft<'a>) -> Result<()> {
        let (a, config) = (self, &mut draft.config);
        config.verify.level = match &a.level {
            // Asked for in so many words, "none" would check nothing and
            // still say "passed".
            Some(level) => match Level::parse(level)? {
                None => crate::usage_bail!("verify --level {level:?} would check nothing: use quick or restore"),
                some => some,
            },
            None => config.verify.level,
        }
        .or(Some(Level::Quick));
        apply_checks(&mut config.verify, &draft.file.verify, Some(&a.checks))?;
        if let Some(jobs) = a.jobs {
            config.verify.restore.jobs = jobs.max(1);
        }
        if let Some(source) = &a.source {
            config.verify.restore.sources.insert("*".into(), source.clone());
        }
        draft.store = Some(&a.store);
        draft.alerts = Some(&a.alerts);
        draft.keys = Some(&a.keys);
        draft.strict_keys = true;
        Ok(())
    }

    fn sets_dir(&self, config: &Config) -> Option<PathBuf> {
        super::dir_of(&self.set, self.latest, config)
    }

    /// `lifeboat verify` as the CLI runs it: the report, printed, and exit
    /// code 3 when it failed.
    fn run(&self, cx: &Context) -> Result<Outcome> {
        let (args, config, reporter) = (self, cx.config, cx.reporter);
        let request = VerifyRequest {
            set: args.set.clone(),
            latest: args.latest,
            report: args.report.clone(),
        };
        let report = verify(config, &request, reporter)?;
        let stdout = outcome::stdout(args.json, &report, || {
            crate::github::workflow::neutralize_lines(&report.to_markdown())
        })?;
        let set = report
            .set
            .file_name()
            .and_then(|n| crate::store::SetName::parse(&n.to_string_lossy()))
            .map(|n| n.set);
        let mut ending = Ending::new("verify", set, !report.passed, report.to_markdown());
        ending.headline = report.first_error();
        Ok(Outcome::printed(stdout)
            .with_code(if report.passed {
                ExitCode::Success
            } else {
                ExitCode::VerificationFailed
            })
            .with_outputs(vec![
                ("verified", report.passed.to_string()),
                ("report-path", crate::store::shown(&verified_path(&report.set))),
            ])
            .with_ending(ending))
    }
}

//! What a run tells GitHub besides its step outputs (which `app` writes
//! from the command's `Outcome`): secrets masked before anything else is
//! printed, the job summary, an error annotation, and the failure issue
//! opened, commented on or closed. Problems talking to GitHub are
//! warnings: they never hide the run's own outcome.

use crate::app::outcome::Ending;
use crate::cli::GithubArgs;
use crate::config::Config;
use crate::github::{self, issues, workflow};
use crate::progress::Reporter;

/// Every secret lifeboat knows of, masked in the log before any other
/// line: database passwords (URLs, PGPASSWORD, password files) and tokens.
pub fn mask_secrets(config: &Config, extra_urls: &[&str]) {
    if !workflow::in_actions() {
        return;
    }
    for s in crate::secrets::known(config, extra_urls) {
        workflow::add_mask(&s);
    }
}

/// Tells GitHub how the run ended: annotation, summary, issue.
pub fn tell_github(global: &GithubArgs, ending: &Ending, reporter: &Reporter) {
    if !workflow::in_actions() {
        return;
    }
    if ending.failed {
        let first = ending
            .headline
            .as_deref()
            .or_else(|| {
                ending
                    .details
                    .lines()
                    .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
            })
            .unwrap_or("see the log");
        workflow::error(&format!("lifeboat {} failed", ending.class), &first.replace("**", ""));
    }
    if let Err(e) = workflow::summary(&ending.details) {
        reporter.warn(&format!("{e:#}"));
    }
    if global.issue_on_failure != Some(true) {
        return;
    }
    let set = global
        .issue_key
        .clone()
        .or_else(|| ending.set.clone())
        .unwrap_or_else(|| "lifeboat".into());
    let event = issues::Event {
        set,
        class: ending.class.clone(),
        failed: ending.failed,
        details: ending.details.clone(),
        labels: global
            .issue_labels
            .as_deref()
            .unwrap_or("lifeboat")
            .split([',', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        close_on_success: global.close_issue_on_success.unwrap_or(true),
        step: std::env::var("LIFEBOAT_STEP_NAME")
            .ok()
            .filter(|s| !s.trim().is_empty()),
    };
    let result = github::Repo::from_env().and_then(|repo| issues::report(&repo, &event));
    match result {
        Ok(issues::Action::Opened(n)) => reporter.info(&format!("opened issue #{n}")),
        Ok(issues::Action::Commented(n)) => reporter.info(&format!("commented on issue #{n}")),
        Ok(issues::Action::Closed(n)) => reporter.info(&format!("closed issue #{n}")),
        Ok(issues::Action::Nothing) => {}
        Err(e) => {
            let message = format!("could not update the failure issue: {e:#}");
            reporter.warn(&message);
            workflow::warning("lifeboat could not report to an issue", &message);
        }
    }
}

/// Refuses, before anything is backed up, to put an unencrypted set into
/// the artifacts of a public repository, which anyone signed in to GitHub
/// can download. Reads the event payload; unknown visibility is allowed.
pub fn refuse_public_upload(encrypted: bool) -> anyhow::Result<()> {
    // The action's upload step runs when `inputs.upload == 'true'`, which
    // GitHub compares without case: "True" and "TRUE" upload too.
    let flag = |k: &str| std::env::var(k).is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    // An encrypted set is safe to hand out: only its key opens it.
    if encrypted || !workflow::in_actions() || !flag("LIFEBOAT_UPLOAD_ARTIFACT") || flag("LIFEBOAT_ALLOW_PUBLIC_UPLOAD")
    {
        return Ok(());
    }
    let Ok(path) = std::env::var("GITHUB_EVENT_PATH") else {
        return Ok(());
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let Ok(event) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(());
    };
    let repo = &event["repository"];
    let public = repo["private"] == serde_json::Value::Bool(false) || repo["visibility"] == "public";
    if public {
        crate::usage_bail!(
            "this repository is public, and anyone signed in to GitHub can download its artifacts: lifeboat will not upload an unencrypted backup. \
             Encrypt it (a `passphrase` or `recipients` input), set `upload: false` and keep the set elsewhere, or `allow-public-upload: true` if the data may be public"
        );
    }
    Ok(())
}

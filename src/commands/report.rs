//! What a run tells GitHub: secrets masked before anything else is
//! printed, step outputs and the job summary, an error annotation, and the
//! failure issue opened, commented on or closed. Problems talking to GitHub
//! are warnings: they never hide the run's own outcome.

use crate::cli::GithubArgs;
use crate::config::Config;
use crate::github::{self, issues, workflow};
use crate::progress::Reporter;

/// How a command ended, for GitHub.
#[derive(Debug, Clone)]
pub struct Ending {
    /// backup, verify, restore, action.
    pub class: String,
    pub set: Option<String>,
    pub failed: bool,
    /// Markdown for the summary and the issue.
    pub details: String,
    /// The reason in one line, for the annotation, when the details do not
    /// start with it (a backup whose verification failed).
    pub headline: Option<String>,
}

/// Every secret lifeboat knows of, masked in the log before any other
/// line: database passwords (URLs, PGPASSWORD, password files) and tokens.
pub fn mask_secrets(config: &Config, extra_urls: &[&str]) {
    if !workflow::in_actions() {
        return;
    }
    for s in secrets(config, extra_urls) {
        workflow::add_mask(&s);
    }
}

/// Every secret lifeboat knows of: database passwords (URLs, PGPASSWORD,
/// password files), tokens, S3 secrets and webhook URLs.
pub fn secrets(config: &Config, extra_urls: &[&str]) -> Vec<String> {
    let env = crate::engine::postgres::connect::process_env;
    let mut urls: Vec<String> = config.databases.iter().map(|d| d.url.clone()).collect();
    urls.extend(config.verify.restore.sources.values().cloned());
    urls.extend(extra_urls.iter().map(|u| u.to_string()));
    if let crate::engine::postgres::scratch::ScratchChoice::Url(u) = &config.verify.restore.scratch {
        urls.push(u.clone());
    }
    let mut secrets: Vec<String> = Vec::new();
    for url in urls {
        // As written too: a URL that does not parse is still masked.
        if let Some(pw) = crate::engine::postgres::connect::written_password(&url) {
            secrets.push(percent_decoded(&pw));
            secrets.push(pw);
        }
        if crate::engine::postgres::connect::is_postgres_url(&url)
            && let Ok(target) = crate::engine::postgres::connect::parse(&url, &env)
            && let Some(pw) = target.config.get_password()
        {
            secrets.push(String::from_utf8_lossy(pw).into_owned());
        }
    }
    // The age passphrase and identities, as read from the environment or
    // files; an identity given in LIFEBOAT_IDENTITY is masked line by line
    // as written, even where it did not parse.
    secrets.extend(config.crypt.keys.secrets());
    if let Some(text) = env("LIFEBOAT_IDENTITY") {
        secrets.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    for key in [
        "PGPASSWORD",
        "LIFEBOAT_PASSPHRASE",
        "LIFEBOAT_GITHUB_TOKEN",
        "GITHUB_TOKEN",
    ] {
        if let Some(v) = env(key) {
            secrets.push(v);
        }
    }
    for key in ["PGPASSWORD_FILE", "POSTGRES_PASSWORD_FILE"] {
        if let Some(path) = env(key)
            && let Ok(text) = std::fs::read_to_string(path)
        {
            secrets.push(text.trim_end_matches(['\n', '\r']).to_string());
        }
    }
    for key in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
        if let Ok(Some(v)) = crate::fsutil::env_or_file(key) {
            secrets.push(v);
        }
    }
    // A webhook URL is its own credential (Slack's carry a token in the
    // path): the whole URL, and its path alone.
    // The variable too: it is set for every command of a job, alerting or not.
    let from_env = crate::fsutil::env_or_file("LIFEBOAT_WEBHOOK").ok().flatten();
    for url in config.alerts.webhook.iter().chain(from_env.iter()) {
        secrets.push(url.clone());
        if let Some(path) = crate::alert::secret_part(url) {
            secrets.push(path);
        }
    }
    secrets.retain(|s| !s.is_empty());
    secrets.sort();
    secrets.dedup();
    secrets
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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

/// The Markdown for a failure: the error and its causes.
pub fn error_details(class: &str, err: &anyhow::Error) -> String {
    let mut out = format!("### lifeboat {class} failed\n\n");
    for (i, cause) in err.chain().enumerate() {
        let text = cause.to_string();
        if i == 0 {
            out.push_str(&format!("**{text}**\n"));
        } else {
            out.push_str(&format!("- {text}\n"));
        }
    }
    out
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

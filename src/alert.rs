//! Webhook alerts: a JSON POST when a command fails and, when asked, when
//! it succeeds or recovers (the first success after a failure). The body
//! carries `text` (and `content`) so Slack, Mattermost and Discord show it
//! as it is; other receivers read the fields. Every known secret is taken
//! out first, the webhook URL included, and an alert that cannot be
//! delivered is a warning: it never changes the command's outcome.

use crate::app::outcome::Ending;
use crate::cli::AlertArgs;
use crate::progress::Reporter;
use crate::secrets::redact;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How many times a POST is tried, and the wait before the first retry
/// (doubled each time).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Where the last outcome of each command and set is kept, to tell a
/// recovery, in the state directory.
const STATE_FILE: &str = "alerts.json";

#[derive(Debug, Clone, Default)]
pub struct AlertSettings {
    pub webhook: Option<String>,
    pub on_failure: bool,
    pub on_recovery: bool,
    pub on_success: bool,
}

impl AlertSettings {
    pub fn from_flags(flags: &AlertArgs) -> Result<AlertSettings> {
        // LIFEBOAT_WEBHOOK_FILE: the URL from a file (Docker secrets), as
        // the other secrets may come.
        let webhook = match flags.webhook.clone().filter(|w| !w.trim().is_empty()) {
            Some(url) => Some(url),
            None => crate::fsutil::env_or_file("LIFEBOAT_WEBHOOK")?,
        };
        if let Some(url) = &webhook
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            // The URL itself is not repeated: it is a secret.
            anyhow::bail!("--webhook (LIFEBOAT_WEBHOOK) takes an http:// or https:// URL");
        }
        let mut settings = AlertSettings {
            webhook,
            on_failure: true,
            ..Default::default()
        };
        if let Some(events) = flags.webhook_on.as_deref().filter(|e| !e.trim().is_empty()) {
            settings.on_failure = false;
            for event in events.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                match event {
                    "failure" => settings.on_failure = true,
                    "recovery" => settings.on_recovery = true,
                    "success" => settings.on_success = true,
                    "always" | "all" => {
                        settings.on_failure = true;
                        settings.on_recovery = true;
                        settings.on_success = true;
                    }
                    other => {
                        anyhow::bail!("--webhook-on {other:?}: write failure, recovery or success, comma-separated")
                    }
                }
            }
        }
        Ok(settings)
    }
}

/// The part of a webhook URL that is a credential: everything after the
/// host (Slack, Discord and Mattermost put the token in the path).
pub fn secret_part(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let (_, path) = rest.split_once('/')?;
    (path.len() >= 4).then(|| format!("/{path}"))
}

/// The webhook as it may be printed: scheme and host only.
fn shown(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    // user:password@ before the host is a secret too.
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    format!("{scheme}://{host}/…")
}

/// The body of one alert.
#[derive(Debug, Serialize)]
pub struct Payload {
    pub service: String,
    /// `<command>.<status>`: backup.failure, verify.recovery, ...
    pub event: String,
    /// failure, recovery or success.
    pub status: String,
    pub host: String,
    pub set: Option<String>,
    /// One line: what happened.
    pub message: String,
    /// The command's Markdown summary.
    pub details: String,
    pub timestamp: String,
    /// What Slack and Mattermost show.
    pub text: String,
    /// What Discord shows.
    pub content: String,
}

/// The directory that keeps alert state: LIFEBOAT_STATE_DIR, else
/// `$XDG_STATE_HOME/lifeboat`, else `~/.local/state/lifeboat`.
pub fn state_dir() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("LIFEBOAT_STATE_DIR")
        .or_else(|| var("XDG_STATE_HOME").map(|d| d.join("lifeboat")))
        .or_else(|| var("HOME").map(|h| h.join(".local/state/lifeboat")))
}

/// Sends the alert an ending calls for, if any. The last outcome per
/// command, location and set is remembered, so a success after a failure
/// is a recovery; `secrets` are taken out of everything sent.
pub fn notify(settings: &AlertSettings, ending: &Ending, location: &Path, secrets: &[String], reporter: &Reporter) {
    let Some(url) = &settings.webhook else {
        return;
    };
    // A run that failed before it knew its set name (a database that
    // could not be opened) counts against every set of the location.
    let scope = format!("{} {}", ending.class, location.display());
    let keys = [
        format!("{scope} {}", ending.set.as_deref().unwrap_or("-")),
        format!("{scope} -"),
    ];
    let keys = if ending.set.is_some() { &keys[..] } else { &keys[..1] };
    let previous_failed = remember(state_dir().as_deref(), keys, ending.failed);
    let status = match (ending.failed, previous_failed) {
        (true, _) => "failure",
        (false, true) => "recovery",
        (false, false) => "success",
    };
    let wanted = match status {
        "failure" => settings.on_failure,
        // A recovery is also a success: asking for successes gets it.
        "recovery" => settings.on_recovery || settings.on_success,
        _ => settings.on_success,
    };
    if !wanted {
        return;
    }
    let payload = payload(ending, status, secrets);
    match post(url, &payload) {
        Ok(attempts) => reporter.log(&format!(
            "sent {} alert to {} ({} attempt{})",
            payload.event,
            shown(url),
            attempts,
            if attempts == 1 { "" } else { "s" }
        )),
        Err(e) => {
            let message = format!(
                "the {} alert to {} was not delivered: {}",
                payload.event,
                shown(url),
                redact(&format!("{e:#}"), secrets)
            );
            reporter.warn(&message);
            if crate::github::workflow::in_actions() {
                crate::github::workflow::warning("lifeboat alert", &message);
            }
        }
    }
}

/// Builds the body; every text field has the secrets taken out.
pub fn payload(ending: &Ending, status: &str, secrets: &[String]) -> Payload {
    let host = crate::context::host();
    let set = ending.set.clone();
    let what = match &set {
        Some(s) => format!("{} of {s}", ending.class),
        None => ending.class.clone(),
    };
    let headline = ending
        .headline
        .clone()
        .or_else(|| first_line(&ending.details))
        .unwrap_or_default();
    let message = match status {
        "failure" => format!("lifeboat {what} failed on {host}: {headline}"),
        "recovery" => format!("lifeboat {what} succeeded again on {host}"),
        _ => format!("lifeboat {what} succeeded on {host}"),
    };
    let message = redact(message.trim_end_matches([' ', ':']), secrets);
    let icon = match status {
        "failure" => ":red_circle:",
        "recovery" => ":large_green_circle:",
        _ => ":white_check_mark:",
    };
    let text = format!("{icon} {message}");
    Payload {
        service: "lifeboat".into(),
        event: format!("{}.{status}", ending.class),
        status: status.into(),
        host,
        set,
        details: redact(&ending.details, secrets),
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        content: text.clone(),
        text,
        message,
    }
}

/// The first line of Markdown details that says something (not a heading).
fn first_line(details: &str) -> Option<String> {
    details
        .lines()
        .map(|l| l.trim().trim_start_matches('#').trim())
        .find(|l| !l.is_empty() && !l.starts_with("lifeboat "))
        .map(str::to_string)
}

/// POSTs with retries and backoff; how many attempts it took.
fn post(url: &str, payload: &Payload) -> Result<u32> {
    crate::http::tls_ready();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("setting up the webhook client")?;
    let body = serde_json::to_vec(payload)?;
    let runtime = crate::http::runtime("webhook")?;
    runtime.block_on(async {
        let mut wait = FIRST_BACKOFF;
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let sent = client
                .post(url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return Ok(attempt),
                Ok(r) => {
                    let status = r.status();
                    last = format!("the receiver answered {status}");
                    // A refusal will be refused again; only overload and
                    // server errors are worth another try.
                    if !(status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408) {
                        break;
                    }
                }
                // reqwest's errors name the URL: say only what kind it was.
                Err(e) if e.is_timeout() => last = "the receiver did not answer in time".into(),
                Err(e) if e.is_connect() => last = "could not connect".into(),
                Err(_) => last = "the request failed".into(),
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        anyhow::bail!("{last}")
    })
}

/// Records this outcome under `keys`; whether one before it failed.
/// Kept in memory for a long-running `schedule`, and in `state_dir` when
/// there is one, for runs of their own.
fn remember(state_dir: Option<&Path>, keys: &[String], failed: bool) -> bool {
    static MEMORY: std::sync::Mutex<BTreeMap<String, bool>> = std::sync::Mutex::new(BTreeMap::new());
    let file: Option<PathBuf> = state_dir.map(|d| d.join(STATE_FILE));
    let mut known: BTreeMap<String, bool> = file
        .as_ref()
        .and_then(|f| std::fs::read(f).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut memory = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    let mut previous = false;
    // A failure is recorded under the first key only; a success clears
    // them all.
    for (i, key) in keys.iter().enumerate() {
        previous |= memory.get(key).or(known.get(key)).copied().unwrap_or(false);
        if i == 0 || !failed {
            memory.insert(key.to_string(), failed);
            known.insert(key.to_string(), failed);
        }
    }
    if let Some(f) = file
        && crate::fsutil::create_private_dir(f.parent().unwrap_or(Path::new("."))).is_ok()
        && let Ok(json) = serde_json::to_vec_pretty(&known)
    {
        let _ = crate::fsutil::write_private(&f, &json);
    }
    previous
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_shown_without_their_token() {
        let url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
        assert_eq!(shown(url), "https://hooks.slack.com/…");
        assert_eq!(secret_part(url).as_deref(), Some("/services/T000/B000/XXXXSECRET"));
        assert_eq!(shown("http://u:pw@127.0.0.1:9/x"), "http://127.0.0.1:9/…");
        let text = redact(&format!("failed posting to {url}"), &[url.to_string()]);
        assert!(!text.contains("XXXXSECRET"), "{text}");
    }

    #[test]
    fn events_are_parsed() {
        let s = AlertSettings::from_flags(&AlertArgs {
            webhook: Some("https://x.example/h".into()),
            webhook_on: Some("recovery, success".into()),
        })
        .unwrap();
        assert!(!s.on_failure && s.on_recovery && s.on_success);
        assert!(
            AlertSettings::from_flags(&AlertArgs {
                webhook: None,
                webhook_on: Some("sometimes".into()),
            })
            .is_err()
        );
    }
}

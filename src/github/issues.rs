//! One open issue per set and failure class, found by a hidden marker in
//! its body through the issues list endpoint (search lags): a failure
//! opens it or comments on it, the next success closes it.

use super::{Repo, block_on, explain};
use anyhow::Result;
use serde::Deserialize;
use serde_json::json;

const PER_PAGE: usize = 100;

/// What happened, for the issue.
#[derive(Debug, Clone)]
pub struct Event {
    /// The set (or artifact) name the issue is about.
    pub set: String,
    /// `backup`, `verify`, `restore`, `action`: one issue per class.
    pub class: String,
    pub failed: bool,
    /// Markdown: the error chain, findings, the run.
    pub details: String,
    pub labels: Vec<String>,
    pub close_on_success: bool,
    /// The workflow step that failed, named in the issue.
    pub step: Option<String>,
}

/// What lifeboat did on GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Opened(u64),
    Commented(u64),
    Closed(u64),
    Nothing,
}

#[derive(Debug, Deserialize)]
struct IssueLite {
    number: u64,
    body: Option<String>,
    pull_request: Option<serde_json::Value>,
    user: Option<Login>,
}

#[derive(Debug, Deserialize)]
struct Login {
    login: String,
}

/// The login issues opened with this token carry. A user's token (or a
/// PAT) answers GET /user; the workflow's GITHUB_TOKEN is an installation
/// token, which GET /user refuses with 403, and GitHub documents that what
/// it creates is authored by `github-actions[bot]`. Another app's token
/// names its bot in LIFEBOAT_ISSUE_AUTHOR.
async fn own_login(octo: &octocrab::Octocrab) -> Result<String> {
    if let Some(login) = std::env::var("LIFEBOAT_ISSUE_AUTHOR")
        .ok()
        .filter(|l| !l.trim().is_empty())
    {
        return Ok(login.trim().to_string());
    }
    let me: Result<Login, octocrab::Error> = octo.get("/user", None::<&()>).await;
    match me {
        Ok(me) => Ok(me.login),
        Err(octocrab::Error::GitHub { source, .. }) if matches!(source.status_code.as_u16(), 401 | 403) => {
            Ok("github-actions[bot]".into())
        }
        Err(e) => Err(explain(e, "issues: read")),
    }
}

fn marker(set: &str, class: &str) -> String {
    format!(
        "<!-- lifeboat-issue set=\"{}\" class=\"{}\" -->",
        set.replace('"', "'"),
        class
    )
}

/// The run this is, as a Markdown link.
pub fn run_link() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
        (Some(s), Some(r), Some(id)) => {
            let attempt = var("GITHUB_RUN_ATTEMPT")
                .map(|a| format!(" (attempt {a})"))
                .unwrap_or_default();
            format!(
                "[{} #{id}{attempt}]({s}/{r}/actions/runs/{id})",
                var("GITHUB_WORKFLOW").unwrap_or_else(|| "run".into())
            )
        }
        _ => "a run outside GitHub Actions".into(),
    }
}

/// Opens, comments on or closes the issue for `event`.
pub fn report(repo: &Repo, event: &Event) -> Result<Action> {
    block_on(report_async(repo, event))?
}

async fn comment(octo: &octocrab::Octocrab, repo: &Repo, number: u64, body: &str) -> Result<()> {
    let _: serde_json::Value = octo
        .post(
            repo.route(&format!("issues/{number}/comments")),
            Some(&json!({ "body": body })),
        )
        .await
        .map_err(|e| explain(e, "issues: write"))?;
    Ok(())
}

async fn report_async(repo: &Repo, event: &Event) -> Result<Action> {
    let octo = repo.client()?;
    let mark = marker(&event.set, &event.class);
    let me = own_login(&octo).await?;
    let existing = find_open(&octo, repo, &mark, &me).await?;
    let run = run_link();
    let step = event
        .step
        .as_deref()
        .map(|s| format!("\n\nFailed step: {s}."))
        .unwrap_or_default();
    match (event.failed, existing) {
        (true, Some(number)) => {
            comment(
                &octo,
                repo,
                number,
                &format!(
                    "Failed again in {run}.{step}\n\n{}",
                    crate::github::workflow::neutralize_lines(&event.details)
                ),
            )
            .await?;
            Ok(Action::Commented(number))
        }
        (true, None) => {
            for label in &event.labels {
                ensure_label(&octo, repo, label).await?;
            }
            let title = format!("lifeboat: {} of {} failed", event.class, event.set);
            let body = format!(
                "{mark}\nThe {} of `{}` failed in {run}.{step}\n\n{}\n\nlifeboat comments here when it fails again and closes this issue when it next succeeds.",
                event.class,
                event.set,
                crate::github::workflow::neutralize_lines(&event.details)
            );
            let created: IssueLite = octo
                .post(
                    repo.route("issues"),
                    Some(&json!({ "title": title, "body": body, "labels": event.labels })),
                )
                .await
                .map_err(|e| explain(e, "issues: write"))?;
            Ok(Action::Opened(created.number))
        }
        (false, Some(number)) if event.close_on_success => {
            let body = format!(
                "The {} of `{}` succeeded in {run}; closing.\n\n{}",
                event.class,
                event.set,
                crate::github::workflow::neutralize_lines(&event.details)
            );
            comment(&octo, repo, number, &body).await?;
            let _: serde_json::Value = octo
                .patch(
                    repo.route(&format!("issues/{number}")),
                    Some(&json!({ "state": "closed", "state_reason": "completed" })),
                )
                .await
                .map_err(|e| explain(e, "issues: write"))?;
            Ok(Action::Closed(number))
        }
        _ => Ok(Action::Nothing),
    }
}

/// The open issue carrying `mark` that `me` opened, looking through every
/// page. Anyone can paste the marker into an issue; only lifeboat's own
/// are commented on and closed.
async fn find_open(octo: &octocrab::Octocrab, repo: &Repo, mark: &str, me: &str) -> Result<Option<u64>> {
    for page in 1.. {
        let issues: Vec<IssueLite> = octo
            .get(
                repo.route("issues"),
                Some(&json!({ "state": "open", "per_page": PER_PAGE, "page": page })),
            )
            .await
            .map_err(|e| explain(e, "issues: read"))?;
        if let Some(found) = issues.iter().find(|i| {
            i.pull_request.is_none()
                && i.user.as_ref().is_some_and(|u| u.login.eq_ignore_ascii_case(me))
                && i.body.as_deref().is_some_and(|b| b.contains(mark))
        }) {
            return Ok(Some(found.number));
        }
        if issues.len() < PER_PAGE {
            break;
        }
    }
    Ok(None)
}

async fn ensure_label(octo: &octocrab::Octocrab, repo: &Repo, label: &str) -> Result<()> {
    let encoded: String = label
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let found: Result<serde_json::Value, octocrab::Error> =
        octo.get(repo.route(&format!("labels/{encoded}")), None::<&()>).await;
    match found {
        Ok(_) => Ok(()),
        Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 404 => {
            let _: serde_json::Value = octo
                .post(repo.route("labels"), Some(&json!({ "name": label, "color": "b60205", "description": "Opened by lifeboat when a backup fails" })))
                .await
                .map_err(|e| explain(e, "issues: write"))?;
            Ok(())
        }
        Err(e) => Err(explain(e, "issues: write")),
    }
}

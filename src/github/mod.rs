//! The GitHub side: workflow commands, step outputs and the job summary;
//! one failure issue per set and failure class; artifacts of earlier runs.

pub mod artifacts;
pub mod issues;
pub mod report;
pub mod workflow;

use anyhow::{Context, Result};

/// Where the GitHub API is and who we are there, from the variables
/// Actions sets (GITHUB_API_URL is honoured for GitHub Enterprise).
#[derive(Clone)]
pub struct Repo {
    pub api_url: String,
    pub owner: String,
    pub name: String,
    token: String,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} at {}", self.owner, self.name, self.api_url)
    }
}

impl Repo {
    /// From GITHUB_REPOSITORY, GITHUB_API_URL and a token
    /// (LIFEBOAT_GITHUB_TOKEN, then GITHUB_TOKEN).
    pub fn from_env() -> Result<Repo> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let repository = var("GITHUB_REPOSITORY")
            .context("GITHUB_REPOSITORY is not set: this runs inside GitHub Actions, or set it to owner/name")?;
        let (owner, name) = repository
            .split_once('/')
            .context("GITHUB_REPOSITORY is not owner/name")?;
        let token = var("LIFEBOAT_GITHUB_TOKEN")
            .or_else(|| var("GITHUB_TOKEN"))
            .context("no GitHub token: pass github-token to the action (the workflow's token is the default), or set GITHUB_TOKEN")?;
        Ok(Repo {
            api_url: var("GITHUB_API_URL")
                .unwrap_or_else(|| "https://api.github.com".into())
                .trim_end_matches('/')
                .to_string(),
            owner: owner.to_string(),
            name: name.to_string(),
            token,
        })
    }

    pub(crate) fn client(&self) -> Result<octocrab::Octocrab> {
        octocrab::Octocrab::builder()
            .base_uri(self.api_url.as_str())
            .context("GITHUB_API_URL is not a URL")?
            .personal_token(self.token.clone())
            .build()
            .context("setting up the GitHub client")
    }

    pub(crate) fn route(&self, tail: &str) -> String {
        format!("/repos/{}/{}/{tail}", self.owner, self.name)
    }
}

/// Runs one future to its end on a small runtime of its own; the rest of
/// lifeboat is synchronous.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the GitHub client")?;
    Ok(runtime.block_on(future))
}

/// What GitHub answered, as a message that says what to do. A 403 means
/// the token lacks a permission; it is named.
pub(crate) fn explain(err: octocrab::Error, permission: &str) -> anyhow::Error {
    if let octocrab::Error::GitHub { source, .. } = &err {
        let status = source.status_code.as_u16();
        if status == 403 || status == 401 {
            return anyhow::anyhow!(
                "GitHub refused ({status} {}): the token lacks `{permission}`; add `permissions: {permission}` to the workflow or job",
                source.message
            );
        }
        return anyhow::anyhow!("GitHub answered {status}: {}", source.message);
    }
    anyhow::anyhow!("talking to GitHub: {err}")
}

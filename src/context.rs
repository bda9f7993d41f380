//! Where a run happens: the CI run from `GITHUB_*` variables, or the local
//! git commit and branch; and the host and user.

use crate::archive::manifest::{CiContext, GitContext, RunContext};
use std::process::Command;

/// Reads the context of this run from the environment.
pub fn detect() -> RunContext {
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let run_url = match (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
            (Some(server), Some(repo), Some(id)) => Some(format!("{server}/{repo}/actions/runs/{id}")),
            _ => None,
        };
        return RunContext {
            ci: Some(CiContext {
                provider: "github-actions".into(),
                repository: var("GITHUB_REPOSITORY"),
                run_id: var("GITHUB_RUN_ID"),
                run_attempt: var("GITHUB_RUN_ATTEMPT"),
                workflow: var("GITHUB_WORKFLOW"),
                job: var("GITHUB_JOB"),
                event: var("GITHUB_EVENT_NAME"),
                git_ref: var("GITHUB_REF"),
                commit: var("GITHUB_SHA"),
                run_url,
            }),
            git: None,
        };
    }
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let commit = git(&["rev-parse", "HEAD"]);
    let branch = git(&["rev-parse", "--abbrev-ref", "HEAD"]);
    RunContext {
        ci: None,
        git: (commit.is_some() || branch.is_some()).then_some(GitContext { commit, branch }),
    }
}

/// The kind a backup has when none is given: what started the run.
pub fn default_kind() -> &'static str {
    match std::env::var("GITHUB_EVENT_NAME").as_deref() {
        Ok("schedule") => "scheduled",
        _ => "manual",
    }
}

pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Who took the backup: USER or LOGNAME, else the name the password
/// database gives the effective uid (containers and CI often set neither),
/// and only when even that fails, the number.
pub fn user() -> String {
    if let Some(name) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    {
        return name;
    }
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.len() > 2 && fields[2] == uid.to_string()).then(|| fields[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

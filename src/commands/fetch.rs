//! `lifeboat fetch`: the newest unexpired artifact of this repository's
//! workflow runs, downloaded and checked; `restore --artifact` uses it too.

use crate::app::outcome::Outcome;
use crate::cli::{ArtifactArgs, FetchArgs};
use crate::commands::{Cmd, Context};
use crate::config::{Draft, override_with};
use crate::github;
use crate::progress::Reporter;
use crate::store::{self, github_artifacts::ArtifactStore};
use anyhow::Result;
use std::path::{Path, PathBuf};

impl Cmd for FetchArgs {
    fn configure<'a>(&'a self, draft: &mut Draft<'a>) -> Result<()> {
        override_with(&mut draft.config.out_dir, self.out.clone());
        Ok(())
    }

    fn run(&self, cx: &Context) -> Result<Outcome> {
        let (args, config, reporter) = (self, cx.config, cx.reporter);
        let path = fetch_artifact(&args.artifact, &args.filter, &config.out_dir, reporter)?;
        Ok(Outcome::printed(format!("{}\n", path.display()))
            .with_outputs(vec![("backup-path", path.display().to_string())]))
    }
}

/// Downloads the newest artifact named `name` into `out`; the set's path.
pub fn fetch_artifact(name: &str, filter: &ArtifactArgs, out: &Path, reporter: &Reporter) -> Result<PathBuf> {
    let repo = github::Repo::from_env()?;
    let wanted = github::artifacts::Wanted {
        name: name.to_string(),
        run_id: filter.run_id,
        branch: filter.branch.clone(),
        workflow: filter.workflow.clone(),
    };
    reporter.info(&format!(
        "fetching the newest artifact {name:?} from {}/{}",
        repo.owner, repo.name
    ));
    let artifacts = ArtifactStore::new(wanted, out.to_path_buf());
    let set = store::latest(&artifacts, None)?;
    reporter.info(&format!("chose {}", artifacts.origin().unwrap_or("?")));
    reporter.info(&format!("fetched {}", set.path.display()));
    Ok(set.path)
}

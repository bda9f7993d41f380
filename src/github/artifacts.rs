//! Sets uploaded as workflow artifacts by earlier runs: the newest
//! unexpired artifact of a name (optionally of one run, branch or
//! workflow), downloaded, unzipped and checked against its sidecar.
//!
//! Artifacts are input from strangers: a pull request from a fork runs
//! workflows that upload artifacts into this repository. So only
//! artifacts of runs whose head repository is this repository count, the
//! default branch is the default, the choice is said out loud, and a zip
//! is unpacked into a new private directory, its expected entries only.

use super::{Repo, block_on, explain};
use crate::archive::checksum;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const PER_PAGE: u64 = 100;

#[derive(Debug, Clone, Default)]
pub struct Wanted {
    pub name: String,
    pub run_id: Option<u64>,
    pub branch: Option<String>,
    /// A workflow file name (`backup.yml`) or name.
    pub workflow: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Artifact {
    pub id: u64,
    pub name: String,
    pub size_in_bytes: u64,
    pub expired: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub workflow_run: Option<RunRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RunRef {
    pub id: Option<u64>,
    pub head_branch: Option<String>,
    pub repository_id: Option<u64>,
    pub head_repository_id: Option<u64>,
    pub head_sha: Option<String>,
}

impl RunRef {
    /// Whether the run's code came from this repository, not a fork.
    fn is_from_this_repository(&self) -> bool {
        matches!((self.repository_id, self.head_repository_id), (Some(a), Some(b)) if a == b)
    }
}

#[derive(Debug, Deserialize)]
struct RepoInfo {
    default_branch: Option<String>,
}

/// A set fetched from an artifact, and where it came from.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub set: PathBuf,
    /// Which artifact, run, branch, workflow and commit, for the log.
    pub origin: String,
}

#[derive(Debug, Deserialize)]
struct ArtifactPage {
    total_count: u64,
    artifacts: Vec<Artifact>,
}

#[derive(Debug, Deserialize)]
struct Run {
    name: Option<String>,
    path: Option<String>,
}

/// Downloads the newest matching artifact into a new private directory
/// under `dest` and returns the set inside it, checked against its sidecar.
pub fn fetch(repo: &Repo, wanted: &Wanted, dest: &Path) -> Result<Fetched> {
    let (artifact, origin, zip) = block_on(download(repo, wanted))??;
    crate::fsutil::create_private_dir(dest)?;
    // A directory of its own, never one that exists: nothing in `dest`
    // (a lifeboat.toml, an earlier set) can be overwritten.
    let private = tempfile::Builder::new()
        .prefix(&format!("artifact-{}-", artifact.id))
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(dest)
        .with_context(|| format!("creating a directory for the artifact in {}", dest.display()))?
        .keep();
    let files =
        unzip(&zip, &private).with_context(|| format!("unpacking artifact {} ({})", artifact.name, artifact.id))?;
    let sets: Vec<&PathBuf> = files
        .iter()
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy())
                .is_some_and(|n| n.ends_with(".tar") || n.ends_with(".tar.age"))
        })
        .collect();
    let set = match sets.as_slice() {
        [one] => (*one).clone(),
        [] => bail!(
            "artifact {} holds no backup set (.tar or .tar.age): was it uploaded by lifeboat?",
            artifact.name
        ),
        many => bail!(
            "artifact {} holds {} sets; restore one of them by path",
            artifact.name,
            many.len()
        ),
    };
    let sidecar = checksum::sidecar_path(&set);
    let name = set.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let expected = checksum::read_sidecar(&sidecar, &name)
        .with_context(|| format!("artifact {} has no usable .sha256 beside {name}", artifact.name))?;
    let actual = checksum::sha256_file(&set)?;
    if expected != actual {
        bail!(
            "{name} from artifact {} does not match its .sha256 (expected {expected}, got {actual}): the download is damaged",
            artifact.name
        );
    }
    Ok(Fetched { set, origin })
}

async fn download(repo: &Repo, wanted: &Wanted) -> Result<(Artifact, String, Vec<u8>)> {
    let octo = repo.client()?;
    // Without a run or a branch asked for, the default branch: sets taken
    // on other branches are tests of work in progress.
    let branch = match (&wanted.branch, wanted.run_id) {
        (Some(b), _) => Some(b.clone()),
        (None, Some(_)) => None,
        (None, None) => {
            let info: RepoInfo = octo
                .get(format!("/repos/{}/{}", repo.owner, repo.name), None::<&()>)
                .await
                .map_err(|e| explain(e, "contents: read"))?;
            info.default_branch
        }
    };
    let mut all = Vec::new();
    for page in 1.. {
        let listed: ArtifactPage = octo
            .get(
                repo.route("actions/artifacts"),
                Some(&json!({ "name": wanted.name, "per_page": PER_PAGE, "page": page })),
            )
            .await
            .map_err(|e| explain(e, "actions: read"))?;
        let n = listed.artifacts.len() as u64;
        all.extend(listed.artifacts.into_iter().filter(|a| a.name == wanted.name));
        if n < PER_PAGE || (page as u64) * PER_PAGE >= listed.total_count {
            break;
        }
    }
    if all.is_empty() {
        bail!(
            "no artifact named {:?} in {}/{}: check the name, and that a run uploaded it",
            wanted.name,
            repo.owner,
            repo.name
        );
    }
    all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    let before = all.len();
    all.retain(|a| a.workflow_run.as_ref().is_some_and(RunRef::is_from_this_repository));
    let from_forks = before - all.len();
    if all.is_empty() {
        bail!(
            "every artifact named {:?} ({before}) comes from a run of another repository (a pull request from a fork) or of unknown origin: lifeboat only restores sets this repository's own runs made",
            wanted.name
        );
    }
    let matching: Vec<&Artifact> = all
        .iter()
        .filter(|a| {
            wanted
                .run_id
                .is_none_or(|id| a.workflow_run.as_ref().and_then(|r| r.id) == Some(id))
        })
        .filter(|a| {
            branch
                .as_ref()
                .is_none_or(|b| a.workflow_run.as_ref().and_then(|r| r.head_branch.as_ref()) == Some(b))
        })
        .collect();
    if matching.is_empty() {
        bail!(
            "no artifact named {:?} matches the run id or branch asked for{} ({} of this repository's runs with that name exist{}); pass --branch or --run-id to choose another",
            wanted.name,
            match (&wanted.branch, &branch) {
                (None, Some(b)) => format!(" (the default branch, {b})"),
                _ => String::new(),
            },
            all.len(),
            if from_forks > 0 {
                format!("; {from_forks} from forks were left out")
            } else {
                String::new()
            }
        );
    }
    let mut chosen = None;
    for a in matching.iter().filter(|a| !a.expired) {
        let run_id = a.workflow_run.as_ref().and_then(|r| r.id);
        let run: Option<Run> = match (run_id, &wanted.workflow) {
            (Some(id), Some(_)) => Some(
                octo.get(repo.route(&format!("actions/runs/{id}")), None::<&()>)
                    .await
                    .map_err(|e| explain(e, "actions: read"))?,
            ),
            // Only to say which workflow made it: a run we cannot read
            // does not stop the restore.
            (Some(id), None) => octo
                .get(repo.route(&format!("actions/runs/{id}")), None::<&()>)
                .await
                .ok(),
            (None, _) => None,
        };
        if let Some(workflow) = &wanted.workflow {
            let Some(run) = &run else { continue };
            let file = run.path.as_deref().and_then(|p| p.rsplit('/').next()).unwrap_or("");
            if file != workflow && run.name.as_deref() != Some(workflow.as_str()) {
                continue;
            }
        }
        chosen = Some(((*a).clone(), run));
        break;
    }
    let Some((artifact, run)) = chosen else {
        let newest = matching[0];
        bail!(
            "every artifact named {:?} has expired (the newest expired {}): artifacts live for the repository's retention days; take a new backup",
            wanted.name,
            newest
                .expires_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "some time ago".into())
        );
    };
    let bytes = octo
        .actions()
        .download_artifact(
            repo.owner.as_str(),
            repo.name.as_str(),
            octocrab::models::ArtifactId(artifact.id),
            octocrab::params::actions::ArchiveFormat::Zip,
        )
        .await
        .map_err(|e| explain(e, "actions: read"))?;
    let r = artifact.workflow_run.clone();
    let origin = crate::github::workflow::neutralize(&format!(
        "artifact {} ({}, created {}) from run {} on branch {} of workflow {} at commit {}{}",
        artifact.name,
        artifact.id,
        artifact
            .created_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "?".into()),
        r.as_ref()
            .and_then(|r| r.id)
            .map(|i| i.to_string())
            .unwrap_or_else(|| "?".into()),
        r.as_ref()
            .and_then(|r| r.head_branch.clone())
            .unwrap_or_else(|| "?".into()),
        run.as_ref()
            .and_then(|r| r.path.clone().or(r.name.clone()))
            .unwrap_or_else(|| "?".into()),
        r.as_ref()
            .and_then(|r| r.head_sha.clone())
            .unwrap_or_else(|| "?".into()),
        if from_forks > 0 {
            format!("; {from_forks} artifacts of runs from forks were left out")
        } else {
            String::new()
        }
    ));
    Ok((artifact, origin, bytes.to_vec()))
}

/// Whether a zip entry is one lifeboat uploads beside a set: the set, its
/// sidecar, its verification record (and the encrypted forms).
fn expected_entry(name: &str) -> bool {
    let flat = !name.is_empty() && !name.contains(['/', '\\']) && !name.starts_with('.');
    let set = name
        .strip_suffix(".sha256")
        .or_else(|| name.strip_suffix(".verified.json"))
        .unwrap_or(name);
    let set = set
        .strip_suffix(".README")
        .filter(|s| s.ends_with(".tar.age"))
        .unwrap_or(set);
    flat && (set.ends_with(".tar") || set.ends_with(".tar.age"))
}

/// Unpacks the expected entries of a zip into `dest` (a new private
/// directory): no entry may leave it, name a file twice, or be anything
/// but a set and the files that travel with it.
fn unzip(bytes: &[u8], dest: &Path) -> Result<Vec<PathBuf>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).context("the artifact is not a zip file")?;
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().context("a zip entry name that is not text")?.to_string();
        if entry.enclosed_name().is_none() || !expected_entry(&name) {
            bail!(
                "the artifact holds an entry lifeboat does not upload ({}): only a set, its .sha256 and its verification record are taken; refusing the artifact",
                crate::github::workflow::neutralize(&name)
            );
        }
        let out = dest.join(&name);
        // create_new: a second entry of the same name fails, never replaces.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&out)
            .with_context(|| {
                format!(
                    "the artifact names {} twice; refusing it",
                    crate::github::workflow::neutralize(&name)
                )
            })?;
        std::io::copy(&mut entry, &mut file).with_context(|| crate::fsutil::write_hint(&out))?;
        files.push(out);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_set_and_its_companions_are_expected() {
        for ok in [
            "app-20260101T000000Z.tar",
            "app-20260101T000000Z.tar.sha256",
            "app-20260101T000000Z.tar.verified.json",
            "app-20260101T000000Z.tar.age",
            "app-20260101T000000Z.tar.age.sha256",
            "app-20260101T000000Z.tar.age.README",
        ] {
            assert!(super::expected_entry(ok), "{ok}");
        }
        for bad in [
            "lifeboat.toml",
            "../x.tar",
            "dir/x.tar",
            ".x.tar",
            "x.tar.README",
            "x.sh",
            "",
        ] {
            assert!(!super::expected_entry(bad), "{bad}");
        }
    }
}

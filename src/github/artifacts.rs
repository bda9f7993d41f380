//! Sets uploaded as workflow artifacts by earlier runs: the newest
//! unexpired artifact of a name (optionally of one run, branch or
//! workflow), downloaded, unzipped and checked against its sidecar.

use super::{Repo, block_on, explain};
use crate::archive::checksum;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
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

/// Downloads the newest matching artifact into `dest` and returns the set
/// inside it, checked against its sidecar.
pub fn fetch(repo: &Repo, wanted: &Wanted, dest: &Path) -> Result<PathBuf> {
    let (artifact, zip) = block_on(download(repo, wanted))??;
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let files = unzip(&zip, dest).with_context(|| format!("unpacking artifact {} ({})", artifact.name, artifact.id))?;
    let sets: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tar"))
        .collect();
    let set = match sets.as_slice() {
        [one] => (*one).clone(),
        [] => bail!(
            "artifact {} holds no backup set (.tar): was it uploaded by lifeboat?",
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
    Ok(set)
}

async fn download(repo: &Repo, wanted: &Wanted) -> Result<(Artifact, Vec<u8>)> {
    let octo = repo.client()?;
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
    let matching: Vec<&Artifact> = all
        .iter()
        .filter(|a| {
            wanted
                .run_id
                .is_none_or(|id| a.workflow_run.as_ref().and_then(|r| r.id) == Some(id))
        })
        .filter(|a| {
            wanted
                .branch
                .as_ref()
                .is_none_or(|b| a.workflow_run.as_ref().and_then(|r| r.head_branch.as_ref()) == Some(b))
        })
        .collect();
    if matching.is_empty() {
        bail!(
            "no artifact named {:?} matches the run id or branch asked for ({} with that name exist)",
            wanted.name,
            all.len()
        );
    }
    let mut chosen = None;
    for a in matching.iter().filter(|a| !a.expired) {
        if let Some(workflow) = &wanted.workflow {
            let Some(run_id) = a.workflow_run.as_ref().and_then(|r| r.id) else {
                continue;
            };
            let run: Run = octo
                .get(repo.route(&format!("actions/runs/{run_id}")), None::<&()>)
                .await
                .map_err(|e| explain(e, "actions: read"))?;
            let file = run.path.as_deref().and_then(|p| p.rsplit('/').next()).unwrap_or("");
            if file != workflow && run.name.as_deref() != Some(workflow.as_str()) {
                continue;
            }
        }
        chosen = Some((*a).clone());
        break;
    }
    let Some(artifact) = chosen else {
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
    Ok((artifact, bytes.to_vec()))
}

/// Unpacks a zip, refusing names that would leave `dest`.
fn unzip(bytes: &[u8], dest: &Path) -> Result<Vec<PathBuf>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).context("the artifact is not a zip file")?;
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let Some(relative) = entry.enclosed_name() else {
            bail!(
                "the artifact holds an entry with an unsafe name ({:?}); refusing it",
                entry.name()
            );
        };
        if entry.is_dir() {
            continue;
        }
        let name = relative.file_name().context("an entry without a file name")?;
        let out = dest.join(name);
        let mut file = crate::fsutil::create_private(&out)?;
        std::io::copy(&mut entry, &mut file).with_context(|| crate::fsutil::write_hint(&out))?;
        files.push(out);
    }
    Ok(files)
}

//! Sets uploaded as workflow artifacts by earlier runs: the newest
//! unexpired artifact of a name (optionally of one run, branch or
//! workflow), downloaded, unzipped and checked against its sidecar.
//!
//! Artifacts are input from strangers: a pull request from a fork runs
//! workflows that upload artifacts into this repository. So only
//! artifacts of runs whose head repository is this repository count, the
//! default branch is the default, the choice is said out loud, and a zip
//! is unpacked into a new private directory, its expected entries only.
//! Its sizes are bounded too: the download may not grow past the size the
//! API reported, unpacking may not inflate past a multiple of the zip nor
//! eat the disk's last free space, and a fetch that fails removes all it
//! wrote.

use super::{Repo, block_on, explain};
use crate::archive::checksum;
use crate::progress::human_bytes;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const PER_PAGE: u64 = 100;

/// How far past the API's `size_in_bytes` a download may grow, as a share
/// (1/100) and a constant: the zip GitHub serves is the one it measured,
/// but older artifacts were zipped on the fly and may differ a little.
const DOWNLOAD_SLACK_DIVISOR: u64 = 100;
const DOWNLOAD_SLACK: u64 = 1 << 20;

/// How many times the zip's size its entries may inflate to, together.
/// Sets are compressed (gzip or zstd members) or encrypted, so they hardly
/// shrink in a zip; one taken with `--compression none` of the SQLite test
/// fixture (random text and blobs) packs 2.3 times (48.6 MB in a 21.1 MB
/// `zip -6`). 64 leaves room for data far more repetitive than that, while
/// a zip bomb (deflate reaches 1032 times) stops at a sixteenth of its size.
const MAX_INFLATION: u64 = 64;

/// What unpacking may always write, whatever the ratio: a small set is
/// mostly tar headers and padding, which pack many times.
const MIN_UNPACK_BUDGET: u64 = 64 << 20;

/// Free space a fetch leaves on the destination filesystem: running it
/// out breaks the restore that follows, and whatever else writes there.
const FREE_SPACE_MARGIN: u64 = 256 << 20;

/// How many bytes are written between two looks at the free space.
const FREE_SPACE_EVERY: u64 = 8 << 20;

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
/// When anything fails, what the fetch wrote is removed: the directory it
/// made (and `dest`, when the fetch created it), never anything else.
pub fn fetch(repo: &Repo, wanted: &Wanted, dest: &Path) -> Result<Fetched> {
    let (artifact, origin) = block_on(choose(repo, wanted))??;
    let dest_existed = dest.exists();
    crate::fsutil::create_private_dir(dest)?;
    // A directory of its own, never one that exists: nothing in `dest`
    // (a lifeboat.toml, an earlier set) can be overwritten. It is removed
    // when dropped, so only a fetch that succeeds keeps it.
    let private = tempfile::Builder::new()
        .prefix(&format!("artifact-{}-", artifact.id))
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(dest)
        .with_context(|| format!("creating a directory for the artifact in {}", dest.display()))?;
    match unpack(repo, &artifact, private.path()) {
        Ok(set) => {
            // The set lives in it: no longer removed on drop.
            let _ = private.keep();
            Ok(Fetched { set, origin })
        }
        Err(err) => {
            let shown = private.path().display().to_string();
            let err = match private.close() {
                Ok(()) => err,
                Err(e) => err.context(format!(
                    "the fetch failed, and what it wrote in {shown} could not be removed ({e}): remove that directory by hand"
                )),
            };
            if !dest_existed {
                // Only when empty: something else may have arrived since.
                let _ = std::fs::remove_dir(dest);
            }
            Err(err)
        }
    }
}

/// Downloads `artifact` into `dir` (a new private directory), unpacks it
/// there and checks its set against the sidecar; the set's path.
fn unpack(repo: &Repo, artifact: &Artifact, dir: &Path) -> Result<PathBuf> {
    let label = format!("artifact {} ({})", artifact.name, artifact.id);
    // On disk, not in memory: artifacts run to gigabytes. A dot-name, which
    // no entry may have, so unpacking cannot collide with it.
    let mut zip = tempfile::Builder::new()
        .prefix(".download-")
        .suffix(".zip")
        .tempfile_in(dir)
        .with_context(|| format!("creating a file for the download of {label} in {}", dir.display()))?;
    let zip_path = zip.path().to_path_buf();
    let zip_len = block_on(download(repo, artifact, zip.as_file_mut(), &zip_path))??;
    let files = unzip(zip.as_file(), zip_len, dir).with_context(|| format!("unpacking {label}"))?;
    zip.close()
        .with_context(|| format!("removing the downloaded zip {}", zip_path.display()))?;
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
    Ok(set)
}

/// The newest artifact matching `wanted`, and a line saying where it
/// came from.
async fn choose(repo: &Repo, wanted: &Wanted) -> Result<(Artifact, String)> {
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
    Ok((artifact, origin))
}

/// Streams the artifact's zip into `file`; its length. The download may
/// not grow past the size the API reported (plus a little), so a server
/// that sends more than it listed cannot fill the disk.
async fn download(repo: &Repo, artifact: &Artifact, file: &mut std::fs::File, path: &Path) -> Result<u64> {
    let limit = artifact
        .size_in_bytes
        .saturating_add(artifact.size_in_bytes / DOWNLOAD_SLACK_DIVISOR)
        .saturating_add(DOWNLOAD_SLACK);
    let too_big = |got: &str| {
        anyhow::anyhow!(
            "GitHub's API lists artifact {} ({}) at {}, but its download {got}: refused, and nothing of it was kept. Try again; if it recurs, download the artifact yourself (gh run download) and restore the set by path",
            artifact.name,
            artifact.id,
            human_bytes(artifact.size_in_bytes),
        )
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_room(dir, artifact.size_in_bytes, "the artifact's download")?;
    let octo = repo.client()?;
    // The API answers with a redirect to blob storage, which the client
    // follows (without the token, as the host differs).
    let response = octo
        ._get(repo.route(&format!("actions/artifacts/{}/zip", artifact.id)))
        .await
        .map_err(|e| explain(e, "actions: read"))?;
    let response = octo
        .follow_location_to_data(response)
        .await
        .map_err(|e| explain(e, "actions: read"))?;
    let response = octocrab::map_github_error(response)
        .await
        .map_err(|e| explain(e, "actions: read"))?;
    let announced = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = announced.filter(|n| *n > limit) {
        return Err(too_big(&format!("announces {}", human_bytes(n))));
    }
    let mut body = response.into_body();
    let mut total = 0u64;
    let mut next_look = FREE_SPACE_EVERY;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| explain(e, "actions: read"))?;
        let Ok(data) = frame.into_data() else { continue };
        total += data.len() as u64;
        if total > limit {
            return Err(too_big(&format!("grew past {}", human_bytes(limit))));
        }
        if total >= next_look {
            ensure_room(dir, FREE_SPACE_EVERY, "the artifact's download")?;
            next_look = total + FREE_SPACE_EVERY;
        }
        file.write_all(&data).with_context(|| crate::fsutil::write_hint(path))?;
    }
    Ok(total)
}

/// Refuses to write `more` bytes into `dir` when that would leave less
/// than the margin free on its filesystem.
fn ensure_room(dir: &Path, more: u64, what: &str) -> Result<()> {
    let Some(free) = crate::fsutil::free_space(dir) else {
        return Ok(());
    };
    if free < more.saturating_add(FREE_SPACE_MARGIN) {
        bail!(
            "{what} would leave less than {} free on the filesystem of {} ({} free, {} more to write); stopped, and what was written is removed. Free space there, or fetch into another directory (--out)",
            human_bytes(FREE_SPACE_MARGIN),
            dir.display(),
            human_bytes(free),
            human_bytes(more)
        );
    }
    Ok(())
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

/// Unpacks the expected entries of a zip (`zip_len` bytes) into `dest`
/// (a new private directory): no entry may leave it, name a file twice, or
/// be anything but a set and the files that travel with it. Together they
/// may not inflate past `MAX_INFLATION` times the zip, counted as they are
/// written (a declared size is only a claim), nor run the disk down to its
/// margin.
fn unzip(zip: &std::fs::File, zip_len: u64, dest: &Path) -> Result<Vec<PathBuf>> {
    let mut archive = zip::ZipArchive::new(zip).context("the artifact is not a zip file")?;
    let budget = zip_len.saturating_mul(MAX_INFLATION).max(MIN_UNPACK_BUDGET);
    let bomb = |name: &str| {
        anyhow::anyhow!(
            "{} would take the artifact past {} unpacked, {MAX_INFLATION} times its {} zip: sets are already compressed and pack little further, so this looks like a zip bomb and is refused, and nothing of it was kept. If you made this artifact, download it yourself (gh run download) and restore the set by path",
            crate::github::workflow::neutralize(name),
            human_bytes(budget),
            human_bytes(zip_len),
        )
    };
    let mut files = Vec::new();
    let mut written = 0u64;
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
        let left = budget - written;
        // What the zip declares is checked before a byte is written; what
        // the entry really inflates to is counted below.
        if entry.size() > left {
            return Err(bomb(&name));
        }
        ensure_room(
            dest,
            entry.size(),
            &format!("unpacking {}", crate::github::workflow::neutralize(&name)),
        )?;
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
        files.push(out.clone());
        let mut next_look = FREE_SPACE_EVERY;
        let copied = copy_at_most(&mut entry, &mut file, left, &out, |n| {
            if n >= next_look {
                next_look = n + FREE_SPACE_EVERY;
                ensure_room(dest, FREE_SPACE_EVERY, "unpacking the artifact")?;
            }
            Ok(())
        })
        .with_context(|| format!("unpacking {}", crate::github::workflow::neutralize(&name)))?;
        let Some(n) = copied else {
            return Err(bomb(&name));
        };
        written += n;
    }
    Ok(files)
}

/// Copies `from` into `to` (the file `path`) until its end, or until more
/// than `limit` bytes come (`None`, the excess unwritten); `wrote` hears
/// the running total after each write.
fn copy_at_most(
    from: &mut impl Read,
    to: &mut impl Write,
    limit: u64,
    path: &Path,
    mut wrote: impl FnMut(u64) -> Result<()>,
) -> Result<Option<u64>> {
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(Some(total)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading it from the zip"),
        };
        total += n as u64;
        if total > limit {
            return Ok(None);
        }
        to.write_all(&buf[..n])
            .with_context(|| crate::fsutil::write_hint(path))?;
        wrote(total)?;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn copying_stops_past_the_limit_without_writing_the_excess() {
        let path = std::path::Path::new("x");
        let mut out = Vec::new();
        let got = super::copy_at_most(&mut &[7u8; 10][..], &mut out, 10, path, |_| Ok(())).unwrap();
        assert_eq!((got, out.len()), (Some(10), 10));
        let mut out = Vec::new();
        let mut seen = 0;
        let got = super::copy_at_most(&mut &[7u8; 10][..], &mut out, 9, path, |n| {
            seen = n;
            Ok(())
        })
        .unwrap();
        assert_eq!((got, out.len(), seen), (None, 0, 0));
        // The callback's refusal (the disk's margin) stops the copy.
        let err = super::copy_at_most(&mut &[7u8; 10][..], &mut Vec::new(), 10, path, |_| {
            anyhow::bail!("no room")
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "no room");
    }

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

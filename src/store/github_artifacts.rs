//! Workflow artifacts of earlier runs as a read-only store,
//! `artifact://NAME`: its one set is the newest unexpired artifact of that
//! name from this repository's own runs, downloaded and checked against
//! its sidecar (the HTTP side is `github::artifacts`).

use super::{LocalStore, SetEntry, Store};
use crate::github::artifacts::{self, Fetched, Wanted};
use crate::progress::Reporter;
use anyhow::{Result, bail};
use std::cell::OnceCell;
use std::ops::Range;
use std::path::{Path, PathBuf};

pub struct ArtifactStore {
    wanted: Wanted,
    /// Where the artifact is unpacked, in a new private directory.
    dest: PathBuf,
    fetched: OnceCell<(Fetched, LocalStore)>,
}

impl ArtifactStore {
    /// `artifact://NAME`, unpacked under the default out directory as
    /// `lifeboat fetch` does.
    pub fn open(url: &str) -> Result<ArtifactStore> {
        let name = url.strip_prefix("artifact://").unwrap_or(url).trim_end_matches('/');
        if name.is_empty() || name.contains('/') {
            crate::usage_bail!("{url}: write artifact://NAME with the artifact's name");
        }
        Ok(ArtifactStore::new(
            Wanted {
                name: name.to_string(),
                ..Default::default()
            },
            PathBuf::from(crate::config::DEFAULT_OUT),
        ))
    }

    pub fn new(wanted: Wanted, dest: PathBuf) -> ArtifactStore {
        ArtifactStore {
            wanted,
            dest,
            fetched: OnceCell::new(),
        }
    }

    /// Downloads the artifact, once.
    fn fetched(&self) -> Result<&(Fetched, LocalStore)> {
        if let Some(f) = self.fetched.get() {
            return Ok(f);
        }
        let repo = crate::github::Repo::from_env()?;
        let fetched = artifacts::fetch(&repo, &self.wanted, &self.dest)?;
        let dir = fetched.set.parent().unwrap_or(Path::new(".")).to_path_buf();
        Ok(self.fetched.get_or_init(|| (fetched, LocalStore::new(dir))))
    }

    /// Which artifact, run, branch, workflow and commit the set came from.
    pub fn origin(&self) -> Option<&str> {
        self.fetched.get().map(|(f, _)| f.origin.as_str())
    }

    fn read_only<T>(&self) -> Result<T> {
        bail!(
            "artifact://{} is read only: sets become artifacts through actions/upload-artifact",
            self.wanted.name
        )
    }
}

impl Store for ArtifactStore {
    fn location(&self) -> String {
        format!("artifact://{}", self.wanted.name)
    }

    fn list(&self) -> Result<Vec<SetEntry>> {
        let (fetched, local) = self.fetched()?;
        Ok(local.list()?.into_iter().filter(|e| e.path == fetched.set).collect())
    }

    fn read_range(&self, file_name: &str, range: Range<u64>) -> Result<Vec<u8>> {
        self.fetched()?.1.read_range(file_name, range)
    }

    fn read_small(&self, file_name: &str) -> Result<Option<Vec<u8>>> {
        self.fetched()?.1.read_small(file_name)
    }

    fn open(&self, entry: &SetEntry, _scratch: &Path, _reporter: &Reporter) -> Result<PathBuf> {
        Ok(entry.path.clone())
    }

    fn put_set(&self, _set: &Path, _reporter: &Reporter) -> Result<PathBuf> {
        self.read_only()
    }

    fn put_record(&self, set_file: &str, record: &Path) -> Result<()> {
        // The downloaded copy is ours: its record stays beside it.
        self.fetched()?.1.put_record(set_file, record)
    }

    fn remove_set(&self, _entry: &SetEntry) -> Result<u64> {
        self.read_only()
    }

    fn leftovers(&self) -> Result<Vec<(String, PathBuf)>> {
        Ok(Vec::new())
    }

    fn remove_leftover(&self, _leftover: &Path) -> bool {
        false
    }
}

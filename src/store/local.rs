//! A directory of sets: naming, listing, and the files that travel with a
//! set (sidecar, verification record).

use crate::archive::{checksum, manifest::Manifest, reader};
use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};

const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// The parts of a set's file name: `<set>-<UTC time>[-<label>].tar`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetName {
    pub set: String,
    pub time: DateTime<Utc>,
    pub label: Option<String>,
    pub encrypted: bool,
}

impl SetName {
    pub fn file_name(&self) -> String {
        let mut name = format!("{}-{}", self.set, self.time.format(TIME_FORMAT));
        if let Some(label) = &self.label {
            name.push('-');
            name.push_str(label);
        }
        name.push_str(if self.encrypted { ".tar.age" } else { ".tar" });
        name
    }

    /// Reads a file name back; `None` for files that are not sets.
    pub fn parse(file_name: &str) -> Option<SetName> {
        let (stem, encrypted) = if let Some(s) = file_name.strip_suffix(".tar.age") {
            (s, true)
        } else {
            (file_name.strip_suffix(".tar")?, false)
        };
        if stem.starts_with('.') {
            return None;
        }
        let bytes = stem.as_bytes();
        // The time is 16 characters after a '-', followed by the end or '-'.
        for i in 1..bytes.len() {
            if bytes[i - 1] != b'-' || i + 16 > bytes.len() {
                continue;
            }
            // `get`, not indexing: a name with non-ASCII characters may not
            // have a character boundary 16 bytes on.
            let (Some(candidate), Some(after)) = (stem.get(i..i + 16), stem.get(i + 16..)) else {
                continue;
            };
            if !(after.is_empty() || after.starts_with('-')) {
                continue;
            }
            if let Ok(naive) = NaiveDateTime::parse_from_str(candidate, TIME_FORMAT) {
                let label = after.strip_prefix('-').filter(|l| !l.is_empty()).map(str::to_string);
                return Some(SetName {
                    set: stem[..i - 1].to_string(),
                    time: Utc.from_utc_datetime(&naive),
                    label,
                    encrypted,
                });
            }
        }
        None
    }
}

/// Checks a set or label name is usable in a file name.
pub fn check_name_part(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && !value.starts_with(['.', '-'])
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        crate::usage_bail!(
            "{what} {value:?} cannot be used in a file name: use letters, digits, '.', '_' and '-' (not first), at most 100"
        );
    }
    Ok(())
}

/// One set in a directory.
#[derive(Debug, Clone, Serialize)]
pub struct SetEntry {
    pub path: PathBuf,
    pub file_name: String,
    #[serde(flatten)]
    pub name: SetName,
    pub size: u64,
    pub has_sidecar: bool,
    /// What the last verification recorded beside the set said.
    pub verified: Option<VerifiedRecord>,
    /// The tar with its sidecar and verification record.
    #[serde(skip)]
    pub stored_bytes: u64,
}

/// The record `verify` leaves beside a set that passed, so retention can
/// find the newest good set without re-reading every tar.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct VerifiedRecord {
    pub level: String,
    pub passed: bool,
    pub at: DateTime<Utc>,
    pub sha256: String,
}

/// The path of the verification record for a set.
pub fn verified_path(set: &Path) -> PathBuf {
    let mut name = set.as_os_str().to_owned();
    name.push(".verified.json");
    PathBuf::from(name)
}

/// A directory that holds sets.
#[derive(Debug, Clone)]
pub struct LocalStore {
    pub dir: PathBuf,
}

impl LocalStore {
    pub fn new(dir: impl Into<PathBuf>) -> LocalStore {
        LocalStore { dir: dir.into() }
    }

    /// Every set in the directory, oldest first.
    pub fn list(&self) -> Result<Vec<SetEntry>> {
        let read = match std::fs::read_dir(&self.dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                anyhow::bail!(
                    "backup directory {} does not exist: run `lifeboat backup --out {}` first, or point at the right directory",
                    self.dir.display(),
                    self.dir.display()
                )
            }
            Err(e) => return Err(e).with_context(|| format!("listing {}", self.dir.display())),
        };
        let mut sets = Vec::new();
        for entry in read {
            let entry = entry.with_context(|| format!("listing {}", self.dir.display()))?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = SetName::parse(&file_name) else {
                continue;
            };
            let meta = entry
                .metadata()
                .with_context(|| format!("reading {}", entry.path().display()))?;
            if !meta.is_file() {
                continue;
            }
            let path = entry.path();
            let companions: u64 = [
                checksum::sidecar_path(&path),
                verified_path(&path),
                crate::archive::crypt::readme_path(&path),
            ]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
            sets.push(SetEntry {
                has_sidecar: checksum::sidecar_path(&path).is_file(),
                verified: read_verified(&path),
                path,
                file_name,
                name,
                size: meta.len(),
                stored_bytes: meta.len() + companions,
            });
        }
        sets.sort_by(|a, b| a.name.time.cmp(&b.name.time).then(a.file_name.cmp(&b.file_name)));
        Ok(sets)
    }

    /// The newest set, optionally of one set name.
    pub fn latest(&self, set: Option<&str>) -> Result<SetEntry> {
        let sets = self.list()?;
        sets.into_iter()
            .rev()
            .find(|s| set.is_none_or(|n| s.name.set == n))
            .with_context(|| match set {
                Some(n) => format!("no backup set named {n:?} in {}", self.dir.display()),
                None => format!("no backup sets in {}: run `lifeboat backup` first", self.dir.display()),
            })
    }

    /// Files left by interrupted (or killed) runs, each with the set name
    /// it belongs to: staging directories, partial tars of older versions,
    /// and sidecars or verification records whose set is gone (a kill
    /// between the sidecar's rename and the tar's leaves one).
    pub fn leftovers(&self) -> Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::new();
        let Ok(read) = std::fs::read_dir(&self.dir) else {
            return Ok(out);
        };
        for entry in read.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let hidden = name
                .strip_prefix('.')
                .and_then(|n| {
                    n.strip_suffix(".staging")
                        .or_else(|| n.strip_suffix(".sha256.partial"))
                        .or_else(|| n.strip_suffix(".partial"))
                })
                .and_then(SetName::parse);
            let orphan = name
                .strip_suffix(".sha256")
                .or_else(|| name.strip_suffix(".verified.json"))
                .or_else(|| name.strip_suffix(".README"))
                .and_then(|set_file| SetName::parse(set_file).filter(|_| !self.dir.join(set_file).exists()));
            if let Some(set) = hidden.or(orphan) {
                out.push((set.set, entry.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Leftovers of sets that no running backup holds (their lock is
    /// free), so of runs that ended; with `remove`, removed. Every command
    /// that reads or writes the directory calls this first, so what a
    /// SIGKILL left is gone at the next run of any command there.
    pub fn sweep(&self, remove: bool) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for (set, leftover) in self.leftovers().unwrap_or_default() {
            let free = matches!(
                crate::lock::try_lock(&crate::lock::set_lock_path(&self.dir, &set)),
                Ok(crate::lock::Attempt::Locked(_))
            );
            if free && (!remove || remove_any(&leftover)) {
                found.push(leftover);
            }
        }
        found
    }

    /// [`sweep`](Self::sweep), saying what went.
    pub fn sweep_and_tell(&self, reporter: &crate::progress::Reporter) {
        for path in self.sweep(true) {
            reporter.info(&format!("removed {}, left by an interrupted run", path.display()));
        }
    }

    /// Removes what interrupted runs of `set` left. Call only while holding
    /// the set's lock: then no run that could own these files is alive.
    pub fn remove_leftovers_of(&self, set: &str) -> Vec<PathBuf> {
        let mut removed = Vec::new();
        for (owner, path) in self.leftovers().unwrap_or_default() {
            if owner == set && remove_any(&path) {
                removed.push(path);
            }
        }
        removed
    }
}

impl super::Store for LocalStore {
    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn list(&self) -> Result<Vec<SetEntry>> {
        LocalStore::list(self)
    }

    fn read_range(&self, file_name: &str, range: std::ops::Range<u64>) -> Result<Vec<u8>> {
        use std::io::{Read, Seek};
        let path = self.dir.join(file_name);
        let mut file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        file.seek(std::io::SeekFrom::Start(range.start))
            .with_context(|| format!("reading {}", path.display()))?;
        let mut bytes = Vec::new();
        file.take(range.end.saturating_sub(range.start))
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(bytes)
    }

    fn read_small(&self, file_name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.dir.join(file_name);
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            Ok(m) if m.len() > super::MAX_SMALL_FILE => {
                anyhow::bail!("{} is implausibly large ({} bytes)", path.display(), m.len())
            }
            Ok(_) => {}
        }
        std::fs::read(&path)
            .map(Some)
            .with_context(|| format!("reading {}", path.display()))
    }

    fn manifest(&self, entry: &SetEntry, keys: &crate::archive::crypt::Keys) -> Result<Manifest> {
        entry.manifest(keys)
    }

    fn open(&self, entry: &SetEntry, _scratch: &Path, _reporter: &crate::progress::Reporter) -> Result<PathBuf> {
        Ok(entry.path.clone())
    }

    /// Copies the set in under hidden names, then renames the sidecar and
    /// the record, and the tar last, as the set writer does.
    fn put_set(&self, set: &Path, reporter: &crate::progress::Reporter) -> Result<PathBuf> {
        let file_name = set
            .file_name()
            .with_context(|| format!("{} has no file name", set.display()))?
            .to_string_lossy()
            .into_owned();
        crate::fsutil::create_private_dir(&self.dir)?;
        let target = self.dir.join(&file_name);
        let mut moves = Vec::new();
        for (from, to) in [
            (checksum::sidecar_path(set), checksum::sidecar_path(&target)),
            (verified_path(set), verified_path(&target)),
            (
                crate::archive::crypt::readme_path(set),
                crate::archive::crypt::readme_path(&target),
            ),
            (set.to_path_buf(), target.clone()),
        ] {
            if !from.exists() {
                continue;
            }
            let hidden = self.dir.join(format!(
                ".{}.partial",
                to.file_name().unwrap_or_default().to_string_lossy()
            ));
            std::fs::copy(&from, &hidden)
                .with_context(|| format!("copying {} to {}", from.display(), hidden.display()))?;
            moves.push((hidden, to));
        }
        for (hidden, to) in moves {
            crate::fsutil::rename(&hidden, &to)?;
        }
        crate::fsutil::sync_dir(&self.dir);
        reporter.info(&format!("copied {file_name} to {}", self.dir.display()));
        Ok(target)
    }

    fn put_record(&self, set_file: &str, record: &Path) -> Result<()> {
        let target = verified_path(&self.dir.join(set_file));
        if record != target {
            std::fs::copy(record, &target)
                .with_context(|| format!("copying {} to {}", record.display(), target.display()))?;
        }
        Ok(())
    }

    fn remove_set(&self, entry: &SetEntry) -> Result<u64> {
        let mut bytes = 0;
        for file in entry.files() {
            bytes += std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
        Ok(bytes)
    }

    fn leftovers(&self) -> Result<Vec<(String, PathBuf)>> {
        LocalStore::leftovers(self)
    }

    fn remove_leftover(&self, leftover: &Path) -> bool {
        remove_any(leftover)
    }
}

/// Removes a file or a directory tree; whether it is gone.
pub fn remove_any(path: &Path) -> bool {
    let result = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    result.is_ok() || !path.exists()
}

impl SetEntry {
    pub fn manifest(&self, keys: &crate::archive::crypt::Keys) -> Result<Manifest> {
        reader::read_manifest(&self.path, keys)
    }

    /// The files that belong to this set: the tar, its sidecar, records
    /// and (encrypted) the README beside it.
    pub fn files(&self) -> Vec<PathBuf> {
        [
            self.path.clone(),
            checksum::sidecar_path(&self.path),
            verified_path(&self.path),
            crate::archive::crypt::readme_path(&self.path),
        ]
        .into_iter()
        .filter(|p| p.exists())
        .collect()
    }
}

/// The verification record beside a set, when it is about this very set:
/// written after the tar last changed, and, for a pass, naming the SHA-256
/// the set's sidecar names. A record left from an earlier set of the same
/// name, or copied beside another file, is ignored.
fn read_verified(set: &Path) -> Option<VerifiedRecord> {
    let record_path = verified_path(set);
    let bytes = std::fs::read(&record_path).ok()?;
    let record: VerifiedRecord = serde_json::from_slice(&bytes).ok()?;
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&record_path)? < modified(set)? {
        return None;
    }
    if record.passed {
        let file_name = set.file_name()?.to_string_lossy();
        let sidecar = checksum::read_sidecar(&checksum::sidecar_path(set), &file_name).ok()?;
        if !sidecar.eq_ignore_ascii_case(&record.sha256) {
            return None;
        }
    }
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let time = Utc.with_ymd_and_hms(2026, 11, 22, 3, 4, 5).unwrap();
        for (set, label, encrypted, file) in [
            ("app", None, false, "app-20261122T030405Z.tar"),
            (
                "my-app",
                Some("pre-migration"),
                false,
                "my-app-20261122T030405Z-pre-migration.tar",
            ),
            ("x", Some("l"), true, "x-20261122T030405Z-l.tar.age"),
        ] {
            let name = SetName {
                set: set.into(),
                time,
                label: label.map(String::from),
                encrypted,
            };
            assert_eq!(name.file_name(), file);
            assert_eq!(SetName::parse(file), Some(name));
        }
        assert_eq!(SetName::parse("notes.tar"), None);
        assert_eq!(SetName::parse(".app-20261122T030405Z.tar.partial"), None);
        assert_eq!(SetName::parse("app-20261122T030405Z.tar.sha256"), None);
        // Names with multi-byte characters where the time would be.
        assert_eq!(SetName::parse("a-20261122T030405é.tar"), None);
        assert_eq!(SetName::parse("é-x.tar"), None);
        assert_eq!(
            SetName::parse("é-20261122T030405Z.tar").map(|n| n.set),
            Some("é".to_string())
        );
    }

    #[test]
    fn name_parts_are_checked() {
        assert!(check_name_part("label", "nightly-1").is_ok());
        assert!(check_name_part("label", "../x").is_err());
        assert!(check_name_part("label", "a b").is_err());
        assert!(check_name_part("label", "").is_err());
    }
}

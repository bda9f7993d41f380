//! Where sets live, behind one trait: a local directory, an S3-compatible
//! bucket (`s3://bucket/prefix`) and GitHub artifacts (`artifact://NAME`,
//! read only). A location's scheme chooses the store; a new kind of store
//! is one file here and one line in `open`.

pub mod github_artifacts;
pub mod local;
pub mod s3;

pub use local::{LocalStore, SetEntry, SetName, VerifiedRecord};

use crate::archive::checksum;
use crate::archive::crypt::Keys;
use crate::archive::manifest::{MANIFEST_MEMBER, Manifest};
use crate::progress::Reporter;
use anyhow::{Context, Result, bail};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The most a manifest may weigh; a bigger first member is not ours (as
/// the set reader holds it).
const MAX_MANIFEST_BYTES: u64 = 64 << 20;
/// The most a sidecar or verification record may weigh.
pub const MAX_SMALL_FILE: u64 = 1 << 20;

/// A place that holds sets. Every file of a set (the tar, its sidecar, its
/// verification record) is named by its file name within the store.
pub trait Store {
    /// Where the store is, for messages and outputs: a directory or a URL,
    /// never with a secret in it.
    fn location(&self) -> String;

    /// The local directory, for a store that is one: backups lock and
    /// stage there.
    fn local_dir(&self) -> Option<&Path> {
        None
    }

    /// Fails, saying why, when the store cannot be reached or read (a
    /// wrong bucket or credential), before anything is written for it.
    fn probe(&self) -> Result<()> {
        Ok(())
    }

    /// Every set, oldest first. A set being written is never listed (in a
    /// bucket a set counts once its sidecar is there).
    fn list(&self) -> Result<Vec<SetEntry>>;

    /// Bytes `range` of one file of the store.
    fn read_range(&self, file_name: &str, range: Range<u64>) -> Result<Vec<u8>>;

    /// A whole small file (a sidecar, a record); `None` when it is not
    /// there. Refuses files larger than [`MAX_SMALL_FILE`].
    fn read_small(&self, file_name: &str) -> Result<Option<Vec<u8>>>;

    /// The set's manifest, read without reading the whole set; an
    /// encrypted set is decrypted with `keys` as its first chunks are read.
    fn manifest(&self, entry: &SetEntry, keys: &Keys) -> Result<Manifest> {
        if entry.name.encrypted {
            let ranged = std::io::BufReader::with_capacity(256 << 10, Ranged::new(self, entry));
            return crate::archive::reader::read_manifest_from(ranged, keys, &entry.path);
        }
        read_manifest_by_ranges(self, entry)
    }

    /// A local file holding the whole set, to check and restore from:
    /// the set itself for a directory; elsewhere a copy downloaded into
    /// `scratch` and checked against the sidecar.
    fn open(&self, entry: &SetEntry, scratch: &Path, reporter: &Reporter) -> Result<PathBuf>;

    /// Puts a complete local set (the tar, its sidecar and, when there,
    /// its verification record) into the store so that readers see it only
    /// once it is whole; returns where it now is.
    fn put_set(&self, set: &Path, reporter: &Reporter) -> Result<PathBuf>;

    /// Puts a set's verification record beside it.
    fn put_record(&self, set_file: &str, record: &Path) -> Result<()>;

    /// Removes a set and every file that belongs to it; the bytes freed.
    fn remove_set(&self, entry: &SetEntry) -> Result<u64>;

    /// Files of interrupted runs: (the set name they belong to, where they are).
    fn leftovers(&self) -> Result<Vec<(String, PathBuf)>>;

    /// Removes one leftover; whether it is gone.
    fn remove_leftover(&self, leftover: &Path) -> bool;
}

/// How to reach object stores: flags and `AWS_*` variables resolved.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    pub s3: s3::S3Settings,
}

/// Whether a location names a store other than a local directory.
pub fn is_url(location: &Path) -> bool {
    scheme(location).is_some()
}

fn scheme(location: &Path) -> Option<&str> {
    let text = location.to_str()?;
    let (scheme, _) = text.split_once("://")?;
    (scheme.len() > 1
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// The store at a location: `s3://bucket/prefix`, `artifact://NAME`, or a
/// directory.
pub fn open(location: &Path, options: &StoreOptions) -> Result<Box<dyn Store>> {
    match scheme(location) {
        None => Ok(Box::new(LocalStore::new(location))),
        Some("s3") => Ok(Box::new(s3::S3Store::open(location_str(location)?, &options.s3)?)),
        Some("artifact") => Ok(Box::new(github_artifacts::ArtifactStore::open(location_str(
            location,
        )?)?)),
        Some(other) => crate::usage_bail!(
            "{}: lifeboat keeps sets in a directory, s3://bucket/prefix or artifact://NAME, not {other}://",
            location.display()
        ),
    }
}

fn location_str(location: &Path) -> Result<&str> {
    location
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", location.display()))
}

/// A set named by its URL (`s3://bucket/prefix/app-….tar`): its store
/// and its file name.
pub fn open_set_url(url: &Path, options: &StoreOptions) -> Result<(Box<dyn Store>, String)> {
    let text = location_str(url)?;
    let (parent, file) = text.rsplit_once('/').unwrap_or(("", text));
    if SetName::parse(file).is_none() || parent.ends_with(':') || parent.ends_with(":/") {
        crate::usage_bail!(
            "{text} does not name a backup set: a set's URL ends in its file name (<set>-<time>.tar); `lifeboat list {parent}` shows them"
        );
    }
    Ok((open(Path::new(parent), options)?, file.to_string()))
}

/// The entry of one set by file name.
pub fn find(store: &dyn Store, file_name: &str) -> Result<SetEntry> {
    store
        .list()?
        .into_iter()
        .find(|e| e.file_name == file_name)
        .with_context(|| {
            format!(
                "no complete backup set {file_name} in {} (a set counts once its .sha256 is there): `lifeboat list {}` shows the sets",
                store.location(),
                store.location()
            )
        })
}

/// The newest set, optionally of one set name.
pub fn latest(store: &dyn Store, set: Option<&str>) -> Result<SetEntry> {
    let sets = store.list()?;
    sets.into_iter()
        .rev()
        .find(|s| set.is_none_or(|n| s.name.set == n))
        .with_context(|| match set {
            Some(n) => format!("no backup set named {n:?} in {}", store.location()),
            None => format!("no backup sets in {}: run `lifeboat backup` first", store.location()),
        })
}

/// A file of a store read front to back through ranged reads, as far as
/// its reader goes: an encrypted set's manifest needs its first chunks
/// only.
struct Ranged<'a, S: Store + ?Sized> {
    store: &'a S,
    file_name: &'a str,
    size: u64,
    at: u64,
}

impl<'a, S: Store + ?Sized> Ranged<'a, S> {
    fn new(store: &'a S, entry: &'a SetEntry) -> Self {
        Ranged {
            store,
            file_name: &entry.file_name,
            size: entry.size,
            at: 0,
        }
    }
}

impl<S: Store + ?Sized> std::io::Read for Ranged<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let end = self.size.min(self.at + buf.len() as u64);
        if end <= self.at {
            return Ok(0);
        }
        let bytes = self
            .store
            .read_range(self.file_name, self.at..end)
            .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        let n = bytes.len().min(buf.len());
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} ended early", self.file_name),
            ));
        }
        buf[..n].copy_from_slice(&bytes[..n]);
        self.at += n as u64;
        Ok(n)
    }
}

/// Reads `manifest.json`, the first member, through two ranged reads: the
/// tar header, then the member.
pub fn read_manifest_by_ranges<S: Store + ?Sized>(store: &S, entry: &SetEntry) -> Result<Manifest> {
    let shown = entry.path.display();
    if entry.size < 512 {
        bail!("{shown} is too short to be a tar file: it is not a lifeboat backup set");
    }
    let head = store.read_range(&entry.file_name, 0..512)?;
    let mut header = tar::Header::new_old();
    header.as_mut_bytes().copy_from_slice(&head);
    let name = header.path_bytes().into_owned();
    if name != MANIFEST_MEMBER.as_bytes() {
        bail!(
            "{shown} does not start with manifest.json (its first member is {:?}): it is not a lifeboat backup set",
            String::from_utf8_lossy(&name)
        );
    }
    let size = header
        .entry_size()
        .with_context(|| format!("{shown} is not a readable tar file"))?;
    if size > MAX_MANIFEST_BYTES || 512 + size > entry.size {
        bail!("manifest.json in {shown} is implausibly large ({size} bytes)");
    }
    let bytes = store.read_range(&entry.file_name, 512..512 + size)?;
    Manifest::from_json(&bytes).with_context(|| format!("reading manifest.json from {shown}"))
}

/// The SHA-256 a set's sidecar names, read from the store.
pub fn read_sidecar(store: &dyn Store, set_file: &str) -> Result<String> {
    let sidecar = format!("{set_file}.sha256");
    let bytes = store
        .read_small(&sidecar)?
        .with_context(|| format!("{set_file} has no sidecar {sidecar} in {}", store.location()))?;
    checksum::parse_sidecar(&String::from_utf8_lossy(&bytes), set_file)
        .with_context(|| format!("reading {sidecar} in {}", store.location()))
}

/// A set chosen for reading: the local file to read, and how to name it.
pub struct OpenedSet {
    /// The whole set as a local file.
    pub path: PathBuf,
    /// The path or URL the user knows it by.
    pub shown: PathBuf,
    /// The store it came from, when it was found in one.
    pub store: Option<Box<dyn Store>>,
    /// Holds a downloaded copy until the set is no longer needed.
    _scratch: Option<tempfile::TempDir>,
}

impl OpenedSet {
    /// A set file on this machine, read in place.
    pub fn local(path: PathBuf) -> OpenedSet {
        OpenedSet {
            shown: path.clone(),
            path,
            store: None,
            _scratch: None,
        }
    }

    /// A set already in `store` as `shown`, with a local copy at `path`
    /// that `scratch` (when given) holds.
    pub fn copied(
        path: PathBuf,
        shown: PathBuf,
        store: Box<dyn Store>,
        scratch: Option<tempfile::TempDir>,
    ) -> OpenedSet {
        OpenedSet {
            path,
            shown,
            store: Some(store),
            _scratch: scratch,
        }
    }

    /// The store the set came from, when it is not a directory here.
    pub fn remote_store(&self) -> Option<&dyn Store> {
        self.store.as_deref().filter(|s| s.local_dir().is_none())
    }

    /// The set's file name.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// A new private temporary directory for a set's local copy.
pub fn scratch_dir(what: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("lifeboat-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .with_context(|| format!("creating a private temporary directory for {what}"))
}

/// Opens the set a command names: a file, a set URL, or with `latest` the
/// newest set in a directory or store (`location`, else `default`).
pub fn open_set(
    location: Option<&Path>,
    latest: bool,
    default: &Path,
    options: &StoreOptions,
    reporter: &Reporter,
) -> Result<OpenedSet> {
    let (store, entry) = match (location, latest) {
        (Some(path), false) if !is_url(path) => return Ok(OpenedSet::local(path.to_path_buf())),
        (Some(url), false) => {
            let (store, file) = open_set_url(url, options)?;
            let entry = find(store.as_ref(), &file)?;
            (store, entry)
        }
        (location, true) => {
            let location = location.unwrap_or(default);
            let store = open(location, options)?;
            let entry = self::latest(store.as_ref(), None)?;
            (store, entry)
        }
        (None, false) => crate::usage_bail!("name a set file, or pass --latest [DIR] for the newest set"),
    };
    if store.local_dir().is_some() {
        return Ok(OpenedSet::copied(entry.path.clone(), entry.path.clone(), store, None));
    }
    let scratch = scratch_dir("the downloaded set")?;
    let path = store.open(&entry, scratch.path(), reporter)?;
    Ok(OpenedSet::copied(path, entry.path.clone(), store, Some(scratch)))
}

/// A path or URL as outputs show it: URLs as they are, paths absolute.
pub fn shown(path: &Path) -> String {
    if is_url(path) {
        return path.display().to_string();
    }
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

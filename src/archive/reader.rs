//! Reads a set without trusting it: only regular members with plain
//! relative names, the manifest first, and every member hashed against it.
//! An encrypted set is read the same way, through age's reader.

use super::checksum::HashingReader;
use super::compression::{self, Algorithm};
use super::crypt::{self, Keys};
use super::manifest::{MANIFEST_MEMBER, Manifest, RESTORE_MEMBER};
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The most a manifest may weigh; a bigger first member is not ours.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// How far a stored byte can inflate, at most, in each format: deflate
/// codes a 258-byte match in no fewer than two bits (1032:1); a zstd RLE
/// block stands for up to 128 KiB in four bytes (32768:1). A manifest that
/// claims more than this is not describing the member it sits beside.
fn physical_ratio(algorithm: Algorithm) -> u64 {
    match algorithm {
        Algorithm::Gzip => 1032,
        Algorithm::Zstd => 32768,
        Algorithm::None => 1,
    }
}

/// The most a member is believed to inflate per stored byte. SQL dumps
/// compress 5-15x and SQLite files 2-10x; even very repetitive rows (JSON
/// logs, enum-like text) stay under 50x. 256x leaves five times that as
/// headroom, and bounds what a small set can make a restore write: a 4 MB
/// member may claim at most 1 GiB.
pub const PLAUSIBLE_RATIO: u64 = 256;

/// Claims up to this size are taken whatever the ratio: a small database
/// of mostly empty pages (a fresh SQLite file with 64 KiB pages) inflates
/// far past 256x, and writing 64 MiB harms no one.
pub const PLAUSIBLE_FLOOR: u64 = 64 << 20;

/// Checks a member's recorded raw size against its stored size before
/// anything inflates it: a stored member inflates to its own size, a
/// compressed one no further than the format allows and than data does.
/// A set that fails this was made by hand; restore it with `tar` and
/// `gunzip`/`zstd -d` if it is really yours.
pub fn check_raw_claim(member: &super::Member) -> Result<()> {
    let name = crate::github::workflow::neutralize(&member.path);
    let algorithm = member.compression;
    if algorithm == Algorithm::None {
        if member.raw_size != member.size {
            bail!(
                "manifest.json says the uncompressed member {name} holds {} bytes but stores {}: the set was altered",
                member.raw_size,
                member.size
            );
        }
        return Ok(());
    }
    let claim = member.raw_size;
    let impossible = member
        .size
        .saturating_mul(physical_ratio(algorithm))
        .saturating_add(64 << 10);
    if claim > impossible {
        bail!(
            "manifest.json says member {name} inflates from {} to {claim} bytes, more than {algorithm} can \
             (at most {}:1): the set was altered",
            member.size,
            physical_ratio(algorithm)
        );
    }
    let plausible = member.size.saturating_mul(PLAUSIBLE_RATIO).max(PLAUSIBLE_FLOOR);
    if claim > plausible {
        bail!(
            "manifest.json says member {name} inflates from {} to {claim} bytes ({}:1); lifeboat writes no more \
             than {PLAUSIBLE_RATIO}:1 (or {} MiB) from a member, since a set can come from a stranger. If this set \
             is yours, extract that member with tar and {}",
            member.size,
            claim / member.size.max(1),
            PLAUSIBLE_FLOOR >> 20,
            if algorithm == Algorithm::Gzip {
                "gunzip"
            } else {
                "zstd -d"
            }
        );
    }
    Ok(())
}

/// One member as found in the tar.
#[derive(Debug, Clone)]
pub struct ScannedMember {
    pub path: String,
    /// Offset of the member's data in the tar file.
    pub offset: u64,
    pub size: u64,
    pub sha256: String,
    /// Bytes after decompression, when the scan decompressed it.
    pub raw_size: Option<u64>,
    /// Why decompression failed, when it did.
    pub decode_error: Option<String>,
    /// Not hashed by the scan: the reader that loads it checks its hash as
    /// it goes (`sha256` is empty).
    pub deferred: bool,
    /// Why the manifest's raw size for this member cannot be believed, in
    /// which case the member was not inflated at all.
    pub claim_error: Option<String>,
}

/// Everything one pass over a set found.
#[derive(Debug, Default)]
pub struct Scan {
    pub manifest: Option<Manifest>,
    pub manifest_error: Option<String>,
    pub members: Vec<ScannedMember>,
    /// Entries that break the rules: unsafe names, links, a truncated tar.
    pub problems: Vec<String>,
    pub has_restore_md: bool,
    /// SHA-256 of the whole file, to hold against the sidecar; empty when
    /// the scan left it to [`SetSource::start_file_check`].
    pub file_sha256: String,
    /// Whether some members' hashes (and the whole file's) were left to be
    /// checked while the set is used.
    pub deferred: bool,
    /// Whether the file is age-encrypted.
    pub encrypted: bool,
    /// Why an encrypted set could not be opened when no key was given at
    /// all; only the whole file's hash was taken.
    pub locked: Option<String>,
    /// Why the set was not opened with the keys given: a wrong key, a
    /// damaged header, or a set that is not encrypted when it must be.
    pub unopened: Option<String>,
}

/// Reads only the manifest, the first member.
pub fn read_manifest(path: &Path, keys: &Keys) -> Result<Manifest> {
    let file = File::open(path).with_context(|| format!("opening backup set {}", path.display()))?;
    read_manifest_from(BufReader::new(file), keys, path)
}

/// Reads the manifest from a set's bytes as stored (`path` names the set
/// in messages).
pub fn read_manifest_from(stored: impl io::BufRead, keys: &Keys, path: &Path) -> Result<Manifest> {
    let mut archive = tar::Archive::new(crypt::open(stored, keys, path)?);
    let mut entries = archive
        .entries()
        .with_context(|| format!("reading backup set {}", path.display()))?;
    let mut first = match entries.next() {
        Some(entry) => entry.with_context(|| format!("{} is not a readable tar file", path.display()))?,
        None => bail!("{} is empty: it is not a lifeboat backup set", path.display()),
    };
    let name = first.path_bytes().into_owned();
    if name != MANIFEST_MEMBER.as_bytes() {
        bail!(
            "{} does not start with manifest.json (its first member is {:?}): it is not a lifeboat backup set",
            path.display(),
            String::from_utf8_lossy(&name)
        );
    }
    if first.size() > MAX_MANIFEST_BYTES {
        bail!(
            "manifest.json in {} is implausibly large ({} bytes)",
            path.display(),
            first.size()
        );
    }
    let mut bytes = Vec::with_capacity(first.size() as usize);
    first
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading manifest.json from {} (is the file truncated?)", path.display()))?;
    Manifest::from_json(&bytes).with_context(|| format!("reading manifest.json from {}", path.display()))
}

/// Reads every member once, hashing it; with `decompress`, also runs every
/// stream to its end. `on_bytes` hears how many tar bytes went by. An
/// encrypted set is decrypted with `keys` on the way; the file's own hash
/// (for the sidecar) is of the bytes as stored, so it is taken even when
/// the set cannot be opened.
pub fn scan(path: &Path, keys: &Keys, decompress: bool, on_bytes: &mut dyn FnMut(u64)) -> Result<Scan> {
    let file = File::open(path).with_context(|| format!("opening backup set {}", path.display()))?;
    let mut stored = BufReader::with_capacity(1 << 20, HashingReader::new(file));
    let mut scan = Scan::default();
    match crypt::open(&mut stored, keys, path) {
        Ok(plain) => {
            scan.encrypted = plain.is_encrypted();
            scan_tar(path, plain, decompress, on_bytes, &mut scan)?;
        }
        Err(e) => match e.downcast::<crypt::KeyMissing>() {
            Ok(missing) => {
                scan.encrypted = true;
                scan.locked = Some(missing.0);
            }
            Err(e) => {
                scan.encrypted = crypt::is_encrypted(path)?;
                scan.unopened = Some(format!("{e:#}"));
            }
        },
    }
    // The tar reader stops at the end marker; the rest still belongs to the file.
    io::copy(&mut stored, &mut io::sink()).with_context(|| format!("reading {}", path.display()))?;
    scan.file_sha256 = stored.into_inner().finish().0;
    Ok(scan)
}

fn scan_tar(
    path: &Path,
    plain: crypt::Plain<impl Read>,
    decompress: bool,
    on_bytes: &mut dyn FnMut(u64),
    scan: &mut Scan,
) -> Result<()> {
    let mut archive = tar::Archive::new(plain);
    let entries = archive
        .entries()
        .with_context(|| format!("reading backup set {}", path.display()))?;
    let cut_short = scan_entries(entries, scan, decompress, &|_| false, on_bytes);
    // Past the tar's end marker: for an encrypted set, reading to the end
    // is what proves the stream was not cut short.
    if !cut_short && let Err(e) = io::copy(&mut archive.into_inner(), &mut io::sink()) {
        scan.problems.push(format!("the set cannot be read to its end: {e}"));
    }
    Ok(())
}

/// As [`scan`] without decompressing, but members `defer` picks are not
/// read at all: their hashes are checked by the reader [`SetSource::open`]
/// gives, as they are used, and the whole file's by
/// [`SetSource::start_file_check`]. What is read here (the manifest, the
/// scripts) is checked before anything uses it, as before; a restore then
/// reads a large set once instead of twice.
///
/// An encrypted set (or one that `keys` require to be encrypted) is never
/// scanned this way: seeking over its data would leave the stream unproven
/// to its end, so it gets the full [`scan`] instead.
pub fn scan_deferring(
    path: &Path,
    keys: &Keys,
    defer: &dyn Fn(&super::manifest::Member) -> bool,
    on_bytes: &mut dyn FnMut(u64),
) -> Result<Scan> {
    if keys.requires_encrypted() || crypt::is_encrypted(path)? {
        return scan(path, keys, false, on_bytes);
    }
    let file = File::open(path).with_context(|| format!("opening backup set {}", path.display()))?;
    let length = file
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let mut archive = tar::Archive::new(BufReader::with_capacity(1 << 20, file));
    let mut scan = Scan {
        deferred: true,
        ..Scan::default()
    };
    // Seeking past a member's data instead of reading it.
    let entries = archive
        .entries_with_seek()
        .with_context(|| format!("reading backup set {}", path.display()))?;
    scan_entries(entries, &mut scan, false, defer, on_bytes);
    // A member the scan skipped must still be whole in the file: a seek past
    // the end succeeds, and would leave a truncation to the load to find.
    if let Some(cut) = scan.members.iter().find(|m| m.offset + m.size > length) {
        scan.problems.push(format!(
            "member {} is cut short: the file ends {} bytes into its {}",
            crate::github::workflow::neutralize(&cut.path),
            length.saturating_sub(cut.offset),
            cut.size
        ));
    }
    Ok(scan)
}

fn scan_entries<R: Read>(
    entries: tar::Entries<'_, R>,
    scan: &mut Scan,
    decompress: bool,
    defer: &dyn Fn(&super::manifest::Member) -> bool,
    on_bytes: &mut dyn FnMut(u64),
) -> bool {
    let mut seen = std::collections::HashSet::new();
    let mut cut_short = false;
    for (index, entry) in entries.enumerate() {
        let mut entry = match entry {
            Ok(e) => e,
            Err(err) => {
                scan.problems.push(format!(
                    "the tar is truncated or corrupt after {}: {err}",
                    crate::progress::count(index as u64, "member")
                ));
                cut_short = true;
                break;
            }
        };
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if let Some(problem) = unsafe_entry(&name, entry.header().entry_type()) {
            scan.problems.push(crate::github::workflow::neutralize(&problem));
            continue;
        }
        // Every member is named once: with two of a name, which one a
        // reader takes would decide what is checked and what is restored.
        if !seen.insert(name.clone()) {
            scan.problems.push(format!(
                "member {} appears more than once: a set names every member once, so this one was altered",
                crate::github::workflow::neutralize(&name)
            ));
            on_bytes(entry.size());
            continue;
        }
        if index == 0 && name != MANIFEST_MEMBER {
            scan.problems.push(format!(
                "the first member is {name:?}, not manifest.json: this is not a lifeboat set"
            ));
        }
        let offset = entry.raw_file_position();
        let size = entry.size();
        if name == MANIFEST_MEMBER && index != 0 {
            scan.problems.push(
                "manifest.json is not the first member: a set holds one manifest, first, so this one was altered"
                    .into(),
            );
            on_bytes(size);
            continue;
        }
        if name == MANIFEST_MEMBER {
            let mut bytes = Vec::new();
            if size > MAX_MANIFEST_BYTES {
                scan.manifest_error = Some(format!("manifest.json is implausibly large ({size} bytes)"));
                continue;
            }
            match entry.read_to_end(&mut bytes) {
                Ok(_) => match Manifest::from_json(&bytes) {
                    Ok(m) => scan.manifest = Some(m),
                    Err(e) => scan.manifest_error = Some(format!("{e:#}")),
                },
                Err(e) => scan
                    .problems
                    .push(format!("manifest.json cannot be read (truncated set?): {e}")),
            }
            on_bytes(size);
            continue;
        }
        if name == RESTORE_MEMBER {
            scan.has_restore_md = true;
            on_bytes(size);
            continue;
        }
        let listed = scan
            .manifest
            .as_ref()
            .and_then(|m| m.members().find(|mm| mm.path == name));
        // A claim no real member makes is not inflated at all: the scan
        // would otherwise spend the claim's worth of time finding out.
        let claim_error = listed
            .and_then(|mm| check_raw_claim(mm).err())
            .map(|e| format!("{e:#}"));
        if listed.is_some_and(defer) {
            on_bytes(size);
            scan.members.push(ScannedMember {
                path: name,
                offset,
                size,
                sha256: String::new(),
                raw_size: None,
                decode_error: None,
                deferred: true,
                claim_error,
            });
            continue;
        }
        let algorithm = listed.map(|mm| mm.compression).unwrap_or_else(|| algorithm_for(&name));
        // A member inflates no further than its recorded raw size (a
        // member the manifest does not list, not at all): a small set
        // cannot make us decompress without end.
        let limit = listed.map(|mm| mm.raw_size).unwrap_or(0);
        let mut hashing = HashingReader::new(&mut entry);
        let mut raw_size = None;
        let mut decode_error = None;
        if decompress && listed.is_some() && claim_error.is_none() {
            match compression::decoder(algorithm, &mut hashing)
                .and_then(|d| Ok(io::copy(&mut Bounded::new(d, limit), &mut io::sink())?))
            {
                Ok(n) => raw_size = Some(n),
                Err(e) => decode_error = Some(format!("{e:#}")),
            }
        }
        // Whatever the decoder left unread still counts toward the hash.
        if let Err(e) = io::copy(&mut hashing, &mut io::sink()) {
            scan.problems
                .push(format!("member {name} cannot be read to its end (truncated set?): {e}"));
            cut_short = true;
            break;
        }
        let (sha256, read) = hashing.finish();
        if read != size {
            scan.problems
                .push(format!("member {name} is cut short: {read} of {size} bytes"));
            cut_short = true;
            break;
        }
        on_bytes(size);
        scan.members.push(ScannedMember {
            path: name,
            offset,
            size,
            sha256,
            raw_size,
            decode_error,
            deferred: false,
            claim_error,
        });
    }
    cut_short
}

fn algorithm_for(name: &str) -> Algorithm {
    if name.ends_with(".gz") {
        Algorithm::Gzip
    } else if name.ends_with(".zst") {
        Algorithm::Zstd
    } else {
        Algorithm::None
    }
}

/// Why an entry must not be trusted, if it must not.
fn unsafe_entry(name: &str, kind: tar::EntryType) -> Option<String> {
    if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
        return Some(format!(
            "member {name:?} is a {kind:?} entry, not a regular file: lifeboat sets hold only regular files, so this set was altered"
        ));
    }
    if name.starts_with('/') {
        return Some(format!("member {name:?} has an absolute path: refusing it"));
    }
    if name.split('/').any(|c| c == "..") {
        return Some(format!("member {name:?} climbs out of the set with '..': refusing it"));
    }
    if name.is_empty() || name.contains('\0') {
        return Some(format!("member {name:?} has an empty or invalid name"));
    }
    None
}

/// Random access to the members of a checked set.
#[derive(Debug, Clone)]
pub struct SetSource {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// Offset and size of each member, and whether its hash is still to be
    /// checked (by the reader `open` gives).
    index: HashMap<String, (u64, u64, bool)>,
    file_check: Option<Arc<FileCheck>>,
    /// What opens the set when it is encrypted.
    keys: Keys,
}

impl SetSource {
    /// Builds the index from a scan whose hashes were checked, or left to
    /// be checked as members are read.
    pub fn new(path: &Path, manifest: Manifest, scan: &Scan, keys: &Keys) -> SetSource {
        let index = scan
            .members
            .iter()
            .map(|m| (m.path.clone(), (m.offset, m.size, m.deferred)))
            .collect();
        SetSource {
            path: path.to_path_buf(),
            manifest,
            index,
            file_check: None,
            keys: keys.clone(),
        }
    }

    /// Starts hashing the whole file against `expected` (its sidecar's
    /// value) on a thread of its own, for a set scanned with
    /// [`scan_deferring`]; [`SetSource::confirm_file`] waits for it.
    pub fn start_file_check(&mut self, expected: String) {
        let path = self.path.clone();
        let handle = std::thread::spawn(move || -> Result<(), String> {
            let file = File::open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
            let mut hashing = HashingReader::new(BufReader::with_capacity(1 << 20, file));
            io::copy(&mut hashing, &mut io::sink()).map_err(|e| format!("reading {}: {e}", path.display()))?;
            let (actual, _) = hashing.finish();
            if actual != expected {
                return Err(format!(
                    "the file's SHA-256 differs from its .sha256 file (expected {expected}, found {actual}): the set was changed or is incomplete"
                ));
            }
            Ok(())
        });
        self.file_check = Some(Arc::new(FileCheck {
            running: Mutex::new(Some(handle)),
            outcome: OnceLock::new(),
        }));
    }

    /// Waits for the whole-file check [`SetSource::start_file_check`]
    /// started (nothing to wait for otherwise): a restore calls it before
    /// it commits or swaps anything in. A mismatch is a failed
    /// verification.
    pub fn confirm_file(&self) -> Result<()> {
        let Some(check) = &self.file_check else {
            return Ok(());
        };
        let outcome =
            check.outcome.get_or_init(
                || match check.running.lock().expect("file check").take().map(|h| h.join()) {
                    Some(Ok(r)) => r,
                    Some(Err(_)) => Err("the check of the whole file panicked".into()),
                    None => Err("the check of the whole file did not finish".into()),
                },
            );
        match outcome {
            Ok(()) => Ok(()),
            Err(why) => Err(anyhow::Error::new(crate::error::VerificationFailed { errors: 1 })
                .context(format!("{}: {why}", self.path.display()))),
        }
    }

    /// A reader of the member's decompressed bytes. A member whose hash the
    /// scan left unchecked is hashed as it is read: at its end, a mismatch
    /// (or a member cut short) is an error ([`MemberDamaged`] inside an
    /// `io::Error`) instead of the end of the stream, so whoever reads it
    /// to the end learns of it before using what it read.
    pub fn open(&self, member: &str) -> Result<Box<dyn Read + Send>> {
        let (offset, size, deferred) = *self.index.get(member).with_context(|| {
            format!(
                "member {} is missing from {}",
                crate::github::workflow::neutralize(member),
                self.path.display()
            )
        })?;
        let listed = self.manifest.members().find(|m| m.path == member).with_context(|| {
            format!(
                "member {} is not in the manifest of {}",
                crate::github::workflow::neutralize(member),
                self.path.display()
            )
        })?;
        check_raw_claim(listed)?;
        if listed.size != size {
            bail!(
                "member {} stores {size} bytes but manifest.json says {}: the set was altered",
                crate::github::workflow::neutralize(member),
                listed.size
            );
        }
        let file = File::open(&self.path).with_context(|| format!("opening {}", self.path.display()))?;
        // Offsets are in the tar; age's reader seeks in the decrypted
        // stream, a chunk at a time, so no decrypted copy is needed.
        let mut tar = crypt::open(BufReader::with_capacity(1 << 20, file), &self.keys, &self.path)?;
        tar.seek(SeekFrom::Start(offset))
            .with_context(|| format!("seeking in {}", self.path.display()))?;
        let raw = tar.take(size);
        if !deferred {
            return Ok(Box::new(Bounded::new(
                compression::decoder(listed.compression, raw)?,
                listed.raw_size,
            )));
        }
        Ok(Box::new(Checked {
            inner: Bounded::new(
                compression::decoder(listed.compression, HashingReader::new(raw))?,
                listed.raw_size,
            ),
            path: member.to_string(),
            expected: listed.sha256.clone(),
            size,
            done: false,
        }))
    }

    /// As [`SetSource::open`], with the reading, hashing and decompressing
    /// done on a thread of its own a few blocks ahead of the caller, so a
    /// connection sending rows is not also the one inflating them.
    pub fn open_ahead(&self, member: &str) -> Result<Ahead> {
        Ok(Ahead::new(self.open(member)?))
    }
}

/// A set member that does not match the SHA-256 its manifest records.
#[derive(Debug)]
pub struct MemberDamaged {
    pub path: String,
    /// What was wrong: the hash, or the stream itself.
    pub why: String,
}

impl std::fmt::Display for MemberDamaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "member {} {}: the set is damaged or was altered",
            crate::github::workflow::neutralize(&self.path),
            self.why
        )
    }
}

impl std::error::Error for MemberDamaged {}

/// Whether an error was caused by a damaged member (found while it was
/// read), for the exit code of a failed verification.
pub fn is_member_damaged(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.is::<MemberDamaged>()
            || c.downcast_ref::<io::Error>()
                .and_then(|e| e.get_ref())
                .is_some_and(|e| e.is::<MemberDamaged>())
    })
}

/// The whole-file check running beside a restore.
struct FileCheck {
    running: Mutex<Option<std::thread::JoinHandle<Result<(), String>>>>,
    outcome: OnceLock<Result<(), String>>,
}

impl std::fmt::Debug for FileCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileCheck")
    }
}

type RawMember = HashingReader<io::Take<crypt::Plain<BufReader<File>>>>;

/// A member hashed while it is decompressed; see [`SetSource::open`].
struct Checked {
    inner: Bounded<compression::Decoder<RawMember>>,
    path: String,
    expected: String,
    size: u64,
    done: bool,
}

impl Read for Checked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        // A stream that does not decode (or inflates past its raw size) is
        // as damaged as one whose hash differs.
        let n = self.inner.read(buf).map_err(|e| {
            self.done = true;
            // A signal stopping the read is not damage.
            if crate::cancel::requested().is_some() {
                return e;
            }
            io::Error::new(
                io::ErrorKind::InvalidData,
                MemberDamaged {
                    path: self.path.clone(),
                    why: format!("does not decompress ({e})"),
                },
            )
        })?;
        if n > 0 {
            return Ok(n);
        }
        // The stream ended: whatever the decoder left unread counts toward
        // the hash too.
        let raw = self.inner.get_mut().get_mut();
        io::copy(raw, &mut io::sink())?;
        let (sha256, read) = raw.digest();
        if read != self.size || sha256 != self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                MemberDamaged {
                    path: self.path.clone(),
                    why: "does not match the SHA-256 its manifest records".into(),
                },
            ));
        }
        self.done = true;
        Ok(0)
    }
}

/// How many blocks a reader ahead keeps ready, and their size: memory per
/// member being loaded stays at a few MB.
const AHEAD_BLOCKS: usize = 3;
const AHEAD_BLOCK_BYTES: usize = 1 << 20;

/// Blocks read ahead and used up, kept for the next: a fresh block of a
/// megabyte costs the kernel a megabyte of zeroed pages, every time, when
/// the allocator hands it back between members.
static SPARE_BLOCKS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// At most this many spare blocks are kept: a few for each loading
/// connection.
const SPARE_BLOCKS_KEPT: usize = 16;

/// A block of [`AHEAD_BLOCK_BYTES`], a spare one where there is one.
fn take_block() -> Vec<u8> {
    let spare = SPARE_BLOCKS.lock().map(|mut spare| spare.pop()).unwrap_or(None);
    let mut block = spare.unwrap_or_default();
    block.resize(AHEAD_BLOCK_BYTES, 0);
    block
}

fn give_back_block(block: Vec<u8>) {
    if block.capacity() >= AHEAD_BLOCK_BYTES
        && let Ok(mut spare) = SPARE_BLOCKS.lock()
        && spare.len() < SPARE_BLOCKS_KEPT
    {
        spare.push(block);
    }
}

/// Reads another reader to its end on a thread of its own, a few blocks
/// ahead. Dropping it stops that thread at its next block.
pub struct Ahead {
    blocks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
    ended: bool,
}

impl Drop for Ahead {
    fn drop(&mut self) {
        give_back_block(std::mem::take(&mut self.current));
    }
}

impl Ahead {
    pub fn new(mut inner: Box<dyn Read + Send>) -> Ahead {
        let (send, blocks) = std::sync::mpsc::sync_channel(AHEAD_BLOCKS);
        std::thread::spawn(move || {
            loop {
                let mut block = take_block();
                let mut filled = 0;
                // Whole blocks, so the reader gets few, large writes.
                let outcome = loop {
                    match inner.read(&mut block[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == block.len() {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                block.truncate(filled);
                let end = filled == 0 || outcome.is_err();
                if filled > 0 && send.send(Ok(block)).is_err() {
                    return;
                }
                if let Err(e) = outcome {
                    let _ = send.send(Err(e));
                    return;
                }
                if end {
                    // The sender goes away: the reader sees the end.
                    return;
                }
            }
        });
        Ahead {
            blocks,
            current: Vec::new(),
            at: 0,
            ended: false,
        }
    }
}

impl Read for Ahead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let block = io::BufRead::fill_buf(self)?;
        let n = buf.len().min(block.len());
        buf[..n].copy_from_slice(&block[..n]);
        io::BufRead::consume(self, n);
        Ok(n)
    }
}

impl io::BufRead for Ahead {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.at == self.current.len() {
            if self.ended {
                return Ok(&[]);
            }
            match self.blocks.recv() {
                Ok(Ok(block)) => {
                    give_back_block(std::mem::replace(&mut self.current, block));
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                Err(_) => {
                    self.ended = true;
                    return Ok(&[]);
                }
            }
        }
        Ok(&self.current[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.current.len());
    }
}

/// A decompressed member that may not exceed its recorded raw size: one
/// byte more is an error, read no further.
pub struct Bounded<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Bounded<R> {
    pub fn new(inner: R, limit: u64) -> Bounded<R> {
        Bounded {
            inner,
            remaining: limit,
        }
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the member inflates past the raw size its manifest records: the set was altered",
                )),
            };
        }
        let want = buf.len().min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_stop_at_their_raw_size() {
        let mut ok = Vec::new();
        Bounded::new(&b"12345"[..], 5).read_to_end(&mut ok).unwrap();
        assert_eq!(ok, b"12345");
        let err = Bounded::new(&b"123456"[..], 5)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("inflates past"));
    }

    #[test]
    fn unsafe_names_are_refused() {
        let reg = tar::EntryType::Regular;
        assert!(unsafe_entry("/etc/passwd", reg).is_some());
        assert!(unsafe_entry("db/../../x", reg).is_some());
        assert!(unsafe_entry("db/x.gz", tar::EntryType::Symlink).is_some());
        assert!(unsafe_entry("db/x.gz", tar::EntryType::Link).is_some());
        assert!(unsafe_entry("db/x..gz", reg).is_none());
    }
}

//! Writes a backup set: members stream straight into the set's partial
//! tar, behind a slot kept for `manifest.json` that is filled (the JSON
//! padded with trailing blanks) at the end, so a backup needs one set's
//! worth of disk; the file is renamed only when everything is on disk.
//! Encrypted sets stage their members first, since age seals one stream.

use super::checksum::{self, CountingWriter, HashingWriter};
use super::compression::{Compression, Encoder};
use super::crypt::{self, Encryption, Sealed};
use super::manifest::{MANIFEST_MEMBER, Manifest, Member, RESTORE_MEMBER};
use crate::fsutil;
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The manifest slot when the engine gave no estimate: a small set's
/// manifest and RESTORE.md fit in a few KiB.
const DEFAULT_SLOT: u64 = 16 << 10;

/// Memory that members waiting for the tail may hold, all together; past
/// it they spill to a file of their own. About two compressed 64 MB chunks.
const SPILL_MEMORY: u64 = 48 << 20;
const SPILL_BLOCK: usize = 1 << 20;
const BLOCK: u64 = 512;

/// Where an engine puts members while a set is being written. Cheap to
/// share between worker threads.
#[derive(Debug, Clone)]
pub struct Staging {
    dir: PathBuf,
    compression: Compression,
    /// The partial tar members go into; none for an encrypted set, whose
    /// members are staged as files and sealed at the end.
    tail: Option<Arc<Tail>>,
}

/// `<database>/<file>`, without the compression suffix.
fn member_path(database: &str, file: &str) -> String {
    format!("{}/{file}", super::safe_component(database))
}

impl Staging {
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// A path in the staging directory for uncompressed scratch files (a
    /// SQLite snapshot before it is packed).
    pub fn scratch_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("scratch-{name}"))
    }

    /// Asks for at least `bytes` before the first member for the manifest
    /// and RESTORE.md. Heard only before the first member starts; a
    /// manifest that outgrows its slot still fits (the members are moved
    /// up once, at the end), so this is an estimate that saves that move.
    pub fn reserve_manifest(&self, bytes: u64) {
        if let Some(tail) = &self.tail
            && let Ok(mut state) = tail.state.lock()
            && state.slot.is_none()
        {
            state.hint = state.hint.max(bytes);
        }
    }

    /// Starts member `<database>/<file><ext>`; the compression suffix is
    /// added here.
    pub fn member(&self, database: &str, file: &str, role: &str, table: Option<&str>) -> Result<MemberWriter> {
        self.member_at(&member_path(database, file), role, table)
    }

    /// Starts member `<path><ext>` anywhere in the set (a database's
    /// schema.json sits beside its folder, so that `<database>/*` stays
    /// plain SQL for psql).
    pub fn member_at(&self, path: &str, role: &str, table: Option<&str>) -> Result<MemberWriter> {
        self.start(path, role, table, self.compression)
    }

    /// As [`Staging::member`], for bytes that arrive already compressed as
    /// the set compresses (a stream compressed on several threads): they
    /// are hashed and stored as they come, and
    /// [`MemberWriter::finish_encoded`] records their raw size.
    pub fn member_encoded(&self, database: &str, file: &str, role: &str, table: Option<&str>) -> Result<MemberWriter> {
        let stored = Compression {
            algorithm: super::compression::Algorithm::None,
            level: 0,
        };
        self.start(&member_path(database, file), role, table, stored)
    }

    /// Starts member `<path><ext>`, its bytes passing through `encoding`.
    fn start(&self, path: &str, role: &str, table: Option<&str>, encoding: Compression) -> Result<MemberWriter> {
        let path = format!("{path}{}", self.compression.algorithm.extension());
        let (sink, where_) = match &self.tail {
            None => {
                let staged = self.staged_path(&path);
                let out = fsutil::create_private(&staged)?;
                (Sink::Staged(BufWriter::with_capacity(1 << 20, out)), staged)
            }
            Some(tail) => (tail.start(&path, &self.dir)?, tail.path.clone()),
        };
        let encoder = encoding.encoder(HashingWriter::new(sink))?;
        Ok(MemberWriter {
            inner: CountingWriter {
                inner: BufWriter::with_capacity(256 << 10, encoder),
                bytes: 0,
            },
            path,
            where_,
            compression: self.compression,
            role: role.to_string(),
            table: table.map(str::to_string),
        })
    }

    fn staged_path(&self, member_path: &str) -> PathBuf {
        self.dir.join(member_path.replace('/', "%"))
    }
}

/// The end of the partial tar, where members go one at a time. One member
/// writes there directly (it "holds" the tail); members started meanwhile
/// by other workers collect in memory (or, past [`SPILL_MEMORY`], in a
/// file) and are appended when they are finished and the tail is free.
struct Tail {
    path: PathBuf,
    file: File,
    mtime: u64,
    state: Mutex<TailState>,
    spill_memory: AtomicU64,
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tail").field("path", &self.path).finish()
    }
}

#[derive(Default)]
struct TailState {
    /// Bytes before the first member, fixed when the first member starts.
    slot: Option<u64>,
    hint: u64,
    /// Where the next member's header goes.
    end: u64,
    /// A member is being written at `end`.
    held: bool,
    /// A member that held the tail was dropped unfinished: what follows
    /// its header is not a tar, and the set cannot be finished.
    broken: bool,
    /// Finished members waiting for the tail.
    pending: Vec<Spilled>,
    /// Every member in the tar, in order, with its stored size.
    written: Vec<(String, u64)>,
    spill_files: u64,
}

impl Tail {
    fn lock(&self) -> MutexGuard<'_, TailState> {
        // A panic elsewhere while holding it leaves the state as it was
        // between two whole steps.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start(self: &Arc<Self>, path: &str, dir: &Path) -> Result<Sink> {
        let mut state = self.lock();
        if state.broken {
            bail!(
                "the set's partial file {} is unusable after an earlier failure",
                self.path.display()
            );
        }
        if state.slot.is_none() {
            let slot = round_up(state.hint.max(DEFAULT_SLOT));
            state.slot = Some(slot);
            state.end = slot;
        }
        if state.held {
            state.spill_files += 1;
            let spill = dir.join(format!("spill-{}", state.spill_files));
            return Ok(Sink::Spill(Spill {
                tail: self.clone(),
                blocks: Vec::new(),
                file: None,
                spill_path: spill,
            }));
        }
        // The header is written once the size is known; its length does
        // not depend on the size.
        let header_len = header_bytes(path, 0, self.mtime)?.len() as u64;
        state.held = true;
        let at = state.end;
        Ok(Sink::Direct(BufWriter::with_capacity(
            1 << 20,
            At {
                tail: self.clone(),
                header_at: at,
                pos: at + header_len,
                released: false,
            },
        )))
    }

    /// Puts a finished member's header and data at the end of the tar.
    fn append(&self, state: &mut TailState, spilled: Spilled) -> Result<()> {
        let header = header_bytes(&spilled.path, spilled.size, self.mtime)?;
        let mut pos = state.end;
        let write_err = || fsutil::write_hint(&self.path);
        self.file.write_all_at(&header, pos).with_context(write_err)?;
        pos += header.len() as u64;
        let spill = &spilled.spill;
        if spill.file.is_some() {
            let path = &spill.spill_path;
            let mut src = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = src
                    .read(&mut buf)
                    .with_context(|| format!("reading {}", path.display()))?;
                if n == 0 {
                    break;
                }
                self.file.write_all_at(&buf[..n], pos).with_context(write_err)?;
                pos += n as u64;
            }
        } else {
            for block in &spill.blocks {
                self.file.write_all_at(block, pos).with_context(write_err)?;
                pos += block.len() as u64;
            }
        }
        self.pad(pos, spilled.size, state)?;
        state.written.push((spilled.path.clone(), spilled.size));
        Ok(())
    }

    /// Zeros after a member's data up to the next block; moves the end.
    fn pad(&self, data_end: u64, size: u64, state: &mut TailState) -> Result<()> {
        let padding = round_up(size) - size;
        if padding > 0 {
            self.file
                .write_all_at(&[0u8; BLOCK as usize][..padding as usize], data_end)
                .with_context(|| fsutil::write_hint(&self.path))?;
        }
        state.end = data_end + padding;
        Ok(())
    }

    /// Appends what waited while the tail was held.
    fn drain(&self, state: &mut TailState) -> Result<()> {
        while !state.held && !state.pending.is_empty() {
            let next = state.pending.remove(0);
            if let Err(e) = self.append(state, next) {
                // Part of a member may stand past the end: nothing more
                // goes into this file.
                state.broken = true;
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Writes at a position of the partial tar without moving anyone else's.
struct At {
    tail: Arc<Tail>,
    header_at: u64,
    pos: u64,
    released: bool,
}

impl Write for At {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tail.file.write_all_at(buf, self.pos)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for At {
    fn drop(&mut self) {
        if !self.released {
            let mut state = self.tail.lock();
            state.held = false;
            state.broken = true;
        }
    }
}

/// A member's compressed bytes while another member holds the tail.
struct Spill {
    tail: Arc<Tail>,
    blocks: Vec<Vec<u8>>,
    file: Option<BufWriter<File>>,
    spill_path: PathBuf,
}

impl Spill {
    fn give_back(&mut self) {
        let held = (self.blocks.len() * SPILL_BLOCK) as u64;
        self.tail.spill_memory.fetch_sub(held, Ordering::SeqCst);
        self.blocks = Vec::new();
    }

    fn move_to_file(&mut self) -> io::Result<()> {
        let out = fsutil::create_private(&self.spill_path).map_err(io::Error::other)?;
        let mut out = BufWriter::with_capacity(1 << 20, out);
        for block in &self.blocks {
            out.write_all(block)?;
        }
        self.give_back();
        self.file = Some(out);
        Ok(())
    }
}

impl Write for Spill {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(file) = &mut self.file {
            return file.write(buf);
        }
        let room = self.blocks.last().map_or(0, |b| SPILL_BLOCK - b.len());
        if room == 0 {
            let taken = self
                .tail
                .spill_memory
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                    (used + SPILL_BLOCK as u64 <= SPILL_MEMORY).then_some(used + SPILL_BLOCK as u64)
                })
                .is_ok();
            if !taken {
                self.move_to_file()?;
                return self.write(buf);
            }
            self.blocks.push(Vec::with_capacity(SPILL_BLOCK));
        }
        let block = self.blocks.last_mut().expect("a block with room");
        let n = buf.len().min(SPILL_BLOCK - block.len());
        block.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        self.give_back();
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.spill_path);
        }
    }
}

/// A finished member waiting for the tail; dropping it (once appended,
/// or with the set) gives its memory back and removes its file.
struct Spilled {
    path: String,
    size: u64,
    spill: Spill,
}

enum Sink {
    /// A file of its own in the staging directory (encrypted sets).
    Staged(BufWriter<File>),
    /// At the tail of the partial tar.
    Direct(BufWriter<At>),
    Spill(Spill),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Staged(w) => w.write(buf),
            Sink::Direct(w) => w.write(buf),
            Sink::Spill(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Staged(w) => w.flush(),
            Sink::Direct(w) => w.flush(),
            Sink::Spill(w) => w.flush(),
        }
    }
}

/// A member being written: raw bytes in, compressed and hashed on the way
/// to the set.
pub struct MemberWriter {
    /// Rows arrive a line at a time; the encoders (zstd's above all) work
    /// per call, so they are given large writes.
    inner: CountingWriter<BufWriter<Encoder<'static, HashingWriter<Sink>>>>,
    path: String,
    /// The file it goes to, for messages.
    where_: PathBuf,
    compression: Compression,
    role: String,
    table: Option<String>,
}

impl MemberWriter {
    /// Ends the compressed stream, puts the member in the set (or in line
    /// for it) and returns its record.
    pub fn finish(self) -> Result<Member> {
        let raw_size = self.inner.bytes;
        self.finish_with(raw_size)
    }

    /// Ends a member started with [`Staging::member_encoded`], whose
    /// bytes inflate to `raw_size`.
    pub fn finish_encoded(self, raw_size: u64) -> Result<Member> {
        self.finish_with(raw_size)
    }

    fn finish_with(self, raw_size: u64) -> Result<Member> {
        let write_err = || fsutil::write_hint(&self.where_);
        let encoder = self
            .inner
            .inner
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(write_err)?;
        let hashing = encoder.finish().with_context(write_err)?;
        let (sink, sha256, size) = hashing.finish();
        match sink {
            Sink::Staged(buf) => {
                buf.into_inner().map_err(|e| e.into_error()).with_context(write_err)?;
            }
            Sink::Direct(buf) => {
                let mut at = buf.into_inner().map_err(|e| e.into_error()).with_context(write_err)?;
                let tail = at.tail.clone();
                let header = header_bytes(&self.path, size, tail.mtime)?;
                tail.file.write_all_at(&header, at.header_at).with_context(write_err)?;
                let mut state = tail.lock();
                tail.pad(at.pos, size, &mut state)?;
                state.written.push((self.path.clone(), size));
                state.held = false;
                at.released = true;
                tail.drain(&mut state)?;
            }
            Sink::Spill(mut spill) => {
                spill.flush().with_context(write_err)?;
                let tail = spill.tail.clone();
                let mut state = tail.lock();
                state.pending.push(Spilled {
                    path: self.path.clone(),
                    size,
                    spill,
                });
                tail.drain(&mut state)?;
            }
        }
        Ok(Member {
            path: self.path,
            size,
            raw_size,
            compression: self.compression.algorithm,
            sha256,
            role: self.role,
            table: self.table,
        })
    }
}
impl Write for MemberWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.inner.write_all(buf)?;
        self.inner.bytes += buf.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A set on its way to disk. Dropping it without `finish` removes every
/// trace, so a failed run leaves nothing that looks like a set.
pub struct SetWriter {
    out_dir: PathBuf,
    file_name: String,
    staging: Staging,
    partial: PathBuf,
    encryption: Option<Encryption>,
}

/// A set that is complete on disk.
#[derive(Debug, Clone)]
pub struct WrittenSet {
    pub path: PathBuf,
    pub sidecar: PathBuf,
    pub sha256: String,
    pub size: u64,
}

impl SetWriter {
    /// Prepares to write `out_dir/file_name`; the directory is made with
    /// mode 0700 when missing. The staging directory is created
    /// exclusively: when it already exists (another run chose the same name,
    /// or a killed run left it) this fails with `AlreadyExists` in the
    /// chain, and nothing of the other run is touched. The partial tar and
    /// sidecar live inside it, so every file a run writes is its own.
    /// Without encryption, members go straight into the partial tar; with
    /// `encryption` they are staged (compressed) and the tar streams
    /// through age on its way to disk at the end, so no decrypted copy of
    /// the whole set is ever written and the staged members go with the
    /// staging directory.
    pub fn create(
        out_dir: &Path,
        file_name: &str,
        compression: Compression,
        encryption: Option<Encryption>,
    ) -> Result<SetWriter> {
        fsutil::create_private_dir(out_dir)?;
        let staging_dir = staging_dir(out_dir, file_name);
        fsutil::create_private_dir_new(&staging_dir)?;
        let partial = staging_dir.join(".partial");
        let tail = match encryption {
            Some(_) => None,
            None => Some(Arc::new(Tail {
                file: fsutil::create_private_new(&partial)?,
                path: partial.clone(),
                mtime: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                state: Mutex::new(TailState::default()),
                spill_memory: AtomicU64::new(0),
            })),
        };
        Ok(SetWriter {
            out_dir: out_dir.to_path_buf(),
            file_name: file_name.to_string(),
            partial,
            staging: Staging {
                dir: staging_dir,
                compression,
                tail,
            },
            encryption,
        })
    }

    pub fn staging(&self) -> &Staging {
        &self.staging
    }

    /// Puts the manifest and RESTORE.md in front of the members (every
    /// member listed in the manifest must be in the tar, and nothing
    /// else), syncs the file, hashes it as it is on disk, writes the
    /// sidecar (and, when encrypted, the README that says how to decrypt
    /// it) and renames them into place.
    pub fn finish(self, manifest: &Manifest) -> Result<WrittenSet> {
        let target = self.out_dir.join(&self.file_name);
        let sidecar = checksum::sidecar_path(&target);
        let (sha256, size) = match &self.staging.tail {
            Some(tail) => self.finish_tail(tail, manifest)?,
            None => self.pack_staged(manifest)?,
        };

        let sidecar_partial = self.staging.dir.join(".sha256.partial");
        fsutil::write_private(
            &sidecar_partial,
            checksum::sidecar_line(&sha256, &self.file_name).as_bytes(),
        )?;
        if let Some(encryption) = &self.encryption {
            let readme_partial = self.staging.dir.join(".README.partial");
            let text = crypt::readme(&self.file_name, encryption, manifest.compression);
            fsutil::write_private(&readme_partial, text.as_bytes())?;
            fsutil::rename(&readme_partial, &crypt::readme_path(&target))?;
        }
        // The sidecar goes first: a tar under its final name is what makes a
        // set visible, so it must be the last thing to appear.
        fsutil::rename(&sidecar_partial, &sidecar)?;
        fsutil::rename(&self.partial, &target)?;
        fsutil::sync_dir(&self.out_dir);
        Ok(WrittenSet {
            path: target,
            sidecar,
            sha256,
            size,
        })
    }

    /// Fills the manifest slot of the partial tar and ends it; returns the
    /// file's SHA-256 and size.
    fn finish_tail(&self, tail: &Tail, manifest: &Manifest) -> Result<(String, u64)> {
        let write_err = || fsutil::write_hint(&self.partial);
        let mut state = tail.lock();
        tail.drain(&mut state)?;
        if state.broken || state.held || !state.pending.is_empty() {
            bail!("a member of {} was left unfinished", self.file_name);
        }
        let mut in_tar: std::collections::HashMap<&str, u64> =
            state.written.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        for member in manifest.members() {
            if in_tar.remove(member.path.as_str()) != Some(member.size) {
                bail!(
                    "member {} of {} is not in the set as its manifest says",
                    member.path,
                    self.file_name
                );
            }
        }
        if let Some(extra) = in_tar.keys().next() {
            bail!("member {extra} of {} is not in its manifest", self.file_name);
        }
        let manifest_json = manifest.to_json()?;
        let restore_md = restore_instructions(manifest);
        let front = |padding: u64| -> Result<Vec<u8>> {
            let mut json = manifest_json.clone();
            json.resize(json.len() + padding as usize, b' ');
            let mut tar = tar::Builder::new(Vec::new());
            append_bytes(&mut tar, MANIFEST_MEMBER, &json, tail.mtime)?;
            append_bytes(&mut tar, RESTORE_MEMBER, restore_md.as_bytes(), tail.mtime)?;
            Ok(tar.get_ref().clone())
        };
        let bare = front(0)?.len() as u64;
        let mut slot = state.slot.unwrap_or(0);
        let first = slot;
        let end = if state.slot.is_none() { 0 } else { state.end };
        if bare > slot {
            // The estimate was short: move every member up once (from the
            // end, so each byte is read before it is overwritten), with
            // room to spare so the padding stays valid JSON blanks.
            slot = round_up(bare + (4 << 10));
            shift_up(&tail.file, first, end, slot - first).with_context(write_err)?;
        }
        let end = end + (slot - first);
        // Blanks after the JSON fill the slot: the manifest's data grows
        // by whole blocks, so the RESTORE.md header lands where it must.
        let padding = round_up(manifest_json.len() as u64) - manifest_json.len() as u64 + (slot - bare);
        let head = front(padding)?;
        debug_assert_eq!(head.len() as u64, slot);
        tail.file.write_all_at(&head, 0).with_context(write_err)?;
        // The end-of-archive marker: two zero blocks.
        tail.file
            .write_all_at(&[0u8; 2 * BLOCK as usize], end)
            .with_context(write_err)?;
        tail.file.set_len(end + 2 * BLOCK).with_context(write_err)?;
        tail.file.sync_all().with_context(write_err)?;
        drop(state);
        // Hashed from the disk, as `sha256sum -c` will.
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut pos = 0u64;
        loop {
            crate::cancel::check()?;
            let n = tail
                .file
                .read_at(&mut buf, pos)
                .with_context(|| format!("reading {}", self.partial.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            pos += n as u64;
        }
        Ok((hex::encode(hasher.finalize()), pos))
    }

    /// Packs the manifest, RESTORE.md and every staged member listed in
    /// the manifest (in its order) into the tar, through age.
    fn pack_staged(&self, manifest: &Manifest) -> Result<(String, u64)> {
        let mtime = manifest.started_at.timestamp().max(0) as u64;
        let file = fsutil::create_private_new(&self.partial)?;
        let write_err = || fsutil::write_hint(&self.partial);
        // Hashed below the encryption: the sidecar covers the file as
        // stored, so `sha256sum -c` works without the key.
        let hashing = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        let sink = match &self.encryption {
            Some(encryption) => encryption.seal(hashing).with_context(write_err)?,
            None => Sealed::Clear(hashing),
        };
        let mut tar = tar::Builder::new(sink);

        let manifest_json = manifest.to_json()?;
        append_bytes(&mut tar, MANIFEST_MEMBER, &manifest_json, mtime).with_context(write_err)?;
        let restore_md = restore_instructions(manifest);
        append_bytes(&mut tar, RESTORE_MEMBER, restore_md.as_bytes(), mtime).with_context(write_err)?;
        for member in manifest.members() {
            crate::cancel::check()?;
            let staged = self.staging.staged_path(&member.path);
            let mut src = File::open(&staged).with_context(|| format!("opening staged member {}", staged.display()))?;
            let mut header = member_header(member.size, mtime);
            tar.append_data(&mut header, &member.path, &mut src)
                .with_context(write_err)?;
            // What is sealed need not stay on disk in the clear.
            let _ = std::fs::remove_file(&staged);
        }
        let sink = tar.into_inner().with_context(write_err)?;
        let hashing = sink.finish().with_context(write_err)?;
        let (buf, sha256, size) = hashing.finish();
        let file = buf.into_inner().map_err(|e| e.into_error()).with_context(write_err)?;
        file.sync_all().with_context(write_err)?;
        Ok((sha256, size))
    }
}

impl Drop for SetWriter {
    fn drop(&mut self) {
        // Members waiting for the tail hold it (a cycle): let them go.
        if let Some(tail) = &self.staging.tail {
            tail.lock().pending.clear();
        }
        // The partial tar and sidecar are inside the staging directory.
        let _ = std::fs::remove_dir_all(&self.staging.dir);
    }
}

/// Moves bytes `[from, end)` of `file` up by `by`, last bytes first.
fn shift_up(file: &File, from: u64, end: u64, by: u64) -> io::Result<()> {
    let mut buf = vec![0u8; 4 << 20];
    let mut top = end;
    while top > from {
        crate::cancel::check_io()?;
        let n = (top - from).min(buf.len() as u64);
        let start = top - n;
        file.read_exact_at(&mut buf[..n as usize], start)?;
        file.write_all_at(&buf[..n as usize], start + by)?;
        top = start;
    }
    Ok(())
}

fn round_up(n: u64) -> u64 {
    n.div_ceil(BLOCK) * BLOCK
}

/// The tar header of a member (with a GNU long-name entry before it when
/// the path needs one), as the tar crate writes it.
fn header_bytes(path: &str, size: u64, mtime: u64) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = member_header(size, mtime);
    tar.append_data(&mut header, path, io::empty())
        .with_context(|| format!("making the tar header of {path}"))?;
    Ok(tar.get_ref().clone())
}

/// The staging directory of a set file name; hidden, so nothing takes it
/// for a set, and named after the set so `prune` and the next run can tell
/// whose it was.
pub fn staging_dir(out_dir: &Path, file_name: &str) -> PathBuf {
    out_dir.join(format!(".{file_name}.staging"))
}

fn member_header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, bytes: &[u8], mtime: u64) -> io::Result<()> {
    let mut header = member_header(bytes.len() as u64, mtime);
    tar.append_data(&mut header, path, bytes)
}

/// The RESTORE.md member: how to restore this set with stock tools.
fn restore_instructions(manifest: &Manifest) -> String {
    let mut out = String::new();
    out.push_str("# Restoring this backup set\n\n");
    out.push_str(&format!(
        "Set `{}` taken {} by lifeboat {}. With lifeboat:\n\n    lifeboat restore <this file> --to <target>\n\n",
        manifest.set, manifest.started_at, manifest.tool.version
    ));
    out.push_str("Without lifeboat, every member is a stock format; check the file first with\n`sha256sum -c <this file>.sha256`, then:\n\n");
    let unpack = match manifest.compression {
        super::Algorithm::Gzip => " | gunzip",
        super::Algorithm::Zstd => " | zstd -dc",
        super::Algorithm::None => "",
    };
    for db in &manifest.databases {
        if let Some(kind) = crate::engine::kind(&db.engine) {
            out.push_str(&kind.restore_md(db, unpack));
        }
    }
    out.push_str("`manifest.json` lists every member with its SHA-256, and every table with its row count.\n");
    out
}

//! Writes a backup set: members are compressed into a private staging
//! directory, then packed behind `manifest.json` into a tar under a
//! temporary name that is renamed only when everything is on disk.

use super::checksum::{self, CountingWriter, HashingWriter};
use super::compression::{Compression, Encoder};
use super::crypt::{self, Encryption, Sealed};
use super::manifest::{MANIFEST_MEMBER, Manifest, Member, RESTORE_MEMBER};
use crate::fsutil;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where an engine puts members while a set is being written. Cheap to
/// share between worker threads: each member is its own file.
#[derive(Debug, Clone)]
pub struct Staging {
    dir: PathBuf,
    compression: Compression,
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

    /// Starts member `<database>/<file><ext>`; the compression suffix is
    /// added here.
    pub fn member(&self, database: &str, file: &str, role: &str, table: Option<&str>) -> Result<MemberWriter> {
        self.member_at(&format!("{}/{file}", super::safe_component(database)), role, table)
    }

    /// Starts member `<path><ext>` anywhere in the set (a database's
    /// schema.json sits beside its folder, so that `<database>/*` stays
    /// plain SQL for psql).
    pub fn member_at(&self, path: &str, role: &str, table: Option<&str>) -> Result<MemberWriter> {
        let path = format!("{path}{}", self.compression.algorithm.extension());
        let staged = self.staged_path(&path);
        let out = fsutil::create_private(&staged)?;
        let hashing = HashingWriter::new(BufWriter::with_capacity(1 << 20, out));
        let encoder = self.compression.encoder(hashing)?;
        Ok(MemberWriter {
            inner: CountingWriter {
                inner: encoder,
                bytes: 0,
            },
            path,
            staged,
            compression: self.compression,
            role: role.to_string(),
            table: table.map(str::to_string),
        })
    }

    fn staged_path(&self, member_path: &str) -> PathBuf {
        self.dir.join(member_path.replace('/', "%"))
    }
}

/// A member being written: raw bytes in, compressed and hashed on the way
/// to the staging file.
pub struct MemberWriter {
    inner: CountingWriter<Encoder<'static, HashingWriter<BufWriter<File>>>>,
    path: String,
    staged: PathBuf,
    compression: Compression,
    role: String,
    table: Option<String>,
}

impl MemberWriter {
    /// Ends the compressed stream and returns the member's record.
    pub fn finish(self) -> Result<Member> {
        let raw_size = self.inner.bytes;
        let hashing = self
            .inner
            .inner
            .finish()
            .with_context(|| fsutil::write_hint(&self.staged))?;
        let (buf, sha256, size) = hashing.finish();
        buf.into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| fsutil::write_hint(&self.staged))?;
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
    /// With `encryption`, the tar streams through age on its way to disk:
    /// no decrypted copy of the whole set is ever written.
    pub fn create(
        out_dir: &Path,
        file_name: &str,
        compression: Compression,
        encryption: Option<Encryption>,
    ) -> Result<SetWriter> {
        fsutil::create_private_dir(out_dir)?;
        let staging_dir = staging_dir(out_dir, file_name);
        fsutil::create_private_dir_new(&staging_dir)?;
        Ok(SetWriter {
            out_dir: out_dir.to_path_buf(),
            file_name: file_name.to_string(),
            partial: staging_dir.join(".partial"),
            staging: Staging {
                dir: staging_dir,
                compression,
            },
            encryption,
        })
    }

    pub fn staging(&self) -> &Staging {
        &self.staging
    }

    /// Packs the manifest, RESTORE.md and every member listed in the
    /// manifest (in its order) into the tar (encrypted when asked), syncs
    /// it, writes the sidecar (and, when encrypted, the README that says
    /// how to decrypt it) and renames them into place.
    pub fn finish(self, manifest: &Manifest) -> Result<WrittenSet> {
        let target = self.out_dir.join(&self.file_name);
        let sidecar = checksum::sidecar_path(&target);
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
        }
        let sink = tar.into_inner().with_context(write_err)?;
        let hashing = sink.finish().with_context(write_err)?;
        let (buf, sha256, size) = hashing.finish();
        let file = buf.into_inner().map_err(|e| e.into_error()).with_context(write_err)?;
        file.sync_all().with_context(write_err)?;
        drop(file);

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
}

impl Drop for SetWriter {
    fn drop(&mut self) {
        // The partial tar and sidecar are inside the staging directory.
        let _ = std::fs::remove_dir_all(&self.staging.dir);
    }
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

//! File-system steps with the permissions and durability backups need:
//! private modes, sync before rename, errors naming the path.

use anyhow::{Context, Result};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Creates (or truncates) a file only its owner can read.
pub fn create_private(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// Creates a file only its owner can read (opened for reading too, so it
/// can be hashed as written); fails when it exists, so two runs never
/// write one file.
pub fn create_private_new(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// Writes a whole small file with mode 0600 and syncs it.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = create_private(path)?;
    f.write_all(bytes).with_context(|| write_hint(path))?;
    f.sync_all().with_context(|| write_hint(path))?;
    Ok(())
}

/// Creates a directory (and parents) with mode 0700 when it is missing.
pub fn create_private_dir(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .with_context(|| format!("creating directory {}", path.display()))
}

/// Creates one directory with mode 0700; fails (with `AlreadyExists` in
/// the chain) when it exists.
pub fn create_private_dir_new(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .with_context(|| format!("creating directory {}", path.display()))
}

/// Whether an error chain says a path already existed.
pub fn is_already_exists(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AlreadyExists)
    })
}

pub fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).with_context(|| format!("renaming {} to {}", from.display(), to.display()))
}

/// Makes a rename durable; failures are ignored because some file systems
/// cannot sync directories and the data itself is already synced.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The context for a failed write; a full disk is explained once, where the
/// error is printed.
pub fn write_hint(path: &Path) -> String {
    format!("writing {}", path.display())
}

/// Whether an error chain comes from a full disk or quota.
pub fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io = cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(libc::EDQUOT));
        // SQLite reports the same condition as its own SQLITE_FULL.
        let sqlite = cause
            .downcast_ref::<rusqlite::Error>()
            .and_then(|e| e.sqlite_error_code())
            .is_some_and(|code| code == rusqlite::ErrorCode::DiskFull);
        io || sqlite
    })
}

/// Bytes free to an unprivileged writer on the filesystem holding `dir`;
/// `None` where the system cannot say.
pub fn free_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the struct it is given from a NUL-terminated path.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// Refuses, before the first byte is written, to write `bytes` (what a set
/// says it will inflate to) into `dir` when its filesystem has less free:
/// a set claiming gigabytes then fails at once instead of filling the disk
/// on its way to failing. The error is a full disk's, so it carries the
/// same hint.
pub fn ensure_free_space(dir: &Path, bytes: u64, what: &str) -> Result<()> {
    let Some(free) = free_space(dir) else { return Ok(()) };
    if bytes > free {
        return Err(std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            format!(
                "{what} needs {} but {} has {} free; nothing was written",
                crate::progress::human_bytes(bytes),
                dir.display(),
                crate::progress::human_bytes(free)
            ),
        ))
        .with_context(|| format!("checking free space in {}", dir.display()));
    }
    Ok(())
}

/// A variable, or the contents of the file its `_FILE` variant names
/// (Docker and Kubernetes secrets).
pub fn env_or_file(name: &str) -> Result<Option<String>> {
    if let Some(v) = std::env::var(name).ok().filter(|v| !v.is_empty()) {
        return Ok(Some(v));
    }
    let file_var = format!("{name}_FILE");
    match std::env::var(&file_var).ok().filter(|v| !v.is_empty()) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {file_var} ({path})"))?;
            Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()))
        }
        None => Ok(None),
    }
}

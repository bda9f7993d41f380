//! Advisory file locks (flock) that keep two lifeboat runs from working on
//! the same set name or the same restore target at once.
//!
//! flock locks belong to the open file: the kernel drops them when the
//! process ends, however it ends, so a SIGKILLed run never leaves a lock
//! that blocks the next one. The holder removes the lock file before it
//! lets go; a waiter that then locks the removed file sees that the path no
//! longer names what it locked and tries again, so two runs never both
//! believe they hold the lock. A file left by a killed run is reused.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An exclusive lock held until dropped.
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
    _file: File,
}

impl FileLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Removed while still locked; the lock goes with the file handle.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What happened when a lock was asked for.
pub enum Attempt {
    Locked(FileLock),
    /// Another process holds it; its pid when it wrote one.
    Busy(Option<u32>),
}

/// Takes the lock at `path` without waiting.
pub fn try_lock(path: &Path) -> Result<Attempt> {
    loop {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .with_context(|| format!("opening lock file {}", path.display()))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Ok(Attempt::Busy(text.trim().parse().ok()));
            }
            return Err(err).with_context(|| format!("locking {}", path.display()));
        }
        // The holder before us may have removed the file between our open
        // and our lock: then we hold a lock nobody else can see; start over.
        let ours = file.metadata().map(|m| (m.dev(), m.ino())).ok();
        let named = std::fs::metadata(path).map(|m| (m.dev(), m.ino())).ok();
        if ours.is_none() || ours != named {
            continue;
        }
        // The pid is only for messages; failing to write it is not an error.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
        return Ok(Attempt::Locked(FileLock {
            path: path.to_path_buf(),
            _file: file,
        }));
    }
}

/// Takes the lock at `path`, waiting up to `wait` for another holder to let
/// go; `busy` builds the error when it does not (given the holder's pid).
pub fn lock_waiting(
    path: &Path,
    wait: Duration,
    mut on_wait: impl FnMut(Option<u32>),
    busy: impl FnOnce(Option<u32>) -> anyhow::Error,
) -> Result<FileLock> {
    let started = Instant::now();
    let mut told = false;
    loop {
        match try_lock(path)? {
            Attempt::Locked(lock) => return Ok(lock),
            Attempt::Busy(pid) => {
                if started.elapsed() >= wait {
                    return Err(busy(pid));
                }
                if !told {
                    on_wait(pid);
                    told = true;
                }
                crate::cancel::check()?;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// How long a backup waits for another backup of the same set name into
/// the same directory before it refuses.
pub const SET_LOCK_WAIT: Duration = Duration::from_secs(30);

/// The lock file that guards one set name in one directory.
pub fn set_lock_path(dir: &Path, set: &str) -> PathBuf {
    dir.join(format!(".{set}.lifeboat-lock"))
}

/// Holds the set-name lock of `dir` for one backup, waiting a while for
/// another backup of the same name to finish.
pub fn lock_set(dir: &Path, set: &str, reporter: &crate::progress::Reporter) -> Result<FileLock> {
    crate::fsutil::create_private_dir(dir)?;
    let path = set_lock_path(dir, set);
    let holder = |pid: Option<u32>| pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    lock_waiting(
        &path,
        SET_LOCK_WAIT,
        |pid| {
            reporter.info(&format!(
                "another lifeboat backup of set {set} into {} is running{}; waiting for it",
                dir.display(),
                holder(pid)
            ))
        },
        |pid| {
            anyhow::anyhow!(
                "another lifeboat backup of set {set} into {} is still running after {}s{} (it holds {}): \
                 let it finish and run again, or back up under another --set-name",
                dir.display(),
                SET_LOCK_WAIT.as_secs(),
                holder(pid),
                path.display()
            )
        },
    )
}

/// The lock file beside a file a restore replaces (a SQLite database).
pub fn target_lock_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.lifeboat-restore-lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".x.lock");
        let first = match try_lock(&path).unwrap() {
            Attempt::Locked(l) => l,
            Attempt::Busy(_) => panic!("a fresh lock is free"),
        };
        // flock locks are per open file, so a second open in this process
        // conflicts just as another process would.
        match try_lock(&path).unwrap() {
            Attempt::Busy(pid) => assert_eq!(pid, Some(std::process::id())),
            Attempt::Locked(_) => panic!("the lock was taken twice"),
        }
        let err = lock_waiting(
            &path,
            Duration::from_millis(200),
            |_| {},
            |pid| anyhow::anyhow!("busy {pid:?}"),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("busy"), "{err}");
        drop(first);
        assert!(!path.exists(), "the holder removes the lock file");
        assert!(matches!(try_lock(&path).unwrap(), Attempt::Locked(_)));
    }
}

//! SQLite: a consistent copy through the online backup API while the
//! application keeps writing, checked with `integrity_check` before it is
//! packed; restores go to a temporary file that is copied into the target
//! (through the same API, into the open database) only after it matched the
//! manifest.

pub mod kind;
mod pack;

pub use kind::Kind;

use super::{BeforeChange, Engine, Inspection, MIGRATION_TABLES, RestoreSummary};
use crate::archive::compression::Algorithm;
use crate::archive::manifest::{DatabaseManifest, Member, Migration, SchemaObject, TableStats};
use crate::archive::reader::SetSource;
use crate::archive::writer::Staging;
use crate::digest::{RowDigest, schema_fingerprint, sha256_hex};
use crate::fsutil;
use crate::progress::{ProgressWriter, Reporter};
use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OpenFlags, backup, types::ValueRef};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

const PAGES_PER_STEP: i32 = 4096;
/// Threads compressing one database file at most: past this the disk, not
/// deflate, sets the pace.
const MAX_PACKERS: usize = 8;
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Returns the file path when `url` names a SQLite database: `sqlite:PATH`,
/// `sqlite://PATH`, `sqlite:///ABSOLUTE`, or a path ending in `.db`,
/// `.sqlite`, `.sqlite3` or `.db3`, or an existing SQLite file.
pub fn path_of(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("sqlite:").or_else(|| url.strip_prefix("sqlite3:")) {
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let rest = rest.split_once('?').map_or(rest, |(p, _)| p);
        return Some(rest.to_string());
    }
    if url.contains("://") {
        return None;
    }
    let lower = url.to_ascii_lowercase();
    if [".db", ".sqlite", ".sqlite3", ".db3"]
        .iter()
        .any(|ext| lower.ends_with(ext))
    {
        return Some(url.to_string());
    }
    let mut header = [0u8; 16];
    let is_sqlite = File::open(url).and_then(|mut f| f.read_exact(&mut header)).is_ok() && &header == SQLITE_HEADER;
    is_sqlite.then(|| url.to_string())
}

/// The name a database file gets inside a set: its file stem.
pub fn default_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sqlite".into());
    crate::archive::safe_component(&stem)
}

pub struct SqliteEngine {
    name: String,
    path: PathBuf,
}

impl SqliteEngine {
    /// `PRAGMA integrity_check` of a fresh copy on one connection while
    /// another reads its tables, version, encoding and user_version.
    fn check_copy(&self, copy_path: &Path) -> Result<(Inspection, String, String, i64)> {
        let (integrity, read) = beside_integrity_check(
            || open_copy(copy_path),
            |copy| {
                let inspection = inspect(copy)?;
                let (server_version, encoding, user_version) = copy.query_row(
                    "SELECT sqlite_version(), (SELECT encoding FROM pragma_encoding), (SELECT user_version FROM pragma_user_version)",
                    [],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)),
                )?;
                Ok((inspection, server_version, encoding, user_version))
            },
        );
        integrity.with_context(|| {
            format!("the copy of {} fails PRAGMA integrity_check: the source database is damaged; repair it (sqlite3 .recover) before backing it up", self.path.display())
        })?;
        read.with_context(|| format!("reading the copy of {}", self.path.display()))
    }

    /// Packs the copy into the set: gzip on every core (one gzip member,
    /// as `gunzip` expects); zstd and stored members through the set's own
    /// encoder.
    fn pack(&self, staging: &Staging, copy_path: &Path, task: &crate::progress::Task) -> Result<Member> {
        let file_name = self
            .path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "database.db".into());
        let file_name = crate::archive::safe_component(&file_name);
        let mut input = File::open(copy_path).with_context(|| format!("opening {}", copy_path.display()))?;
        let compression = staging.compression();
        let compressing = || format!("compressing the copy of {}", self.path.display());
        if compression.algorithm != Algorithm::Gzip {
            let mut member = staging.member(&self.name, &file_name, "database", None)?;
            io::copy(
                &mut input,
                &mut ProgressWriter {
                    inner: &mut member,
                    task,
                },
            )
            .with_context(compressing)?;
            return member.finish();
        }
        let mut member = staging.member_encoded(&self.name, &file_name, "database", None)?;
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(MAX_PACKERS));
        let packed = pack::gzip(&mut input, &mut member, compression.level as u32, workers, &mut |n| {
            crate::cancel::check_io()?;
            task.inc(n);
            Ok(())
        });
        crate::cancel::check()?;
        let raw_size = packed.with_context(compressing)?;
        member.finish_encoded(raw_size)
    }

    pub fn new(name: Option<String>, path: PathBuf) -> SqliteEngine {
        let name = name
            .map(|n| crate::archive::safe_component(&n))
            .unwrap_or_else(|| default_name(&path));
        SqliteEngine { name, path }
    }

    /// Opens the source read-only after checking it is a SQLite file, so a
    /// wrong path never creates an empty database.
    fn open_source(&self) -> Result<Connection> {
        let path = &self.path;
        let mut header = [0u8; 16];
        let mut file = File::open(path).with_context(|| {
            format!(
                "cannot open SQLite database {}: check the path (relative paths start from the working directory)",
                path.display()
            )
        })?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            bail!("{} is a directory, not a SQLite database", path.display());
        }
        if file.read_exact(&mut header).is_err() || &header != SQLITE_HEADER {
            bail!(
                "{} is not a SQLite database (its first bytes are not the SQLite header)",
                path.display()
            );
        }
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .with_context(|| format!("opening SQLite database {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        Ok(conn)
    }
}

impl Engine for SqliteEngine {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn redacted_source(&self) -> String {
        std::path::absolute(&self.path)
            .unwrap_or_else(|_| self.path.clone())
            .display()
            .to_string()
    }

    fn backup(&self, staging: &Staging, reporter: &Reporter) -> Result<DatabaseManifest> {
        let source = self.open_source()?;
        let copy_path = staging.scratch_path(&format!("{}.db", self.name));
        copy_snapshot(&source, &copy_path, &self.path, reporter)?;
        drop(source);

        let size = std::fs::metadata(&copy_path)?.len();
        let task = reporter.task(&format!("packing {}", self.name), Some(size));
        // The copy is packed while other connections check it and read its
        // tables: all only read it, and a copy that fails the check is not
        // kept (the member goes with the set).
        let (packed, checked) = std::thread::scope(|scope| {
            let checking = scope.spawn(|| self.check_copy(&copy_path));
            let packed = self.pack(staging, &copy_path, &task);
            let checked = checking
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("checking {} panicked", self.name)));
            (packed, checked)
        });
        remove_wal_files(&copy_path);
        let _ = std::fs::remove_file(&copy_path);
        let (inspection, server_version, encoding, user_version) = checked?;
        let member = packed?;
        task.finish();

        Ok(DatabaseManifest {
            roles: Vec::new(),
            name: self.name.clone(),
            engine: "sqlite".into(),
            source: self.redacted_source(),
            server_version: Some(server_version),
            encoding: Some(encoding),
            consistent_snapshot: true,
            user_version: Some(user_version),
            migration: inspection.migration,
            schema_fingerprint: inspection.schema_fingerprint,
            schema_objects: inspection.schema_objects,
            tables: inspection.tables,
            sequences: Vec::new(),
            large_objects: None,
            no_tablespaces: false,
            members: vec![member],
        })
    }

    fn inspect(&self) -> Result<Inspection> {
        inspect(&self.open_source()?)
    }

    fn target_exists(&self) -> Result<bool> {
        Ok(std::fs::metadata(&self.path).map(|m| m.len() > 0).unwrap_or(false))
    }

    fn restore(
        &self,
        set: &SetSource,
        database: &DatabaseManifest,
        before_change: BeforeChange<'_>,
        reporter: &Reporter,
    ) -> Result<RestoreSummary> {
        let member = database
            .members
            .iter()
            .find(|m| m.role == "database")
            .with_context(|| format!("the set has no database file for {}", database.name))?;
        let target = &self.path;
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))?;
        let file_name = target
            .file_name()
            .context("the restore target has no file name")?
            .to_string_lossy();
        // One restore into a file at a time: a second one refuses.
        let lock_path = crate::lock::target_lock_path(target);
        let _lock = match crate::lock::try_lock(&lock_path)? {
            crate::lock::Attempt::Locked(lock) => lock,
            crate::lock::Attempt::Busy(pid) => crate::usage_bail!(
                "another lifeboat restore into {} is running{} (it holds {}): this one did not start and changed \
                 nothing; wait for the other to finish and run again",
                target.display(),
                pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                lock_path.display()
            ),
        };
        // Holding the target's lock, a hidden copy beside it is from a
        // restore that was killed (SIGKILL gives no chance to remove it).
        let temp_prefix = format!(".{file_name}.lifeboat-restore-");
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name
                .strip_prefix(&temp_prefix)
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
                && std::fs::remove_file(entry.path()).is_ok()
            {
                reporter.info(&format!(
                    "removed {}, left by an interrupted restore",
                    entry.path().display()
                ));
            }
        }
        // The claim is checked before a byte is written: a small set that
        // says it inflates to gigabytes stops here, not on a full disk.
        crate::archive::reader::check_raw_claim(member)?;
        fsutil::ensure_free_space(
            dir,
            member.raw_size,
            &format!("unpacking {} beside {}", database.name, target.display()),
        )?;
        let temp = TempFile(dir.join(format!(".{file_name}.lifeboat-restore-{}", std::process::id())));

        let task = reporter.task(&format!("unpacking {}", database.name), Some(member.raw_size));
        let file = match unpack(set, &member.path, &temp.0, &task) {
            Err(e) if crate::archive::reader::is_member_damaged(&e) => {
                return Err(refuse_damaged(
                    set,
                    reporter,
                    "member-hash",
                    &member.path,
                    &e.root_cause().to_string(),
                ));
            }
            other => other?,
        };
        task.finish();
        // The file goes to disk while it is checked: the checks read it
        // from the page cache, and the rename below waits for both.
        let syncing = std::thread::spawn(move || file.sync_all());
        let checks = check_restored(&temp.0, database);
        let synced = syncing
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("syncing panicked")));
        let checks = checks?;
        synced.with_context(|| fsutil::write_hint(&temp.0))?;
        // A set whose member hashes are checked as it is read also has its
        // whole file held against the sidecar, on a thread beside the
        // unpacking: nothing changes before that check is in.
        if let Err(e) = set.confirm_file() {
            let name = set
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Err(refuse_damaged(set, reporter, "sidecar", &name, &e.to_string()));
        }
        remove_wal_files(&temp.0);

        let safety_backup = before_change()?;
        if std::fs::metadata(target).is_ok_and(|m| m.len() > 0) {
            copy_into_live(&temp.0, target)?;
        } else {
            // Nothing there for anyone to hold open: the checked copy is
            // renamed into place.
            remove_wal_files(target);
            fsutil::rename(&temp.0, target)?;
            std::mem::forget(temp);
            fsutil::sync_dir(dir);
        }

        Ok(RestoreSummary {
            database: database.name.clone(),
            target: target.display().to_string(),
            tables: database.tables.len(),
            rows: database.tables.iter().map(|t| t.rows).sum(),
            checks,
            safety_backup,
        })
    }
}

/// Opens the snapshot copy a backup made, read only and immutable:
/// nothing may write the file while it is being packed, not even the
/// -wal/-shm bookkeeping of a WAL-mode copy.
fn open_copy(copy_path: &Path) -> Result<Connection> {
    let uri = format!(
        "file:{}?immutable=1",
        copy_path
            .to_string_lossy()
            .replace('%', "%25")
            .replace('?', "%3f")
            .replace('#', "%23")
    );
    Connection::open_with_flags(
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )
    .with_context(|| format!("opening the copy {}", copy_path.display()))
}

/// Runs `PRAGMA integrity_check` on one connection from `open` while
/// `read` reads through another, on this thread; the file must not change
/// meanwhile (a copy, or a restored file no one else knows of yet).
fn beside_integrity_check<T: Send>(
    open: impl Fn() -> Result<Connection> + Sync,
    read: impl FnOnce(&Connection) -> Result<T>,
) -> (Result<()>, Result<T>) {
    std::thread::scope(|scope| {
        let integrity = scope.spawn(|| -> Result<()> {
            let conn = open()?;
            integrity_check(&conn)?;
            conn.close()
                .map_err(|(_, e)| e)
                .context("closing the database after integrity_check")
        });
        let read = (|| -> Result<T> {
            let conn = open()?;
            let value = read(&conn)?;
            conn.close()
                .map_err(|(_, e)| e)
                .context("closing the database after reading it")?;
            Ok(value)
        })();
        let integrity = integrity
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("integrity_check panicked")));
        (integrity, read)
    })
}

/// A set found damaged while it is unpacked is refused as the checks
/// before a restore refuse one: the finding named as `verify` names it,
/// and a failed verification that says nothing was restored.
fn refuse_damaged(set: &SetSource, reporter: &Reporter, check: &str, object: &str, why: &str) -> anyhow::Error {
    let neutralize = crate::github::workflow::neutralize;
    reporter.error(&format!(
        "[{check}] {}: {} (found while unpacking it); {}",
        neutralize(object),
        neutralize(why),
        crate::verify::FIX_DAMAGED
    ));
    anyhow::Error::new(crate::error::VerificationFailed { errors: 1 }).context(format!(
        "{} failed the {check} check while it was unpacked; nothing was restored. `lifeboat verify {}` gives the full report",
        set.path.display(),
        set.path.display()
    ))
}

/// Unpacks member `path` of `set` into a new file at `temp`: reading,
/// hashing and inflating run a few blocks ahead on a thread of their own
/// while this one writes. A member whose hash was left to this read
/// fails here, at its end, if it differs from the manifest.
fn unpack(set: &SetSource, path: &str, temp: &Path, task: &crate::progress::Task) -> Result<File> {
    let mut out = fsutil::create_private(temp)?;
    let mut input = set.open_ahead(path)?;
    loop {
        crate::cancel::check()?;
        let block = io::BufRead::fill_buf(&mut input).with_context(|| format!("unpacking {path}"))?;
        if block.is_empty() {
            break;
        }
        let n = block.len();
        out.write_all(block).with_context(|| fsutil::write_hint(temp))?;
        io::BufRead::consume(&mut input, n);
        task.inc(n as u64);
    }
    Ok(out)
}

/// Checks a restored copy before it may replace anything: `integrity_check`
/// on one connection while another counts and digests every table and
/// fingerprints the schema for the comparison with the manifest. Both
/// connections are opened as for a stranger's file ([`open_untrusted`]),
/// so the digests may read it before `integrity_check` has finished.
fn check_restored(path: &Path, database: &DatabaseManifest) -> Result<Vec<String>> {
    let (integrity, found) = beside_integrity_check(|| open_untrusted(path), inspect);
    // The structural check speaks first: a damaged file explains any
    // difference the digests found.
    integrity.context("the restored copy fails PRAGMA integrity_check; the target was not changed")?;
    let mut checks = vec!["integrity_check ok".to_string()];
    let found = found.context("reading the restored copy; the target was not changed")?;
    compare_with_manifest(database, &found)
        .context("the restored copy does not match the manifest; the target was not changed")?;
    checks.push(format!(
        "{} tables match the manifest's row counts and digests",
        found.tables.len()
    ));
    if found.schema_fingerprint != database.schema_fingerprint {
        bail!("the restored copy's schema fingerprint differs from the manifest; the target was not changed");
    }
    checks.push("schema fingerprint matches".to_string());
    Ok(checks)
}

/// How long a restore waits for the application's write transaction to end
/// before it gives up, changing nothing.
const RESTORE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Copies the checked database into the target through SQLite's online
/// backup API, as `sqlite3 .restore` does, rather than replacing the file:
/// an application holding the target open keeps a working connection to
/// the same file. The copy runs as one step, under the target's write lock
/// (waiting for a running write transaction up to a timeout), so other
/// connections see the old database or the restored one, and a commit
/// attempted during the copy waits or fails; none succeeds and then
/// vanishes, as it would with a file renamed over the one it wrote to.
fn copy_into_live(restored: &Path, target: &Path) -> Result<()> {
    let source = open_untrusted(restored)?;
    let mut dest = Connection::open_with_flags(target, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("opening {}", target.display()))?;
    dest.busy_timeout(RESTORE_BUSY_TIMEOUT)
        .with_context(|| format!("opening {}", target.display()))?;
    crate::cancel::check()?;
    let step = {
        let copier = backup::Backup::new(&source, &mut dest)
            .with_context(|| format!("starting the copy into {}", target.display()))?;
        copier
            .step(-1)
            .with_context(|| format!("copying the restored database into {}", target.display()))?
    };
    match step {
        backup::StepResult::Done => {}
        backup::StepResult::Busy | backup::StepResult::Locked => bail!(
            "{} stayed locked by another connection for {}s, so the restore could not take its write lock; \
             nothing was changed. Stop the application's writes (or let its transaction end) and run again",
            target.display(),
            RESTORE_BUSY_TIMEOUT.as_secs()
        ),
        other => bail!("copying into {} stopped early ({other:?}); run again", target.display()),
    }
    integrity_check(&dest).context("the target after the restore fails PRAGMA integrity_check")?;
    dest.close()
        .map_err(|(_, e)| e)
        .with_context(|| format!("closing {}", target.display()))?;
    Ok(())
}

/// Opens a database file that came out of a set, which is input from a
/// stranger, the way SQLite's "defense against the dark arts" advises: no
/// schema-defined code is trusted (functions and virtual tables named in
/// views, triggers and defaults), the schema cannot be written around its
/// checks, shadow tables are read-only, and damaged cells are caught as they
/// are read rather than trusted.
fn open_untrusted(path: &Path) -> Result<Connection> {
    use rusqlite::config::DbConfig;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening restored copy {}", path.display()))?;
    let harden = || -> rusqlite::Result<()> {
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, false)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_WRITABLE_SCHEMA, false)?;
        conn.execute_batch("PRAGMA cell_size_check = ON; PRAGMA mmap_size = 0;")
    };
    harden().with_context(|| {
        format!(
            "opening restored copy {} with SQLite's defensive settings",
            path.display()
        )
    })?;
    Ok(conn)
}

/// Removes a temporary file unless it was renamed into place.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        remove_wal_files(&self.0);
    }
}

fn remove_wal_files(db: &Path) {
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// Copies the database page by page inside one read transaction, so the
/// copy is one committed state even while others write.
fn copy_snapshot(source: &Connection, copy_path: &Path, source_path: &Path, reporter: &Reporter) -> Result<()> {
    let mut dest = Connection::open(copy_path).with_context(|| format!("creating {}", copy_path.display()))?;
    // A scratch file: a crash leaves it to be thrown away, so it needs no
    // journal and no fsync (the set it goes into is synced).
    dest.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        .with_context(|| format!("creating {}", copy_path.display()))?;
    source
        .execute_batch("BEGIN DEFERRED")
        .context("starting a read transaction")?;
    source
        .query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .with_context(|| format!("reading {}", source_path.display()))?;
    let result = (|| -> Result<()> {
        let copier = backup::Backup::new(source, &mut dest)?;
        let task = reporter.task(&format!("copying {}", source_path.display()), None);
        let mut last_remaining = None;
        loop {
            crate::cancel::check()?;
            match copier
                .step(PAGES_PER_STEP)
                .with_context(|| format!("copying {}", source_path.display()))?
            {
                backup::StepResult::Done => break,
                backup::StepResult::More => {}
                backup::StepResult::Busy | backup::StepResult::Locked => std::thread::sleep(Duration::from_millis(50)),
                _ => {}
            }
            let p = copier.progress();
            if last_remaining != Some(p.remaining) {
                task.inc(PAGES_PER_STEP as u64 * 4096);
                last_remaining = Some(p.remaining);
            }
        }
        task.finish();
        Ok(())
    })();
    let _ = source.execute_batch("COMMIT");
    result?;
    dest.close().map_err(|(_, e)| e).context("closing the copy")?;
    Ok(())
}

fn integrity_check(conn: &Connection) -> Result<()> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    bail!("integrity_check reports: {}", problems.join("; "))
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Counts and digests every table and fingerprints the schema.
pub fn inspect(conn: &Connection) -> Result<Inspection> {
    let mut stmt = conn.prepare(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
    )?;
    let objects: Vec<(String, String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let schema_objects: Vec<SchemaObject> = objects
        .iter()
        .map(|(kind, name, _, sql)| {
            let normalized = sql
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            SchemaObject {
                kind: kind.clone(),
                name: name.clone(),
                sha256: sha256_hex(normalized.as_bytes()),
                sql: None,
            }
        })
        .collect();
    let mut tables = Vec::new();
    for (kind, name, _, sql) in &objects {
        let is_virtual = sql
            .as_deref()
            .is_some_and(|s| s.trim_start().to_ascii_uppercase().starts_with("CREATE VIRTUAL"));
        if kind == "table" && !is_virtual {
            tables.push(table_stats(conn, name).with_context(|| format!("reading table {name}"))?);
        }
    }
    Ok(Inspection {
        schema_fingerprint: schema_fingerprint(&schema_objects),
        schema_objects,
        migration: migration(conn, &tables),
        tables,
        // SQLite's AUTOINCREMENT counters are the rows of sqlite_sequence,
        // compared as a table's.
        sequences: Vec::new(),
        large_objects: None,
    })
}

fn table_stats(conn: &Connection, table: &str) -> Result<TableStats> {
    let mut stmt = conn.prepare(&format!("SELECT * FROM {}", quote(table)))?;
    let columns = stmt.column_count();
    let mut rows = stmt.query([])?;
    let mut digest = RowDigest::new();
    let mut raw_bytes = 0u64;
    let mut buf = Vec::with_capacity(256);
    while let Some(row) = rows.next()? {
        buf.clear();
        for i in 0..columns {
            match row.get_ref(i)? {
                ValueRef::Null => buf.push(0),
                ValueRef::Integer(v) => {
                    buf.push(1);
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                ValueRef::Real(v) => {
                    buf.push(2);
                    buf.extend_from_slice(&v.to_bits().to_le_bytes());
                }
                ValueRef::Text(t) => {
                    buf.push(3);
                    buf.extend_from_slice(&(t.len() as u64).to_le_bytes());
                    buf.extend_from_slice(t);
                }
                ValueRef::Blob(b) => {
                    buf.push(4);
                    buf.extend_from_slice(&(b.len() as u64).to_le_bytes());
                    buf.extend_from_slice(b);
                }
            }
        }
        raw_bytes += buf.len() as u64;
        digest.add_row(&buf);
    }
    Ok(TableStats {
        columns: Vec::new(),
        name: table.to_string(),
        rows: digest.rows(),
        raw_bytes,
        digest: digest.hex(),
        sql_name: None,
        references: Vec::new(),
    })
}

fn migration(conn: &Connection, tables: &[TableStats]) -> Option<Migration> {
    for (table, query) in MIGRATION_TABLES {
        if !tables.iter().any(|t| t.name == *table) {
            continue;
        }
        let revisions: Vec<String> = conn
            .prepare(query)
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap_or_default();
        if !revisions.is_empty() {
            return Some(Migration {
                table: table.to_string(),
                revision: revisions.join(","),
            });
        }
    }
    None
}

/// Checks every table of the manifest against what was found.
fn compare_with_manifest(database: &DatabaseManifest, found: &Inspection) -> Result<()> {
    let mut problems = Vec::new();
    for expected in &database.tables {
        match found.tables.iter().find(|t| t.name == expected.name) {
            None => problems.push(format!("table {} is missing", expected.name)),
            Some(t) if t.rows != expected.rows => problems.push(format!(
                "table {} has {} rows, the manifest says {}",
                t.name, t.rows, expected.rows
            )),
            Some(t) if t.digest != expected.digest => problems.push(format!(
                "table {} has the right row count but different content",
                t.name
            )),
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{}", problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_from_a_set_is_opened_without_trusting_its_schema() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("from-a-set.db");
        Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE t (a); CREATE VIEW v AS SELECT a FROM t;")
            .unwrap();
        let conn = open_untrusted(&db).unwrap();
        let trusted: i64 = conn.query_row("PRAGMA trusted_schema", [], |r| r.get(0)).unwrap();
        assert_eq!(trusted, 0, "schema-defined code must not be trusted");
        // Defensive mode: the schema cannot be edited around its checks.
        assert!(
            conn.execute_batch("PRAGMA writable_schema = ON; DELETE FROM sqlite_schema;")
                .is_err()
        );
        let objects: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(objects, 2);
    }

    #[test]
    fn urls_and_paths() {
        assert_eq!(path_of("sqlite:data/app.db").as_deref(), Some("data/app.db"));
        assert_eq!(path_of("sqlite:///abs/app.db").as_deref(), Some("/abs/app.db"));
        assert_eq!(path_of("sqlite://rel.db?mode=ro").as_deref(), Some("rel.db"));
        assert_eq!(path_of("x/app.sqlite3").as_deref(), Some("x/app.sqlite3"));
        assert_eq!(path_of("postgres://h/db"), None);
        assert_eq!(path_of("/nonexistent/file"), None);
    }

    #[test]
    fn sniffs_sqlite_files_without_an_extension() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data");
        Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE t(x)")
            .unwrap();
        assert!(path_of(db.to_str().unwrap()).is_some());
        let other = dir.path().join("other");
        std::fs::write(&other, b"hello world, not sqlite").unwrap();
        assert!(path_of(other.to_str().unwrap()).is_none());
    }

    #[test]
    fn digest_sees_content_changes_and_migrations() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t(a INTEGER, b TEXT); INSERT INTO t VALUES (1,'x'),(2,'y');
             CREATE TABLE alembic_version(version_num TEXT); INSERT INTO alembic_version VALUES ('abc123');",
        )
        .unwrap();
        let before = inspect(&conn).unwrap();
        assert_eq!(
            before.migration,
            Some(Migration {
                table: "alembic_version".into(),
                revision: "abc123".into()
            })
        );
        conn.execute_batch("UPDATE t SET b = 'z' WHERE a = 2").unwrap();
        let after = inspect(&conn).unwrap();
        let t = |i: &Inspection| i.tables.iter().find(|t| t.name == "t").unwrap().clone();
        assert_eq!(t(&before).rows, t(&after).rows);
        assert_ne!(t(&before).digest, t(&after).digest);
        assert_eq!(before.schema_fingerprint, after.schema_fingerprint);
    }
}

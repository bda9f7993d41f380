//! Databases a killed lifeboat left on a server, found by name and by the
//! mark lifeboat puts on each one it makes, and dropped by the next run on
//! that server once nobody holds them: `<db>_lifeboat_restore_<pid>` (a
//! `--create-db` restore's new database, free once nobody holds `<db>`'s
//! restore lock), `<db>_lifeboat_verify_<time>` (a server-side verify's
//! scratch database, free once nobody holds its own lock), and `<db>`
//! itself given back from `<db>_lifeboat_old_<pid>` when a swap was killed
//! half-way; and local scratch clusters (`lifeboat-scratch-*` in the
//! temporary directory) whose lifeboat process is gone.
//!
//! PostgreSQL keeps the first 63 bytes of a name and drops the rest without
//! a word, so every name made here fits: a long `<db>` is cut on a
//! character boundary and followed by a hash of the whole name.

use crate::progress::Reporter;
use anyhow::{Context, Result};
use postgres::Client;
use sha2::Digest;

/// The longest name PostgreSQL keeps (NAMEDATALEN - 1); it cuts longer
/// ones silently, so two long names could become one.
pub const MAX_NAME_BYTES: usize = 63;

/// `_` and eight hex digits of SHA-256: what stands for the part of a long
/// database name that was cut.
const HASH_PART: usize = 9;

/// The kinds of database lifeboat makes beside a user's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `--create-db` restore's new database, `<db>_lifeboat_restore_<pid>`.
    Restore,
    /// The old database during a swap, `<db>_lifeboat_old_<pid>`.
    Aside,
    /// A server-side verify's scratch database, `<db>_lifeboat_verify_<UTC time>`.
    Verify,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Restore => "restore",
            Kind::Aside => "old",
            Kind::Verify => "verify",
        }
    }

    /// The longest suffix a name of this kind carries: a pid (at most ten
    /// digits) or a 14-digit time.
    fn suffix_room(self) -> usize {
        match self {
            Kind::Restore | Kind::Aside => 10,
            Kind::Verify => 14,
        }
    }

    fn suffix_fits(self, suffix: &str) -> bool {
        match self {
            Kind::Restore | Kind::Aside => {
                !suffix.is_empty() && suffix.len() <= 10 && suffix.bytes().all(|b| b.is_ascii_digit())
            }
            Kind::Verify => suffix.len() == 14 && chrono::NaiveDateTime::parse_from_str(suffix, "%Y%m%d%H%M%S").is_ok(),
        }
    }
}

/// What every name of `kind` made for `db` starts with. `db` stays whole
/// when it leaves room for the hash part; otherwise it is cut and the hash
/// of the whole name follows. A whole name is at least `HASH_PART` bytes
/// shorter than a cut one, so the prefix of one database can never be the
/// prefix of another (short of a 32-bit hash collision between two long
/// names that share their first bytes).
pub fn prefix(db: &str, kind: Kind) -> String {
    let tag = format!("_lifeboat_{}_", kind.tag());
    let budget = MAX_NAME_BYTES - tag.len() - kind.suffix_room();
    if db.len() + HASH_PART <= budget {
        return format!("{db}{tag}");
    }
    let mut cut = budget - HASH_PART;
    while !db.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = hex::encode(sha2::Sha256::digest(db.as_bytes()));
    format!("{}_{}{tag}", &db[..cut], &hash[..HASH_PART - 1])
}

/// A name of `kind` for `db` with `suffix` (a pid or a time), never longer
/// than PostgreSQL keeps.
pub fn name(db: &str, kind: Kind, suffix: &str) -> String {
    debug_assert!(kind.suffix_fits(suffix), "{suffix:?} is no {kind:?} suffix");
    let name = format!("{}{suffix}", prefix(db, kind));
    debug_assert!(name.len() <= MAX_NAME_BYTES, "{name} is too long");
    name
}

/// Whether `name` is a name of `kind` that lifeboat makes for `db`.
pub fn is_name_of(name: &str, db: &str, kind: Kind) -> bool {
    name.strip_prefix(&prefix(db, kind))
        .is_some_and(|suffix| kind.suffix_fits(suffix))
}

/// The comment lifeboat gives every database it creates: it says whose
/// leftover the database would be, and only a database that carries it is
/// ever dropped as one, so a user's database that happens to have such a
/// name is never touched.
fn mark(db: &str, kind: Kind) -> String {
    format!("lifeboat {} of {db}", kind.tag())
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Marks a database lifeboat has just created as its own.
pub fn mark_created(admin: &mut Client, name: &str, db: &str, kind: Kind) -> Result<()> {
    admin
        .batch_execute(&format!(
            "COMMENT ON DATABASE {} IS {}",
            quoted(name),
            literal(&mark(db, kind))
        ))
        .with_context(|| format!("marking database {name} as lifeboat's"))
}

/// Databases of the server that carry lifeboat's mark, with the kind and
/// the database each belongs to, when its name agrees with its mark.
fn marked(admin: &mut Client) -> Result<Vec<(String, Kind, String)>> {
    let rows = admin.query(
        "SELECT d.datname::text, pg_catalog.shobj_description(d.oid, 'pg_database') FROM pg_catalog.pg_database d \
         WHERE pg_catalog.shobj_description(d.oid, 'pg_database') LIKE 'lifeboat %'",
        &[],
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (Ok(name), Ok(Some(comment))) = (row.try_get::<_, String>(0), row.try_get::<_, Option<String>>(1)) else {
            continue;
        };
        for kind in [Kind::Restore, Kind::Verify] {
            if let Some(db) = comment.strip_prefix(&format!("lifeboat {} of ", kind.tag()))
                && is_name_of(&name, db, kind)
            {
                out.push((name.clone(), kind, db.to_string()));
            }
        }
    }
    Ok(out)
}

fn names_with_prefix(admin: &mut Client, prefix: &str) -> Result<Vec<String>> {
    let rows = admin.query(
        "SELECT datname::text FROM pg_catalog.pg_database WHERE pg_catalog.left(datname, pg_catalog.length($1)) = $1",
        &[&prefix],
    )?;
    Ok(rows.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect())
}

/// Drops half-restored `--create-db` databases of `db`, and gives `db` its
/// name back when a swap was killed between renaming the old database aside
/// and renaming the new one into place. The caller holds `db`'s restore
/// lock, so no live restore owns any of these.
pub fn drop_restore_leftovers(admin: &mut Client, db: &str, reporter: &Reporter) {
    let asides: Vec<String> = names_with_prefix(admin, &prefix(db, Kind::Aside))
        .unwrap_or_default()
        .into_iter()
        .filter(|n| is_name_of(n, db, Kind::Aside))
        .collect();
    let target_missing = names_with_prefix(admin, db)
        .map(|names| !names.iter().any(|n| n == db))
        .unwrap_or(false);
    if let [aside] = asides.as_slice()
        && target_missing
        && admin
            .batch_execute(&format!("ALTER DATABASE {} RENAME TO {}", quoted(aside), quoted(db)))
            .is_ok()
    {
        reporter.warn(&format!(
            "{db} was missing and its previous contents were in {aside}, left by an interrupted --create-db swap: renamed back to {db}"
        ));
    }
    let marked = marked(admin).unwrap_or_default();
    for (name, kind, owner) in marked {
        if kind != Kind::Restore || owner != db {
            continue;
        }
        if super::swap::drop_database(admin, &name) {
            reporter.info(&format!("dropped {name}, left by an interrupted restore"));
        }
    }
}

/// The advisory lock a server-side verify holds on its scratch database
/// while it lives, in the maintenance database (advisory locks are per
/// database); a scratch database whose lock is free has no live owner.
const VERIFY_LOCK_SPACE: &str = "lifeboat verify";

/// Takes the lock that says the scratch database `name` is in use; the
/// session must stay open as long as the database is.
pub fn hold_verify_lock(maintenance: &mut Client, name: &str) -> Result<()> {
    maintenance
        .query_one(
            "SELECT pg_catalog.pg_advisory_lock(pg_catalog.hashtext($1), pg_catalog.hashtext($2))",
            &[&VERIFY_LOCK_SPACE, &name],
        )
        .with_context(|| format!("locking scratch database {name}"))?;
    Ok(())
}

/// Whether `space`/`key`'s advisory lock was free (and is now held by this
/// session until `release`).
fn try_lock(maintenance: &mut Client, space: &str, key: &str) -> bool {
    maintenance
        .query_one(
            "SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext($1), pg_catalog.hashtext($2))",
            &[&space, &key],
        )
        .ok()
        .and_then(|r| r.try_get::<_, bool>(0).ok())
        .unwrap_or(false)
}

fn release(maintenance: &mut Client, space: &str, key: &str) {
    let _ = maintenance.query_one(
        "SELECT pg_catalog.pg_advisory_unlock(pg_catalog.hashtext($1), pg_catalog.hashtext($2))",
        &[&space, &key],
    );
}

/// What any run that reaches a server does first: every database a killed
/// lifeboat left there whose owner is gone (its lock is free) is dropped,
/// and a name a killed swap took away is given back. `maintenance` is a
/// session in the maintenance database, where lifeboat's locks live.
pub fn sweep_server(maintenance: &mut Client, reporter: &Reporter) {
    let Ok(found) = marked(maintenance) else { return };
    let mut restores: Vec<String> = Vec::new();
    for (name, kind, db) in found {
        match kind {
            Kind::Restore => {
                if !restores.contains(&db) {
                    restores.push(db);
                }
            }
            Kind::Verify | Kind::Aside => {
                if !try_lock(maintenance, VERIFY_LOCK_SPACE, &name) {
                    continue;
                }
                if super::swap::drop_database(maintenance, &name) {
                    reporter.info(&format!("dropped {name}, left by an interrupted verify"));
                }
                release(maintenance, VERIFY_LOCK_SPACE, &name);
            }
        }
    }
    for db in restores {
        if !try_lock(maintenance, super::locks::RESTORE_LOCK_SPACE, &db) {
            continue;
        }
        drop_restore_leftovers(maintenance, &db, reporter);
        release(maintenance, super::locks::RESTORE_LOCK_SPACE, &db);
    }
}

/// Connects to the maintenance database of `target`'s server and sweeps
/// it; a server that cannot be reached is the command's own error to give.
pub fn sweep(target: &super::connect::Target, reporter: &Reporter) {
    if let Some(mut client) = ["postgres", "template1"]
        .iter()
        .find_map(|db| target.with_dbname(db).connect().ok())
    {
        sweep_server(&mut client, reporter);
    }
}

/// The file in a scratch directory that names the lifeboat process using it.
const OWNER_FILE: &str = "lifeboat.pid";

/// Marks a scratch directory as this process's.
pub fn claim_scratch_dir(dir: &std::path::Path) {
    let _ = std::fs::write(dir.join(OWNER_FILE), std::process::id().to_string());
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Stops the postmasters of scratch clusters whose lifeboat process is
/// gone (killed before it could stop them) and removes their directories.
pub fn stop_stale_scratch_clusters(reporter: &Reporter) {
    let Ok(read) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in read.flatten() {
        let dir = entry.path();
        if !entry.file_name().to_string_lossy().starts_with("lifeboat-scratch-") {
            continue;
        }
        let owner = std::fs::read_to_string(dir.join(OWNER_FILE))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        // Without an owner file the directory may be one being set up.
        let Some(owner) = owner else { continue };
        if alive(owner) {
            continue;
        }
        let postmaster = std::fs::read_to_string(dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
        if let Some(pid) = postmaster.filter(|p| alive(*p)) {
            // SIGQUIT is PostgreSQL's immediate shutdown: nothing in a
            // scratch cluster is worth keeping.
            // SAFETY: kill(2) with a pid read from the cluster's own file.
            unsafe { libc::kill(pid, libc::SIGQUIT) };
            for _ in 0..50 {
                if !alive(pid) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        // A postmaster on its way out still removes its socket files, so
        // a first removal can race it: try again for a moment.
        let mut removed = false;
        for _ in 0..20 {
            removed = std::fs::remove_dir_all(&dir).is_ok() || !dir.exists();
            if removed {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if removed {
            reporter.info(&format!(
                "removed scratch cluster {}, left by an interrupted verify",
                dir.display()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_name_fits_and_is_recognised() {
        let long = "d".repeat(63);
        let multibyte = "é".repeat(31); // 62 bytes, a cut lands inside a character
        for db in [
            "app",
            long.as_str(),
            multibyte.as_str(),
            "x".repeat(26).as_str(),
            "x".repeat(27).as_str(),
        ] {
            for (kind, suffix) in [
                (Kind::Restore, "4194304"),
                (Kind::Restore, "4294967295"),
                (Kind::Aside, "42"),
                (Kind::Verify, "20261204102300"),
            ] {
                let made = name(db, kind, suffix);
                assert!(made.len() <= MAX_NAME_BYTES, "{made} is {} bytes", made.len());
                assert!(is_name_of(&made, db, kind), "{made} not recognised for {db}");
                for other in [Kind::Restore, Kind::Aside, Kind::Verify] {
                    assert_eq!(is_name_of(&made, db, other), other == kind, "{made} as {other:?}");
                }
            }
        }
        assert_eq!(name("app", Kind::Restore, "12"), "app_lifeboat_restore_12");
        assert!(name(&long, Kind::Verify, "20261204102300").starts_with("ddd"));
    }

    #[test]
    fn one_database_never_takes_another_ones_names() {
        let long = "n".repeat(63);
        // A database named exactly like the cut-and-hashed form of a long
        // name gets a prefix of its own.
        let lookalike = prefix(&long, Kind::Restore)
            .strip_suffix("_lifeboat_restore_")
            .unwrap()
            .to_string();
        assert_ne!(prefix(&lookalike, Kind::Restore), prefix(&long, Kind::Restore));
        let made = name(&long, Kind::Restore, "77");
        assert!(!is_name_of(&made, &lookalike, Kind::Restore));
        // Two long names that share their first 60 bytes differ by hash.
        let a = format!("{}a", "s".repeat(62));
        let b = format!("{}b", "s".repeat(62));
        assert!(!is_name_of(&name(&a, Kind::Verify, "20261204102300"), &b, Kind::Verify));
        // A user's database whose name merely starts like ours is not ours:
        // the suffix must be all digits (or a time).
        assert!(!is_name_of("app_lifeboat_restore_backup", "app", Kind::Restore));
        assert!(!is_name_of("app_lifeboat_verify_2026", "app", Kind::Verify));
        assert!(!is_name_of("app_lifeboat_restore_", "app", Kind::Restore));
    }
}

//! Databases a killed lifeboat left on a server, found by name (and, for
//! scratch databases, age) and dropped by the next run that can tell they
//! are nobody's: `<db>_lifeboat_restore_<pid>` by the next restore of
//! `<db>` (which holds that target's restore lock, so no live restore owns
//! one), `<db>_lifeboat_verify_<time>` by the next server-side verify once
//! it is old and unused; and local scratch clusters (`lifeboat-scratch-*`
//! in the temporary directory) whose lifeboat process is gone, by the next
//! `verify --scratch local`.

use crate::progress::Reporter;
use anyhow::Result;
use postgres::Client;

/// How old a scratch database must be before another run takes it for a
/// leftover (a verify of a big database can take a while).
const VERIFY_LEFTOVER_AGE: chrono::Duration = chrono::Duration::hours(1);

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
/// lock.
pub fn drop_restore_leftovers(admin: &mut Client, db: &str, reporter: &Reporter) {
    let aside_prefix = format!("{db}_lifeboat_old_");
    let asides: Vec<String> = names_with_prefix(admin, &aside_prefix)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| {
            let suffix = &n[aside_prefix.len()..];
            !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())
        })
        .collect();
    let target_missing = names_with_prefix(admin, db)
        .map(|names| !names.iter().any(|n| n == db))
        .unwrap_or(false);
    if let [aside] = asides.as_slice()
        && target_missing
        && admin
            .batch_execute(&format!(
                "ALTER DATABASE \"{}\" RENAME TO \"{}\"",
                aside.replace('"', "\"\""),
                db.replace('"', "\"\"")
            ))
            .is_ok()
    {
        reporter.warn(&format!(
            "{db} was missing and its previous contents were in {aside}, left by an interrupted --create-db swap: renamed back to {db}"
        ));
    }
    let prefix = format!("{db}_lifeboat_restore_");
    for name in names_with_prefix(admin, &prefix).unwrap_or_default() {
        let suffix = &name[prefix.len()..];
        if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if super::swap::drop_database(admin, &name) {
            reporter.info(&format!("dropped {name}, left by an interrupted restore"));
        }
    }
}

/// Drops scratch databases of `db` an interrupted verify left: older than
/// an hour by the time in their name, and with nobody connected.
pub fn drop_verify_leftovers(admin: &mut Client, db: &str, reporter: &Reporter) {
    let prefix = format!("{db}_lifeboat_verify_");
    let now = chrono::Utc::now().naive_utc();
    for name in names_with_prefix(admin, &prefix).unwrap_or_default() {
        let Ok(made) = chrono::NaiveDateTime::parse_from_str(&name[prefix.len()..], "%Y%m%d%H%M%S") else {
            continue;
        };
        if now - made < VERIFY_LEFTOVER_AGE {
            continue;
        }
        let busy = admin
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE datname = $1",
                &[&name],
            )
            .ok()
            .and_then(|r| r.try_get::<_, i64>(0).ok())
            .is_none_or(|n| n > 0);
        if !busy
            && admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{}\"", name.replace('"', "\"\"")))
                .is_ok()
        {
            reporter.info(&format!("dropped {name}, left by an interrupted verify"));
        }
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

//! Locks on the server: the advisory lock that keeps two restores off one
//! target database, and the table locks a backup takes as pg_dump does
//! (every chosen table ACCESS SHARE before the schema is read, with a wait
//! limit; workers with NOWAIT), so no DDL can leave a backup hanging.

use super::connect::{self, Target};
use super::select::Chosen;
use anyhow::{Result, anyhow};
use postgres::Client;
use std::time::Duration;

/// The first key of lifeboat's advisory locks; the second is a hash of the
/// target database's name.
pub const RESTORE_LOCK_SPACE: &str = "lifeboat restore";

/// A session holding the restore lock of one target database; dropping it
/// ends the session and lets the lock go.
pub struct RestoreLock {
    client: Option<Client>,
}

impl RestoreLock {
    /// Drops what interrupted restores of `db` left; holding the lock, no
    /// live restore owns any of it.
    pub fn clean_leftovers(&mut self, db: &str, reporter: &crate::progress::Reporter) {
        if let Some(client) = &mut self.client {
            super::leftovers::drop_restore_leftovers(client, db, reporter);
            super::leftovers::sweep_server(client, reporter);
        }
    }
}

/// Takes the restore lock of `target`'s database, or refuses when another
/// restore holds it. Advisory locks are per database, so the lock is taken
/// in the maintenance database that every restore of this server reaches
/// (`postgres`, else `template1`), keyed by the target's name.
pub fn lock_restore_target(target: &Target) -> Result<RestoreLock> {
    let client = ["postgres", "template1"]
        .iter()
        .find_map(|db| target.with_dbname(db).connect().ok())
        .or_else(|| target.connect().ok());
    // Without any connection the restore itself fails with the real reason.
    let Some(mut client) = client else {
        return Ok(RestoreLock { client: None });
    };
    let row = client
        .query_one(
            "SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext($1), pg_catalog.hashtext($2))",
            &[&RESTORE_LOCK_SPACE, &target.dbname],
        )
        .map_err(|e| {
            anyhow!(
                "taking the restore lock of {}: {}",
                target.redacted,
                connect::server_message(&e)
            )
        })?;
    let locked: bool = row.try_get(0)?;
    if !locked {
        let holder = client
            .query_opt(
                "SELECT l.pid, a.application_name, a.backend_start::text FROM pg_catalog.pg_locks l \
                 LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.database = \
                 (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()) \
                 AND l.classid::int = pg_catalog.hashtext($1) AND l.objid::int = pg_catalog.hashtext($2) LIMIT 1",
                &[&RESTORE_LOCK_SPACE, &target.dbname],
            )
            .ok()
            .flatten()
            .map(|r| {
                let pid: Option<i32> = r.try_get(0).ok().flatten();
                let since: Option<String> = r.try_get(2).ok().flatten();
                format!(
                    " (server session {}{})",
                    pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
                    since.map(|s| format!(", connected since {s}")).unwrap_or_default()
                )
            })
            .unwrap_or_default();
        crate::usage_bail!(
            "another restore into database {} on {} is running{holder}: two restores into one database would mix their \
             data, so this one did not start and changed nothing; wait for the other to finish and run again",
            target.dbname,
            target.redacted
        );
    }
    Ok(RestoreLock { client: Some(client) })
}

/// The SQLSTATE the server gives when a lock is not available (lock_timeout
/// or NOWAIT).
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// A table to lock: its oid, its name as SQL and as people read it.
#[derive(Debug, Clone)]
pub struct LockTarget {
    pub oid: u32,
    pub qualified: String,
    pub display: String,
}

/// Tables (relkind r and p) the selection takes, listed cheaply before the
/// catalog is read, so they can be locked first.
pub fn chosen_tables(client: &mut Client, selection: &Chosen) -> Result<Vec<LockTarget>> {
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text, pg_catalog.format('%I.%I', n.nspname, c.relname) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_%' \
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
             AND d.objid = c.oid AND d.deptype = 'e') ORDER BY 2, 3",
            &[],
        )
        .map_err(|e| anyhow!("listing tables: {}", connect::server_message(&e)))?;
    let mut out = Vec::new();
    for r in rows {
        let (schema, name): (String, String) = (r.try_get(1)?, r.try_get(2)?);
        if selection.wants_name(&schema, &name) {
            out.push(LockTarget {
                oid: r.try_get(0)?,
                qualified: r.try_get(3)?,
                display: format!("{schema}.{name}"),
            });
        }
    }
    Ok(out)
}

/// Locks every table ACCESS SHARE in the backup's transaction, one at a
/// time so a failure names its table, waiting at most `wait` for each.
/// ACCESS SHARE only conflicts with ACCESS EXCLUSIVE (ALTER, DROP,
/// TRUNCATE, VACUUM FULL…), which then waits for the backup instead of
/// changing a table under it.
pub fn lock_tables(
    client: &mut Client,
    target: &Target,
    tables: &[LockTarget],
    wait: Duration,
    source: &str,
) -> Result<()> {
    // lock_timeout 0 would wait forever; the smallest real limit is 1 ms.
    let ms = wait.as_millis().clamp(1, i32::MAX as u128);
    client.batch_execute(&format!("SET LOCAL lock_timeout = {ms}"))?;
    for t in tables {
        crate::cancel::check()?;
        if let Err(e) = client.batch_execute(&format!("LOCK TABLE {} IN ACCESS SHARE MODE", t.qualified)) {
            if e.code().is_some_and(|c| c.code() == LOCK_NOT_AVAILABLE) {
                let holders = lock_holders(target, t.oid);
                return Err(anyhow!(
                    "table {} of {source} stayed locked for {} by another session{holders}, so the backup \
                     could not lock it and stopped without writing a set; run again when that session is done, or \
                     raise --lock-wait-timeout",
                    t.display,
                    wait_text(wait),
                ));
            }
            if e.code().is_some_and(|c| c.code() == "42P01") {
                return Err(anyhow!(
                    "table {} of {source} was dropped just as the backup started; nothing was written: run again",
                    t.display
                ));
            }
            let detail = connect::server_message(&e);
            return Err(anyhow!(
                "cannot lock table {} of {source}: {detail}; grant the backup user SELECT on it, or leave it out with --exclude-table",
                t.display
            ));
        }
    }
    client.batch_execute("SET LOCAL lock_timeout = 0")?;
    Ok(())
}

fn wait_text(wait: Duration) -> String {
    if wait.subsec_millis() == 0 {
        format!("{}s", wait.as_secs())
    } else {
        format!("{}ms", wait.as_millis())
    }
}

/// A worker's lock on one table: NOWAIT, because the main connection
/// already holds ACCESS SHARE, so the only thing that can stand in the way
/// is an exclusive lock requested after the backup began; waiting for it
/// would deadlock (it waits for the main connection, which waits for this
/// worker), so the backup stops at once, as `pg_dump -j` does.
pub fn lock_for_worker(client: &mut Client, target: &Target, table: &LockTarget, source: &str) -> Result<()> {
    if let Err(e) = client.batch_execute(&format!("LOCK TABLE {} IN ACCESS SHARE MODE NOWAIT", table.qualified)) {
        if e.code().is_some_and(|c| c.code() == LOCK_NOT_AVAILABLE) {
            let holders = lock_holders(target, table.oid);
            return Err(anyhow!(
                "another session asked for an exclusive lock on table {} of {source} after the backup \
                 began{holders}; a parallel backup cannot wait for it without deadlocking, so it stopped without \
                 writing a set. Run again when that change is done, or back up with --jobs 1 (which makes the change \
                 wait for the backup)",
                table.display
            ));
        }
        return Err(anyhow!(
            "a backup worker could not lock table {}: {}",
            table.display,
            connect::server_message(&e)
        ));
    }
    Ok(())
}

/// Who holds or waits for a lock on a table that conflicts with reading it,
/// looked up over a fresh connection (the backup's own transaction is
/// aborted by then). Empty when nothing can be found.
fn lock_holders(target: &Target, oid: u32) -> String {
    let Ok(mut client) = target.connect() else {
        return String::new();
    };
    let sql = format!(
        "SELECT l.pid, l.mode, l.granted, a.usename::text, a.application_name, a.state, left(a.query, 200) \
         FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'relation' AND l.relation = {oid} \
         AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_catalog.pg_backend_pid() ORDER BY l.granted DESC"
    );
    let Ok(rows) = client.query(sql.as_str(), &[]) else {
        return String::new();
    };
    let found: Vec<String> = rows
        .iter()
        .map(|r| {
            let pid: Option<i32> = r.try_get(0).ok().flatten();
            let granted: bool = r.try_get(2).unwrap_or(false);
            let user: Option<String> = r.try_get(3).ok().flatten();
            let app: Option<String> = r.try_get(4).ok().flatten();
            let state: Option<String> = r.try_get(5).ok().flatten();
            let query: Option<String> = r.try_get(6).ok().flatten();
            format!(
                "session {} {} AccessExclusiveLock{}{}{}{}",
                pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into()),
                if granted { "holds" } else { "waits for" },
                user.map(|u| format!(", user {u}")).unwrap_or_default(),
                app.filter(|a| !a.is_empty())
                    .map(|a| format!(", application {a}"))
                    .unwrap_or_default(),
                state.map(|s| format!(", {s}")).unwrap_or_default(),
                query.map(|q| format!(", query {:?}", q.trim())).unwrap_or_default()
            )
        })
        .collect();
    if found.is_empty() {
        String::new()
    } else {
        format!(" ({})", found.join("; "))
    }
}

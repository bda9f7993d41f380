//! The last step of `restore --create-db`: the new database takes the
//! target's name without a moment in which the name is lost. The old one is
//! renamed aside, the new one renamed into place, and only then is the old
//! one dropped; a failed step is undone, and the error says where every
//! database is.

use super::connect::{self, Target};
use crate::progress::Reporter;
use anyhow::{Result, anyhow, bail};
use postgres::Client;

/// A database name as an SQL identifier.
pub fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Other sessions connected to a database, described for people. An
/// autovacuum worker is not one: the server ends those itself for a
/// rename or drop (and one is usually busy in a database just restored).
fn sessions_on(admin: &mut Client, db: &str) -> Result<Vec<(i32, String)>> {
    let rows = admin
        .query(
            "SELECT pid, coalesce(usename::text, '?'), coalesce(application_name, ''), coalesce(client_addr::text, 'local'), \
             coalesce(state, '?') FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid() \
             AND backend_type IS DISTINCT FROM 'autovacuum worker'",
            &[&db],
        )
        .map_err(|e| anyhow!("listing the sessions on {db}: {}", connect::server_message(&e)))?;
    let mut out = Vec::new();
    for r in rows {
        let pid: i32 = r.try_get(0)?;
        let user: String = r.try_get(1)?;
        let app: String = r.try_get(2)?;
        let addr: String = r.try_get(3)?;
        let state: String = r.try_get(4)?;
        let app = if app.is_empty() {
            String::new()
        } else {
            format!(", {app}")
        };
        out.push((pid, format!("pid {pid} (user {user}{app}, from {addr}, {state})")));
    }
    Ok(out)
}

/// Other sessions connected to a database that are still there after up to
/// a second: a connection this run has just closed (the check of the
/// target before the restore) takes a moment to leave the server, and
/// must not count as someone else's.
pub fn lasting_sessions(admin: &mut Client, db: &str) -> Result<Vec<(i32, String)>> {
    let mut others = sessions_on(admin, db)?;
    for _ in 0..10 {
        if others.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        others = sessions_on(admin, db)?;
    }
    Ok(others)
}

fn terminate(admin: &mut Client, sessions: &[(i32, String)]) {
    for (pid, _) in sessions {
        let _ = admin.execute("SELECT pg_catalog.pg_terminate_backend($1)", &[pid]);
    }
}

fn rename(admin: &mut Client, from: &str, to: &str) -> Result<(), String> {
    admin
        .batch_execute(&format!("ALTER DATABASE {} RENAME TO {}", quoted(from), quoted(to)))
        .map_err(|e| connect::server_message(&e))
}

/// Drops a database lifeboat made (a half-restored copy), ending sessions
/// that wandered into it first; best effort, for failure paths.
pub fn drop_database(admin: &mut Client, db: &str) -> bool {
    if let Ok(sessions) = sessions_on(admin, db) {
        terminate(admin, &sessions);
    }
    for _ in 0..20 {
        if admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {}", quoted(db)))
            .is_ok()
        {
            return true;
        }
        // A terminated backend takes a moment to go.
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

fn exists(admin: &mut Client, db: &str) -> Result<bool> {
    Ok(admin
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1)",
            &[&db],
        )?
        .try_get(0)?)
}

/// Puts `restored` in `target`'s place. On success the old database is
/// gone (or, when dropping it failed, kept under a name the warning
/// gives); on failure the target holds what it held before.
pub fn swap_in(
    admin: &mut Client,
    target: &Target,
    restored: &str,
    terminate_connections: bool,
    reporter: &Reporter,
) -> Result<()> {
    let db = target.dbname.as_str();
    let gone = |admin: &mut Client| {
        if drop_database(admin, restored) {
            "the restored copy was removed".to_string()
        } else {
            format!("the restored copy is still in database {restored}: drop it with DROP DATABASE")
        }
    };
    if !exists(admin, db)? {
        if let Err(e) = rename(admin, restored, db) {
            let left = gone(admin);
            bail!("naming the restored database {db} failed: {e}; {left}");
        }
        unmark(admin, db, reporter);
        return Ok(());
    }
    let others = lasting_sessions(admin, db)?;
    if !others.is_empty() {
        let list: Vec<&str> = others.iter().map(|(_, d)| d.as_str()).collect();
        if terminate_connections {
            reporter.warn(&format!(
                "ending {} session(s) connected to {db} (--terminate-connections): {}",
                others.len(),
                list.join("; ")
            ));
            terminate(admin, &others);
            // Terminated backends leave within moments; the rename below
            // retries while they do.
        } else {
            let left = gone(admin);
            crate::usage_bail!(
                "{} other session(s) are connected to {db}: {}. A database in use cannot be replaced; {db} was not \
                 changed and {left}. Close those sessions and run again, or pass --terminate-connections to end them",
                others.len(),
                list.join("; ")
            );
        }
    }

    // Step 1: the old database aside.
    let aside = super::leftovers::name(db, super::leftovers::Kind::Aside, &std::process::id().to_string());
    let mut tries = 0;
    loop {
        match rename(admin, db, &aside) {
            Ok(()) => break,
            Err(e) if terminate_connections && tries < 50 => {
                tries += 1;
                if let Ok(s) = sessions_on(admin, db) {
                    terminate(admin, &s);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
                if tries == 50 {
                    let left = gone(admin);
                    bail!("renaming {db} aside to replace it failed: {e}; {db} was not changed and {left}");
                }
            }
            Err(e) => {
                let left = gone(admin);
                bail!(
                    "renaming {db} aside to replace it failed: {e}; {db} was not changed and {left}. \
                     If other sessions are connected to it, close them or pass --terminate-connections"
                );
            }
        }
    }

    // Step 2: the restored database into place; on failure the old one
    // goes back.
    if let Err(e) = rename(admin, restored, db) {
        match rename(admin, &aside, db) {
            Ok(()) => {
                let left = gone(admin);
                bail!(
                    "naming the restored database {db} failed: {e}; {db} was put back as it was and {left}. \
                     If a session is connected to {restored}, close it and run again"
                )
            }
            Err(back) => bail!(
                "naming the restored database {db} failed ({e}), and so did putting the old one back ({back}): \
                 the previous contents of {db} are in database {aside} and the restored copy in {restored}. \
                 Rename the one you want to {db} (ALTER DATABASE ... RENAME TO ...)"
            ),
        }
    }

    unmark(admin, db, reporter);

    // Step 3: the old database goes. The restore is done either way.
    if let Err(e) = admin.batch_execute(&format!("DROP DATABASE {}", quoted(&aside))) {
        reporter.warn(&format!(
            "{db} now holds the restored data, but its previous contents could not be dropped ({}) and are kept in \
             database {aside}: drop it with DROP DATABASE when nothing uses it",
            connect::server_message(&e)
        ));
    }
    Ok(())
}

/// Takes lifeboat's leftover mark (a comment) off a restored database once
/// it has the target's name: the source had no such comment, and a
/// database with a comment of its own is not replaced beside by the next
/// `--clean`. Named as the target, it is never taken for a leftover, so a
/// run killed before this only leaves the comment.
fn unmark(admin: &mut Client, db: &str, reporter: &Reporter) {
    if let Err(e) = admin.batch_execute(&format!("COMMENT ON DATABASE {} IS NULL", quoted(db))) {
        reporter.warn(&format!(
            "{db} keeps the comment lifeboat marked it with while it was built ({}):              COMMENT ON DATABASE ... IS NULL removes it",
            connect::server_message(&e)
        ));
    }
}

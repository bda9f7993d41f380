//! Databases a killed lifeboat left on a server, found by name (and, for
//! scratch databases, age) and dropped by the next run that can tell they
//! are nobody's: `<db>_lifeboat_restore_<pid>` by the next restore of
//! `<db>` (which holds that target's restore lock, so no live restore owns
//! one), `<db>_lifeboat_verify_<time>` by the next server-side verify once
//! it is old and unused.

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

/// Drops half-restored `--create-db` databases of `db`. The caller holds
/// `db`'s restore lock.
pub fn drop_restore_leftovers(admin: &mut Client, db: &str, reporter: &Reporter) {
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

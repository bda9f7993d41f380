//! The restore level: each database restored into a scratch target its
//! engine provides, and held against the manifest.

use super::{Findings, TableCheck};
use crate::archive::manifest::DatabaseManifest;
use crate::archive::reader::SetSource;
use crate::engine::postgres::scratch::ScratchChoice;
use crate::engine::{self, EngineOptions};
use crate::progress::Reporter;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::PathBuf;

/// How the restore level finds a place to restore into.
#[derive(Debug, Clone)]
pub struct RestoreLevel {
    pub scratch: ScratchChoice,
    pub pg_bin: Option<PathBuf>,
    /// Source URLs (with their secrets) by database name, for
    /// `--scratch server`; a `*` key applies to every database.
    pub sources: HashMap<String, String>,
    pub jobs: usize,
}

const FIX_CREATEDB: &str = "the set was not tried: the role cannot create a scratch database (it lacks CREATEDB). Grant it (ALTER ROLE name CREATEDB), or restore into a throw-away local cluster (--scratch local, with PostgreSQL server binaries on this machine) or a server you name (--scratch postgres://...); the set itself may be fine";
const FIX_SUPERUSER: &str = "the set was not proven: it holds something only a superuser may make that the scratch cluster's admin does not make for it (a foreign table reading a server file, a login event trigger, an aggregate passing an internal state between functions the server or an extension never pairs...), and in a local scratch cluster the set's SQL runs as a role that is no superuser, so that a stranger's set never runs code as one. Verify it with --scratch postgres://... on a server where you would restore it, as the role you would restore it as";
const FIX_RESTORE: &str = "the backup does not restore to what was backed up: do not rely on it; take a new backup and verify it, and keep the last good one";

/// The restore level: each database restored into a scratch target,
/// every table's rows and digest and the schema fingerprint held against
/// the manifest, the scratch target removed.
pub fn restore_level(
    set: &SetSource,
    options: &RestoreLevel,
    findings: &mut Findings,
    reporter: &Reporter,
) -> Vec<TableCheck> {
    let mut checked = Vec::new();
    for db in &set.manifest.databases {
        if let Some((message, fix)) = engine::kind(&db.engine).and_then(|k| k.unprovable(db)) {
            findings.error("restore", &db.name, message, fix);
            continue;
        }
        if let Err(e) = restore_one(set, db, options, findings, &mut checked, reporter) {
            let text = format!("{e:#}");
            // No scratch database could be made: the set was not tried, so
            // it is neither proven nor disproven, and a new backup would
            // meet the same wall.
            let local = matches!(options.scratch, ScratchChoice::Local | ScratchChoice::Auto);
            let fix = if text.contains("permission denied to create database") {
                FIX_CREATEDB
            } else if local
                && ["permission denied", "only superuser", "must be superuser"]
                    .iter()
                    .any(|w| text.contains(w))
            {
                FIX_SUPERUSER
            } else {
                FIX_RESTORE
            };
            findings.error("restore", &db.name, text, fix);
        }
    }
    checked
}

fn restore_one(
    set: &SetSource,
    db: &DatabaseManifest,
    options: &RestoreLevel,
    findings: &mut Findings,
    checked: &mut Vec<TableCheck>,
    reporter: &Reporter,
) -> Result<()> {
    // The restored database is read as compare reads a live one.
    let engine_options = EngineOptions {
        jobs: options.jobs,
        ..EngineOptions::compared_with(db)
    };
    let kind =
        engine::kind(&db.engine).with_context(|| format!("cannot verify a {} database by restoring it", db.engine))?;
    // The scratch target lives until the end of this function.
    let scratch = kind.scratch(db, options, engine_options, reporter)?;
    let target = scratch.engine();
    target.restore(set, db, &mut || Ok(None), reporter)?;
    scratch.restored()?;
    let found = target.inspect()?;
    for t in &db.tables {
        let live = found.tables.iter().find(|l| l.name == t.name);
        checked.push(TableCheck {
            database: db.name.clone(),
            table: t.name.clone(),
            rows_expected: t.rows,
            rows_found: live.map(|l| l.rows),
            digest_matches: live.map(|l| l.digest == t.digest),
        });
        match live {
            None => {
                findings.error(
                    "restore-table",
                    &format!("{}.{}", db.name, t.name),
                    "the table is missing after the restore".into(),
                    FIX_RESTORE,
                );
            }
            Some(l) if l.rows != t.rows => findings
                .error(
                    "restore-rows",
                    &format!("{}.{}", db.name, t.name),
                    "the restored table has a different number of rows".into(),
                    FIX_RESTORE,
                )
                .values(t.rows, l.rows),
            Some(l) if l.digest != t.digest => findings
                .error(
                    "restore-digest",
                    &format!("{}.{}", db.name, t.name),
                    "the restored table's content differs from what was backed up".into(),
                    FIX_RESTORE,
                )
                .values(&t.digest, &l.digest),
            Some(_) => {}
        }
    }
    if let Some(b) = &db.large_objects {
        let l = found.large_objects.as_ref();
        if !b.found_in(l) {
            let shown = |x: &crate::archive::manifest::LargeObjects| format!("{} ({})", x.shown(), x.digest);
            findings
                .error(
                    "restore-large-objects",
                    &db.name,
                    "the restored large objects differ from what was backed up".into(),
                    FIX_RESTORE,
                )
                .values(shown(b), l.map(shown).unwrap_or_else(|| "none".into()));
        }
    }
    // The schema's own setval puts each sequence back; the manifest
    // records where each stood.
    for (s, l) in db.moved_sequences(&found.sequences) {
        findings
            .error(
                "restore-sequence",
                &format!("{}.{}", db.name, s.name),
                "the restored sequence does not stand where the backup recorded it".into(),
                FIX_RESTORE,
            )
            .values(s.shown(), l.shown());
    }
    if found.schema_fingerprint != db.schema_fingerprint {
        let key = |o: &crate::archive::manifest::SchemaObject| format!("{} {}", o.kind, o.name);
        let backed: HashMap<String, &str> = db.schema_objects.iter().map(|o| (key(o), o.sha256.as_str())).collect();
        let restored: HashMap<String, &str> = found
            .schema_objects
            .iter()
            .map(|o| (key(o), o.sha256.as_str()))
            .collect();
        // What differs only as the server prints it is no finding.
        let alike = match kind.printed_alike() {
            Some(build) => Some(build(set, db)?),
            None => None,
        };
        let printed_alike = |k: &String| {
            let backup = db.schema_objects.iter().find(|o| key(o) == *k);
            let live = found.schema_objects.iter().find(|o| key(o) == *k);
            backup
                .zip(live)
                .zip(alike.as_ref())
                .is_some_and(|((b, l), alike)| alike(b, l))
        };
        let mut differing: Vec<String> = backed
            .iter()
            .filter(|(k, v)| restored.get(*k) != Some(*v) && !printed_alike(k))
            .map(|(k, _)| k.clone())
            .collect();
        differing.extend(restored.keys().filter(|k| !backed.contains_key(*k)).cloned());
        differing.sort();
        if differing.is_empty() {
            return Ok(());
        }
        findings
            .error(
                "restore-schema",
                &db.name,
                format!(
                    "the restored schema differs from the backup's in: {}",
                    differing.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
                ),
                FIX_RESTORE,
            )
            .values(&db.schema_fingerprint, &found.schema_fingerprint);
    }
    Ok(())
}

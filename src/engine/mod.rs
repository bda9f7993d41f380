//! Engines: one per database kind, chosen by URL. An engine dumps a
//! database into members, restores it from them, and measures tables and
//! schema so that a backup can be compared with what it came from. Each
//! kind is one folder with an [`EngineKind`] and one line in [`KINDS`];
//! nothing outside `engine/` matches engines by name.

pub mod postgres;
pub mod sqlite;

use crate::archive::manifest::{DatabaseManifest, Migration, SchemaObject, TableStats};
use crate::archive::reader::SetSource;
use crate::archive::writer::Staging;
use crate::progress::Reporter;
use crate::verify::RestoreLevel;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A database as the user named it: an optional name and a URL or path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    pub name: Option<String>,
    pub url: String,
    /// Tables to include (engines that can select tables honour it).
    #[serde(default)]
    pub tables: Vec<String>,
    #[serde(default)]
    pub exclude_tables: Vec<String>,
}

impl DatabaseSpec {
    /// Reads `name=url` or a bare URL or path, as given on the command line
    /// or one per line in the action's `databases` input.
    pub fn parse(arg: &str) -> DatabaseSpec {
        let arg = arg.trim();
        if let Some((name, url)) = arg.split_once('=')
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return DatabaseSpec {
                name: Some(name.to_string()),
                url: url.trim().to_string(),
                ..Default::default()
            };
        }
        DatabaseSpec {
            url: arg.to_string(),
            ..Default::default()
        }
    }
}

/// Which tables a backup takes, as the user wrote them (`--table`,
/// `--exclude-table`, `--schema`, `--exclude-schema`, pg_dump's patterns):
/// each engine matches them against its own catalog.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub tables: Vec<String>,
    pub exclude_tables: Vec<String>,
    pub schemas: Vec<String>,
    pub exclude_schemas: Vec<String>,
}

/// How engines dump and restore, beyond where the database is.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Parallel connections for dump and restore.
    pub jobs: usize,
    pub schema_only: bool,
    pub data_only: bool,
    /// Which tables a backup takes.
    pub selection: Selection,
    /// Keep owners and grants.
    pub with_privileges: bool,
    /// Restore: drop what the target holds first.
    pub clean: bool,
    /// Restore: into a new database that replaces the target at the end.
    pub create_db: bool,
    /// Restore: only these tables' rows.
    pub restore_tables: Vec<String>,
    /// Backup: how long to wait for a table lock (None: one minute).
    pub lock_wait_timeout: Option<std::time::Duration>,
    /// Restore with `create_db`: end other sessions on the target.
    pub terminate_connections: bool,
    /// Reading a live database to hold it against a set: each table's
    /// columns (as SQL) in the order the set recorded them, by the
    /// table's name in the manifest.
    pub column_order: std::collections::HashMap<String, Vec<String>>,
    /// Large objects: `-b` (Some(true)), `-B` (Some(false)), or pg_dump's
    /// rule (None: with everything, not with a table or schema selection).
    pub large_objects: Option<bool>,
    /// Backup: leave tablespace assignments out, as pg_dump --no-tablespaces.
    pub no_tablespaces: bool,
}

impl EngineOptions {
    /// How to read a live database to hold it against `db`: with owners
    /// and grants where the set carries them, and each table's rows in the
    /// set's column order where the live table holds the same columns in
    /// another (`pg_dump | psql` puts an inheritance child's parents'
    /// columns first, whatever order the source had).
    pub fn compared_with(db: &crate::archive::manifest::DatabaseManifest) -> EngineOptions {
        EngineOptions {
            with_privileges: db.carries_privileges(),
            large_objects: Some(db.large_objects.is_some()),
            column_order: db
                .tables
                .iter()
                .filter(|t| !t.columns.is_empty())
                .map(|t| (t.name.clone(), t.columns.clone()))
                .collect(),
            ..Default::default()
        }
    }
}

/// Live measurements of a database: what `compare` holds against a set.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub tables: Vec<TableStats>,
    /// Where the sequences stand (PostgreSQL), as a backup records them.
    pub sequences: Vec<crate::archive::manifest::SequencePosition>,
    pub schema_objects: Vec<SchemaObject>,
    pub schema_fingerprint: String,
    pub migration: Option<Migration>,
    /// PostgreSQL large objects, where the options asked for them.
    pub large_objects: Option<crate::archive::manifest::LargeObjects>,
}

/// What a restore did, for the summary.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreSummary {
    pub database: String,
    pub target: String,
    pub tables: usize,
    pub rows: u64,
    /// The checks the restored copy passed.
    pub checks: Vec<String>,
    pub safety_backup: Option<PathBuf>,
}

/// Called once, right before an engine changes the target, to take a
/// safety backup of it; returns where the backup went.
pub type BeforeChange<'a> = &'a mut dyn FnMut() -> Result<Option<PathBuf>>;

/// One kind of database.
pub trait Engine: Send + Sync {
    /// `sqlite`, `postgresql`.
    fn kind(&self) -> &'static str;
    /// The name inside a set.
    fn name(&self) -> &str;
    /// The source for logs and manifests, any password replaced.
    fn redacted_source(&self) -> String;
    /// Writes the database's members into `staging`.
    fn backup(&self, staging: &Staging, reporter: &Reporter) -> Result<DatabaseManifest>;
    /// Counts and digests every table and fingerprints the schema.
    fn inspect(&self) -> Result<Inspection>;
    /// Whether the target already holds something a restore would replace.
    fn target_exists(&self) -> Result<bool>;
    /// Restores `database` from `set` into this target; checks the result
    /// against the manifest before it replaces anything.
    fn restore(
        &self,
        set: &SetSource,
        database: &DatabaseManifest,
        before_change: BeforeChange<'_>,
        reporter: &Reporter,
    ) -> Result<RestoreSummary>;
}

/// Every kind of database lifeboat knows, in the order URLs are tried.
pub const KINDS: &[&dyn EngineKind] = &[&sqlite::Kind, &postgres::kind::Kind];

/// The kind a manifest names (`sqlite`, `postgresql`).
pub fn kind(name: &str) -> Option<&'static dyn EngineKind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

/// The kind a URL or path names.
pub fn detect(url: &str) -> Option<&'static dyn EngineKind> {
    KINDS.iter().copied().find(|k| k.detect(url))
}

/// A check, built from a set's own SQL, that two schema objects whose
/// hashes differ are one definition printed two ways.
pub type PrintedAlike = Box<dyn Fn(&SchemaObject, &SchemaObject) -> bool>;

/// Builds a [`PrintedAlike`] for one database of a set.
pub type PrintedAlikeFor = fn(&SetSource, &DatabaseManifest) -> Result<PrintedAlike>;

/// A throw-away target the restore level restores into; dropping it
/// removes it.
pub trait Scratch {
    fn engine(&self) -> &dyn Engine;
    /// Called once the restore is done, before the target is inspected.
    fn restored(&self) -> Result<()> {
        Ok(())
    }
}

/// One kind of database: how to recognise and open it, and what backup,
/// verify, restore and a set's RESTORE.md need to know of it.
pub trait EngineKind: Sync {
    /// The name in manifests and in [`Engine::kind`].
    fn name(&self) -> &'static str;
    /// Whether a URL or path names a database of this kind.
    fn detect(&self, url: &str) -> bool;
    /// Opens a database of this kind.
    fn open(&self, spec: &DatabaseSpec, options: &EngineOptions) -> Result<Box<dyn Engine>>;
    /// The databases a pattern names; `None` when `spec` is no pattern.
    fn expand(&self, _spec: &DatabaseSpec) -> Result<Option<Vec<DatabaseSpec>>> {
        Ok(None)
    }
    /// The name a database gets inside a set when the user gave none, when
    /// it can be told without opening it.
    fn default_name(&self, _url: &str) -> Option<String> {
        None
    }
    /// Whether its databases' own URLs may host a scratch database
    /// (`--scratch server`).
    fn hosts_scratch(&self) -> bool {
        false
    }
    /// A throw-away target to restore `db` into, for the restore level.
    fn scratch(
        &self,
        db: &DatabaseManifest,
        level: &RestoreLevel,
        options: EngineOptions,
        reporter: &Reporter,
    ) -> Result<Box<dyn Scratch>>;
    /// Problems in a manifest's record of one of its databases.
    fn manifest_problems(&self, _db: &DatabaseManifest) -> Vec<String> {
        Vec::new()
    }
    /// Whether `member` of `db`, outside the database's folder, is one this
    /// engine writes there (PostgreSQL's schema.json).
    fn member_beside_folder(&self, _db: &DatabaseManifest, _member: &crate::archive::Member) -> bool {
        false
    }
    /// Problems only the members' contents show, for the quick level: each
    /// the member (or database) and what is wrong with it.
    fn content_problems(&self, _set: &SetSource, _db: &DatabaseManifest) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Why the restore level cannot prove `db`, and what to do instead.
    fn unprovable(&self, _db: &DatabaseManifest) -> Option<(String, &'static str)> {
        None
    }
    /// Whether a restore hashes rows as they load (checking the rest of
    /// the set first), rather than reading the whole set before it starts.
    fn hashes_while_loading(&self) -> bool {
        false
    }
    /// For engines whose server prints definitions otherwise than they were
    /// written: how to tell that apart from a real difference.
    fn printed_alike(&self) -> Option<PrintedAlikeFor> {
        None
    }
    /// The section of a set's RESTORE.md on restoring `db` with stock
    /// tools; `unpack` is the decompressing pipe (` | gunzip`).
    fn restore_md(&self, db: &DatabaseManifest, unpack: &str) -> String;
    /// Removes what a killed run of this engine left on this machine (a
    /// scratch cluster whose verify was killed).
    fn sweep_leftovers(&self, _reporter: &Reporter) {}
    /// The secrets in these URLs and in the variables the engine reads.
    fn secrets(&self, _urls: &[String]) -> Vec<String> {
        Vec::new()
    }
}

/// Expands globs and picks names, without opening anything.
pub fn expand(specs: &[DatabaseSpec]) -> Result<Vec<DatabaseSpec>> {
    let mut out: Vec<DatabaseSpec> = Vec::new();
    for spec in specs {
        match detect(&spec.url).map(|k| k.expand(spec)).transpose()?.flatten() {
            Some(expanded) => out.extend(expanded),
            None => out.push(spec.clone()),
        }
    }
    // SQLite files are named after their file; a second `app.db` from
    // another folder becomes `app-2`, so members never collide.
    let names: Vec<String> = out
        .iter()
        .map(|s| {
            s.name
                .clone()
                .or_else(|| detect(&s.url).and_then(|k| k.default_name(&s.url)))
                .unwrap_or_default()
        })
        .collect();
    for (spec, name) in out.iter_mut().zip(unique_names(&names)) {
        if !name.is_empty() {
            spec.name = Some(name);
        }
    }
    Ok(out)
}

/// Opens the engine a URL or path names.
pub fn open(spec: &DatabaseSpec, options: &EngineOptions) -> Result<Box<dyn Engine>> {
    if let Some(kind) = detect(&spec.url) {
        return kind.open(spec, options);
    }
    let scheme = spec.url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some(s) => crate::usage_bail!(
            "unknown database URL scheme {s:?}: use sqlite:PATH, a .db/.sqlite path, or postgres://..."
        ),
        None => crate::usage_bail!(
            "cannot tell what database {:?} is: use sqlite:PATH for SQLite files, or a postgres:// URL",
            postgres::connect::RedactedUrl(&spec.url)
        ),
    }
}

/// Makes database names unique within a set by adding `-2`, `-3`, ...
pub fn unique_names(names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        let mut candidate = name.clone();
        let mut n = 2;
        while out.contains(&candidate) {
            candidate = format!("{name}-{n}");
            n += 1;
        }
        out.push(candidate);
    }
    out
}

/// Tables migration tools keep their history in, with the query that reads
/// the newest applied revision. The SQL runs on SQLite and PostgreSQL.
pub const MIGRATION_TABLES: &[(&str, &str)] = &[
    (
        "alembic_version",
        "SELECT version_num FROM alembic_version ORDER BY version_num",
    ),
    (
        "_prisma_migrations",
        "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY finished_at DESC, migration_name DESC LIMIT 1",
    ),
    (
        "_sqlx_migrations",
        "SELECT CAST(version AS TEXT) FROM _sqlx_migrations WHERE success ORDER BY version DESC LIMIT 1",
    ),
    (
        "schema_migrations",
        "SELECT CAST(version AS TEXT) FROM schema_migrations ORDER BY version DESC LIMIT 1",
    ),
    (
        "flyway_schema_history",
        "SELECT version FROM flyway_schema_history WHERE success AND version IS NOT NULL ORDER BY installed_rank DESC LIMIT 1",
    ),
    (
        "django_migrations",
        "SELECT app || '.' || name FROM django_migrations ORDER BY id DESC LIMIT 1",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_names_but_not_url_queries() {
        let s = DatabaseSpec::parse("app=sqlite:data/app.db");
        assert_eq!(s.name.as_deref(), Some("app"));
        assert_eq!(s.url, "sqlite:data/app.db");
        let s = DatabaseSpec::parse("postgres://u@h/db?sslmode=require");
        assert_eq!(s.name, None);
        let s = DatabaseSpec::parse("sqlite:a=b.db");
        assert_eq!(s.name, None);
    }

    #[test]
    fn names_are_made_unique() {
        let names = vec!["a".to_string(), "a".to_string(), "b".to_string(), "a".to_string()];
        assert_eq!(unique_names(&names), vec!["a", "a-2", "b", "a-3"]);
    }

    #[test]
    fn unknown_schemes_are_usage_errors() {
        let err = open(&DatabaseSpec::parse("mysql://x/y"), &EngineOptions::default())
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("unknown database URL scheme"));
    }
}

//! PostgreSQL in the engine registry: `postgres://` URLs, a scratch
//! database for the restore level, definitions compared as the server
//! prints them, RESTORE.md's `psql` steps and the passwords to keep out of
//! logs.

use super::{PostgresEngine, admin, connect, printed, schema_member, scratch};
use crate::archive::manifest::DatabaseManifest;
use crate::archive::reader::SetSource;
use crate::engine::{DatabaseSpec, Engine, EngineKind, EngineOptions, PrintedAlike, PrintedAlikeFor, Scratch};
use crate::progress::Reporter;
use crate::verify::RestoreLevel;
use anyhow::Result;

pub struct Kind;

impl EngineKind for Kind {
    fn name(&self) -> &'static str {
        "postgresql"
    }

    fn detect(&self, url: &str) -> bool {
        connect::is_postgres_url(url)
    }

    fn open(&self, spec: &DatabaseSpec, options: &EngineOptions) -> Result<Box<dyn Engine>> {
        let mut options = options.clone();
        options.selection.tables.extend(spec.tables.iter().cloned());
        options
            .selection
            .exclude_tables
            .extend(spec.exclude_tables.iter().cloned());
        options.selection.check()?;
        let engine = PostgresEngine::new(spec.name.clone(), &spec.url, options)
            .map_err(|e| anyhow::Error::new(crate::error::UsageError(format!("{e:#}"))))?;
        Ok(Box::new(engine))
    }

    fn hosts_scratch(&self) -> bool {
        true
    }

    fn scratch(
        &self,
        db: &DatabaseManifest,
        level: &RestoreLevel,
        options: EngineOptions,
        reporter: &Reporter,
    ) -> Result<Box<dyn Scratch>> {
        // The server to verify on comes from the user (--source, the
        // databases being backed up), never from the manifest: a set that
        // named a host would receive the user's password there.
        let source = level
            .sources
            .get(&db.name)
            .or_else(|| level.sources.get("*"))
            .map(|url| connect::parse(url, &connect::process_env))
            .transpose()?;
        let major = db.server_version.as_deref().and_then(scratch::major_of);
        let made = scratch::create(
            &level.scratch,
            major,
            source.as_ref(),
            level.pg_bin.as_deref(),
            &db.roles,
            reporter,
        )?;
        let mut engine = PostgresEngine::from_target(db.name.clone(), made.target.clone(), options)
            .with_superuser(made.superuser.clone());
        let mut scratch_admin = None;
        if let Some(superuser) = &made.superuser {
            let made_by = std::sync::Arc::new(admin::ScratchAdmin::new(superuser.clone(), scratch::RESTORE_ROLE));
            engine = engine.with_extension_admin(made_by.clone());
            scratch_admin = Some(made_by);
        }
        Ok(Box::new(ScratchDatabase {
            engine,
            made,
            admin: scratch_admin,
        }))
    }

    fn member_beside_folder(&self, db: &DatabaseManifest, member: &crate::archive::Member) -> bool {
        schema_member::is_schema_member(&db.name, member)
    }

    /// schema.json (what lifeboat restores) against the scripts (what psql
    /// users restore), each statement of both through the guard first: a
    /// refused one is named as such, not as a difference.
    fn content_problems(&self, set: &SetSource, db: &DatabaseManifest) -> Vec<(String, String)> {
        match schema_member::Schema::load(set, db).and_then(|_| schema_member::twin_mismatches(set, db)) {
            Ok(mismatches) => mismatches,
            Err(e) => vec![(db.name.clone(), format!("{e:#}"))],
        }
    }

    fn unprovable(&self, db: &DatabaseManifest) -> Option<(String, &'static str)> {
        (!db.tables.is_empty() && !db.has_schema_script()).then(|| {
            (
                "the set was taken with --data-only: it holds rows but no schema, so no scratch database can be built from it alone".into(),
                "verify it at the quick level, and take full backups where they must be proven by restore",
            )
        })
    }

    fn hashes_while_loading(&self) -> bool {
        true
    }

    fn printed_alike(&self) -> Option<PrintedAlikeFor> {
        Some(printed_alike)
    }

    fn restore_md(&self, db: &DatabaseManifest, unpack: &str) -> String {
        let mut out = format!(
            "- `{}` ({}): the members under `{}/` are plain SQL in restore order:\n\n      createdb target\n      tar --wildcards -xOf <this file> '{}/*'{unpack} | psql -v ON_ERROR_STOP=1 -d target\n\n",
            db.name, db.engine, db.name, db.name
        );
        if let Some(schema) = db.members.iter().find(|m| schema_member::is_schema_member(&db.name, m)) {
            out.push_str(&format!(
                "  `{}` beside them holds the same schema statements as data (kind, name, SQL and the tables each needs), which lifeboat restores from; psql needs none of it.\n\n",
                schema.path
            ));
        }
        out
    }

    fn sweep_leftovers(&self, reporter: &Reporter) {
        super::leftovers::stop_stale_scratch_clusters(reporter);
    }

    fn secrets(&self, urls: &[String]) -> Vec<String> {
        let env = connect::process_env;
        let mut secrets = Vec::new();
        for url in urls {
            // As written too: a URL that does not parse is still masked.
            if let Some(pw) = connect::written_password(url) {
                secrets.push(percent_decoded(&pw));
                secrets.push(pw);
            }
            if connect::is_postgres_url(url)
                && let Ok(target) = connect::parse(url, &env)
                && let Some(pw) = target.config.get_password()
            {
                secrets.push(String::from_utf8_lossy(pw).into_owned());
            }
        }
        if let Some(v) = env("PGPASSWORD") {
            secrets.push(v);
        }
        for key in ["PGPASSWORD_FILE", "POSTGRES_PASSWORD_FILE"] {
            if let Some(path) = env(key)
                && let Ok(text) = std::fs::read_to_string(path)
            {
                secrets.push(text.trim_end_matches(['\n', '\r']).to_string());
            }
        }
        secrets
    }
}

fn printed_alike(set: &SetSource, db: &DatabaseManifest) -> Result<PrintedAlike> {
    let definitions = printed::set_definitions(set, db)?;
    Ok(Box::new(move |backup, live| {
        printed::printed_alike(&definitions, backup, live)
    }))
}

/// A scratch database on a local cluster or a server.
struct ScratchDatabase {
    // Dropped (its connections closed) before the database goes.
    engine: PostgresEngine,
    made: scratch::Scratch,
    /// The cluster's admin, who makes the set's event triggers last.
    admin: Option<std::sync::Arc<admin::ScratchAdmin>>,
}

impl Scratch for ScratchDatabase {
    fn engine(&self) -> &dyn Engine {
        &self.engine
    }

    fn restored(&self) -> Result<()> {
        self.made.restored()?;
        // After every step of the cluster's superuser on the database.
        match &self.admin {
            Some(admin) => admin.finish(),
            None => Ok(()),
        }
    }
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

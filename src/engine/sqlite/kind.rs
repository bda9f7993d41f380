//! SQLite in the engine registry: paths and `sqlite:` URLs, globs, a
//! scratch file for the restore level, and RESTORE.md's `sqlite3` steps.

use super::{SqliteEngine, default_name, path_of};
use crate::archive::manifest::DatabaseManifest;
use crate::engine::{DatabaseSpec, Engine, EngineKind, EngineOptions, Scratch};
use crate::progress::Reporter;
use crate::verify::RestoreLevel;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

pub struct Kind;

impl EngineKind for Kind {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn detect(&self, url: &str) -> bool {
        path_of(url).is_some()
    }

    fn open(&self, spec: &DatabaseSpec, options: &EngineOptions) -> Result<Box<dyn Engine>> {
        let path = path_of(&spec.url).unwrap_or_else(|| spec.url.clone());
        let postgres_only: Vec<&str> = [
            (options.schema_only, "--schema-only"),
            (options.data_only, "--data-only"),
            (options.clean, "--clean"),
            (options.create_db, "--create-db"),
            (!options.restore_tables.is_empty(), "--table"),
            // -t on backup: a SQLite file is copied whole, so a table
            // choice would be silently ignored. (-T, -n and -N can come
            // from lifeboat.toml for all databases, so they are not refused.)
            (!options.selection.tables.is_empty(), "--table"),
            (options.with_privileges, "--with-privileges"),
        ]
        .into_iter()
        .filter_map(|(set, flag)| set.then_some(flag))
        .collect();
        if !postgres_only.is_empty() {
            crate::usage_bail!(
                "{} {} to PostgreSQL only; SQLite database {path} is always backed up and restored whole: leave {} out",
                postgres_only.join(", "),
                if postgres_only.len() == 1 { "applies" } else { "apply" },
                if postgres_only.len() == 1 { "it" } else { "them" }
            );
        }
        Ok(Box::new(SqliteEngine::new(spec.name.clone(), PathBuf::from(path))))
    }

    fn expand(&self, spec: &DatabaseSpec) -> Result<Option<Vec<DatabaseSpec>>> {
        let Some(path) = path_of(&spec.url).filter(|p| p.contains(['*', '?', '['])) else {
            return Ok(None);
        };
        let mut matched: Vec<PathBuf> = glob::glob(&path)
            .map_err(|e| anyhow::anyhow!("bad pattern {path:?}: {e}"))?
            .filter_map(|p| p.ok())
            .filter(|p| p.is_file())
            .collect();
        matched.sort();
        if matched.is_empty() {
            bail!("no SQLite database matches {path:?}: check the pattern and the working directory");
        }
        Ok(Some(
            matched
                .into_iter()
                .map(|p| DatabaseSpec {
                    name: None,
                    url: format!("sqlite:{}", p.display()),
                    ..spec.clone()
                })
                .collect(),
        ))
    }

    fn default_name(&self, url: &str) -> Option<String> {
        path_of(url).map(|p| default_name(Path::new(&p)))
    }

    fn scratch(
        &self,
        db: &DatabaseManifest,
        _level: &RestoreLevel,
        options: EngineOptions,
        _reporter: &Reporter,
    ) -> Result<Box<dyn Scratch>> {
        let dir = tempfile::Builder::new().prefix("lifeboat-verify-").tempdir()?;
        let path = dir.path().join(format!("{}.db", db.name));
        let engine = self.open(
            &DatabaseSpec {
                name: Some(db.name.clone()),
                url: format!("sqlite:{}", path.display()),
                ..Default::default()
            },
            &options,
        )?;
        Ok(Box::new(ScratchFile { engine, _dir: dir }))
    }

    fn manifest_problems(&self, db: &DatabaseManifest) -> Vec<String> {
        if db.members.iter().filter(|m| m.role == "database").count() != 1 {
            return vec!["a SQLite database must have exactly one database member".into()];
        }
        Vec::new()
    }

    /// The database file is hashed as it is unpacked beside the target,
    /// and the whole set against its sidecar on a thread beside that; the
    /// restore waits for both before the target changes.
    fn hashes_while_loading(&self) -> bool {
        true
    }

    fn restore_md(&self, db: &DatabaseManifest, unpack: &str) -> String {
        match db.members.first() {
            Some(m) => format!(
                "- `{}` (SQLite): the member is the database file itself:\n\n      tar -xOf <this file> '{}'{unpack} > {}.db\n      sqlite3 {}.db 'PRAGMA integrity_check'\n\n",
                db.name, m.path, db.name, db.name
            ),
            None => String::new(),
        }
    }
}

/// A database file in a temporary directory.
struct ScratchFile {
    // Dropped before the directory it lives in.
    engine: Box<dyn Engine>,
    _dir: tempfile::TempDir,
}

impl Scratch for ScratchFile {
    fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }
}

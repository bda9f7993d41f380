//! `lifeboat restore`: check every member first, keep a safety backup of
//! the target, then let the engine replace it.

use super::backup::{SetOptions, backup_engines};
use crate::app::outcome::{self, Ending, Outcome};
use crate::archive::manifest::DatabaseManifest;
use crate::cli::RestoreArgs;
use crate::commands::{Cmd, Context};
use crate::config::{Config, Draft, apply_engine_flags, override_with};
use crate::engine::{self, DatabaseSpec, RestoreSummary};
use crate::error::VerificationFailed;
use crate::progress::Reporter;
use crate::store::OpenedSet;
use anyhow::{Context as _, Result};
use serde::Serialize;
use std::path::PathBuf;

/// What to restore, and how carefully.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    /// The set file; with `latest`, the directory (default: the out dir).
    pub set: Option<PathBuf>,
    pub latest: bool,
    pub to: Option<String>,
    pub database: Option<String>,
    pub force: bool,
    pub no_safety_backup: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreOutcome {
    pub set: PathBuf,
    pub databases: Vec<RestoreSummary>,
}

/// Finds the set a request names: a file or set URL, or the newest in a
/// directory or store; a set in a bucket is downloaded and checked first.
pub fn resolve_set(config: &Config, set: Option<&PathBuf>, latest: bool, reporter: &Reporter) -> Result<OpenedSet> {
    crate::store::open_set(
        set.map(PathBuf::as_path),
        latest,
        &config.out_dir,
        &config.store,
        reporter,
    )
}

/// Where a database of the set goes: `--to`, or the database of the same
/// name the user configured (lifeboat.toml, LIFEBOAT_DATABASES). Never the
/// manifest's `source`: a set is input from a stranger, and letting it
/// name the target would let it choose which file is overwritten or which
/// host receives a password.
fn target_of(config: &Config, request: &RestoreRequest, db: &DatabaseManifest) -> Result<DatabaseSpec> {
    if let Some(to) = &request.to {
        return Ok(DatabaseSpec {
            name: Some(db.name.clone()),
            url: to.clone(),
            ..Default::default()
        });
    }
    for spec in engine::expand(&config.databases).unwrap_or_else(|_| config.databases.clone()) {
        let name = match engine::open(&spec, &engine::EngineOptions::default()) {
            Ok(e) => e.name().to_string(),
            Err(_) => continue,
        };
        if name == db.name {
            return Ok(DatabaseSpec {
                name: Some(db.name.clone()),
                ..spec
            });
        }
    }
    crate::usage_bail!(
        "a set does not choose where it is restored: pass --to with the database to restore {} into (it was backed up from {}), or list a database named {} in lifeboat.toml or LIFEBOAT_DATABASES",
        crate::github::workflow::neutralize(&db.name),
        crate::github::workflow::neutralize(&db.source),
        crate::github::workflow::neutralize(&db.name)
    )
}

pub fn restore(config: &Config, request: &RestoreRequest, reporter: &Reporter) -> Result<RestoreOutcome> {
    let opened = resolve_set(config, request.set.as_ref(), request.latest, reporter)?;
    let path = opened.path.clone();
    reporter.info(&format!("checking {} before restoring", opened.shown.display()));
    let keys = &config.crypt.keys;
    let encrypted = crate::archive::crypt::is_encrypted(&path)?;
    if encrypted && keys.is_empty() {
        crate::usage_bail!(
            "set {} is encrypted: {}; nothing was restored",
            opened.shown.display(),
            crate::archive::crypt::KEY_HINT
        );
    }
    // A set of PostgreSQL databases only has its rows (a SQLite set, its
    // database file) hashed as they load (and the whole file beside the
    // load; the engine waits for both before it commits or swaps anything
    // in): a large set is read once, not twice. The manifest, the tar's
    // structure, every script and every member's raw-size claim are still
    // checked here, before anything changes. An encrypted set is always
    // checked in full first: only reading its stream to the end proves it
    // was not cut short.
    let rows_later = !encrypted
        && !keys.requires_encrypted()
        && crate::archive::reader::read_manifest(&path, keys).is_ok_and(|m| {
            !m.databases.is_empty()
                && m.databases
                    .iter()
                    .all(|d| engine::kind(&d.engine).is_some_and(|k| k.hashes_while_loading()))
        });
    let (findings, _scan, source) = if rows_later {
        crate::verify::quick_for_restore(
            &path,
            keys,
            &|m| matches!(m.role.as_str(), "data" | "database"),
            reporter,
        )?
    } else {
        crate::verify::quick(&path, keys, false, reporter)?
    };
    if findings.errors() > 0 {
        // Blocking findings are errors, printed as verify prints them, and
        // counted as verify counts them (findings of severity error).
        for f in findings
            .0
            .iter()
            .filter(|f| f.severity == crate::verify::Severity::Error)
        {
            reporter.error(&format!("[{}] {}: {}; {}", f.check, f.object, f.message, f.fix));
        }
        return Err(anyhow::Error::new(VerificationFailed {
            errors: findings.errors(),
        }))
        .with_context(|| {
            format!(
                "{} failed the checks restore makes first (checksums, members, manifest); nothing was restored. `lifeboat verify {}` gives the full report",
                opened.shown.display(),
                opened.shown.display()
            )
        });
    }
    let source = source.context("the set has no readable manifest")?;
    let manifest = source.manifest.clone();

    let chosen: Vec<_> = match (&request.database, &request.to) {
        (Some(_), _) | (None, Some(_)) => {
            vec![manifest.database(request.database.as_deref())?.clone()]
        }
        (None, None) => manifest.databases.clone(),
    };
    // A set downloaded from a bucket lives in a temporary directory: its
    // safety backups go to the (local) out directory instead.
    let safety_dir = config
        .safety_dir
        .clone()
        .unwrap_or_else(|| match opened.remote_store() {
            Some(_) if !crate::store::is_url(&config.out_dir) => config.out_dir.join("safety"),
            Some(_) => PathBuf::from(crate::config::DEFAULT_OUT).join("safety"),
            None => path.parent().unwrap_or(std::path::Path::new(".")).join("safety"),
        });

    let mut summaries = Vec::new();
    for db in &chosen {
        let spec = target_of(config, request, db)?;
        reporter.info(&format!(
            "{} was backed up from {}; restoring it into the target you named",
            crate::github::workflow::neutralize(&db.name),
            crate::github::workflow::neutralize(&db.source)
        ));
        let target = engine::open(&spec, &config.engine)?;
        if target.kind() != db.engine {
            crate::usage_bail!(
                "{} is a {} backup and cannot be restored into a {} target",
                db.name,
                db.engine,
                target.kind()
            );
        }
        let exists = target.target_exists()?;
        // --clean asks for replacement; --data-only adds rows to tables
        // that are meant to exist.
        let replacing = exists && !config.engine.data_only;
        if replacing && !request.force && !config.engine.clean {
            // --create-db replaces the whole database, chosen tables or not.
            let whole = config.engine.restore_tables.is_empty() || config.engine.create_db;
            let question = if whole {
                format!(
                    "Replace {} with {} from {}?",
                    target.redacted_source(),
                    db.name,
                    opened.shown.display()
                )
            } else {
                format!(
                    "Replace the rows of the tables matching {} in {} with those from {}?",
                    config.engine.restore_tables.join(", "),
                    target.redacted_source(),
                    opened.shown.display()
                )
            };
            if !super::interactive() {
                let what = if whole { "it" } else { "those tables' rows" };
                crate::usage_bail!(
                    "{} already exists and there is no terminal to confirm: pass --force to replace {what} (a safety backup is kept unless --no-safety-backup)",
                    target.redacted_source()
                );
            }
            if !super::confirm(&question) {
                crate::usage_bail!("restore cancelled; {} was not changed", target.redacted_source());
            }
        }
        let mut before_change = || -> Result<Option<PathBuf>> {
            if !exists || request.no_safety_backup {
                return Ok(None);
            }
            reporter.info(&format!(
                "keeping a safety backup of {} in {}",
                target.redacted_source(),
                safety_dir.display()
            ));
            let options = SetOptions {
                out_dir: &safety_dir,
                set_name: Some(target.name()),
                label: None,
                kind: "safety",
                compression: config.compression,
                // Encrypted as the set was read: the safety backup holds the
                // same data and opens with the same key.
                encryption: config.crypt.keys.encryption(),
            };
            let outcome = backup_engines(&[target.as_ref()], &options, reporter).with_context(|| {
                format!(
                    "taking a safety backup of {} failed, so it was not replaced; pass --no-safety-backup to restore without one",
                    target.redacted_source()
                )
            })?;
            Ok(Some(outcome.path))
        };
        reporter.info(&format!("restoring {} into {}", db.name, target.redacted_source()));
        let summary = target
            .restore(&source, db, &mut before_change, reporter)
            .with_context(|| format!("restoring {} into {}", db.name, target.redacted_source()))?;
        summaries.push(summary);
    }
    Ok(RestoreOutcome {
        set: opened.shown.clone(),
        databases: summaries,
    })
}

impl RestoreOutcome {
    /// The text for people: each database, its checks, its safety backup.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for s in &self.databases {
            crate::sayln!(
                &mut out,
                "restored {} into {}: {}, {}",
                s.database,
                s.target,
                crate::progress::count(s.tables as u64, "table"),
                crate::progress::count(s.rows, "row")
            );
            for check in &s.checks {
                crate::sayln!(&mut out, "  ok  {check}");
            }
            if let Some(p) = &s.safety_backup {
                crate::sayln!(&mut out, "  safety backup of the previous database: {}", p.display());
            }
        }
        out
    }
}

impl Cmd for RestoreArgs {
    fn configure<'a>(&'a self, draft: &mut Draft<'a>) -> Result<()> {
        let (a, config) = (self, &mut draft.config);
        // The action hands its `databases` input to every command: a
        // restore finds its target there by name.
        if let Ok(list) = std::env::var("LIFEBOAT_DATABASES")
            && !list.trim().is_empty()
        {
            config.databases = list
                .lines()
                .filter(|d| !d.trim().is_empty())
                .map(DatabaseSpec::parse)
                .collect();
        }
        override_with(&mut config.out_dir, a.out.clone());
        config.safety_dir = a.safety_dir.clone().or(config.safety_dir.take());
        apply_engine_flags(&mut config.engine, &a.engine);
        config.engine.clean = a.clean;
        config.engine.create_db = a.create_db;
        config.engine.terminate_connections = a.terminate_connections;
        config.engine.restore_tables = a.table.clone();
        draft.store = Some(&a.store);
        draft.alerts = Some(&a.alerts);
        draft.keys = Some(&a.keys);
        draft.strict_keys = true;
        Ok(())
    }

    fn sets_dir(&self, config: &Config) -> Option<PathBuf> {
        match self.artifact {
            Some(_) => None,
            None => super::dir_of(&self.set, self.latest, config),
        }
    }

    fn target_url(&self) -> Option<&str> {
        self.to.as_deref()
    }

    /// `lifeboat restore` as the CLI runs it, from a set, the latest set or a
    /// fetched artifact.
    fn run(&self, cx: &Context) -> Result<Outcome> {
        let (args, config, reporter) = (self, cx.config, cx.reporter);
        let set = match &args.artifact {
            Some(name) => Some(super::fetch::fetch_artifact(
                name,
                &args.artifact_filter,
                &config.out_dir,
                reporter,
            )?),
            None => args.set.clone(),
        };
        // A fetched set sits in a made-up artifact-<id>-* directory, where
        // nobody would look for the safety backup: it goes beside the user's
        // own sets instead, in <out>/safety.
        let fetched_config;
        let config = if args.artifact.is_some() && config.safety_dir.is_none() {
            fetched_config = Config {
                safety_dir: Some(config.out_dir.join("safety")),
                ..config.clone()
            };
            &fetched_config
        } else {
            config
        };
        let request = RestoreRequest {
            set,
            latest: args.latest && args.artifact.is_none(),
            to: args.to.clone(),
            database: args.database.clone(),
            force: args.force,
            no_safety_backup: args.no_safety_backup,
        };
        let restored = restore(config, &request, reporter)?;
        let name = restored.set.file_name().map(|n| n.to_string_lossy().into_owned());
        let set = name.as_deref().and_then(crate::store::SetName::parse).map(|n| n.set);
        Ok(
            Outcome::printed(outcome::stdout(args.json, &restored, || restored.text())?)
                .with_outputs(vec![("restored-from", crate::store::shown(&restored.set))])
                .with_ending(Ending::new("restore", set, false, restored.to_markdown())),
        )
    }
}

impl RestoreOutcome {
    /// The job summary's section for this restore.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("### lifeboat restore from `{}`\n\n", self.set.display());
        for s in &self.databases {
            out.push_str(&format!(
                "- **{}** into `{}`: {}, {}; {}\n",
                s.database,
                s.target,
                crate::progress::count(s.tables as u64, "table"),
                crate::progress::count(s.rows, "row"),
                s.checks.join("; ")
            ));
        }
        out
    }
}

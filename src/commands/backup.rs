//! `lifeboat backup`: every named database into one set.

use crate::app::outcome::{self, Ending, Outcome};
use crate::archive::Compression;
use crate::archive::manifest::{FORMAT_NAME, FORMAT_VERSION, Manifest, Tool};
use crate::archive::writer::SetWriter;
use crate::cli::BackupArgs;
use crate::commands::verify::verify_opened;
use crate::commands::{Cmd, Context};
use crate::config::{Config, Draft, Level, apply_checks, apply_engine_flags, override_with, usage};
use crate::engine::DatabaseSpec;
use crate::engine::{self, Engine};
use crate::exit_codes::ExitCode;
use crate::progress::{Reporter, human_bytes};
use crate::retention::parse_span;
use crate::store::local::{SetName, verified_path};
use crate::store::{self, OpenedSet};
use crate::verify::Report;
use anyhow::{Context as _, Result};
use chrono::{SubsecRound, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a backup produced.
#[derive(Debug, Clone, Serialize)]
pub struct BackupOutcome {
    pub path: PathBuf,
    pub sidecar: PathBuf,
    pub file_name: String,
    pub set: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub duration_ms: u64,
    pub databases: Vec<DatabaseSummary>,
    /// Whether `--verify` passed, when it ran.
    pub verified: Option<bool>,
    /// The verification report beside the set, when `--verify` ran.
    pub report_path: Option<PathBuf>,
    /// Where `--copy-to` put copies of the set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<PathBuf>,
    #[serde(skip)]
    pub manifest: Manifest,
    /// The set on this machine, when `path` is in a bucket: the copy it
    /// was uploaded from, kept (in a private temporary directory) for the
    /// verification and the copies that follow.
    #[serde(skip)]
    pub local: Option<LocalCopy>,
}

/// A set's local copy and the temporary directory that holds it.
#[derive(Debug, Clone)]
pub struct LocalCopy {
    pub path: PathBuf,
    _scratch: std::sync::Arc<tempfile::TempDir>,
}

impl BackupOutcome {
    /// The set as a local file.
    pub fn local_path(&self) -> &Path {
        self.local.as_ref().map(|l| l.path.as_path()).unwrap_or(&self.path)
    }
}

/// A backup as the CLI and `schedule` run it: the set written (through a
/// local copy when it goes to a bucket), verified when asked, its record
/// put beside it, and copied to every `--copy-to` store once it passed.
pub fn backup_verified(config: &Config, reporter: &Reporter) -> Result<(BackupOutcome, Option<Report>)> {
    let mut outcome = backup(config, reporter)?;
    let report = match config.verify.level {
        Some(_) => {
            let opened = match &outcome.local {
                Some(local) => OpenedSet::copied(
                    local.path.clone(),
                    outcome.path.clone(),
                    store::open(&config.out_dir, &config.store)?,
                    None,
                ),
                None => OpenedSet::local(outcome.path.clone()),
            };
            let report = verify_opened(&opened, &config.verify, &config.crypt.keys, None, reporter)?;
            outcome.verified = Some(report.passed);
            outcome.report_path = Some(verified_path(&outcome.path));
            Some(report)
        }
        None => None,
    };
    if report.as_ref().is_some_and(|r| !r.passed) {
        if !config.copy_to.is_empty() {
            reporter.warn("the set failed verification, so it was not copied to --copy-to");
        }
        return Ok((outcome, report));
    }
    for target in &config.copy_to {
        let store = store::open(target, &config.store)?;
        let copy = store
            .put_set(outcome.local_path(), reporter)
            .with_context(|| format!("copying {} to {}", outcome.file_name, store.location()))?;
        outcome.copies.push(copy);
    }
    Ok((outcome, report))
}

#[derive(Debug, Clone, Serialize)]
pub struct DatabaseSummary {
    pub name: String,
    pub engine: String,
    pub source: String,
    pub tables: usize,
    pub rows: u64,
    pub migration: Option<String>,
}

/// How a set is named and packed.
#[derive(Debug, Clone)]
pub struct SetOptions<'a> {
    pub out_dir: &'a Path,
    pub set_name: Option<&'a str>,
    pub label: Option<&'a str>,
    pub kind: &'a str,
    pub compression: Compression,
    /// age encryption of the whole set, when asked for.
    pub encryption: Option<crate::archive::crypt::Encryption>,
}

/// Backs up the databases the config names.
pub fn backup(config: &Config, reporter: &Reporter) -> Result<BackupOutcome> {
    if config.databases.is_empty() {
        crate::usage_bail!(
            "nothing to back up: name a database (lifeboat backup sqlite:app.db) or list [[databases]] in lifeboat.toml"
        );
    }
    let specs = engine::expand(&config.databases)?;
    let engines = specs
        .iter()
        .map(|s| engine::open(s, &config.engine))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&dyn Engine> = engines.iter().map(|e| e.as_ref()).collect();
    // A set for a bucket is written to a private temporary directory, then
    // uploaded from there; the bucket is tried first, so a wrong name or
    // credential fails before the databases are read.
    let remote = match store::is_url(&config.out_dir) {
        true => {
            let store = store::open(&config.out_dir, &config.store)?;
            store.probe()?;
            Some((store, store::scratch_dir("the set before its upload")?))
        }
        false => None,
    };
    let out_dir = match &remote {
        Some((_, scratch)) => scratch.path().to_path_buf(),
        None => config.out_dir.clone(),
    };
    let options = SetOptions {
        out_dir: &out_dir,
        set_name: config.set_name.as_deref(),
        label: config.label.as_deref(),
        kind: config.kind.as_deref().unwrap_or_else(|| crate::context::default_kind()),
        compression: config.compression,
        encryption: config.crypt.encryption.clone(),
    };
    // Directories this backup creates are removed again when it fails and
    // they stayed empty: a failed run leaves nothing that looks like a
    // place backups went to.
    let missing: Vec<PathBuf> = out_dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    let result = backup_engines(&refs, &options, reporter);
    if result.is_err() {
        for dir in &missing {
            // remove_dir refuses a directory that is not empty.
            let _ = std::fs::remove_dir(dir);
        }
    }
    let mut outcome = result?;
    if let Some((store, scratch)) = remote {
        let uploaded = store.put_set(&outcome.path, reporter)?;
        outcome.local = Some(LocalCopy {
            path: std::mem::replace(&mut outcome.path, uploaded.clone()),
            _scratch: std::sync::Arc::new(scratch),
        });
        outcome.sidecar = crate::archive::checksum::sidecar_path(&uploaded);
    }
    Ok(outcome)
}

/// Backs up already opened engines into one set; also used for the safety
/// backup a restore takes.
pub fn backup_engines(engines: &[&dyn Engine], options: &SetOptions, reporter: &Reporter) -> Result<BackupOutcome> {
    let clock = Instant::now();
    let set = match (options.set_name, engines) {
        (Some(name), _) => name.to_string(),
        (None, [only]) => only.name().to_string(),
        (None, _) => "backup".to_string(),
    };
    crate::store::local::check_name_part("set name", &set)?;
    // One backup of a set name into a directory at a time: a second waits
    // for the first, then takes the next free name.
    let _lock = crate::lock::lock_set(options.out_dir, &set, reporter)?;
    // Holding the lock, whatever earlier runs of this set left is theirs
    // alone and they are gone: remove it.
    for path in crate::store::LocalStore::new(options.out_dir).remove_leftovers_of(&set) {
        reporter.info(&format!("removed {}, left by an interrupted backup", path.display()));
    }
    let (started_at, file_name, writer) = free_name(options, &set)?;
    if let Some(encryption) = &options.encryption {
        reporter.info(&format!("encrypting {file_name} with age, {}", encryption.describe()));
    }
    let mut databases = Vec::new();
    for engine in engines {
        reporter.info(&format!(
            "backing up {} {} as {}",
            engine.kind(),
            engine.redacted_source(),
            engine.name()
        ));
        let db = engine
            .backup(writer.staging(), reporter)
            .with_context(|| format!("backing up {} ({})", engine.name(), engine.redacted_source()))?;
        databases.push(db);
    }
    let finished_at = Utc::now();
    let manifest = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        tool: Tool::this(),
        set: set.clone(),
        label: options.label.map(str::to_string),
        kind: options.kind.to_string(),
        started_at,
        finished_at,
        duration_ms: clock.elapsed().as_millis() as u64,
        host: crate::context::host(),
        user: crate::context::user(),
        context: crate::context::detect(),
        compression: options.compression.algorithm,
        compression_level: options.compression.level,
        databases,
    };
    let written = writer.finish(&manifest)?;
    let outcome = BackupOutcome {
        path: written.path,
        sidecar: written.sidecar,
        file_name,
        set,
        sha256: written.sha256,
        size_bytes: written.size,
        duration_ms: clock.elapsed().as_millis() as u64,
        databases: manifest
            .databases
            .iter()
            .map(|d| DatabaseSummary {
                name: d.name.clone(),
                engine: d.engine.clone(),
                source: d.source.clone(),
                tables: d.tables.len(),
                rows: d.tables.iter().map(|t| t.rows).sum(),
                migration: d.migration.as_ref().map(|m| format!("{} {}", m.table, m.revision)),
            })
            .collect(),
        verified: None,
        report_path: None,
        copies: Vec::new(),
        manifest,
        local: None,
    };
    reporter.info(&format!(
        "wrote {} ({}, {}, {}) in {:.1}s",
        outcome.path.display(),
        human_bytes(outcome.size_bytes),
        crate::progress::count(outcome.databases.iter().map(|d| d.tables as u64).sum(), "table"),
        crate::progress::count(outcome.databases.iter().map(|d| d.rows).sum(), "row"),
        outcome.duration_ms as f64 / 1000.0
    ));
    Ok(outcome)
}

/// Picks the set's time and file name and claims it by creating its
/// staging directory exclusively; two runs within one second wait for the
/// next, as the name has a resolution of one second.
fn free_name(options: &SetOptions, set: &str) -> Result<(chrono::DateTime<Utc>, String, SetWriter)> {
    let dir = options.out_dir;
    for _ in 0..5 {
        let time = Utc::now().trunc_subsecs(0);
        let name = SetName {
            set: set.to_string(),
            time,
            label: options.label.map(str::to_string),
            encrypted: options.encryption.is_some(),
        };
        let file = name.file_name();
        if !dir.join(&file).exists() {
            match SetWriter::create(dir, &file, options.compression, options.encryption.clone()) {
                Ok(writer) => return Ok((time, file, writer)),
                Err(e) if crate::fsutil::is_already_exists(&e) => {}
                Err(e) => return Err(e),
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(
            1000 - Utc::now().timestamp_subsec_millis().min(999) as u64,
        ));
    }
    anyhow::bail!("could not find a free file name for set {set} in {}", dir.display())
}

impl BackupOutcome {
    /// The text for people: the set's path, then where it was copied.
    pub fn text(&self) -> String {
        let mut out = format!("{}\n", self.path.display());
        for copy in &self.copies {
            crate::sayln!(&mut out, "copied to {}", copy.display());
        }
        out
    }
}

impl Cmd for BackupArgs {
    fn configure<'a>(&'a self, draft: &mut Draft<'a>) -> Result<()> {
        let a = self;
        let Draft {
            config,
            file,
            compression,
            level,
            ..
        } = &mut *draft;
        if !a.databases.is_empty() {
            config.databases = a
                .databases
                .iter()
                .filter(|d| !d.trim().is_empty())
                .map(|d| DatabaseSpec::parse(d))
                .collect();
        }
        override_with(&mut config.out_dir, a.out.clone());
        config.set_name = a.name.clone().or(config.set_name.take());
        config.label = a.label.clone().or(config.label.take());
        config.kind = a.kind.clone().or(config.kind.take());
        *compression = a.compression.clone().or(compression.take());
        *level = a.compression_level.or(*level);
        apply_engine_flags(&mut config.engine, &a.engine);
        if let Some(wait) = &a.lock_wait_timeout {
            config.engine.lock_wait_timeout = Some(
                parse_span(wait)
                    .ok()
                    .and_then(|d| d.to_std().ok())
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        usage(anyhow::anyhow!(
                            "--lock-wait-timeout {wait:?}: write a positive duration like 30s, 2m or 1h"
                        ))
                    })?,
            );
        }
        let sel = &mut config.engine.selection;
        sel.tables.extend(a.table.iter().cloned());
        sel.exclude_tables.extend(a.exclude_table.iter().cloned());
        sel.schemas.extend(a.schema.iter().cloned());
        sel.exclude_schemas.extend(a.exclude_schema.iter().cloned());
        config.engine.with_privileges = a.with_privileges;
        config.engine.large_objects = match (a.large_objects, a.no_large_objects) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        config.engine.no_tablespaces = a.no_tablespaces;
        // --verify, then lifeboat.toml, then --verify-default: the
        // action's default must not override the file.
        match &a.verify {
            Some(level) => config.verify.level = Level::parse(level)?,
            None if file.verify.level.is_none() => config.verify.level = Level::parse(&a.verify_default)?,
            None => {}
        }
        apply_checks(&mut config.verify, &file.verify, Some(&a.checks))?;
        config.verify.restore.jobs = config.engine.jobs;
        // The databases' own URLs, secrets included, for --scratch server.
        for spec in &config.databases {
            if engine::detect(&spec.url).is_some_and(|k| k.hosts_scratch()) {
                let name = spec.name.clone().unwrap_or_else(|| "*".into());
                config.verify.restore.sources.insert(name, spec.url.clone());
            }
        }
        config.store.s3.storage_class = a.storage_class.clone().filter(|c| !c.trim().is_empty());
        config.copy_to = a
            .copy_to
            .iter()
            .filter(|c| !c.trim().is_empty())
            .map(PathBuf::from)
            .collect();
        draft.store = Some(&a.store);
        draft.alerts = Some(&a.alerts);
        draft.keys = Some(&a.keys);
        draft.strict_keys = true;
        draft.encryption = Some(&a.encryption);
        Ok(())
    }

    fn sets_dir(&self, config: &Config) -> Option<PathBuf> {
        Some(config.out_dir.clone())
    }

    /// The set, its verification, and how it ended.
    fn run(&self, cx: &Context) -> Result<Outcome> {
        let (args, config, reporter) = (self, cx.config, cx.reporter);
        let (mut backup, report) = backup_verified(config, reporter)?;
        let mut details = backup.to_markdown();
        let mut stderr = String::new();
        if let Some(r) = &report {
            backup.verified = Some(r.passed);
            backup.report_path = Some(verified_path(&backup.path));
            if !config.quiet || !r.passed {
                stderr = r.to_markdown();
            }
            details.push('\n');
            details.push_str(&r.to_markdown());
        }
        let failed = report.as_ref().is_some_and(|r| !r.passed);
        let mut ending = Ending::new("backup", Some(backup.set.clone()), failed, details);
        ending.headline = report.as_ref().and_then(Report::first_error);
        let mut outcome = Outcome::printed(outcome::stdout(args.json, &backup, || backup.text())?)
            .with_code(if failed {
                ExitCode::VerificationFailed
            } else {
                ExitCode::Success
            })
            .with_outputs(vec![
                ("backup-path", store::shown(&backup.path)),
                ("backup-name", backup.file_name.clone()),
                ("set-name", backup.set.clone()),
                ("sha256", backup.sha256.clone()),
                ("size-bytes", backup.size_bytes.to_string()),
                ("verified", backup.verified.map(|v| v.to_string()).unwrap_or_default()),
                // Absolute: the upload step resolves paths against the
                // workspace, not the action's working-directory.
                (
                    "report-path",
                    backup.report_path.as_deref().map(store::shown).unwrap_or_default(),
                ),
            ])
            .with_ending(ending);
        outcome.stderr = stderr;
        Ok(outcome)
    }
}

impl BackupOutcome {
    /// The job summary's section for this backup.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "### lifeboat backup: `{}`\n\n{} ({} bytes), SHA-256 `{}`, {:.1}s.\n\n| database | engine | tables | rows | migration |\n|---|---|---:|---:|---|\n",
            self.file_name,
            crate::progress::human_bytes(self.size_bytes),
            self.size_bytes,
            self.sha256,
            self.duration_ms as f64 / 1000.0
        );
        for d in &self.databases {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                d.name,
                d.engine,
                d.tables,
                d.rows,
                d.migration.as_deref().unwrap_or("-")
            ));
        }
        out
    }
}

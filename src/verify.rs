//! Verification: every check yields a finding with a level and what to do;
//! all checks run, and the caller fails at the end if any error was found.

use crate::archive::checksum;
use crate::archive::crypt::Keys;
use crate::archive::manifest::{DatabaseManifest, MANIFEST_MEMBER, Manifest};
use crate::archive::reader::{self, Scan, SetSource};
use crate::engine::postgres::scratch::ScratchChoice;
use crate::engine::{self, EngineOptions};
use crate::progress::Reporter;
use crate::store::local::SetName;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One thing a check found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    /// Which check: `sidecar`, `member-hash`, `decompress`, `manifest`, ...
    pub check: String,
    /// What the finding is about: a member, a table, the file.
    pub object: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// The outcome of verifying one set; also the JSON report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub set: PathBuf,
    pub level: String,
    pub passed: bool,
    pub at: DateTime<Utc>,
    pub duration_ms: u64,
    /// SHA-256 of the whole set file as read (as stored, when encrypted).
    pub sha256: String,
    /// Whether the set is age-encrypted.
    #[serde(default)]
    pub encrypted: bool,
    pub members_checked: usize,
    pub tables: usize,
    pub rows: u64,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
    /// Every table the restore level checked.
    #[serde(default)]
    pub checked_tables: Vec<TableCheck>,
    /// Milliseconds per phase: quick, restore, policies.
    #[serde(default)]
    pub durations_ms: BTreeMap<String, u64>,
}

/// One table as the restore level found it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableCheck {
    pub database: String,
    pub table: String,
    pub rows_expected: u64,
    pub rows_found: Option<u64>,
    pub digest_matches: Option<bool>,
}

/// Collects findings as checks run.
#[derive(Debug, Default)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    pub fn error(&mut self, check: &str, object: &str, message: String, fix: &str) -> &mut Finding {
        self.push(Severity::Error, check, object, message, fix)
    }

    pub fn warning(&mut self, check: &str, object: &str, message: String, fix: &str) -> &mut Finding {
        self.push(Severity::Warning, check, object, message, fix)
    }

    fn push(&mut self, severity: Severity, check: &str, object: &str, message: String, fix: &str) -> &mut Finding {
        self.0.push(Finding {
            severity,
            check: check.into(),
            // Objects and messages quote names from the set: neutralised
            // once here, for the text, the JSON report and the summary.
            object: crate::github::workflow::neutralize(object),
            expected: None,
            actual: None,
            message: crate::github::workflow::neutralize_lines(&message),
            fix: fix.into(),
        });
        self.0.last_mut().expect("just pushed")
    }

    pub fn errors(&self) -> usize {
        self.0.iter().filter(|f| f.severity == Severity::Error).count()
    }
}

impl Finding {
    pub fn values(&mut self, expected: impl ToString, actual: impl ToString) {
        self.expected = Some(expected.to_string());
        self.actual = Some(actual.to_string());
    }
}

const FIX_DAMAGED: &str = "the set is damaged: restore from another set (lifeboat list) and take a new backup";

/// The quick level: sidecar, every member hash, (optionally) every stream
/// decompressed to its end, and the manifest consistent with the tar.
/// Returns the findings and, when the set can be read, its members. An
/// encrypted set is read with `keys`; without any key, only the file
/// against its sidecar is checked, and a warning says what was not.
pub fn quick(
    path: &Path,
    keys: &Keys,
    decompress: bool,
    reporter: &Reporter,
) -> Result<(Findings, Scan, Option<SetSource>)> {
    let (mut findings, scan, source) = quick_with(path, keys, decompress, None, reporter)?;
    if let Some(set) = &source
        && findings.errors() == 0
    {
        check_contents(set, &mut findings);
    }
    Ok((findings, scan, source))
}

/// What each engine finds only in its members' contents (PostgreSQL: a
/// schema.json that disagrees with its scripts).
fn check_contents(set: &SetSource, findings: &mut Findings) {
    for db in &set.manifest.databases {
        for (object, why) in engine::kind(&db.engine)
            .map(|k| k.content_problems(set, db))
            .unwrap_or_default()
        {
            findings.error("schema", &object, why, FIX_DAMAGED);
        }
    }
}

/// The quick level as a restore needs it: members `defer` picks (the rows
/// of the databases it restores) are hashed while they are loaded, and the
/// whole file against its sidecar on a thread beside the load, which
/// [`SetSource::confirm_file`] waits for; everything else (the tar's
/// structure, the manifest, every script, the sidecar's presence, every
/// member's raw-size claim) is checked here, before anything changes. An
/// encrypted set is never deferred: it is checked in full, as [`quick`]
/// checks it.
pub fn quick_for_restore(
    path: &Path,
    keys: &Keys,
    defer: &dyn Fn(&crate::archive::manifest::Member) -> bool,
    reporter: &Reporter,
) -> Result<(Findings, Scan, Option<SetSource>)> {
    quick_with(path, keys, false, Some(defer), reporter)
}

fn quick_with(
    path: &Path,
    keys: &Keys,
    decompress: bool,
    defer: Option<&dyn Fn(&crate::archive::manifest::Member) -> bool>,
    reporter: &Reporter,
) -> Result<(Findings, Scan, Option<SetSource>)> {
    let mut findings = Findings::default();
    let size = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("cannot read backup set {}: {e}", path.display()))?
        .len();
    let task = reporter.task(&format!("checking {}", display_name(path)), Some(size));
    let scan = match defer {
        Some(defer) => reader::scan_deferring(path, keys, defer, &mut |n| task.inc(n))?,
        None => reader::scan(path, keys, decompress, &mut |n| task.inc(n))?,
    };
    task.finish();

    let expected_file = check_sidecar(path, &scan, &mut findings);
    if let Some(locked) = &scan.locked {
        let what = format!(
            "{locked}. Only the whole file was checked against its .sha256 sidecar; its members, their hashes, its streams and its manifest were not checked"
        );
        let fix = "give the key to check the contents too: LIFEBOAT_PASSPHRASE or --passphrase-file / --identity";
        // Without a sidecar nothing at all was checked: that is no pass.
        if checksum::sidecar_path(path).exists() {
            findings.warning("encrypted", &display_name(path), what, fix);
        } else {
            findings.error("encrypted", &display_name(path), what, fix);
        }
        return Ok((findings, scan, None));
    }
    if let Some(why) = &scan.unopened {
        findings.error(
            "encryption",
            &display_name(path),
            why.clone(),
            "use a set made with your key, or give the key this one was made with; --allow-unauthenticated reads an unencrypted set you trust anyway",
        );
        return Ok((findings, scan, None));
    }
    for problem in &scan.problems {
        findings.error("tar", &display_name(path), problem.clone(), FIX_DAMAGED);
    }
    let Some(manifest) = scan.manifest.clone() else {
        let why = scan
            .manifest_error
            .clone()
            .unwrap_or_else(|| "the set has no manifest.json".into());
        findings.error(
            "manifest",
            MANIFEST_MEMBER,
            why,
            "this file is not a readable lifeboat set: check the path, or restore from another set",
        );
        return Ok((findings, scan, None));
    };
    check_members(&manifest, &scan, decompress, &mut findings);
    check_manifest(path, &manifest, &scan, &mut findings);
    let mut source = SetSource::new(path, manifest, &scan, keys);
    if let Some(expected) = expected_file
        && findings.errors() == 0
    {
        source.start_file_check(expected);
    }
    Ok((findings, scan, Some(source)))
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Holds the file's hash against its sidecar; for a scan that left the
/// hash to later, returns the sidecar's value for that later check.
fn check_sidecar(path: &Path, scan: &Scan, findings: &mut Findings) -> Option<String> {
    let sidecar = checksum::sidecar_path(path);
    let name = display_name(path);
    if !sidecar.exists() {
        findings.warning(
            "sidecar",
            &name,
            format!("no checksum file {} beside the set", display_name(&sidecar)),
            "keep the .sha256 file with the set; recreate it with `sha256sum <set> > <set>.sha256` once the set verifies",
        );
        return None;
    }
    match checksum::read_sidecar(&sidecar, &name) {
        Ok(expected) if scan.deferred => return Some(expected),
        Ok(expected) if expected == scan.file_sha256 => {}
        Ok(expected) => findings
            .error(
                "sidecar",
                &name,
                "the file's SHA-256 differs from its .sha256 file: the set was changed or is incomplete".into(),
                FIX_DAMAGED,
            )
            .values(expected, &scan.file_sha256),
        Err(e) => {
            findings.error(
                "sidecar",
                &name,
                format!("{e:#}"),
                "recreate the .sha256 file, or restore from another set",
            );
        }
    }
    None
}

fn check_members(manifest: &Manifest, scan: &Scan, decompress: bool, findings: &mut Findings) {
    let listed: HashSet<&str> = manifest.members().map(|m| m.path.as_str()).collect();
    for member in manifest.members() {
        let Some(found) = scan.members.iter().find(|s| s.path == member.path) else {
            findings.error(
                "member-missing",
                &member.path,
                "the manifest lists this member but the tar does not hold it".into(),
                FIX_DAMAGED,
            );
            continue;
        };
        if found.size != member.size {
            findings
                .error(
                    "member-size",
                    &member.path,
                    "the member's size differs from the manifest".into(),
                    FIX_DAMAGED,
                )
                .values(member.size, found.size);
        }
        if !found.deferred && found.sha256 != member.sha256 {
            findings
                .error(
                    "member-hash",
                    &member.path,
                    "the member's SHA-256 differs from the manifest".into(),
                    FIX_DAMAGED,
                )
                .values(&member.sha256, &found.sha256);
        }
        if let Some(err) = &found.claim_error {
            findings.error("raw-size", &member.path, err.clone(), FIX_DAMAGED);
        } else if let Some(err) = &found.decode_error {
            findings.error(
                "decompress",
                &member.path,
                format!("the {} stream does not decompress: {err}", member.compression),
                FIX_DAMAGED,
            );
        } else if decompress && found.raw_size != Some(member.raw_size) {
            findings
                .error(
                    "decompress",
                    &member.path,
                    "the member decompresses to a different size than the manifest records".into(),
                    FIX_DAMAGED,
                )
                .values(member.raw_size, found.raw_size.unwrap_or(0));
        }
    }
    for found in &scan.members {
        if !listed.contains(found.path.as_str()) {
            findings.error(
                "member-extra",
                &found.path,
                "the tar holds a member the manifest does not list: the set was altered".into(),
                FIX_DAMAGED,
            );
        }
    }
    let mut seen = HashSet::new();
    for found in &scan.members {
        if !seen.insert(found.path.as_str()) {
            findings.error(
                "member-duplicate",
                &found.path,
                "the member appears twice in the tar".into(),
                FIX_DAMAGED,
            );
        }
    }
}

fn check_manifest(path: &Path, manifest: &Manifest, scan: &Scan, findings: &mut Findings) {
    let mut names = HashSet::new();
    for db in &manifest.databases {
        if !names.insert(db.name.as_str()) {
            findings.error(
                "manifest",
                &db.name,
                "two databases in the manifest share a name".into(),
                FIX_DAMAGED,
            );
        }
        for m in &db.members {
            if !m.path.starts_with(&format!("{}/", db.name))
                && !engine::kind(&db.engine).is_some_and(|k| k.member_beside_folder(db, m))
            {
                findings.error(
                    "manifest",
                    &m.path,
                    format!("member is not under its database's folder {}/", db.name),
                    FIX_DAMAGED,
                );
            }
        }
        for problem in engine::kind(&db.engine)
            .map(|k| k.manifest_problems(db))
            .unwrap_or_default()
        {
            findings.error("manifest", &db.name, problem, FIX_DAMAGED);
        }
        if db.members.is_empty() {
            findings.error("manifest", &db.name, "the database has no members".into(), FIX_DAMAGED);
        }
    }
    if manifest.databases.is_empty() {
        findings.error(
            "manifest",
            MANIFEST_MEMBER,
            "the manifest lists no databases".into(),
            FIX_DAMAGED,
        );
    }
    if manifest.finished_at < manifest.started_at {
        findings.warning(
            "manifest",
            MANIFEST_MEMBER,
            "the manifest's end time is before its start time".into(),
            "check the clock of the machine that took the backup",
        );
    }
    if let Some(name) = SetName::parse(&display_name(path))
        && name.set != manifest.set
    {
        findings
            .warning(
                "manifest",
                &display_name(path),
                "the file name's set name differs from the manifest's (was the file renamed?)".into(),
                "keep set files under the names lifeboat gave them, so that list and prune group them right",
            )
            .values(&manifest.set, &name.set);
    }
    if !scan.has_restore_md {
        findings.warning(
            "restore-md",
            "RESTORE.md",
            "the set has no RESTORE.md".into(),
            "nothing to do for restores with lifeboat; sets written by lifeboat carry it",
        );
    }
}

/// Puts findings into a report.
pub fn report(
    path: &Path,
    level: &str,
    findings: Findings,
    scan: &Scan,
    manifest: Option<&Manifest>,
    started: std::time::Instant,
) -> Report {
    let errors = findings.errors();
    let warnings = findings.0.len() - errors;
    Report {
        set: path.to_path_buf(),
        level: level.into(),
        passed: errors == 0,
        at: Utc::now(),
        duration_ms: started.elapsed().as_millis() as u64,
        sha256: scan.file_sha256.clone(),
        encrypted: scan.encrypted,
        members_checked: scan.members.len(),
        tables: manifest
            .map(|m| m.databases.iter().map(|d| d.tables.len()).sum())
            .unwrap_or(0),
        rows: manifest.map(|m| m.total_rows()).unwrap_or(0),
        errors,
        warnings,
        findings: findings.0,
        checked_tables: Vec::new(),
        durations_ms: BTreeMap::new(),
    }
}

impl Report {
    /// The first error finding, in one line, for the annotation.
    pub fn first_error(&self) -> Option<String> {
        self.findings
            .iter()
            .find(|f| f.severity == Severity::Error)
            .map(|f| format!("{}: {}", f.object, f.message))
    }

    /// The human summary, also used as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "### lifeboat verify ({} level): {}\n\n`{}`: {}, {}, {} checked in {} ms; {}, {}.\n",
            self.level,
            if self.passed { "passed" } else { "FAILED" },
            self.set.display(),
            crate::progress::count(self.members_checked as u64, "member"),
            crate::progress::count(self.tables as u64, "table"),
            crate::progress::count(self.rows, "row"),
            self.duration_ms,
            crate::progress::count(self.errors as u64, "error"),
            crate::progress::count(self.warnings as u64, "warning"),
        );
        if !self.findings.is_empty() {
            out.push_str("\n| level | check | object | finding | what to do |\n|---|---|---|---|---|\n");
            for f in &self.findings {
                let mut finding = f.message.clone();
                if let (Some(e), Some(a)) = (&f.expected, &f.actual) {
                    finding.push_str(&format!(" (expected {e}, found {a})"));
                }
                out.push_str(&format!(
                    "| {} | {} | `{}` | {} | {} |\n",
                    match f.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    },
                    f.check,
                    f.object.replace('|', "\\|"),
                    finding.replace('|', "\\|"),
                    f.fix.replace('|', "\\|")
                ));
            }
        }
        if !self.checked_tables.is_empty() {
            out.push_str(
                "\n| database | table | rows (manifest) | rows (restored) | digest |\n|---|---|---:|---:|---|\n",
            );
            for t in &self.checked_tables {
                out.push_str(&format!(
                    "| {} | `{}` | {} | {} | {} |\n",
                    t.database,
                    t.table.replace('|', "\\|"),
                    t.rows_expected,
                    t.rows_found.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                    match t.digest_matches {
                        Some(true) => "matches",
                        Some(false) => "DIFFERS",
                        None => "-",
                    }
                ));
            }
        }
        if !self.durations_ms.is_empty() {
            let phases: Vec<String> = self
                .durations_ms
                .iter()
                .map(|(k, v)| format!("{k} {:.1}s", *v as f64 / 1000.0))
                .collect();
            out.push_str(&format!("\nTime: {}.\n", phases.join(", ")));
        }
        out
    }
}

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

/// Checks that hold a set against what its owners expect of it.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub expect_tables: Vec<String>,
    pub expect_migration: Option<String>,
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    /// Largest change in size against the previous set of the same name,
    /// as a fraction (0.5 is 50%).
    pub max_size_change: Option<f64>,
    pub max_age: Option<chrono::Duration>,
}

impl Policies {
    pub fn is_empty(&self) -> bool {
        self.expect_tables.is_empty()
            && self.expect_migration.is_none()
            && self.min_size.is_none()
            && self.max_size.is_none()
            && self.max_size_change.is_none()
            && self.max_age.is_none()
    }
}

/// Runs every policy against the set at `path`.
/// `siblings_in` is the store the set came from; `None` for a set file,
/// whose siblings are the sets in its directory.
pub fn check_policies(
    path: &Path,
    siblings_in: Option<&dyn crate::store::Store>,
    manifest: Option<&Manifest>,
    policies: &Policies,
    findings: &mut Findings,
) {
    use crate::progress::human_bytes;
    let name = display_name(path);
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if let Some(m) = manifest {
        for expected in &policies.expect_tables {
            let found = m.databases.iter().flat_map(|d| &d.tables).any(|t| {
                t.name == *expected
                    || t.name.rsplit_once('.').is_some_and(|(_, bare)| bare == expected)
                    || format!("public.{expected}") == t.name
            });
            if !found {
                findings.error(
                    "expected-table",
                    expected,
                    "a table the policy expects is not in the backup".into(),
                    "check the table still exists and is not left out by --table/--exclude-table; a migration may have renamed it",
                );
            }
        }
        if let Some(want) = &policies.expect_migration {
            let revisions: Vec<&str> = m
                .databases
                .iter()
                .filter_map(|d| d.migration.as_ref())
                .map(|mg| mg.revision.as_str())
                .collect();
            if !revisions.iter().any(|r| r.split(',').any(|one| one == want)) {
                findings
                    .error(
                        "expected-migration",
                        &name,
                        "the backup is not at the expected migration revision".into(),
                        "run the pending migrations, or update the expected revision",
                    )
                    .values(
                        want,
                        if revisions.is_empty() {
                            "none found".into()
                        } else {
                            revisions.join(", ")
                        },
                    );
            }
        }
    }
    if let Some(min) = policies.min_size
        && size < min
    {
        findings
            .error(
                "min-size",
                &name,
                "the set is smaller than the policy allows".into(),
                "check the database was not emptied and the right database was backed up",
            )
            .values(format!(">= {}", human_bytes(min)), human_bytes(size));
    }
    if let Some(max) = policies.max_size
        && size > max
    {
        findings
            .error(
                "max-size",
                &name,
                "the set is larger than the policy allows".into(),
                "check for runaway tables, or raise --max-size",
            )
            .values(format!("<= {}", human_bytes(max)), human_bytes(size));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let local = crate::store::LocalStore::new(dir);
    let store: &dyn crate::store::Store = siblings_in.unwrap_or(&local);
    let this = SetName::parse(&name);
    let wants_siblings = policies.max_size_change.is_some() || policies.max_age.is_some();
    let siblings: Vec<crate::store::SetEntry> = match &this {
        Some(this) if wants_siblings => match store.list() {
            Ok(all) => all.into_iter().filter(|e| e.name.set == this.set).collect(),
            Err(e) => {
                // Without the listing neither check can pass: saying
                // nothing would let a stale or shrunken backup through.
                findings.error(
                    "listing",
                    &name,
                    format!(
                        "cannot list the other sets in {} to check --max-age / --max-size-change: {e:#}",
                        store.location()
                    ),
                    "make the backup directory readable, then verify again",
                );
                Vec::new()
            }
        },
        _ => Vec::new(),
    };
    if let (Some(limit), Some(this)) = (policies.max_size_change, &this)
        && let Some(previous) = siblings.iter().rev().find(|e| e.name.time < this.time)
        && previous.size > 0
    {
        let change = (size as f64 - previous.size as f64) / previous.size as f64;
        if change.abs() > limit {
            findings
                .error(
                    "size-change",
                    &name,
                    format!("the set is {:+.0}% the size of the previous one ({})", change * 100.0, previous.file_name),
                    "a sudden change in size often means lost or runaway data: compare the two sets (lifeboat info) before trusting this one",
                )
                .values(format!("within ±{:.0}% of {}", limit * 100.0, human_bytes(previous.size)), human_bytes(size));
        }
    }
    if let (Some(limit), Some(newest)) = (policies.max_age, siblings.last()) {
        let age = Utc::now() - newest.name.time;
        if age > limit {
            findings
                .error(
                    "max-age",
                    &newest.file_name,
                    format!(
                        "the newest backup of {} is {} old",
                        newest.name.set,
                        crate::retention::format_span(chrono::Duration::minutes(age.num_minutes()))
                    ),
                    "the backup job has stopped or is failing: check its last runs",
                )
                .values(
                    format!("at most {}", crate::retention::format_span(limit)),
                    newest.name.time.to_rfc3339(),
                );
        }
    }
}

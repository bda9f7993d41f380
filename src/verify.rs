//! Verification: every check yields a finding with a level and what to do;
//! all checks run, and the caller fails at the end if any error was found.

use crate::archive::checksum;
use crate::archive::manifest::{MANIFEST_MEMBER, Manifest};
use crate::archive::reader::{self, Scan, SetSource};
use crate::progress::Reporter;
use crate::store::local::SetName;
use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
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
    /// SHA-256 of the whole set file as read.
    pub sha256: String,
    pub members_checked: usize,
    pub tables: usize,
    pub rows: u64,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
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
            object: object.into(),
            expected: None,
            actual: None,
            message,
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
/// Returns the findings and, when the set can be read, its members.
pub fn quick(path: &Path, decompress: bool, reporter: &Reporter) -> Result<(Findings, Scan, Option<SetSource>)> {
    let mut findings = Findings::default();
    let size = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("cannot read backup set {}: {e}", path.display()))?
        .len();
    let task = reporter.task(&format!("checking {}", display_name(path)), Some(size));
    let scan = reader::scan(path, decompress, &mut |n| task.inc(n))?;
    task.finish();

    check_sidecar(path, &scan, &mut findings);
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
    let source = SetSource::new(path, manifest, &scan);
    Ok((findings, scan, Some(source)))
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn check_sidecar(path: &Path, scan: &Scan, findings: &mut Findings) {
    let sidecar = checksum::sidecar_path(path);
    let name = display_name(path);
    if !sidecar.exists() {
        findings.warning(
            "sidecar",
            &name,
            format!("no checksum file {} beside the set", display_name(&sidecar)),
            "keep the .sha256 file with the set; recreate it with `sha256sum <set> > <set>.sha256` once the set verifies",
        );
        return;
    }
    match checksum::read_sidecar(&sidecar, &name) {
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
        if found.sha256 != member.sha256 {
            findings
                .error(
                    "member-hash",
                    &member.path,
                    "the member's SHA-256 differs from the manifest".into(),
                    FIX_DAMAGED,
                )
                .values(&member.sha256, &found.sha256);
        }
        if let Some(err) = &found.decode_error {
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
            if !m.path.starts_with(&format!("{}/", db.name)) {
                findings.error(
                    "manifest",
                    &m.path,
                    format!("member is not under its database's folder {}/", db.name),
                    FIX_DAMAGED,
                );
            }
        }
        if db.engine == "sqlite" && db.members.iter().filter(|m| m.role == "database").count() != 1 {
            findings.error(
                "manifest",
                &db.name,
                "a SQLite database must have exactly one database member".into(),
                FIX_DAMAGED,
            );
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
        members_checked: scan.members.len(),
        tables: manifest
            .map(|m| m.databases.iter().map(|d| d.tables.len()).sum())
            .unwrap_or(0),
        rows: manifest.map(|m| m.total_rows()).unwrap_or(0),
        errors,
        warnings,
        findings: findings.0,
    }
}

impl Report {
    /// The human summary, also used as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "### lifeboat verify ({} level): {}\n\n`{}`: {} members, {} tables, {} rows checked in {} ms; {} errors, {} warnings.\n",
            self.level,
            if self.passed { "passed" } else { "FAILED" },
            self.set.display(),
            self.members_checked,
            self.tables,
            self.rows,
            self.duration_ms,
            self.errors,
            self.warnings
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
        out
    }
}

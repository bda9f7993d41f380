//! Verification: every check yields a finding with a level and what to do;
//! all checks run, and the caller fails at the end if any error was found.
//! The quick level (`quick`), the restore level (`restore`) and the
//! policies (`policies`) add findings; `markdown` shows the report.

mod markdown;
mod policies;
mod quick;
mod restore;

pub use policies::{Policies, check_policies};
pub use quick::{quick, quick_for_restore};
pub use restore::{RestoreLevel, restore_level};

use crate::archive::manifest::Manifest;
use crate::archive::reader::Scan;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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

pub(crate) const FIX_DAMAGED: &str =
    "the set is damaged: restore from another set (lifeboat list) and take a new backup";

pub(crate) fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
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
}

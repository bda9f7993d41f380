//! Policies: what a set's owners expect of it (tables, migration, sizes,
//! size change against the previous set, age).

use super::{Findings, display_name};
use crate::archive::manifest::Manifest;
use crate::store::local::SetName;
use chrono::Utc;
use std::path::Path;

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

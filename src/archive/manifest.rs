//! `manifest.json`, the first member of every set: what was backed up, from
//! where, and the size and SHA-256 of every member.

use super::compression::Algorithm;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The manifest format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
pub const FORMAT_NAME: &str = "lifeboat-backup-set";
pub const MANIFEST_MEMBER: &str = "manifest.json";
pub const RESTORE_MEMBER: &str = "RESTORE.md";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub tool: Tool,
    /// The set name, the part of the file name before the time.
    pub set: String,
    pub label: Option<String>,
    /// scheduled, manual, safety, pre-migration, ...
    pub kind: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub host: String,
    pub user: String,
    pub context: RunContext,
    pub compression: Algorithm,
    pub compression_level: i32,
    pub databases: Vec<DatabaseManifest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    pub fn this() -> Tool {
        Tool {
            name: "lifeboat".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Where the run happened: a CI run, or a local checkout.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<GitContext>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CiContext {
    pub provider: String,
    pub repository: Option<String>,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    pub workflow: Option<String>,
    pub job: Option<String>,
    pub event: Option<String>,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    pub commit: Option<String>,
    pub run_url: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GitContext {
    pub commit: Option<String>,
    pub branch: Option<String>,
}

/// One database inside a set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatabaseManifest {
    /// The name inside the set; members live under `<name>/`.
    pub name: String,
    pub engine: String,
    /// The source with any password replaced.
    pub source: String,
    pub server_version: Option<String>,
    pub encoding: Option<String>,
    /// Whether every member comes from one consistent snapshot.
    pub consistent_snapshot: bool,
    /// SQLite `PRAGMA user_version`, where the engine has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_version: Option<i64>,
    pub migration: Option<Migration>,
    pub schema_fingerprint: String,
    /// Every schema object with a hash of its definition, so that `compare`
    /// can name what differs.
    #[serde(default)]
    pub schema_objects: Vec<SchemaObject>,
    pub tables: Vec<TableStats>,
    /// Where each sequence stood, so a data-only restore can put it back
    /// without running the rest of post-data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sequences: Vec<SequencePosition>,
    /// Roles the set's owners and grants name (`--with-privileges`): a
    /// restore needs them to exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// PostgreSQL large objects, where the backup carried them (as
    /// pg_dump does: not with a table selection, nor --schema-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_objects: Option<LargeObjects>,
    /// Taken with --no-tablespaces: tables and indexes that stood in a
    /// tablespace of their own restore into the default one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_tablespaces: bool,
    pub members: Vec<Member>,
}

/// A database's large objects: how many, their bytes, and one digest of
/// their oids, data and comments (and owners and grants where `privileges`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LargeObjects {
    pub count: u64,
    pub bytes: u64,
    pub digest: String,
    #[serde(default)]
    pub privileges: bool,
}

impl LargeObjects {
    /// Whether `found` (read from a live database) holds what was backed up.
    pub fn found_in(&self, found: Option<&LargeObjects>) -> bool {
        found.is_some_and(|f| (f.count, f.bytes, &f.digest) == (self.count, self.bytes, &self.digest))
    }

    /// For a finding: how many, how large.
    pub fn shown(&self) -> String {
        format!("{} of {} bytes", self.count, self.bytes)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Migration {
    pub table: String,
    pub revision: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct SchemaObject {
    pub kind: String,
    pub name: String,
    pub sha256: String,
    /// The definition itself, from a live database (never written to a
    /// manifest, whose set holds it in its scripts).
    #[serde(skip)]
    pub sql: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TableStats {
    pub name: String,
    pub rows: u64,
    /// Bytes of the table's data as the engine reads it, before compression.
    pub raw_bytes: u64,
    /// Order-independent digest of every row.
    pub digest: String,
    /// The name as SQL, quoted where needed, for engines that need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_name: Option<String>,
    /// The columns a data member's COPY names, as SQL; a restore checks
    /// each member's COPY line against them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Tables in the set this one's foreign keys point at: a restore of
    /// chosen tables into an empty database needs them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}

/// A sequence's position when the snapshot was taken.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SequencePosition {
    /// The name as SQL, quoted where needed.
    pub name: String,
    pub last_value: i64,
    pub is_called: bool,
    /// The tables whose columns own it (serial and identity columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
}

impl SequencePosition {
    /// The position as findings and differences show it.
    pub fn shown(&self) -> String {
        format!("last_value {}, is_called {}", self.last_value, self.is_called)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Member {
    /// Path inside the tar, `<database>/<file>`.
    pub path: String,
    /// Bytes inside the tar.
    pub size: u64,
    /// Bytes after decompression.
    pub raw_size: u64,
    pub compression: Algorithm,
    pub sha256: String,
    /// What the member holds: `database` (SQLite); `pre-data`, `data`,
    /// `large-objects`, `indexes`, `post-data`, `foreign-keys` and `last`
    /// (PostgreSQL).
    pub role: String,
    /// The table a data member belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}

impl Manifest {
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut out = serde_json::to_vec_pretty(self).context("encoding manifest")?;
        out.push(b'\n');
        Ok(out)
    }

    pub fn from_json(bytes: &[u8]) -> Result<Manifest> {
        let probe: serde_json::Value = serde_json::from_slice(bytes).context("manifest.json is not valid JSON")?;
        let version = probe.get("format_version").and_then(|v| v.as_u64());
        match version {
            Some(v) if v == FORMAT_VERSION as u64 => {}
            Some(v) => bail!(
                "manifest format version {v} is not supported by lifeboat {} (it reads version {FORMAT_VERSION}); use a newer lifeboat",
                env!("CARGO_PKG_VERSION")
            ),
            None => bail!("manifest.json has no format_version: this is not a lifeboat set"),
        }
        let manifest: Manifest =
            serde_json::from_value(probe).context("manifest.json does not have the fields of format version 1")?;
        for m in manifest.members() {
            if m.sha256.len() != 64 || !m.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!(
                    "manifest.json gives member {} a SHA-256 that is not 64 hex digits: the set was altered",
                    crate::github::workflow::neutralize(&m.path)
                );
            }
        }
        Ok(manifest)
    }

    pub fn total_rows(&self) -> u64 {
        self.databases.iter().flat_map(|d| &d.tables).map(|t| t.rows).sum()
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.databases.iter().flat_map(|d| &d.members)
    }

    pub fn database(&self, name: Option<&str>) -> Result<&DatabaseManifest> {
        match name {
            Some(n) => self.databases.iter().find(|d| d.name == n).with_context(|| {
                format!(
                    "the set has no database named {n:?}; it holds: {}",
                    self.database_names().join(", ")
                )
            }),
            None if self.databases.len() == 1 => Ok(&self.databases[0]),
            None => Err(anyhow::Error::new(crate::error::UsageError(format!(
                "the set holds several databases ({}); choose one with --database",
                self.database_names().join(", ")
            )))),
        }
    }

    pub fn database_names(&self) -> Vec<String> {
        self.databases.iter().map(|d| d.name.clone()).collect()
    }
}

impl DatabaseManifest {
    pub fn table(&self, name: &str) -> Option<&TableStats> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Whether the set holds a script that builds this database's schema;
    /// a PostgreSQL set taken with --data-only holds rows alone.
    pub fn has_schema_script(&self) -> bool {
        self.members.iter().any(|m| m.role == "pre-data")
    }

    /// Whether the set holds rows to hold a live database's against: not
    /// one taken with --schema-only (a --data-only set has no schema
    /// script, and holds rows even of empty tables).
    pub fn holds_rows(&self) -> bool {
        self.members.iter().any(|m| m.role == "data") || !self.has_schema_script()
    }

    /// The sequences of `found` that stand elsewhere than the set records
    /// them, each with the set's position: sequence positions are data as
    /// rows are. One missing from `found` is a schema object missing, not
    /// listed here.
    pub fn moved_sequences<'a>(
        &'a self,
        found: &'a [SequencePosition],
    ) -> Vec<(&'a SequencePosition, &'a SequencePosition)> {
        if !self.holds_rows() {
            return Vec::new();
        }
        self.sequences
            .iter()
            .filter_map(|s| found.iter().find(|l| l.name == s.name).map(|l| (s, l)))
            .filter(|(s, l)| (l.last_value, l.is_called) != (s.last_value, s.is_called))
            .collect()
    }

    /// Whether the set carries owners and grants (`--with-privileges`):
    /// then they are held against a live database's too.
    pub fn carries_privileges(&self) -> bool {
        self.schema_objects.iter().any(|o| o.kind.ends_with("privileges"))
            || self.large_objects.as_ref().is_some_and(|l| l.privileges)
    }
}

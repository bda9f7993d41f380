//! `lifeboat list`, `info` and `size`: what sets a directory holds, what
//! one set holds, and the storage they use.

use crate::app::outcome::{self, Outcome};
use crate::archive::crypt::Keys;
use crate::archive::manifest::Manifest;
use crate::archive::reader;
use crate::cli::{InfoArgs, ListArgs, SizeArgs};
use crate::commands::{Cmd, Context};
use crate::config::{Config, Draft, override_with};
use crate::progress::human_bytes;
use crate::store::{self, SetEntry, StoreOptions};
use anyhow::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub entry: SetEntry,
    pub kind: Option<String>,
    pub databases: Vec<String>,
    pub tables: usize,
    pub rows: u64,
    /// Why the manifest could not be read, when it could not.
    pub problem: Option<String>,
}

pub fn list(config: &Config) -> Result<Vec<Listed>> {
    let store = store::open(&config.out_dir, &config.store)?;
    let entries = store.list()?;
    Ok(entries
        .into_iter()
        .map(|entry| match store.manifest(&entry, &config.crypt.keys) {
            Ok(m) => Listed {
                kind: Some(m.kind.clone()),
                databases: m.database_names(),
                tables: m.databases.iter().map(|d| d.tables.len()).sum(),
                rows: m.total_rows(),
                problem: None,
                entry,
            },
            Err(e) => Listed {
                kind: None,
                databases: vec![],
                tables: 0,
                rows: 0,
                problem: Some(format!("{e:#}")),
                entry,
            },
        })
        .collect())
}

pub fn list_text(dir: &Path, sets: &[Listed]) -> String {
    let mut out = String::new();
    if sets.is_empty() {
        crate::sayln!(&mut out, "no backup sets in {}", dir.display());
        return out;
    }
    crate::sayln!(
        &mut out,
        "{:<50} {:<20} {:<10} {:>10} {:>7} {:>12}  verified",
        "SET",
        "TIME (UTC)",
        "KIND",
        "SIZE",
        "TABLES",
        "ROWS"
    );
    for s in sets {
        let verified = match &s.entry.verified {
            Some(v) if v.passed => format!("{} ok", v.level),
            Some(v) => format!("{} FAILED", v.level),
            None => "-".into(),
        };
        crate::sayln!(
            &mut out,
            "{:<50} {:<20} {:<10} {:>10} {:>7} {:>12}  {}",
            s.entry.file_name,
            s.entry.name.time.format("%Y-%m-%d %H:%M:%S"),
            s.kind.as_deref().unwrap_or("?"),
            human_bytes(s.entry.size),
            s.tables,
            s.rows,
            verified
        );
        if let Some(p) = &s.problem {
            crate::sayln!(&mut out, "  unreadable: {p}");
        }
    }
    out
}

/// What one set holds: a set file, or a set's URL (`s3://bucket/prefix/<set>.tar`),
/// whose manifest is read without downloading the set.
pub fn info_at(set: &Path, options: &StoreOptions, keys: &Keys) -> Result<Manifest> {
    if !store::is_url(set) {
        return info(set, keys);
    }
    let (store, file) = store::open_set_url(set, options)?;
    let entry = store::find(store.as_ref(), &file)?;
    store.manifest(&entry, keys)
}

pub fn info(set: &Path, keys: &Keys) -> Result<Manifest> {
    if !set.is_file() {
        anyhow::bail!(
            "no backup set at {}: check the path (lifeboat list shows the sets in a directory)",
            set.display()
        );
    }
    reader::read_manifest(set, keys)
}

pub fn info_text(set: &Path, m: &Manifest) -> String {
    let mut out = String::new();
    crate::sayln!(&mut out, "set       {} ({})", m.set, set.display());
    crate::sayln!(
        &mut out,
        "kind      {}{}",
        m.kind,
        m.label.as_ref().map(|l| format!(", label {l}")).unwrap_or_default()
    );
    crate::sayln!(
        &mut out,
        "taken     {} to {} ({:.1}s) by {}@{}",
        // Whole seconds: the manifest keeps nanoseconds, nobody reads them.
        m.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        m.finished_at.format("%Y-%m-%d %H:%M:%S UTC"),
        m.duration_ms as f64 / 1000.0,
        m.user,
        m.host
    );
    crate::sayln!(&mut out, "tool      {} {}", m.tool.name, m.tool.version);
    if let Some(ci) = &m.context.ci {
        crate::sayln!(
            &mut out,
            "run       {} {} {} {}",
            ci.repository.as_deref().unwrap_or("?"),
            ci.event.as_deref().unwrap_or("?"),
            ci.git_ref.as_deref().unwrap_or("?"),
            ci.run_url.as_deref().unwrap_or("")
        );
    }
    if let Some(git) = &m.context.git {
        crate::sayln!(
            &mut out,
            "git       {} {}",
            git.branch.as_deref().unwrap_or("?"),
            git.commit.as_deref().unwrap_or("?")
        );
    }
    crate::sayln!(&mut out, "packing   {} level {}", m.compression, m.compression_level);
    for db in &m.databases {
        out.push('\n');
        crate::sayln!(
            &mut out,
            "database  {} ({} {}) from {}",
            db.name,
            db.engine,
            db.server_version.as_deref().unwrap_or(""),
            db.source
        );
        if let Some(mig) = &db.migration {
            crate::sayln!(&mut out, "migration {} in {}", mig.revision, mig.table);
        }
        crate::sayln!(
            &mut out,
            "schema    {} ({})",
            db.schema_fingerprint,
            crate::progress::count(db.schema_objects.len() as u64, "object")
        );
        for t in &db.tables {
            crate::sayln!(
                &mut out,
                "  table   {:<40} {:>17} {:>10}",
                t.name,
                crate::progress::count(t.rows, "row"),
                human_bytes(t.raw_bytes)
            );
        }
        for mem in &db.members {
            crate::sayln!(
                &mut out,
                "  member  {:<40} {:>10} {}",
                mem.path,
                human_bytes(mem.size),
                mem.sha256.get(..16).unwrap_or(&mem.sha256)
            );
        }
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeReport {
    pub sets: Vec<SetSize>,
    pub total_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetSize {
    pub file_name: String,
    pub set: String,
    /// The tar with its sidecar and verification record.
    pub bytes: u64,
}

pub fn size(config: &Config) -> Result<SizeReport> {
    let entries = store::open(&config.out_dir, &config.store)?.list()?;
    let sets: Vec<SetSize> = entries
        .iter()
        .map(|e| SetSize {
            file_name: e.file_name.clone(),
            set: e.name.set.clone(),
            bytes: e.stored_bytes,
        })
        .collect();
    let total_bytes = sets.iter().map(|s| s.bytes).sum();
    Ok(SizeReport { sets, total_bytes })
}

impl SizeReport {
    pub fn text(&self) -> String {
        let mut out = String::new();
        for s in &self.sets {
            crate::sayln!(&mut out, "{:>10}  {}", human_bytes(s.bytes), s.file_name);
        }
        let mut names: Vec<&str> = self.sets.iter().map(|s| s.set.as_str()).collect();
        names.sort();
        names.dedup();
        for n in names {
            let (count, bytes) = self
                .sets
                .iter()
                .filter(|s| s.set == n)
                .fold((0, 0), |(c, b), s| (c + 1, b + s.bytes));
            crate::sayln!(&mut out, "{:>10}  {n} ({count} sets)", human_bytes(bytes));
        }
        crate::sayln!(
            &mut out,
            "{:>10}  total ({} sets, {} bytes)",
            human_bytes(self.total_bytes),
            self.sets.len(),
            self.total_bytes
        );
        out
    }
}

impl Cmd for ListArgs {
    fn configure<'a>(&'a self, draft: &mut Draft<'a>) -> Result<()> {
        override_with(&mut draft.config.out_dir, self.dir.clone());
        draft.store = Some(&self.store);
        draft.keys = Some(&self.keys);
        Ok(())
    }

    fn sets_dir(&self, config: &Config) -> Option<PathBuf> {
        Some(config.out_dir.clone())
    }

    fn run(&self, cx: &Context) -> Result<Outcome> {
        let sets = list(cx.config)?;
        Ok(Outcome::printed(outcome::stdout(self.json, &sets, || {
            list_text(&cx.config.out_dir, &sets)
        })?))
    }
}

impl Cmd for InfoArgs {
    fn configure<'a>(&'a self, draft: &mut Draft<'a>) -> Result<()> {
        draft.store = Some(&self.store);
        draft.keys = Some(&self.keys);
        Ok(())
    }

    fn sets_dir(&self, _config: &Config) -> Option<PathBuf> {
        self.set.parent().map(Path::to_path_buf)
    }

    fn run(&self, cx: &Context) -> Result<Outcome> {
        let manifest = info_at(&self.set, &cx.config.store, &cx.config.crypt.keys)?;
        Ok(Outcome::printed(outcome::stdout(self.json, &manifest, || {
            info_text(&self.set, &manifest)
        })?))
    }
}

/// `size` reads no set's contents: its key flags are not used.
impl Cmd for SizeArgs {
    fn configure<'a>(&'a self, draft: &mut Draft<'a>) -> Result<()> {
        override_with(&mut draft.config.out_dir, self.list.dir.clone());
        draft.store = Some(&self.list.store);
        Ok(())
    }

    fn sets_dir(&self, config: &Config) -> Option<PathBuf> {
        Some(config.out_dir.clone())
    }

    fn run(&self, cx: &Context) -> Result<Outcome> {
        let report = size(cx.config)?;
        Ok(Outcome::printed(outcome::stdout(self.list.json, &report, || {
            report.text()
        })?))
    }
}

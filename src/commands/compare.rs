//! `lifeboat compare`: a set against a live database, table by table and
//! object by object.

use crate::archive::reader;
use crate::engine::{self, DatabaseSpec};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub database: String,
    pub live: String,
    pub tables_compared: usize,
    pub differences: Vec<Difference>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Difference {
    /// `table-missing-live`, `table-only-live`, `rows`, `content`,
    /// `schema-object`, `migration`.
    pub kind: String,
    pub object: String,
    pub backup: Option<String>,
    pub live: Option<String>,
}

pub fn compare(set: &Path, live_url: &str, database: Option<&str>) -> Result<Comparison> {
    if !set.is_file() {
        anyhow::bail!("no backup set at {}", set.display());
    }
    let manifest = reader::read_manifest(set)?;
    let db = manifest.database(database)?;
    let live = engine::open(&DatabaseSpec::parse(live_url), &Default::default())?;
    if live.kind() != db.engine {
        crate::usage_bail!(
            "{} is a {} backup; {} is a {} database",
            db.name,
            db.engine,
            live.redacted_source(),
            live.kind()
        );
    }
    let found = live.inspect()?;
    let mut differences = Vec::new();
    let diff = |kind: &str, object: &str, backup: Option<String>, live: Option<String>| Difference {
        kind: kind.into(),
        object: object.into(),
        backup,
        live,
    };
    for t in &db.tables {
        match found.tables.iter().find(|l| l.name == t.name) {
            None => differences.push(diff(
                "table-missing-live",
                &t.name,
                Some(format!("{} rows", t.rows)),
                None,
            )),
            Some(l) if l.rows != t.rows => differences.push(diff(
                "rows",
                &t.name,
                Some(t.rows.to_string()),
                Some(l.rows.to_string()),
            )),
            Some(l) if l.digest != t.digest => {
                differences.push(diff("content", &t.name, Some(t.digest.clone()), Some(l.digest.clone())))
            }
            Some(_) => {}
        }
    }
    for l in &found.tables {
        if db.table(&l.name).is_none() {
            differences.push(diff("table-only-live", &l.name, None, Some(format!("{} rows", l.rows))));
        }
    }
    let key = |o: &crate::archive::manifest::SchemaObject| (o.kind.clone(), o.name.clone());
    let names: BTreeSet<_> = db
        .schema_objects
        .iter()
        .map(key)
        .chain(found.schema_objects.iter().map(key))
        .collect();
    for (kind, name) in names {
        let b = db.schema_objects.iter().find(|o| o.kind == kind && o.name == name);
        let l = found.schema_objects.iter().find(|o| o.kind == kind && o.name == name);
        match (b, l) {
            (Some(b), Some(l)) if b.sha256 == l.sha256 => {}
            (b, l) => differences.push(diff(
                "schema-object",
                &format!("{kind} {name}"),
                b.map(|_| "defined".to_string()),
                l.map(|l| {
                    if b.is_some() {
                        "defined differently".to_string()
                    } else {
                        format!("defined ({})", &l.sha256[..12])
                    }
                }),
            )),
        }
    }
    let rev =
        |m: &Option<crate::archive::manifest::Migration>| m.as_ref().map(|m| format!("{} {}", m.table, m.revision));
    if rev(&db.migration) != rev(&found.migration) {
        differences.push(diff("migration", "revision", rev(&db.migration), rev(&found.migration)));
    }
    Ok(Comparison {
        database: db.name.clone(),
        live: live.redacted_source(),
        tables_compared: db.tables.len(),
        differences,
    })
}

impl Comparison {
    pub fn print(&self, json: bool) -> Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(self)?);
            return Ok(());
        }
        if self.differences.is_empty() {
            crate::say!(
                "{} matches {}: {} tables, same rows, content and schema",
                self.database,
                self.live,
                self.tables_compared
            );
            return Ok(());
        }
        crate::say!(
            "{} differs from {} in {} ways:",
            self.database,
            self.live,
            self.differences.len()
        );
        for d in &self.differences {
            crate::say!(
                "  {:<20} {:<40} backup: {:<20} live: {}",
                d.kind,
                d.object,
                d.backup.as_deref().unwrap_or("-"),
                d.live.as_deref().unwrap_or("-")
            );
        }
        Ok(())
    }
}

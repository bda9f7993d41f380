//! `lifeboat compare`: a set against a live database, table by table and
//! object by object.

use crate::app::outcome::{self, Outcome};
use crate::archive::crypt::Keys;
use crate::archive::reader;
use crate::cli::CompareArgs;
use crate::commands::{Cmd, Context};
use crate::config::{Config, Draft};
use crate::engine::{self, DatabaseSpec};
use crate::exit_codes::ExitCode;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub database: String,
    pub live: String,
    pub tables_compared: usize,
    /// Objects whose definitions differ only as the server prints them
    /// (casts, parentheses), as after `pg_dump | psql`: not differences.
    pub printed_alike: usize,
    /// Materialized views whose rows the set does not record (a backup
    /// writes their REFRESH, not their rows or a digest of them): not
    /// compared, and not said to match.
    pub materialized_views_not_compared: Vec<String>,
    pub differences: Vec<Difference>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Difference {
    /// `table-missing-live`, `table-only-live`, `rows`, `content`,
    /// `sequence`, `schema-object`, `large-objects`, `migration`.
    pub kind: String,
    pub object: String,
    pub backup: Option<String>,
    pub live: Option<String>,
    /// What to do about it, where the difference alone does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

pub fn compare(set: &Path, live_url: &str, database: Option<&str>, keys: &Keys) -> Result<Comparison> {
    if !set.is_file() {
        anyhow::bail!("no backup set at {}", set.display());
    }
    let manifest = reader::read_manifest(set, keys)?;
    let db = manifest.database(database)?;
    // Owners and grants are compared when the set carries them.
    let options = engine::EngineOptions::compared_with(db);
    let live = engine::open(&DatabaseSpec::parse(live_url), &options)?;
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
        fix: None,
    };
    // A set taken with --schema-only holds no rows to hold against the
    // live tables; its tables are compared as schema objects.
    let holds_rows = db.holds_rows();
    for t in db.tables.iter().filter(|_| holds_rows) {
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
    for l in found.tables.iter().filter(|_| holds_rows) {
        if db.table(&l.name).is_none() {
            differences.push(diff("table-only-live", &l.name, None, Some(format!("{} rows", l.rows))));
        }
    }
    // Sequence positions are data as rows are: the manifest records each
    // one, and a live sequence that moved on (nextval, setval, new rows)
    // is not the database the set holds. One missing live is a schema
    // object missing, and named as one below.
    for (s, l) in db.moved_sequences(&found.sequences) {
        differences.push(Difference {
            fix: Some(format!(
                "the live sequence has moved since the backup: restore the set to have the database as it was, or, to set back only this sequence, run {}",
                crate::engine::postgres::setval(s)
            )),
            ..diff("sequence", &s.name, Some(s.shown()), Some(l.shown()))
        });
    }
    // Their rows are not in the set (see the field's note).
    let materialized_views_not_compared = if holds_rows {
        db.schema_objects
            .iter()
            .filter(|o| o.kind == "materialized view")
            .map(|o| o.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    let key = |o: &crate::archive::manifest::SchemaObject| (o.kind.clone(), o.name.clone());
    // Loaded when a definition differs, to tell how it differs.
    let mut alike = None;
    let mut printed_alike = 0;
    let names: BTreeSet<_> = db
        .schema_objects
        .iter()
        .map(key)
        .chain(found.schema_objects.iter().map(key))
        .collect();
    for (kind, name) in names {
        let b = db.schema_objects.iter().find(|o| o.kind == kind && o.name == name);
        let l = found.schema_objects.iter().find(|o| o.kind == kind && o.name == name);
        if let (Some(b), Some(l)) = (b, l)
            && b.sha256 != l.sha256
            && let Some(build) = engine::kind(&db.engine).and_then(|k| k.printed_alike())
        {
            if alike.is_none() {
                let scan = reader::scan(set, keys, false, &mut |_| {})?;
                let source = reader::SetSource::new(set, manifest.clone(), &scan, keys);
                alike = Some(build(&source, db)?);
            }
            if alike.as_ref().is_some_and(|alike| alike(b, l)) {
                printed_alike += 1;
                continue;
            }
        }
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
                        format!("defined ({})", l.sha256.get(..12).unwrap_or(&l.sha256))
                    }
                }),
            )),
        }
    }
    if let Some(b) = &db.large_objects {
        let l = found.large_objects.as_ref();
        if !b.found_in(l) {
            differences.push(diff(
                "large-objects",
                "large objects",
                Some(b.shown()),
                l.map(|l| l.shown()),
            ));
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
        printed_alike,
        materialized_views_not_compared,
        differences,
    })
}

impl Comparison {
    pub fn text(&self) -> String {
        let mut out = String::new();
        if self.differences.is_empty() {
            crate::sayln!(
                &mut out,
                "{} matches {}: {} tables, same rows, content and schema",
                self.database,
                self.live,
                self.tables_compared
            );
            if self.printed_alike > 0 {
                let _ = writeln!(
                    out,
                    "  ({} definitions are printed with other casts or parentheses, as after pg_dump | psql)",
                    self.printed_alike
                );
            }
            self.matviews_note(&mut out);
            return out;
        }
        crate::sayln!(
            &mut out,
            "{} differs from {} in {} ways:",
            self.database,
            self.live,
            self.differences.len()
        );
        for d in &self.differences {
            crate::sayln!(
                &mut out,
                "  {:<20} {:<40} backup: {:<20} live: {}",
                d.kind,
                d.object,
                d.backup.as_deref().unwrap_or("-"),
                d.live.as_deref().unwrap_or("-")
            );
            if let Some(fix) = &d.fix {
                crate::sayln!(&mut out, "  {:<20} {}", "", fix);
            }
        }
        self.matviews_note(&mut out);
        out
    }

    /// Says which materialized views were left out of the comparison of
    /// rows, so that "same rows" is never read as covering them.
    fn matviews_note(&self, out: &mut String) {
        if self.materialized_views_not_compared.is_empty() {
            return;
        }
        crate::sayln!(
            out,
            "  not compared: the rows of materialized views {}, which the set does not record (it holds their definitions; REFRESH MATERIALIZED VIEW recomputes their rows from the tables)",
            self.materialized_views_not_compared.join(", ")
        );
    }
}

impl Cmd for CompareArgs {
    fn configure<'a>(&'a self, draft: &mut Draft<'a>) -> Result<()> {
        draft.keys = Some(&self.keys);
        Ok(())
    }

    fn sets_dir(&self, _config: &Config) -> Option<PathBuf> {
        self.set.parent().map(Path::to_path_buf)
    }

    fn target_url(&self) -> Option<&str> {
        Some(&self.database)
    }

    /// `lifeboat compare` as the CLI runs it: exit code 3 when they differ.
    fn run(&self, cx: &Context) -> Result<Outcome> {
        let (args, config) = (self, cx.config);
        let comparison = compare(
            &args.set,
            &args.database,
            args.database_name.as_deref(),
            &config.crypt.keys,
        )?;
        let code = if comparison.differences.is_empty() {
            ExitCode::Success
        } else {
            ExitCode::VerificationFailed
        };
        Ok(Outcome::printed(outcome::stdout(args.json, &comparison, || comparison.text())?).with_code(code))
    }
}

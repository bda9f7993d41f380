//! A database's schema as data: the `<database>.schema.json` member holds
//! every schema statement as `{section, kind, name, sql, needs}`, and a
//! restore plans from it; the `.sql` scripts are rendered from the same
//! items for psql users. Sets written before schema.json carried the
//! kinds, names and needs as comment lines in the scripts, which
//! [`Schema::load`] still reads for them.

use super::catalog::{self, Item};
use super::guard::{self, Statement};
use crate::archive::manifest::{DatabaseManifest, Member};
use crate::archive::reader::SetSource;
use crate::archive::writer::Staging;
use crate::github::workflow::neutralize;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::io::Write;

/// The manifest role of the schema.json member.
pub const ROLE: &str = "schema";

/// The sections of a schema in restore order, each with the script member
/// it is rendered into.
pub const SECTIONS: [(&str, &str); 5] = [
    ("pre-data", "0-pre-data.sql"),
    ("indexes", "2-indexes.sql"),
    ("post-data", "3-post-data.sql"),
    ("foreign-keys", "4-foreign-keys.sql"),
    ("last", "5-last.sql"),
];

const FORMAT: &str = "lifeboat-schema";
const FORMAT_VERSION: u32 = 1;

/// The most a script or schema.json member may hold, whatever the
/// manifest claims: schemas of thousands of objects are a few MB.
const MAX_BYTES: u64 = 256 << 20;

/// The longest kind an item may have; lifeboat's are a few words.
const MAX_KIND: usize = 64;

/// The schema.json member. Unknown fields are refused, not skipped: a
/// field this version does not know could change what a restore should
/// do, and a newer format says so with its version.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemaFile {
    format: String,
    format_version: u32,
    items: Vec<SchemaItem>,
}

/// One object's statements as schema.json holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaItem {
    /// One of [`SECTIONS`].
    pub section: String,
    pub kind: String,
    pub name: String,
    pub sql: String,
    /// The tables (as SQL) whose rows (and, for a foreign key, indexes)
    /// the item needs: a parallel restore runs it as soon as they are in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
}

impl SchemaItem {
    pub fn new(section: &str, item: &Item) -> SchemaItem {
        SchemaItem {
            section: section.to_string(),
            kind: item.kind.to_string(),
            name: item.name.clone(),
            sql: item.sql.clone(),
            needs: item.needs.clone(),
        }
    }
}

/// Marks a table an item needs inside a script, followed by its name as
/// SQL in a JSON string: a name may hold a newline, which would end the
/// comment line. Only sets without schema.json are read back from it.
pub const TABLE_LINE: &str = "-- table: ";

/// Renders items as one SQL script, as psql users run it.
pub fn script<'a>(items: impl IntoIterator<Item = &'a SchemaItem>) -> String {
    let mut out = String::from(catalog::SQL_HEADER);
    // A comment ends at a carriage return as at a newline (PostgreSQL's
    // lexer, psql and the guard agree): a name holding either would turn
    // the rest of itself into SQL, so both become spaces.
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    for item in items {
        out.push_str(&format!("-- {}: {}\n", item.kind, one_line(&item.name)));
        for table in &item.needs {
            out.push_str(&format!("{TABLE_LINE}{}\n", serde_json::Value::from(table.as_str())));
        }
        out.push_str(&format!("{}\n\n", item.sql));
    }
    out
}

/// Where a database's schema.json goes: beside its folder, so that
/// `tar -xOf set '<database>/*' | gunzip | psql` reads SQL alone.
fn member_path(database: &str) -> String {
    format!("{}.schema.json", crate::archive::safe_component(database))
}

/// Whether `member` is where `database`'s schema.json belongs.
pub fn is_schema_member(database: &str, member: &Member) -> bool {
    member.role == ROLE
        && member
            .path
            .strip_prefix(&member_path(database))
            .is_some_and(|ext| !ext.contains('/'))
}

/// Writes one section's script member.
pub fn write_script(staging: &Staging, database: &str, section: &str, items: &[SchemaItem]) -> Result<Member> {
    let file = file_of(section)?;
    let mut member = staging.member(database, file, section, None)?;
    member.write_all(script(items).as_bytes())?;
    member.finish()
}

/// Writes the schema.json member.
pub fn write_json(staging: &Staging, database: &str, items: Vec<SchemaItem>) -> Result<Member> {
    let file = SchemaFile {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        items,
    };
    let mut member = staging.member_at(&member_path(database), ROLE, None)?;
    serde_json::to_writer(&mut member, &file).context("writing schema.json")?;
    member.finish()
}

fn file_of(section: &str) -> Result<&'static str> {
    SECTIONS
        .iter()
        .find(|(s, _)| *s == section)
        .map(|(_, f)| *f)
        .with_context(|| format!("no schema section is called {}", neutralize(section)))
}

/// Members of one role, in set order.
pub fn members_of<'a>(database: &'a DatabaseManifest, role: &'a str) -> impl Iterator<Item = &'a Member> {
    database.members.iter().filter(move |m| m.role == role)
}

/// A member's text, read no further than its recorded raw size and
/// [`MAX_BYTES`].
pub fn member_text(set: &SetSource, member: &Member) -> Result<String> {
    let limit = member.raw_size.min(MAX_BYTES);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(set.open(&member.path)?, limit + 1), &mut bytes)
        .with_context(|| format!("reading {}", neutralize(&member.path)))?;
    if bytes.len() as u64 > limit {
        bail!(
            "{} is larger than {}: the set was altered, nothing of it was run",
            neutralize(&member.path),
            if member.raw_size <= MAX_BYTES {
                "the size its manifest records"
            } else {
                "a schema member can be"
            }
        );
    }
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", neutralize(&member.path)))
}

/// A script member's statements, every one checked against what lifeboat
/// writes before any of them runs.
pub fn checked_script(set: &SetSource, member: &Member) -> Result<Vec<Statement>> {
    guard::checked_script(&member.path, &member_text(set, member)?)
}

/// One object of the schema: its statements in order, the first creating
/// it, each checked by the guard.
#[derive(Debug)]
pub struct Object {
    pub kind: String,
    pub name: String,
    /// The tables (as SQL) it needs; see [`SchemaItem::needs`].
    pub needs: Vec<String>,
    pub statements: Vec<Statement>,
}

impl Object {
    /// The object's SQL without the comment lines that head it in a script.
    pub fn definition(&self) -> String {
        let text: Vec<&str> = self.statements.iter().map(|s| s.text.as_str()).collect();
        let text = text.join("\n");
        let sql: Vec<&str> = text.lines().skip_while(|l| l.starts_with("--")).collect();
        sql.join("\n")
    }
}

/// One section: the session settings its script starts with, then its
/// objects.
#[derive(Debug, Default)]
pub struct Section {
    pub settings: Vec<Statement>,
    pub objects: Vec<Object>,
}

impl Section {
    /// Every statement, in the order a script runs them.
    pub fn statements(&self) -> impl Iterator<Item = &Statement> {
        self.settings
            .iter()
            .chain(self.objects.iter().flat_map(|o| &o.statements))
    }
}

/// A database's schema, checked whole before anything of it runs.
#[derive(Debug, Default)]
pub struct Schema {
    /// In the order of [`SECTIONS`].
    sections: Vec<Section>,
}

impl Schema {
    /// Reads a database's schema from its schema.json, or from the comment
    /// lines of its scripts in a set written before schema.json. Every
    /// statement is held against the guard here: a refused one stops the
    /// restore before the first statement runs.
    pub fn load(set: &SetSource, database: &DatabaseManifest) -> Result<Schema> {
        // Script members are checked even where schema.json is what runs:
        // they are what a psql user would run from the same set.
        let mut scripts = Vec::new();
        for (section, _) in SECTIONS {
            let mut statements = Vec::new();
            for m in members_of(database, section) {
                statements.extend(checked_script(set, m)?);
            }
            scripts.push(statements);
        }
        match schema_member(database)? {
            Some(member) => from_json(set, database, member),
            None => Ok(Schema {
                sections: scripts.into_iter().map(from_script).collect(),
            }),
        }
    }

    pub fn section(&self, section: &str) -> &Section {
        static EMPTY: Section = Section {
            settings: Vec::new(),
            objects: Vec::new(),
        };
        SECTIONS
            .iter()
            .position(|(s, _)| *s == section)
            .and_then(|i| self.sections.get(i))
            .unwrap_or(&EMPTY)
    }

    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.sections.iter().flat_map(|s| &s.objects)
    }
}

/// The database's schema.json member, if the set has one.
fn schema_member(database: &DatabaseManifest) -> Result<Option<&Member>> {
    let mut found = members_of(database, ROLE);
    let first = found.next();
    if found.next().is_some() {
        bail!(
            "the manifest lists more than one schema.json for database {}: the set was altered",
            neutralize(&database.name)
        );
    }
    match first {
        Some(m) if !is_schema_member(&database.name, m) => bail!(
            "the manifest gives database {} a schema.json at {}, not beside its folder: the set was altered",
            neutralize(&database.name),
            neutralize(&m.path)
        ),
        other => Ok(other),
    }
}

/// Reads and checks a schema.json member's items: known fields and
/// sections, kinds lifeboat could have written, no session settings.
fn read_items(set: &SetSource, member: &Member) -> Result<Vec<SchemaItem>> {
    let name = neutralize(&member.path);
    let text = member_text(set, member)?;
    let file: SchemaFile = serde_json::from_str(&text).with_context(|| {
        format!("{name} is not a schema.json lifeboat writes: the set was altered, nothing of it was run")
    })?;
    if file.format != FORMAT || file.format_version != FORMAT_VERSION {
        bail!(
            "{name} is {} version {}; lifeboat {} reads {FORMAT} version {FORMAT_VERSION}: use a newer lifeboat",
            neutralize(&file.format),
            file.format_version,
            env!("CARGO_PKG_VERSION")
        );
    }
    for (n, item) in file.items.iter().enumerate() {
        file_of(&item.section).with_context(|| format!("{name}, item {}", n + 1))?;
        if item.kind.is_empty()
            || item.kind.len() > MAX_KIND
            || !item.kind.bytes().all(|b| b.is_ascii_lowercase() || b" -_".contains(&b))
        {
            bail!(
                "{name}, item {}: {:?} is no kind of object lifeboat writes: the set was altered, nothing of it was run",
                n + 1,
                neutralize(&item.kind)
            );
        }
    }
    Ok(file.items)
}

fn from_json(set: &SetSource, database: &DatabaseManifest, member: &Member) -> Result<Schema> {
    let settings = guard::checked_script("lifeboat's script header", catalog::SQL_HEADER)?;
    // As a script would, each section that has one starts with its header.
    let mut sections: Vec<Section> = SECTIONS
        .iter()
        .map(|(section, _)| Section {
            settings: match members_of(database, section).next() {
                Some(_) => settings.clone(),
                None => Vec::new(),
            },
            objects: Vec::new(),
        })
        .collect();
    for (n, item) in read_items(set, member)?.into_iter().enumerate() {
        let label = format!("{}, item {} ({} {})", member.path, n + 1, item.kind, item.name);
        let statements = guard::checked_script(&label, &item.sql)?;
        // The settings come from lifeboat's own header, never from an item.
        if let Some(s) = statements.iter().find(|s| is_setting(s)) {
            bail!(
                "{} holds a session setting, which lifeboat writes only at the top of a script, so nothing of it was run: {}",
                neutralize(&label),
                guard::shown(&s.text)
            );
        }
        let i = SECTIONS
            .iter()
            .position(|(s, _)| *s == item.section)
            .context("a section read_items let through")?;
        sections[i].objects.push(Object {
            kind: item.kind,
            name: item.name,
            needs: item.needs,
            statements,
        });
    }
    Ok(Schema { sections })
}

fn is_setting(statement: &Statement) -> bool {
    matches!(statement.tokens.first(), Some(guard::Token::Word { upper, .. }) if upper == "SET")
        || statement.text.starts_with("SELECT pg_catalog.set_config")
}

/// A section of a set without schema.json, from its script: each object
/// the statements from one `-- kind: name` line to the next, so what is
/// attached to an object (a comment, a setting) runs after it.
fn from_script(statements: Vec<Statement>) -> Section {
    let mut section = Section::default();
    for statement in statements {
        if is_setting(&statement) {
            section.settings.push(statement);
            continue;
        }
        match section.objects.last_mut() {
            Some(object) if !statement.text.starts_with("--") => object.statements.push(statement),
            _ => {
                let (kind, name) = statement
                    .text
                    .lines()
                    .next()
                    .and_then(|l| l.strip_prefix("-- "))
                    .and_then(|l| l.split_once(": "))
                    .map(|(k, n)| (k.to_string(), n.to_string()))
                    .unwrap_or_default();
                section.objects.push(Object {
                    kind,
                    name,
                    needs: table_lines(&statement.text).collect(),
                    statements: vec![statement],
                });
            }
        }
    }
    section
}

/// The tables a script statement names in its comment lines, as SQL:
/// each a JSON string (sets written before names were escaped so hold the
/// name itself, a newline in it made a space).
fn table_lines(statement: &str) -> impl Iterator<Item = String> {
    statement
        .lines()
        .take_while(|l| l.starts_with("--"))
        .filter_map(|l| l.strip_prefix(TABLE_LINE))
        .map(str::trim)
        .map(|t| serde_json::from_str::<String>(t).unwrap_or_else(|_| t.to_string()))
}

/// Where a database's schema.json and its scripts disagree: each script
/// must be exactly what its section's items render to. Empty for a set
/// without schema.json.
pub fn twin_mismatches(set: &SetSource, database: &DatabaseManifest) -> Result<Vec<(String, String)>> {
    let Some(member) = schema_member(database)? else {
        return Ok(Vec::new());
    };
    let items = read_items(set, member)?;
    let mut found = Vec::new();
    for (section, file) in SECTIONS {
        let of_section: Vec<&SchemaItem> = items.iter().filter(|i| i.section == section).collect();
        let scripts: Vec<&Member> = members_of(database, section).collect();
        let mut text = String::new();
        for m in &scripts {
            text.push_str(&member_text(set, m)?);
        }
        let differs = if scripts.is_empty() {
            !of_section.is_empty()
        } else {
            text != script(of_section.iter().copied())
        };
        if differs {
            found.push((
                scripts
                    .first()
                    .map(|m| m.path.clone())
                    .unwrap_or_else(|| format!("{}/{file}", database.name)),
                format!(
                    "the script differs from the {section} items of {}, which a restore runs: the set was altered",
                    neutralize(&member.path)
                ),
            ));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::{SchemaItem, from_script, script, table_lines};
    use crate::engine::postgres::guard;

    #[test]
    fn table_lines_are_read_from_the_leading_comments_only() {
        let statement = "-- foreign key: fk on s.t\n-- table: s.t\n-- table: \"S\".\"U\"\nALTER TABLE s.t ADD CONSTRAINT fk FOREIGN KEY (x) REFERENCES \"S\".\"U\"(id);\n-- table: not.this";
        assert_eq!(table_lines(statement).collect::<Vec<_>>(), ["s.t", "\"S\".\"U\""]);
    }

    #[test]
    fn a_script_read_back_gives_the_items_it_was_rendered_from() {
        // An index waits for the rows of the table it names: in a set
        // without schema.json that name must come back from the script as
        // the manifest spells it, newline, quotes and all.
        let name = "public.\"line\nbreak\"";
        let item = SchemaItem {
            section: "indexes".into(),
            needs: vec![name.to_string(), "\"back\\slash\".\"x\"\"y\"".to_string()],
            kind: "index".into(),
            name: "i on t".into(),
            sql: format!("CREATE INDEX i ON {name} (a);"),
        };
        let section = from_script(guard::split(&script([&item])).unwrap());
        assert_eq!(section.settings.len(), 8, "{section:?}");
        let [object] = section.objects.as_slice() else {
            panic!("{section:?}")
        };
        assert_eq!((object.kind.as_str(), object.name.as_str()), ("index", "i on t"));
        assert_eq!(object.needs, item.needs);
        assert_eq!(object.definition(), item.sql);
    }
}

//! Which tables a backup takes: `--table`, `--exclude-table`, `--schema`,
//! `--exclude-schema` with pg_dump's patterns, resolved on the server once
//! at the start of a backup, and `--table` of a restore matched as globs
//! against the names a set's manifest records.
//!
//! The patterns follow psql's (its documentation, "Patterns"): unquoted
//! letters fold to lower case; double quotes keep case and make every
//! character literal, `""` inside them being a quote; `*` is `.*`, `?` is
//! `.`, an unquoted `.` separates schema from name, `$` is literal, every
//! other character keeps its regular-expression meaning, and the pattern
//! must match the whole name.

use super::catalog::Relation;
use super::connect;
use super::rows::Value;
use anyhow::{Result, anyhow};
use postgres::Client;
use postgres::types::Oid;
use std::collections::HashSet;

pub use crate::engine::Selection;

/// What the user's words say of the names pg_dump's patterns cover, for
/// error messages that tell how to write the pattern that was meant.
const HOW_PATTERNS_READ: &str = "patterns follow pg_dump's: unquoted names fold to lower case, \"Quoted\" names keep their case, and a table name without a schema is looked for only in the default search_path";

/// One character of a pattern, as its quoting left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// Matched as itself: quoted, or the unquoted `$`.
    Literal(char),
    /// Unquoted (and folded): keeps its regular-expression meaning.
    Regex(char),
    /// Unquoted `*`: any run of characters.
    Any,
    /// Unquoted `?`: one character.
    One,
}

/// Splits a pattern at its unquoted dots into its parts' pieces.
fn parse(pattern: &str) -> Vec<Vec<Piece>> {
    let mut parts = vec![Vec::new()];
    let mut quoted = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let part = parts.last_mut().expect("one part at least");
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                part.push(Piece::Literal('"'));
            }
            '"' => quoted = !quoted,
            c if quoted => part.push(Piece::Literal(c)),
            '.' => parts.push(Vec::new()),
            '*' => part.push(Piece::Any),
            '?' => part.push(Piece::One),
            // `$` is common in identifiers and means nothing as an anchor
            // in a pattern that is anchored anyway.
            '$' => part.push(Piece::Literal('$')),
            // Only ASCII folds, as the server folds unquoted identifiers.
            c => part.push(Piece::Regex(c.to_ascii_lowercase())),
        }
    }
    parts
}

/// A part as an anchored regular expression (PostgreSQL's ARE). The
/// parentheses keep a `|` inside from binding to the anchors.
fn to_regex(part: &[Piece]) -> String {
    let mut re = String::from("^(");
    for piece in part {
        match *piece {
            Piece::Literal(c) => {
                if "\\^$.|?*+()[]{}".contains(c) {
                    re.push('\\');
                }
                re.push(c);
            }
            Piece::Regex(c) => re.push(c),
            Piece::Any => re.push_str(".*"),
            Piece::One => re.push('.'),
        }
    }
    re.push_str(")$");
    re
}

/// A table pattern as regular expressions: the schema's (None when the
/// pattern names no schema, which then means the search path's) and the
/// name's.
fn table_regex(flag: &str, pattern: &str) -> Result<(Option<String>, String)> {
    match parse(pattern).as_slice() {
        [name] => Ok((None, to_regex(name))),
        [schema, name] => Ok((Some(to_regex(schema)), to_regex(name))),
        _ => crate::usage_bail!(
            "{flag} {pattern:?} has more than one unquoted dot: write schema.table (a database name is not taken; \
             connect to that database instead), and put a dot that is part of a name in double quotes"
        ),
    }
}

/// A schema pattern as a regular expression.
fn schema_regex(flag: &str, pattern: &str) -> Result<String> {
    match parse(pattern).as_slice() {
        [name] => Ok(to_regex(name)),
        _ => crate::usage_bail!(
            "{flag} {pattern:?} holds an unquoted dot: a schema pattern names a schema alone; \
             put a dot that is part of the name in double quotes"
        ),
    }
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
            && self.exclude_tables.is_empty()
            && self.schemas.is_empty()
            && self.exclude_schemas.is_empty()
    }

    /// Refuses patterns no server could read (too many dots), before
    /// anything connects.
    pub fn check(&self) -> Result<()> {
        for p in &self.tables {
            table_regex("--table", p)?;
        }
        for p in &self.exclude_tables {
            table_regex("--exclude-table", p)?;
        }
        for p in &self.schemas {
            schema_regex("--schema", p)?;
        }
        for p in &self.exclude_schemas {
            schema_regex("--exclude-schema", p)?;
        }
        Ok(())
    }
}

/// A selection resolved against one database's catalog: the relations and
/// schemas its patterns name there, read once so every part of a backup
/// (locks, catalog, sequences) chooses the same.
#[derive(Debug, Clone, Default)]
pub struct Chosen {
    /// Whether the user chose anything at all.
    selective: bool,
    /// `--table`: where given, the relations taken (pg_dump then takes
    /// no table for its schema alone, so `--schema` and `--exclude-schema`
    /// do not apply to tables).
    tables: Option<HashSet<(String, String)>>,
    /// `--schema`: where given, the schemas whose relations are taken.
    schemas: Option<HashSet<String>>,
    exclude_schemas: HashSet<String>,
    exclude_tables: HashSet<(String, String)>,
    /// Include patterns that matched nothing while others did: pg_dump
    /// says nothing of them, and a typo there would lose a table quietly.
    pub unmatched: Vec<String>,
}

/// Relation kinds a table pattern names, as pg_dump's: tables, partitioned
/// tables, views, materialized views, sequences and foreign tables.
const RELKINDS: &str = "ARRAY['r', 'p', 'v', 'm', 'S', 'f']::pg_catalog.\"char\"[]";

/// Schemas of the user's, not the system's.
const USER_SCHEMA: &str = "n.nspname::pg_catalog.text OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema']::pg_catalog.text[]) \
     AND n.nspname::pg_catalog.text NOT LIKE 'pg\\_toast%' AND n.nspname::pg_catalog.text NOT LIKE 'pg\\_temp%'";

impl Chosen {
    /// No selection: every relation.
    pub fn everything() -> Chosen {
        Chosen::default()
    }

    /// Resolves `selection` on the server, as pg_dump resolves its
    /// patterns: include patterns that name nothing are an error, while
    /// exclusions never are.
    pub fn resolve(client: &mut Client, selection: &Selection) -> Result<Chosen> {
        if selection.is_empty() {
            return Ok(Chosen::everything());
        }
        selection.check()?;
        let mut chosen = Chosen {
            selective: true,
            ..Default::default()
        };
        let unqualified = selection
            .tables
            .iter()
            .chain(&selection.exclude_tables)
            .any(|p| parse(p).len() == 1);
        let visible = if unqualified {
            visible_relations(client)?
        } else {
            Vec::new()
        };

        if !selection.schemas.is_empty() {
            let mut found = HashSet::new();
            for p in &selection.schemas {
                let names = schemas_matching(client, "--schema", p)?;
                if names.is_empty() {
                    chosen.unmatched.push(format!("--schema {p}"));
                }
                found.extend(names);
            }
            if found.is_empty() {
                crate::usage_bail!(
                    "no schema matches --schema {}: check the names ({HOW_PATTERNS_READ})",
                    selection.schemas.join(", ")
                );
            }
            chosen.schemas = Some(found);
        }
        for p in &selection.exclude_schemas {
            chosen
                .exclude_schemas
                .extend(schemas_matching(client, "--exclude-schema", p)?);
        }
        if !selection.tables.is_empty() {
            let mut found = HashSet::new();
            for p in &selection.tables {
                let names = relations_matching(client, "--table", p, &visible)?;
                if names.is_empty() {
                    chosen.unmatched.push(format!("--table {p}"));
                }
                found.extend(names);
            }
            if found.is_empty() {
                crate::usage_bail!(
                    "no tables match --table {}: check the names ({HOW_PATTERNS_READ})",
                    selection.tables.join(", ")
                );
            }
            chosen.tables = Some(found);
        }
        for p in &selection.exclude_tables {
            chosen
                .exclude_tables
                .extend(relations_matching(client, "--exclude-table", p, &visible)?);
        }
        Ok(chosen)
    }

    /// Whether there is no selection: every relation is taken.
    pub fn is_empty(&self) -> bool {
        !self.selective
    }

    fn wants(&self, rel: &Relation) -> bool {
        self.wants_name(&rel.schema, &rel.name)
    }

    /// Whether the patterns choose the relation `schema.name` (a table,
    /// view or sequence), as pg_dump chooses: `--table` where given,
    /// else by schema; `--exclude-table` in any case.
    pub fn wants_name(&self, schema: &str, name: &str) -> bool {
        if !self.selective {
            return true;
        }
        let key = (schema.to_string(), name.to_string());
        let taken = match &self.tables {
            Some(tables) => tables.contains(&key),
            None => self.schemas.as_ref().is_none_or(|s| s.contains(schema)) && !self.exclude_schemas.contains(schema),
        };
        taken && !self.exclude_tables.contains(&key)
    }

    /// Relations left out: those the patterns do not want, and views and
    /// partitions that depend on a relation left out (they could not be
    /// restored without it).
    pub fn excluded_relations(&self, client: &mut Client, relations: &[Relation]) -> Result<HashSet<Oid>> {
        if self.is_empty() {
            return Ok(HashSet::new());
        }
        let mut excluded: HashSet<Oid> = relations.iter().filter(|r| !self.wants(r)).map(|r| r.oid).collect();
        let deps: Vec<(Oid, Oid)> = client
            .query(
                "SELECT DISTINCT r.ev_class, d.refobjid FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_depend d ON d.classid = 'pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid \
                 WHERE d.refclassid = 'pg_class'::pg_catalog.regclass AND d.refobjid <> r.ev_class \
                 UNION SELECT inhrelid, inhparent FROM pg_catalog.pg_inherits",
                &[],
            )?
            .iter()
            .map(|r| -> Result<_> { Ok((r.value(0)?, r.value(1)?)) })
            .collect::<Result<_>>()?;
        loop {
            let before = excluded.len();
            for (dependent, on) in &deps {
                if excluded.contains(on) {
                    excluded.insert(*dependent);
                }
            }
            if excluded.len() == before {
                break;
            }
        }
        Ok(excluded)
    }
}

/// The relations an unqualified name finds, as pg_dump finds them: visible
/// in the role's default search_path. lifeboat's sessions run with an
/// empty one (connect.rs), so it is reset for this one query, which calls
/// nothing a schema on that path could stand in for, and emptied again.
fn visible_relations(client: &mut Client) -> Result<Vec<Oid>> {
    client.batch_execute("RESET search_path")?;
    let rows = client.query(
        format!(
            "SELECT c.oid FROM pg_catalog.pg_class c \
             WHERE c.relkind OPERATOR(pg_catalog.=) ANY ({RELKINDS}) AND pg_catalog.pg_table_is_visible(c.oid)"
        )
        .as_str(),
        &[],
    );
    client.batch_execute("SELECT pg_catalog.set_config('search_path', '', false)")?;
    rows.map_err(|e| anyhow!("listing the tables in the search path: {}", connect::server_message(&e)))?
        .iter()
        .map(|r| r.value(0))
        .collect()
}

/// The server's answer to a pattern query; a pattern it cannot read as a
/// regular expression is the user's to fix.
fn pattern_query(
    client: &mut Client,
    flag: &str,
    pattern: &str,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Vec<postgres::Row>> {
    client.query(sql, params).map_err(|e| {
        anyhow::Error::new(crate::error::UsageError(format!(
            "{flag} {pattern:?}: the server refused it: {} (unquoted characters other than * ? . $ keep their \
             regular-expression meaning; put them in double quotes to match them as they are)",
            connect::server_message(&e)
        )))
    })
}

fn schemas_matching(client: &mut Client, flag: &str, pattern: &str) -> Result<Vec<String>> {
    let re = schema_regex(flag, pattern)?;
    let sql = format!(
        "SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_namespace n \
         WHERE n.nspname OPERATOR(pg_catalog.~) ($1::pg_catalog.text COLLATE pg_catalog.default) AND {USER_SCHEMA}"
    );
    pattern_query(client, flag, pattern, &sql, &[&re])?
        .iter()
        .map(|r| r.value(0))
        .collect()
}

/// The relations (schema, name) a table pattern names; an unqualified
/// one only among `visible`.
fn relations_matching(
    client: &mut Client,
    flag: &str,
    pattern: &str,
    visible: &[Oid],
) -> Result<Vec<(String, String)>> {
    let (schema, name) = table_regex(flag, pattern)?;
    let base = format!(
        "SELECT n.nspname::pg_catalog.text, c.relname::pg_catalog.text FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         WHERE c.relkind OPERATOR(pg_catalog.=) ANY ({RELKINDS}) AND {USER_SCHEMA} \
         AND c.relname OPERATOR(pg_catalog.~) ($1::pg_catalog.text COLLATE pg_catalog.default)"
    );
    let rows = match &schema {
        Some(schema) => pattern_query(
            client,
            flag,
            pattern,
            &format!("{base} AND n.nspname OPERATOR(pg_catalog.~) ($2::pg_catalog.text COLLATE pg_catalog.default)"),
            &[&name, schema],
        )?,
        None => pattern_query(
            client,
            flag,
            pattern,
            &format!("{base} AND c.oid OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.oid[])"),
            &[&name, &visible],
        )?,
    };
    rows.iter().map(|r| Ok((r.value(0)?, r.value(1)?))).collect()
}

/// Whether a restore's `--table` pattern names a table of a set, offline:
/// `name` as the manifest writes it (`schema.table`, or a bare name).
/// The pattern is a glob with pg_dump's quoting and folding (`*` any run,
/// `?` one character, every other character itself); without a schema
/// it matches the table's name in any schema, since a set has no search
/// path.
pub fn matches(pattern: &str, name: &str) -> bool {
    fn glob(p: &[Piece], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(Piece::Any), _) => glob(&p[1..], n) || (!n.is_empty() && glob(p, &n[1..])),
            (Some(Piece::One), Some(_)) => glob(&p[1..], &n[1..]),
            (Some(Piece::Literal(a) | Piece::Regex(a)), Some(b)) if a == b => glob(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let parts = parse(pattern);
    let chars: Vec<char> = name.chars().collect();
    // A manifest name does not say which of its dots ends the schema (a
    // quoted name may hold dots): any that lets the pattern match will do.
    let mut splits = chars
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == '.')
        .map(|(i, _)| i)
        .peekable();
    match parts.as_slice() {
        [table] if splits.peek().is_none() => glob(table, &chars),
        [table] => splits.any(|i| glob(table, &chars[i + 1..])),
        [schema, table] => splits.any(|i| glob(schema, &chars[..i]) && glob(table, &chars[i + 1..])),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::{Chosen, matches, schema_regex, table_regex};
    use std::collections::HashSet;

    fn re(pattern: &str) -> (Option<String>, String) {
        table_regex("--table", pattern).unwrap()
    }

    #[test]
    fn unquoted_letters_fold_and_quoted_keep_case() {
        assert_eq!(re("Events"), (None, "^(events)$".into()));
        assert_eq!(re("\"Events\""), (None, "^(Events)$".into()));
        assert_eq!(re("\"Sales\".T"), (Some("^(Sales)$".into()), "^(t)$".into()));
        // Only ASCII folds, as the server folds identifiers.
        assert_eq!(re("ÉTÉ"), (None, "^(ÉtÉ)$".into()));
    }

    #[test]
    fn wildcards_and_regular_expression_characters() {
        assert_eq!(re("user*"), (None, "^(user.*)$".into()));
        assert_eq!(re("a?c"), (None, "^(a.c)$".into()));
        assert_eq!(re("orders_[0-9]"), (None, "^(orders_[0-9])$".into()));
        assert_eq!(re("events|orders_1"), (None, "^(events|orders_1)$".into()));
        assert_eq!(re("x+"), (None, "^(x+)$".into()));
        // `$` is always literal.
        assert_eq!(re("x$y"), (None, "^(x\\$y)$".into()));
        assert_eq!(re("public.*"), (Some("^(public)$".into()), "^(.*)$".into()));
    }

    #[test]
    fn quotes_make_every_character_literal() {
        assert_eq!(re("\"a.b\""), (None, "^(a\\.b)$".into()));
        assert_eq!(re("\"s.x\".\"t*\""), (Some("^(s\\.x)$".into()), "^(t\\*)$".into()));
        assert_eq!(
            re("\"a?|(b)[c]{d}^e+f\\\""),
            (None, "^(a\\?\\|\\(b\\)\\[c\\]\\{d\\}\\^e\\+f\\\\)$".into())
        );
        // `""` inside quotes is one quote; quotes may cover part of a name.
        assert_eq!(re("\"q\"\"q\""), (None, "^(q\"q)$".into()));
        assert_eq!(re("my\"Big\"*"), (None, "^(myBig.*)$".into()));
        // An empty part matches only the empty name, as pg_dump's does.
        assert_eq!(re("public."), (Some("^(public)$".into()), "^()$".into()));
    }

    #[test]
    fn too_many_dots_are_refused() {
        let e = table_regex("--table", "db.public.t").unwrap_err().to_string();
        assert!(e.contains("db.public.t") && e.contains("schema.table"), "{e}");
        assert!(table_regex("--table", "\"a.b\".\"c.d\"").is_ok());
        assert!(schema_regex("--schema", "a.b").is_err());
        assert_eq!(schema_regex("--schema", "\"a.b\"").unwrap(), "^(a\\.b)$");
    }

    #[test]
    fn restore_globs() {
        assert!(matches("user*", "users"));
        assert!(matches("Users", "users"));
        assert!(!matches("Users", "Users"));
        assert!(matches("\"Users\"", "public.Users"));
        assert!(!matches("\"Users\"", "users"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "abbc"));
        assert!(matches("*", ""));
        // Without a schema, the table's name in any schema.
        assert!(matches("users", "audit.users"));
        assert!(matches("public.user*", "public.users"));
        assert!(!matches("public.users", "audit.users"));
        // Dots in quoted names, on either side.
        assert!(matches("\"a.b\"", "public.a.b"));
        assert!(matches("\"s.x\".t", "s.x.t"));
        assert!(!matches("\"a.b\"", "a.b"));
        // Globs, not regular expressions.
        assert!(!matches("orders_[0-9]", "public.orders_1"));
        assert!(matches("x$y", "public.x$y"));
    }

    #[test]
    fn exclusions_and_table_choices_combine_as_pg_dump_s() {
        let pair = |s: &str, n: &str| (s.to_string(), n.to_string());
        let chosen = Chosen {
            selective: true,
            tables: None,
            schemas: None,
            exclude_schemas: HashSet::from(["sales".to_string()]),
            exclude_tables: HashSet::from([pair("public", "events")]),
            unmatched: Vec::new(),
        };
        assert!(chosen.wants_name("Sales", "t"));
        assert!(!chosen.wants_name("sales", "t"));
        assert!(chosen.wants_name("public", "Events"));
        assert!(!chosen.wants_name("public", "events"));
        // --table takes what it names whatever --exclude-schema says.
        let chosen = Chosen {
            tables: Some(HashSet::from([pair("sales", "t")])),
            ..chosen
        };
        assert!(chosen.wants_name("sales", "t"));
        assert!(!chosen.wants_name("Sales", "t"));
        assert!(Chosen::everything().wants_name("any", "thing"));
    }
}

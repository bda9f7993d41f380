//! Definitions that differ only in how the server prints them: after a
//! round trip (lifeboat's or `pg_dump | psql`'s), PostgreSQL may print a
//! parsed expression with other casts and parentheses (`x IN ('a', 'b')` on
//! a varchar column is one). Such a difference is not a finding; any other
//! is.

use super::schema_member::Schema;
use crate::archive::manifest::{DatabaseManifest, SchemaObject};
use crate::archive::reader::SetSource;
use anyhow::Result;
use std::collections::HashMap;

/// Multi-word type names that may follow `::`.
const MULTI_WORD_TYPES: &[&str] = &[
    "character varying",
    "double precision",
    "bit varying",
    "timestamp with time zone",
    "timestamp without time zone",
    "time with time zone",
    "time without time zone",
];

/// The definition without casts, parentheses and white space; string
/// literals and quoted names are kept as they are. (A difference only in
/// parentheses is taken for one in printing alone.)
pub fn canonical(sql: &str) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            q @ ('\'' | '"') => {
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != q {
                    i += 1;
                }
                out.extend(&chars[start..(i + 1).min(chars.len())]);
            }
            ':' if chars.get(i + 1) == Some(&':') => {
                i = skip_type(&chars, i + 2);
                continue;
            }
            '(' | ')' => {}
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// The position after a type name that starts at `i`: dotted, quoted or
/// multi-word names, a type modifier and array brackets.
fn skip_type(chars: &[char], mut i: usize) -> usize {
    let rest: String = chars[i..].iter().take(40).collect::<String>().to_ascii_lowercase();
    if let Some(long) = MULTI_WORD_TYPES.iter().find(|t| rest.starts_with(*t)) {
        i += long.chars().count();
    } else {
        loop {
            if chars.get(i) == Some(&'"') {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                    i += 1;
                }
            }
            if chars.get(i) == Some(&'.') {
                i += 1;
            } else {
                break;
            }
        }
    }
    if chars.get(i) == Some(&'(')
        && chars[i + 1..]
            .iter()
            .take_while(|c| **c != ')')
            .all(|c| c.is_ascii_digit() || *c == ',' || *c == ' ')
    {
        while i < chars.len() && chars[i] != ')' {
            i += 1;
        }
        i += 1;
    }
    while chars.get(i) == Some(&'[') && chars.get(i + 1) == Some(&']') {
        i += 2;
    }
    i
}

/// Each schema object's SQL as the set holds it, by `kind name` (as the
/// manifest's schema objects name them).
pub fn set_definitions(set: &SetSource, database: &DatabaseManifest) -> Result<HashMap<String, String>> {
    Ok(Schema::load(set, database)?
        .objects()
        .filter(|o| !o.kind.is_empty())
        .map(|o| (header_key(&o.kind, &o.name), o.definition()))
        .collect())
}

/// Whether the live object's definition differs from the set's only as the
/// server prints it.
pub fn printed_alike(set_definitions: &HashMap<String, String>, backup: &SchemaObject, live: &SchemaObject) -> bool {
    let set_sql = set_definitions.get(&header_key(&backup.kind, &backup.name));
    match (set_sql, live.sql.as_deref()) {
        (Some(a), Some(b)) => canonical(a) == canonical(b),
        _ => false,
    }
}

/// The `kind name` a script's header line gives an object.
pub fn header_key(kind: &str, name: &str) -> String {
    format!("{kind} {}", name.replace(['\n', '\r'], " "))
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn casts_and_parentheses_a_round_trip_changes_are_left_out() {
        let before = "CONSTRAINT v_x_check CHECK (((x)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[])))";
        let after = "CONSTRAINT v_x_check CHECK (((x)::text = ANY (ARRAY[('a'::character varying)::text, ('b'::character varying)::text])))";
        assert_eq!(canonical(before), canonical(after));
        assert_eq!(
            canonical("DEFAULT '2026-01-01 00:00:00+00'::timestamp with time zone"),
            canonical("DEFAULT '2026-01-01 00:00:00+00'")
        );
    }

    #[test]
    fn other_differences_remain() {
        assert_ne!(canonical("CHECK ((x > 1))"), canonical("CHECK ((x > 2))"));
        assert_ne!(canonical("COMMENT ON TABLE t IS 'a';"), canonical(""));
        assert_ne!(canonical("x integer"), canonical("x bigint"));
        // Inside a literal, nothing is taken out.
        assert_ne!(canonical("DEFAULT '(a)::text'"), canonical("DEFAULT 'a'"));
        assert_ne!(canonical("SET STATISTICS 500"), canonical(""));
    }
}

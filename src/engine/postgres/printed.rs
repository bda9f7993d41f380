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
                let end = skip_type(&chars, i + 2);
                let cast: String = chars[i + 2..end].iter().collect();
                i = skip_own_alias(&chars, end, &cast);
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

/// The internal names of types whose SQL names differ (`integer` is
/// `int4`): the column name the server gives a bare cast.
const INTERNAL_TYPE_NAMES: &[(&str, &str)] = &[
    ("integer", "int4"),
    ("int", "int4"),
    ("bigint", "int8"),
    ("smallint", "int2"),
    ("boolean", "bool"),
    ("real", "float4"),
    ("double precision", "float8"),
    ("character varying", "varchar"),
    ("character", "bpchar"),
    ("bit varying", "varbit"),
    ("timestamp with time zone", "timestamptz"),
    ("timestamp without time zone", "timestamp"),
    ("time with time zone", "timetz"),
    ("time without time zone", "time"),
];

/// The position after ` AS name` at `i` when `name` is the one the server
/// gives a column that is a bare cast to `cast` (`NULL::integer AS int4`):
/// a branch of a UNION written without a name prints without it, and
/// with it once restored, after `pg_dump | psql` as after lifeboat.
/// Otherwise `i`.
fn skip_own_alias(chars: &[char], i: usize, cast: &str) -> usize {
    let mut j = i;
    while chars.get(j).is_some_and(|c| c.is_whitespace()) {
        j += 1;
    }
    let is_as = chars
        .get(j..j + 2)
        .is_some_and(|w| w.iter().collect::<String>() == "AS")
        && chars.get(j + 2).is_some_and(|c| c.is_whitespace());
    if !is_as {
        return i;
    }
    j += 2;
    while chars.get(j).is_some_and(|c| c.is_whitespace()) {
        j += 1;
    }
    let start = j;
    let name: String = if chars.get(j) == Some(&'"') {
        j += 1;
        while j < chars.len() && chars[j] != '"' {
            j += 1;
        }
        j += 1;
        chars[start + 1..(j - 1).min(chars.len())].iter().collect()
    } else {
        while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        chars[start..j].iter().collect()
    };
    // The type without schema, modifier or array brackets.
    let base = cast.split('(').next().unwrap_or(cast).trim_end_matches("[]");
    let base = base
        .rsplit('.')
        .next()
        .unwrap_or(base)
        .trim_matches('"')
        .to_ascii_lowercase();
    let own = INTERNAL_TYPE_NAMES
        .iter()
        .find(|(sql, _)| *sql == base)
        .map_or(base.as_str(), |(_, internal)| internal);
    if !name.is_empty() && name == own { j } else { i }
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
        (Some(a), Some(b)) if backup.kind == "privileges" && backup.name == "public" => {
            without_lost_initial_owner(a) == without_lost_initial_owner(b)
        }
        (Some(a), Some(b)) => canonical(a) == canonical(b),
        _ => false,
    }
}

/// Schema public's grants without REVOKEs from a role no GRANT names.
/// Up to PostgreSQL 14, pg_dump holds public against the privileges initdb
/// gave it, so a source whose public changed owner revokes from its
/// bootstrap superuser by name (`postgres`); a cluster whose superuser has
/// another name (a scratch cluster, whose superuser no set may name) holds
/// no entry of that role to revoke, and prints no such line. A role the
/// restore left with privileges it should not have is still seen: it shows
/// as a GRANT on one side.
fn without_lost_initial_owner(sql: &str) -> Vec<&str> {
    let lines: Vec<&str> = sql.lines().collect();
    let granted = |role: &str| {
        lines
            .iter()
            .any(|l| l.starts_with("GRANT ") && l.trim_end_matches(';').ends_with(&format!(" TO {role}")))
    };
    lines
        .iter()
        .copied()
        .filter(|l| {
            let revoked = l
                .starts_with("REVOKE ")
                .then(|| l.trim_end_matches(';').rsplit(" FROM ").next())
                .flatten();
            !matches!(revoked, Some(role) if role != "PUBLIC" && !granted(role))
        })
        .collect()
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
    fn a_revoke_from_public_schemas_lost_initial_owner_is_left_out() {
        let source = "REVOKE USAGE ON SCHEMA public FROM postgres;\nREVOKE CREATE ON SCHEMA public FROM postgres;\nREVOKE USAGE ON SCHEMA public FROM PUBLIC;\nGRANT USAGE ON SCHEMA public TO app_owner;\nGRANT USAGE ON SCHEMA public TO PUBLIC;";
        let scratch = "REVOKE USAGE ON SCHEMA public FROM PUBLIC;\nGRANT USAGE ON SCHEMA public TO app_owner;\nGRANT USAGE ON SCHEMA public TO PUBLIC;";
        assert_eq!(
            super::without_lost_initial_owner(source),
            super::without_lost_initial_owner(scratch)
        );
        // A role the restore left holding privileges still differs.
        let kept = "REVOKE USAGE ON SCHEMA public FROM PUBLIC;\nGRANT USAGE ON SCHEMA public TO app_owner;\nGRANT USAGE ON SCHEMA public TO PUBLIC;\nGRANT CREATE ON SCHEMA public TO postgres;";
        assert_ne!(
            super::without_lost_initial_owner(source),
            super::without_lost_initial_owner(kept)
        );
        // Revoking from PUBLIC is never left out.
        assert_ne!(
            super::without_lost_initial_owner("REVOKE CREATE ON SCHEMA public FROM PUBLIC;"),
            super::without_lost_initial_owner("")
        );
    }

    #[test]
    fn the_name_a_bare_cast_gets_once_restored_is_left_out() {
        // A UNION branch written `NULL` prints as below, and with its
        // column's name once restored.
        assert_eq!(
            canonical("SELECT b.x,\n NULL::integer\n FROM b"),
            canonical("SELECT b.x,\n NULL::integer AS int4\n FROM b")
        );
        assert_eq!(
            canonical("NULL::character varying, NULL::public.mood"),
            canonical("NULL::character varying AS \"varchar\", NULL::public.mood AS mood")
        );
        // Any other name is a difference.
        assert_ne!(canonical("NULL::integer"), canonical("NULL::integer AS int8"));
        assert_ne!(canonical("NULL::integer AS n"), canonical("NULL::integer AS int4"));
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

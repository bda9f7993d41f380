//! Which tables a backup takes: `--table`, `--exclude-table`, `--schema`,
//! `--exclude-schema` with pg_dump's patterns (`*`, `?`, `schema.table`).

use super::catalog::Relation;
use super::rows::Value;
use anyhow::Result;
use postgres::Client;
use postgres::types::Oid;
use std::collections::HashSet;

pub use crate::engine::Selection;

/// Matches a name against a pg_dump-style pattern: `*` any run, `?` one
/// character; unquoted patterns match case-insensitively as identifiers do.
pub fn matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = if pattern.starts_with('"') {
        (pattern.trim_matches('"').to_string(), name.to_string())
    } else {
        (pattern.to_lowercase(), name.to_lowercase())
    };
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

fn matches_relation(pattern: &str, schema: &str, name: &str) -> bool {
    match pattern.split_once('.') {
        Some((schema_pattern, table)) => matches(schema_pattern, schema) && matches(table, name),
        None => matches(pattern, name),
    }
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
            && self.exclude_tables.is_empty()
            && self.schemas.is_empty()
            && self.exclude_schemas.is_empty()
    }

    fn wants(&self, rel: &Relation) -> bool {
        self.wants_name(&rel.schema, &rel.name)
    }

    /// Whether the patterns choose the relation `schema.name` (a table,
    /// view or sequence).
    pub fn wants_name(&self, schema: &str, name: &str) -> bool {
        if !self.schemas.is_empty() && !self.schemas.iter().any(|s| matches(s, schema)) {
            return false;
        }
        if self.exclude_schemas.iter().any(|s| matches(s, schema)) {
            return false;
        }
        if !self.tables.is_empty() && !self.tables.iter().any(|p| matches_relation(p, schema, name)) {
            return false;
        }
        !self.exclude_tables.iter().any(|p| matches_relation(p, schema, name))
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

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn patterns() {
        assert!(matches("user*", "users"));
        assert!(matches("Users", "users"));
        assert!(!matches("\"Users\"", "users"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "abbc"));
        assert!(matches("*", ""));
    }
}

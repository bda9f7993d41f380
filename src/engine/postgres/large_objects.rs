//! Large objects: dumped from the backup's snapshot in bounded chunks into
//! one member that psql can run, and restored by lifeboat from statements
//! it builds itself out of that member's numbers and bytes.
//!
//! pg_dump counts large objects (their data, comments, owners and grants)
//! as data: a whole-database dump and `--data-only` carry them,
//! `--schema-only` never does, and a table or schema selection leaves them
//! out unless `--large-objects` asks for them.

use super::guard;
use super::select::Selection;
use crate::archive::manifest::{DatabaseManifest, LargeObjects, Member};
use crate::archive::reader::SetSource;
use crate::archive::writer::Staging;
use anyhow::{Context, Result, bail};
use postgres::Client;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{BufRead, Read, Write};

/// The member's role in the manifest.
pub const ROLE: &str = "large-objects";
/// After the tables' rows (`1-data-…`) and before the indexes, where
/// pg_dump puts its large objects' data.
const FILE: &str = "1-large-objects.sql";
/// Bytes of one `lo_put`: a line is twice this as hex, so reading and
/// writing a large object of any size holds a few MB at a time.
const CHUNK: i32 = 1 << 20;
/// The longest line a restore reads: a chunk as hex and its statement.
const MAX_LINE: u64 = 2 * CHUNK as u64 + 256;

/// Whether a backup carries large objects, by pg_dump's rule: asked for
/// (`-b`) or not refused (`-B`); else in a dump of everything, that is
/// without `--table` or `--schema`. Never with `--schema-only`.
pub fn wanted(asked: Option<bool>, selection: &Selection, schema_only: bool) -> bool {
    !schema_only && asked.unwrap_or(selection.tables.is_empty() && selection.schemas.is_empty())
}

/// How many large objects a database holds.
pub fn count(client: &mut Client) -> Result<i64> {
    client
        .query_one("SELECT count(*) FROM pg_catalog.pg_largeobject_metadata", &[])
        .context("counting large objects")?
        .try_get(0)
        .context("counting large objects")
}

/// One large object's description; its data is read apart, in chunks.
struct Meta {
    oid: u32,
    owner: String,
    comment: Option<String>,
    /// REVOKE/GRANT statements, one a line, against its owner's defaults.
    grants: Option<String>,
}

fn list(client: &mut Client) -> Result<Vec<Meta>> {
    let grants = super::catalog::acl_statements(
        "m.lomacl",
        'L',
        "m.lomowner",
        "pg_catalog.format('LARGE OBJECT %s', m.oid)",
        "",
    );
    let rows = client
        .query(
            format!(
                "SELECT m.oid, pg_catalog.pg_get_userbyid(m.lomowner)::text, \
                 pg_catalog.obj_description(m.oid, 'pg_largeobject'), {grants} \
                 FROM pg_catalog.pg_largeobject_metadata m ORDER BY m.oid"
            )
            .as_str(),
            &[],
        )
        .context("listing large objects")?;
    rows.iter()
        .map(|r| {
            Ok(Meta {
                oid: r.try_get(0)?,
                owner: r.try_get(1)?,
                comment: r.try_get(2)?,
                grants: r.try_get(3)?,
            })
        })
        .collect()
}

/// A string constant on one line whatever it holds, so that a restore can
/// read the member a line at a time.
fn one_line_literal(s: &str) -> String {
    let mut out = String::from("E'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The statements that describe a large object, each on one line.
fn metadata(m: &Meta, with_privileges: bool) -> String {
    let mut out = String::new();
    if with_privileges {
        out.push_str(&format!(
            "ALTER LARGE OBJECT {} OWNER TO {};\n",
            m.oid,
            guard::quote_ident(&m.owner)
        ));
    }
    if let Some(c) = &m.comment {
        out.push_str(&format!(
            "COMMENT ON LARGE OBJECT {} IS {};\n",
            m.oid,
            one_line_literal(c)
        ));
    }
    if with_privileges && let Some(g) = &m.grants {
        for line in g.lines() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// What a large object adds to the digest besides its data: all a
/// restore puts back, so a restored copy digests the same.
fn digest_line(m: &Meta, data: &[u8], with_privileges: bool) -> String {
    format!("{}\t{}\t{}\n", m.oid, hex::encode(data), metadata(m, with_privileges))
}

/// Writes every large object into one member, in the backup's snapshot.
/// Returns the member and what the manifest records, and the roles that
/// own or were granted them (for `--with-privileges`).
pub fn dump(
    client: &mut Client,
    staging: &Staging,
    database: &str,
    with_privileges: bool,
) -> Result<(Member, LargeObjects, Vec<String>)> {
    let objects = list(client)?;
    let mut out = staging.member(database, FILE, ROLE, None)?;
    out.write_all(super::catalog::SQL_HEADER.as_bytes())?;
    let (stats, roles) = read_all(client, &objects, with_privileges, |m, event| {
        let text = match event {
            Event::Start => format!("-- large object: {}\nSELECT pg_catalog.lo_create({});\n", m.oid, m.oid),
            Event::Chunk(offset, bytes) => format!(
                "SELECT pg_catalog.lo_put({}, {offset}, '\\x{}');\n",
                m.oid,
                hex::encode(bytes)
            ),
            Event::End => format!("{}\n", metadata(m, with_privileges)),
        };
        Ok(out.write_all(text.as_bytes())?)
    })?;
    Ok((out.finish()?, stats, roles))
}

/// Where [`read_all`] stands in a large object.
enum Event<'a> {
    Start,
    Chunk(i64, &'a [u8]),
    End,
}

/// Reads every large object in chunks, telling `seen` each step. Returns
/// the count, bytes and digest, and the roles named.
fn read_all(
    client: &mut Client,
    objects: &[Meta],
    with_privileges: bool,
    mut seen: impl FnMut(&Meta, Event<'_>) -> Result<()>,
) -> Result<(LargeObjects, Vec<String>)> {
    let get = client
        .prepare("SELECT pg_catalog.lo_get($1::pg_catalog.oid, $2::pg_catalog.int8, $3::pg_catalog.int4)")
        .context("preparing to read large objects")?;
    let mut all = Sha256::new();
    let mut bytes = 0u64;
    let mut roles = std::collections::BTreeSet::new();
    for m in objects {
        crate::cancel::check()?;
        seen(m, Event::Start)?;
        let mut one = Sha256::new();
        let mut offset = 0i64;
        loop {
            let chunk: Vec<u8> = client
                .query_one(&get, &[&m.oid, &offset, &CHUNK])
                .and_then(|r| r.try_get(0))
                .with_context(|| format!("reading large object {}", m.oid))?;
            if chunk.is_empty() {
                break;
            }
            one.update(&chunk);
            seen(m, Event::Chunk(offset, &chunk))?;
            offset += chunk.len() as i64;
            if chunk.len() < CHUNK as usize {
                break;
            }
        }
        bytes += offset as u64;
        seen(m, Event::End)?;
        all.update(digest_line(m, &one.finalize(), with_privileges).as_bytes());
        if with_privileges {
            roles.insert(m.owner.clone());
        }
    }
    if with_privileges {
        // Grantees, by name, as the catalog's roles are listed.
        let grantees = client
            .query(
                "SELECT DISTINCT pg_catalog.pg_get_userbyid(a.grantee)::text FROM pg_catalog.pg_largeobject_metadata m, \
                 pg_catalog.aclexplode(m.lomacl) a WHERE a.grantee <> 0",
                &[],
            )
            .context("reading the roles large objects are granted to")?;
        for r in grantees {
            roles.insert(r.try_get(0)?);
        }
    }
    let stats = LargeObjects {
        count: objects.len() as u64,
        bytes,
        digest: hex::encode(all.finalize()),
        privileges: with_privileges,
    };
    Ok((stats, roles.into_iter().filter(|r| !r.starts_with("pg_")).collect()))
}

/// The count, bytes and digest of a live database's large objects, as a
/// backup would record them.
pub fn inspect(client: &mut Client, with_privileges: bool) -> Result<LargeObjects> {
    let objects = list(client)?;
    Ok(read_all(client, &objects, with_privileges, |_, _| Ok(()))?.0)
}

/// The set's large-object member of `database`, if it has one.
pub fn member(database: &DatabaseManifest) -> Option<&Member> {
    database.members.iter().find(|m| m.role == ROLE)
}

/// One line of the member, read no further than [`MAX_LINE`].
fn read_line(reader: &mut dyn BufRead, line: &mut Vec<u8>, path: &str) -> Result<bool> {
    line.clear();
    let n = reader
        .take(MAX_LINE + 1)
        .read_until(b'\n', line)
        .with_context(|| format!("reading {path}"))?;
    if n as u64 > MAX_LINE {
        bail!(
            "{} holds a line longer than lifeboat writes: the set was altered, and the restore was stopped",
            crate::github::workflow::neutralize(path)
        );
    }
    Ok(n > 0)
}

/// `prefix<digits>`, the number and what follows it.
fn number_after<'a>(text: &'a str, prefix: &str) -> Option<(u64, &'a str)> {
    let rest = text.strip_prefix(prefix)?;
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let n = rest[..end].parse().ok()?;
    Some((n, &rest[end..]))
}

/// A line of the member, as lifeboat reads it.
#[derive(Debug, PartialEq)]
enum Line {
    Create(u32),
    Put(u32, i64, Vec<u8>),
    /// Any other statement, held against the guard and run as it stands.
    Other,
}

fn parse(line: &str) -> Option<Line> {
    if let Some((oid, rest)) = number_after(line, "SELECT pg_catalog.lo_create(") {
        return (rest == ");").then_some(Line::Create(u32::try_from(oid).ok()?));
    }
    if let Some((oid, rest)) = number_after(line, "SELECT pg_catalog.lo_put(") {
        let (offset, rest) = number_after(rest, ", ")?;
        let hex_digits = rest.strip_prefix(", '\\x")?.strip_suffix("');")?;
        let bytes = hex::decode(hex_digits).ok()?;
        return Some(Line::Put(u32::try_from(oid).ok()?, i64::try_from(offset).ok()?, bytes));
    }
    if line.starts_with("SELECT pg_catalog.lo_") {
        return None;
    }
    Some(Line::Other)
}

/// The large object a checked statement of the member is about: `ALTER`,
/// `COMMENT ON`, `GRANT` or `REVOKE` of `LARGE OBJECT <oid>`. Session
/// settings of the header give `Ok(None)`.
fn statement_object(statement: &guard::Statement) -> Result<Option<u32>, ()> {
    let t = &statement.tokens;
    let word = |i: usize, w: &str| matches!(t.get(i), Some(guard::Token::Word { upper, .. }) if upper == w);
    if word(0, "SET") || statement.text.starts_with("SELECT pg_catalog.set_config") {
        return Ok(None);
    }
    if !(word(0, "ALTER") || word(0, "COMMENT") || word(0, "GRANT") || word(0, "REVOKE")) {
        return Err(());
    }
    let at = (0..t.len())
        .find(|&i| word(i, "LARGE") && word(i + 1, "OBJECT"))
        .ok_or(())?;
    match t.get(at + 2) {
        Some(guard::Token::Number(n)) => n.parse().map(Some).map_err(|_| ()),
        _ => Err(()),
    }
}

/// What a restore put back: large objects made and bytes written.
#[derive(Debug, Default)]
pub struct Restored {
    pub count: u64,
    pub bytes: u64,
}

/// Restores the large objects of `member` over `client`, a line at a time:
/// `lo_create` and `lo_put` are rebuilt by lifeboat from their numbers and
/// bytes and sent with parameters, the rest passes the guard and must be
/// about a large object this member made.
pub fn restore(
    client: &mut Client,
    set: &SetSource,
    member: &Member,
    run: &mut dyn FnMut(&mut Client, &guard::Statement) -> Result<()>,
) -> Result<Restored> {
    let path = member.path.as_str();
    let shown = crate::github::workflow::neutralize(path);
    let create = client
        .prepare("SELECT pg_catalog.lo_create($1::pg_catalog.oid)")
        .context("preparing to restore large objects")?;
    let put = client
        .prepare("SELECT pg_catalog.lo_put($1::pg_catalog.oid, $2::pg_catalog.int8, $3::pg_catalog.bytea)")
        .context("preparing to restore large objects")?;
    let mut reader = set.open_ahead(path)?;
    let mut made: HashSet<u32> = HashSet::new();
    let mut restored = Restored::default();
    let mut line = Vec::new();
    let mut n = 0usize;
    while read_line(&mut reader, &mut line, path)? {
        n += 1;
        crate::cancel::check()?;
        let text = std::str::from_utf8(&line).with_context(|| format!("{shown} line {n} is not UTF-8 text"))?;
        let text = text.trim_end_matches('\n');
        if text.is_empty() || text.starts_with("--") {
            continue;
        }
        let altered = || {
            anyhow::anyhow!(
                "{shown} line {n} is not a statement lifeboat writes there: the set was altered, and the restore was stopped"
            )
        };
        match parse(text).ok_or_else(altered)? {
            Line::Create(oid) => {
                client
                    .query_one(&create, &[&oid])
                    .with_context(|| format!("creating large object {oid}"))?;
                made.insert(oid);
                restored.count += 1;
            }
            Line::Put(oid, offset, bytes) => {
                if !made.contains(&oid) {
                    return Err(altered());
                }
                client
                    .query_one(&put, &[&oid, &offset, &bytes])
                    .with_context(|| format!("writing large object {oid}"))?;
                restored.bytes += bytes.len() as u64;
            }
            Line::Other => {
                for statement in guard::checked_script(path, text)? {
                    match statement_object(&statement) {
                        Ok(Some(oid)) if made.contains(&oid) => run(client, &statement)?,
                        Ok(None) => run(client, &statement)?,
                        _ => return Err(altered()),
                    }
                }
            }
        }
    }
    Ok(restored)
}

/// Holds what a restore put back against the manifest.
pub fn check(database: &DatabaseManifest, restored: &Restored) -> Result<String> {
    let Some(expected) = &database.large_objects else {
        bail!("the set holds large objects its manifest does not record: the set was altered");
    };
    if expected.count != restored.count || expected.bytes != restored.bytes {
        bail!(
            "the restored large objects do not match the manifest: {} objects of {} bytes, the manifest says {} of {}",
            restored.count,
            restored.bytes,
            expected.count,
            expected.bytes
        );
    }
    Ok(format!(
        "{} large objects of {} bytes, as the manifest records",
        restored.count, restored.bytes
    ))
}

#[cfg(test)]
mod tests {
    use super::{Line, one_line_literal, parse};

    #[test]
    fn reads_only_the_shapes_it_writes() {
        assert_eq!(parse("SELECT pg_catalog.lo_create(16401);"), Some(Line::Create(16401)));
        assert_eq!(
            parse("SELECT pg_catalog.lo_put(7, 1048576, '\\x00ff');"),
            Some(Line::Put(7, 1048576, vec![0, 255]))
        );
        assert_eq!(parse("SELECT pg_catalog.lo_create(16401); SELECT 1;"), None);
        assert_eq!(parse("SELECT pg_catalog.lo_create(99999999999);"), None);
        assert_eq!(parse("SELECT pg_catalog.lo_put(7, 0, '\\x0g');"), None);
        assert_eq!(parse("SELECT pg_catalog.lo_put(7, 0, '\\x00'); DROP TABLE t;"), None);
        assert_eq!(parse("SELECT pg_catalog.lo_unlink(7);"), None);
    }

    #[test]
    fn literals_stay_on_one_line() {
        assert_eq!(one_line_literal("a'b\\c\nd\re"), "E'a''b\\\\c\\nd\\re'");
    }
}

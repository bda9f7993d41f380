//! Reads a database's schema from the catalogs into SQL, with the server's
//! own `pg_get_*def` functions wherever they exist, in the sections
//! pg_dump uses: pre-data ordered by `pg_depend`, then indexes and
//! constraints, then the rest of post-data.

mod privileges;
pub(crate) use privileges::acl_statements;

use super::select::Chosen;
use crate::engine::postgres::rows::Value;
use anyhow::{Context, Result, bail};
use postgres::Client;
use postgres::types::Oid;
use std::collections::{BinaryHeap, HashMap, HashSet};

mod objects;

// Catalog OIDs, the same in every PostgreSQL version.
const PG_CLASS: Oid = 1259;
const PG_TYPE: Oid = 1247;
const PG_PROC: Oid = 1255;
const PG_NAMESPACE: Oid = 2615;
const PG_EXTENSION: Oid = 3079;
const PG_COLLATION: Oid = 3456;
const PG_ATTRDEF: Oid = 2604;
const PG_REWRITE: Oid = 2618;
const PG_CONSTRAINT: Oid = 2606;
const PG_TRIGGER: Oid = 2620;
const PG_POLICY: Oid = 3256;

/// Schemas that belong to the system.
const USER_NS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

/// Leaves out objects that belong to an extension.
fn not_ext_member(catalog: &str, oid_expr: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = '{catalog}'::pg_catalog.regclass AND e.objid = {oid_expr} AND e.deptype = 'e')"
    )
}

/// Leaves out objects of extensions and objects that exist only as part of
/// another object (a range type's constructor functions).
fn standalone(catalog: &str, oid_expr: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = '{catalog}'::pg_catalog.regclass AND e.objid = {oid_expr} AND (e.deptype = 'e' OR (e.deptype = 'i' AND e.refobjid <> e.objid)))"
    )
}

type Key = (Oid, Oid);

/// One statement of the schema, with what it is for the fingerprint.
#[derive(Debug, Clone)]
pub struct Item {
    /// The tables (as SQL) whose rows and indexes an index or foreign key
    /// needs: a parallel restore runs it as soon as they are in.
    pub needs: Vec<String>,
    pub kind: &'static str,
    pub name: String,
    pub sql: String,
    /// Part of the schema (and so of its fingerprint), not a value such as
    /// a sequence position.
    pub structural: bool,
    /// The catalog row the statement creates, where it creates one:
    /// comments and other attached statements follow it.
    pub key: Option<Key>,
}

/// A table whose rows are dumped.
#[derive(Debug, Clone)]
pub struct TableData {
    pub oid: Oid,
    /// `schema.table` as identifiers, quoted where needed.
    pub qualified: String,
    /// `schema.table` unquoted, for people and the manifest.
    pub display: String,
    /// The column list for COPY, quoted; generated columns are left out.
    pub columns: Vec<String>,
    pub bytes: i64,
    /// Dumped tables this one's foreign keys point at (the partitions
    /// holding the rows, where the key points at a partitioned table).
    pub references: Vec<String>,
    /// For a table an extension made: the rows that are the user's (its
    /// `pg_extension_config_dump` condition); the rest `CREATE EXTENSION`
    /// makes again.
    pub filter: Option<String>,
}

/// A sequence whose position is saved.
#[derive(Debug, Clone)]
pub struct SequenceRef {
    /// `schema.sequence` as identifiers, quoted where needed.
    pub qualified: String,
    /// The dumped tables whose column owns it (serial or identity); the
    /// partitions, where the owner is a partitioned table.
    pub tables: Vec<String>,
}

/// Everything the catalogs say, as SQL in restore order.
#[derive(Debug, Default)]
pub struct Catalog {
    pub server_version: String,
    pub version_num: i32,
    pub encoding: String,
    pub pre_data: Vec<Item>,
    /// Indexes and primary, unique and exclusion constraints: independent
    /// of one another, so a restore may build them in parallel.
    pub indexes: Vec<Item>,
    pub post_data: Vec<Item>,
    /// Foreign keys, last: independent of one another, so a restore may
    /// validate them in parallel.
    pub foreign_keys: Vec<Item>,
    /// After everything, as pg_dump orders them: event triggers, then
    /// materialized view refreshes.
    pub last: Vec<Item>,
    pub tables: Vec<TableData>,
    pub sequences: Vec<SequenceRef>,
    /// Objects lifeboat cannot carry yet, each with its kind and name.
    pub unsupported: Vec<String>,
    /// What the chosen tables need that the table selection leaves out:
    /// foreign keys to tables not chosen, views and partitions of them.
    pub selection_gaps: Vec<String>,
    /// Relations made in post-data (a materialized view that needs a key).
    pub postponed: HashSet<Oid>,
    /// Views made first as stand-ins with their columns only, and given
    /// their definitions in post-data: they wait for no relation.
    pub stand_ins: HashSet<Oid>,
    /// Roles that owners and grants name, with `--with-privileges`.
    pub roles: Vec<String>,
}

struct Pending {
    key: Key,
    rank: u8,
    item: Item,
}

pub fn quote_literal(s: &str) -> String {
    if s.contains('\\') {
        format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// Reads the catalog. `selection`, the user's patterns resolved against
/// this database, limits which tables and views are taken.
/// `no_tablespaces`: tables and indexes in a tablespace of their own are
/// taken as if in the default one (pg_dump --no-tablespaces).
pub fn read(client: &mut Client, selection: &Chosen, with_privileges: bool, no_tablespaces: bool) -> Result<Catalog> {
    let row = client.query_one(
        "SELECT current_setting('server_version'), current_setting('server_version_num')::int, pg_catalog.pg_encoding_to_char(d.encoding) FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()",
        &[],
    )?;
    let mut cat = Catalog {
        server_version: row.value(0)?,
        version_num: row.value(1)?,
        encoding: row.value(2)?,
        ..Default::default()
    };
    if cat.version_num < 120000 {
        bail!(
            "PostgreSQL {} is older than 12, which lifeboat does not support",
            cat.server_version
        );
    }
    cat.unsupported = unsupported(client)?;

    let mut pending: Vec<Pending> = Vec::new();
    schemas(client, &mut pending)?;
    extensions(client, &mut pending)?;
    collations(client, cat.version_num, &mut pending)?;
    let mut unvalidated = Vec::new();
    types(client, cat.version_num, &mut pending, &mut unvalidated)?;
    let late_routines = routines_needing_keys(client)?;
    let mut routines_after_keys = Vec::new();
    functions(client, &mut pending, &late_routines, &mut routines_after_keys)?;
    // Before the view definitions views() puts in post-data, which may
    // call them.
    cat.post_data.extend(routines_after_keys);
    let mut relations = relations(client, selection)?;
    let excluded = selection.excluded_relations(client, &relations)?;
    let chosen: HashSet<Oid> = relations
        .iter()
        .filter(|r| !excluded.contains(&r.oid))
        .map(|r| r.oid)
        .collect();
    let (identity_seqs, sequence_owners) = sequences(client, selection, &chosen, &mut pending)?;
    tables(
        client,
        cat.version_num,
        &relations,
        &excluded,
        &identity_seqs,
        &mut pending,
        &mut cat,
    )?;
    views(client, &relations, &excluded, &late_routines, &mut pending, &mut cat)?;
    extension_config(client, selection, &mut cat)?;
    // Foreign tables join the relations once tables and views are written,
    // so that post-data (triggers, comments) treats them as kept.
    let foreign = objects::pre_data(client, cat.version_num, selection, &excluded, &mut pending)?;
    relations.extend(foreign);
    objects::typed_tables(client, &mut pending)?;
    distinct_display_names(&mut cat.tables);
    links(client, sequence_owners, &mut cat)?;

    cat.pre_data = order(client, cat.version_num, pending, &cat.stand_ins)?;
    let kept: HashSet<Oid> = relations
        .iter()
        .filter(|r| !excluded.contains(&r.oid))
        .map(|r| r.oid)
        .collect();
    cat.post_data.extend(unvalidated);
    // Before post_data(), whose comments follow the statements they name.
    objects::post_data(client, cat.version_num, &kept, &mut cat)?;
    post_data(client, cat.version_num, &relations, &kept, &mut cat)?;
    cat.selection_gaps = selection_gaps(client, selection, &relations, &kept)?;
    if !no_tablespaces {
        cat.unsupported.extend(in_tablespaces(client, &kept)?);
    }
    if with_privileges {
        privileges::privileges(client, &kept, &mut cat)?;
    }
    objects::last_of_all(&mut cat);
    Ok(cat)
}

/// The chosen relations and their indexes that stand in a tablespace of
/// their own. pg_dump sets `default_tablespace` for them; lifeboat does not
/// carry tablespaces, and a restore into the database's default one would
/// be another database, silently, unless --no-tablespaces asked for that.
fn in_tablespaces(client: &mut Client, kept: &HashSet<Oid>) -> Result<Vec<String>> {
    let oids: Vec<Oid> = kept.iter().copied().collect();
    client
        .query(
            "SELECT pg_catalog.format('%s %I.%I in tablespace %I', CASE WHEN c.relkind IN ('i', 'I') THEN 'index' \
             WHEN c.relkind = 'm' THEN 'materialized view' ELSE 'table' END, n.nspname, c.relname, t.spcname) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_tablespace t ON t.oid = c.reltablespace \
             LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid \
             WHERE c.reltablespace <> 0 AND (c.oid = ANY($1) OR i.indrelid = ANY($1)) ORDER BY 1",
            &[&oids],
        )
        .context("looking for tables and indexes in tablespaces of their own")?
        .iter()
        .map(|r| r.value(0))
        .collect()
}

/// Objects lifeboat cannot carry, each as `kind name`, all of them; those
/// of extensions (and attached to an extension's objects) are never named.
fn unsupported(client: &mut Client) -> Result<Vec<String>> {
    let mut found = objects::unsupported(client)?;
    found.sort();
    found.dedup();
    Ok(found)
}

fn schemas(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    let sql = format!(
        "SELECT n.oid, pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_namespace n WHERE {USER_NS} AND n.nspname <> 'public' AND {}",
        not_ext_member("pg_namespace", "n.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        out.push(Pending {
            key: (PG_NAMESPACE, r.value(0)?),
            rank: 1,
            item: Item {
                needs: Vec::new(),
                kind: "schema",
                sql: format!("CREATE SCHEMA {name};"),
                name,
                structural: true,
                key: None,
            },
        });
    }
    Ok(())
}

fn extensions(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    for r in client.query(
        "SELECT e.oid, pg_catalog.quote_ident(e.extname), pg_catalog.quote_ident(n.nspname) FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'",
        &[],
    )? {
        let name: String = r.value(1)?;
        let schema: String = r.value(2)?;
        out.push(Pending {
            key: (PG_EXTENSION, r.value(0)?),
            rank: 2,
            item: Item { needs: Vec::new(), kind: "extension", sql: format!("CREATE EXTENSION IF NOT EXISTS {name} WITH SCHEMA {schema};"), name, structural: true, key: None },
        });
    }
    Ok(())
}

fn collations(client: &mut Client, version: i32, out: &mut Vec<Pending>) -> Result<()> {
    let locale = if version >= 170000 {
        "c.colllocale"
    } else if version >= 150000 {
        "c.colliculocale"
    } else {
        "c.collcollate"
    };
    let sql = format!(
        "SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.collname), c.collprovider::text, c.collcollate, c.collctype, c.collisdeterministic, {locale} FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace WHERE {USER_NS} AND {}",
        not_ext_member("pg_collation", "c.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        let provider: String = r.value(2)?;
        let mut opts = match provider.as_str() {
            "i" => format!(
                "provider = icu, locale = {}",
                quote_literal(&r.value::<Option<String>>(6)?.unwrap_or_default())
            ),
            "b" => format!(
                "provider = builtin, locale = {}",
                quote_literal(&r.value::<Option<String>>(6)?.unwrap_or_default())
            ),
            _ => format!(
                "provider = libc, lc_collate = {}, lc_ctype = {}",
                quote_literal(&r.value::<Option<String>>(3)?.unwrap_or_default()),
                quote_literal(&r.value::<Option<String>>(4)?.unwrap_or_default())
            ),
        };
        if !r.value::<bool>(5)? {
            opts.push_str(", deterministic = false");
        }
        out.push(Pending {
            key: (PG_COLLATION, r.value(0)?),
            rank: 3,
            item: Item {
                needs: Vec::new(),
                kind: "collation",
                sql: format!("CREATE COLLATION {name} ({opts});"),
                name,
                structural: true,
                key: None,
            },
        });
    }
    Ok(())
}

/// Types and domains; a domain's constraints that are NOT VALID go to
/// `later`, for post-data.
fn types(client: &mut Client, version: i32, out: &mut Vec<Pending>, later: &mut Vec<Item>) -> Result<()> {
    let multirange = if version >= 140000 {
        "(SELECT pg_catalog.format('%I.%I', mn.nspname, mt.typname) FROM pg_catalog.pg_type mt JOIN pg_catalog.pg_namespace mn ON mn.oid = mt.typnamespace WHERE mt.oid = r.rngmultitypid)"
    } else {
        "NULL::text"
    };
    let sql = format!(
        "SELECT t.oid, t.typtype::text, pg_catalog.format('%I.%I', n.nspname, t.typname), t.typrelid FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         WHERE {USER_NS} AND {} AND (t.typtype IN ('e', 'r', 'd') OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c'))",
        standalone("pg_type", "t.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let oid: Oid = r.value(0)?;
        let typtype: String = r.value(1)?;
        let name: String = r.value(2)?;
        let (kind, sql) = match typtype.as_str() {
            "e" => {
                let labels: Vec<String> = client
                    .query(
                        "SELECT enumlabel::text FROM pg_catalog.pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder",
                        &[&oid],
                    )?
                    .iter()
                    .map(|l| -> Result<_> { Ok(quote_literal(&l.value::<String>(0)?)) })
                    .collect::<Result<_>>()?;
                ("type", format!("CREATE TYPE {name} AS ENUM ({});", labels.join(", ")))
            }
            "c" => {
                let relid: Oid = r.value(3)?;
                let attrs: Vec<String> = client
                    .query(
                        "SELECT pg_catalog.quote_ident(a.attname) || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod) || \
                         CASE WHEN a.attcollation <> t.typcollation THEN ' COLLATE ' || pg_catalog.format('%I.%I', cn.nspname, co.collname) ELSE '' END \
                         FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                         LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
                         WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                        &[&relid],
                    )?
                    .iter()
                    .map(|a| a.value::<String>(0))
                    .collect::<Result<_>>()?;
                (
                    "type",
                    format!("CREATE TYPE {name} AS (\n    {}\n);", attrs.join(",\n    ")),
                )
            }
            "r" => {
                let r = client.query_one(
                    format!("SELECT pg_catalog.format_type(r.rngsubtype, NULL), \
                     CASE WHEN r.rngcollation <> 0 THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END, \
                     pg_catalog.format('%I.%I', on_.nspname, oc.opcname), \
                     CASE WHEN r.rngcanonical <> 0 THEN r.rngcanonical::pg_catalog.regproc::text END, \
                     CASE WHEN r.rngsubdiff <> 0 THEN r.rngsubdiff::pg_catalog.regproc::text END, \
                     {multirange} \
                     FROM pg_catalog.pg_range r JOIN pg_catalog.pg_opclass oc ON oc.oid = r.rngsubopc JOIN pg_catalog.pg_namespace on_ ON on_.oid = oc.opcnamespace \
                     LEFT JOIN pg_catalog.pg_collation co ON co.oid = r.rngcollation LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
                     WHERE r.rngtypid = $1").as_str(),
                    &[&oid],
                )?;
                let mut opts = vec![
                    format!("subtype = {}", r.value::<String>(0)?),
                    format!("subtype_opclass = {}", r.value::<String>(2)?),
                ];
                if let Some(c) = r.value::<Option<String>>(1)? {
                    opts.push(format!("collation = {c}"));
                }
                if let Some(c) = r.value::<Option<String>>(3)? {
                    opts.push(format!("canonical = {c}"));
                }
                if let Some(d) = r.value::<Option<String>>(4)? {
                    opts.push(format!("subtype_diff = {d}"));
                }
                if let Some(m) = r.value::<Option<String>>(5)? {
                    opts.push(format!("multirange_type_name = {m}"));
                }
                (
                    "type",
                    format!("CREATE TYPE {name} AS RANGE (\n    {}\n);", opts.join(",\n    ")),
                )
            }
            _ => {
                let d = client.query_one(
                    "SELECT pg_catalog.format_type(t.typbasetype, t.typtypmod), \
                     CASE WHEN t.typcollation <> bt.typcollation THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END, pg_catalog.pg_get_expr(t.typdefaultbin, 0), t.typnotnull \
                     FROM pg_catalog.pg_type t JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype \
                     LEFT JOIN pg_catalog.pg_collation co ON co.oid = t.typcollation LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE t.oid = $1",
                    &[&oid],
                )?;
                let mut sql = format!("CREATE DOMAIN {name} AS {}", d.value::<String>(0)?);
                if let Some(c) = d.value::<Option<String>>(1)? {
                    sql.push_str(&format!(" COLLATE {c}"));
                }
                if let Some(def) = d.value::<Option<String>>(2)? {
                    sql.push_str(&format!(" DEFAULT {def}"));
                }
                if d.value::<bool>(3)? {
                    sql.push_str(" NOT NULL");
                }
                for c in client.query(
                    "SELECT pg_catalog.quote_ident(conname), pg_catalog.pg_get_constraintdef(oid), convalidated, oid FROM pg_catalog.pg_constraint WHERE contypid = $1 AND contype = 'c' ORDER BY conname",
                    &[&oid],
                )? {
                    let (constraint, def): (String, String) = (c.value(0)?, c.value(1)?);
                    if c.value::<bool>(2)? {
                        sql.push_str(&format!("\n    CONSTRAINT {constraint} {def}"));
                    } else {
                        // Values may break it: it is added once the rows are in.
                        later.push(Item {
                            needs: Vec::new(),
                            kind: "constraint",
                            name: format!("{constraint} on {name}"),
                            sql: format!("ALTER DOMAIN {name} ADD CONSTRAINT {constraint} {def};"),
                            structural: true,
                            key: Some((PG_CONSTRAINT, c.value(3)?)),
                        });
                    }
                }
                sql.push(';');
                ("domain", sql)
            }
        };
        out.push(Pending {
            key: (PG_TYPE, oid),
            rank: 4,
            item: Item {
                needs: Vec::new(),
                kind,
                sql,
                name,
                structural: true,
                key: None,
            },
        });
    }
    Ok(())
}

/// Routines whose SQL-standard body (`BEGIN ATOMIC`) stands on a primary
/// key, unique or exclusion constraint (a GROUP BY on the key), and those
/// standing on them, in the order they can be made: as pg_dump does, they
/// are made in post-data, once the keys are built.
fn routines_needing_keys(client: &mut Client) -> Result<Vec<Oid>> {
    let mut late: Vec<Oid> = client
        .query(
            "SELECT DISTINCT d.objid FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_constraint c ON c.oid = d.refobjid \
             WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.refclassid = 'pg_catalog.pg_constraint'::pg_catalog.regclass \
             AND d.deptype = 'n' AND c.contype IN ('p', 'u', 'x') ORDER BY 1",
            &[],
        )
        .context("looking for routines that stand on keys")?
        .iter()
        .map(|r| r.value(0))
        .collect::<Result<_>>()?;
    if late.is_empty() {
        return Ok(late);
    }
    let calls: Vec<(Oid, Oid)> = client
        .query(
            "SELECT d.objid, d.refobjid FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass \
             AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.deptype = 'n' AND d.objid <> d.refobjid AND d.objid >= 16384",
            &[],
        )?
        .iter()
        .map(|r| Ok((r.value(0)?, r.value(1)?)))
        .collect::<Result<_>>()?;
    // Those that call a late one are late; each comes after those it calls.
    loop {
        let more: Vec<Oid> = calls
            .iter()
            .filter(|(caller, callee)| late.contains(callee) && !late.contains(caller))
            .map(|(caller, _)| *caller)
            .collect();
        if more.is_empty() {
            break;
        }
        for m in more {
            if !late.contains(&m) {
                late.push(m);
            }
        }
    }
    Ok(late)
}

fn functions(client: &mut Client, out: &mut Vec<Pending>, late: &[Oid], later: &mut Vec<Item>) -> Result<()> {
    let mut postponed: Vec<(Oid, Item)> = Vec::new();
    let mut out_or_later = |oid: Oid, rank: u8, item: Item| {
        if late.contains(&oid) {
            postponed.push((
                oid,
                Item {
                    key: Some((PG_PROC, oid)),
                    ..item
                },
            ));
        } else {
            out.push(Pending {
                key: (PG_PROC, oid),
                rank,
                item,
            });
        }
    };
    let sql = format!(
        "SELECT p.oid, p.prokind::text, pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)), \
         CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END \
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE {USER_NS} AND {}",
        standalone("pg_proc", "p.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let oid: Oid = r.value(0)?;
        let prokind: String = r.value(1)?;
        let name: String = r.value(2)?;
        if prokind == "a" {
            let sql = objects::aggregate(client, oid)?;
            out_or_later(
                oid,
                6,
                Item {
                    needs: Vec::new(),
                    kind: "aggregate",
                    sql,
                    name,
                    structural: true,
                    key: None,
                },
            );
            continue;
        }
        let def: String = r.value(3)?;
        let kind = if prokind == "p" { "procedure" } else { "function" };
        out_or_later(
            oid,
            5,
            Item {
                needs: Vec::new(),
                kind,
                sql: format!("{};", def.trim_end()),
                name,
                structural: true,
                key: None,
            },
        );
    }
    // In post-data in the order `late` gives: each after what it calls.
    postponed.sort_by_key(|(oid, _)| late.iter().position(|l| l == oid));
    later.extend(postponed.into_iter().map(|(_, item)| item));
    Ok(())
}

/// Identity sequences keyed by (table oid, column number).
type IdentitySeqs = HashMap<(Oid, i16), Oid>;

/// Sequences by name, each with the oids of the tables that own it.
type SequenceOwners = Vec<(String, Vec<Oid>)>;

/// Sequences, with what the tables chosen need: a sequence goes with the
/// table owning it and with every table whose defaults use it, as well as
/// where the patterns choose it by name (as pg_dump's `-t` does).
fn sequences(
    client: &mut Client,
    selection: &Chosen,
    chosen: &HashSet<Oid>,
    out: &mut Vec<Pending>,
) -> Result<(IdentitySeqs, SequenceOwners)> {
    let sql = format!(
        "SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname), pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, \
         (SELECT d.refobjid FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.deptype = 'i'), \
         (SELECT d.refobjsubid::int2 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.deptype = 'i'), \
         (SELECT pg_catalog.array_agg(o.relid) FROM pg_catalog.pg_depend d, LATERAL ({}) o \
          WHERE d.classid = 'pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')), \
         c.relpersistence::text, \
         (SELECT d.refobjid FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i') LIMIT 1), \
         (SELECT pg_catalog.array_agg(ad.adrelid) FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid \
          WHERE d.classid = 'pg_attrdef'::pg_catalog.regclass AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.refobjid = c.oid), \
         n.nspname::text, c.relname::text \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid \
         WHERE c.relkind = 'S' AND {USER_NS} AND {} ORDER BY 2",
        leaves("d.refobjid"),
        not_ext_member("pg_class", "c.oid")
    );
    let mut identity = IdentitySeqs::new();
    let mut owners = Vec::new();
    for r in client.query(sql.as_str(), &[])? {
        let oid: Oid = r.value(0)?;
        let name: String = r.value(1)?;
        let owner: Option<Oid> = r.value(13)?;
        let users: Vec<Oid> = r.value::<Option<Vec<Oid>>>(14)?.unwrap_or_default();
        let wanted = selection.is_empty()
            || selection.wants_name(&r.value::<String>(15)?, &r.value::<String>(16)?)
            || owner.is_some_and(|o| chosen.contains(&o))
            || users.iter().any(|u| chosen.contains(u));
        if !wanted {
            continue;
        }
        owners.push((name.clone(), r.value::<Option<Vec<Oid>>>(11)?.unwrap_or_default()));
        if let (Some(table), Some(col)) = (r.value::<Option<Oid>>(9)?, r.value::<Option<i16>>(10)?) {
            identity.insert((table, col), oid);
            continue;
        }
        let unlogged = if r.value::<String>(12)? == "u" { "UNLOGGED " } else { "" };
        let sql = format!("CREATE {unlogged}SEQUENCE {name}\n    {};", sequence_options(&r, 2)?);
        out.push(Pending {
            key: (PG_CLASS, oid),
            rank: 7,
            item: Item {
                needs: Vec::new(),
                kind: "sequence",
                sql,
                name,
                structural: true,
                key: None,
            },
        });
    }
    Ok((identity, owners))
}

/// The manifest names tables as they print, and two tables can print
/// alike (`"public.a".b` and `public."a.b"` are both public.a.b): those
/// that do are named by their quoted SQL name instead, which is unique, so
/// each table's rows, counts and digests stay its own.
fn distinct_display_names(tables: &mut [TableData]) {
    let mut count: HashMap<String, usize> = HashMap::new();
    for t in tables.iter() {
        *count.entry(t.display.clone()).or_default() += 1;
    }
    for t in tables.iter_mut() {
        if count[&t.display] > 1 {
            t.display = t.qualified.clone();
        }
    }
}

/// The relation `oid_expr` and every partition below it; a plain table's
/// partition tree is empty.
fn leaves(oid_expr: &str) -> String {
    format!(
        "SELECT {oid_expr} AS relid UNION SELECT p.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree({oid_expr}) p WHERE p.isleaf"
    )
}

/// What a restore of chosen tables needs to know about them: the tables
/// their foreign keys point at, and the sequences their columns own.
fn links(client: &mut Client, sequence_owners: SequenceOwners, cat: &mut Catalog) -> Result<()> {
    let names: HashMap<Oid, String> = cat.tables.iter().map(|t| (t.oid, t.display.clone())).collect();
    cat.sequences = sequence_owners
        .into_iter()
        .map(|(qualified, owners)| SequenceRef {
            qualified,
            tables: owners.iter().filter_map(|o| names.get(o).cloned()).collect(),
        })
        .collect();
    // Partitions carry their own copies of a partitioned table's keys, so
    // conrelid is always a table holding rows.
    let sql = format!(
        "SELECT DISTINCT c.conrelid, o.relid FROM pg_catalog.pg_constraint c, LATERAL ({}) o \
         WHERE c.contype = 'f' AND o.relid <> c.conrelid ORDER BY 1, 2",
        leaves("c.confrelid")
    );
    let rows = client.query(sql.as_str(), &[])?;
    let mut references: HashMap<Oid, Vec<String>> = HashMap::new();
    for r in rows {
        if let Some(name) = names.get(&r.value::<Oid>(1)?) {
            references.entry(r.value(0)?).or_default().push(name.clone());
        }
    }
    for t in &mut cat.tables {
        t.references = references.remove(&t.oid).unwrap_or_default();
    }
    Ok(())
}

/// `AS type START WITH ... CYCLE` from a row with the sequence columns
/// starting at `at`.
fn sequence_options(r: &postgres::Row, at: usize) -> Result<String> {
    Ok(format!(
        "AS {} START WITH {} INCREMENT BY {} MINVALUE {} MAXVALUE {} CACHE {}{}",
        r.value::<String>(at)?,
        r.value::<i64>(at + 1)?,
        r.value::<i64>(at + 2)?,
        r.value::<i64>(at + 3)?,
        r.value::<i64>(at + 4)?,
        r.value::<i64>(at + 5)?,
        if r.value::<bool>(at + 6)? {
            " CYCLE"
        } else {
            " NO CYCLE"
        }
    ))
}

/// A primary key's or unique constraint's definition with its index's
/// storage parameters, which `pg_get_constraintdef` leaves out: `WITH
/// (...)` goes after the columns and before `DEFERRABLE`, as pg_dump
/// writes it.
fn with_index_options(def: String, options: Option<String>) -> String {
    let Some(options) = options.filter(|o| !o.is_empty()) else {
        return def;
    };
    let tail = [" DEFERRABLE INITIALLY DEFERRED", " DEFERRABLE"]
        .into_iter()
        .find(|t| def.ends_with(t))
        .unwrap_or("");
    format!("{} WITH ({options}){tail}", &def[..def.len() - tail.len()])
}

/// A table, view or materialized view.
#[derive(Debug, Clone)]
pub struct Relation {
    pub oid: Oid,
    pub kind: char,
    pub schema: String,
    pub name: String,
    pub qualified: String,
    pub persistence: char,
    pub is_partition: bool,
    pub bound: Option<String>,
    pub partkey: Option<String>,
    pub rls: bool,
    pub force_rls: bool,
    pub options: Option<String>,
    pub replident: char,
    pub populated: bool,
    pub bytes: i64,
    /// The table access method, where it is not the default `heap`.
    pub access_method: Option<String>,
}

fn relations(client: &mut Client, _selection: &Chosen) -> Result<Vec<Relation>> {
    let sql = format!(
        "SELECT c.oid, c.relkind::text, n.nspname::text, c.relname::text, pg_catalog.format('%I.%I', n.nspname, c.relname), c.relpersistence::text, c.relispartition, \
         CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END, \
         CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END, c.relrowsecurity, c.relforcerowsecurity, \
         (SELECT pg_catalog.string_agg(o, ', ' ORDER BY o) FROM pg_catalog.unnest(c.reloptions || (SELECT pg_catalog.array_agg('toast.' || o) FROM pg_catalog.pg_class tc, pg_catalog.unnest(tc.reloptions) o WHERE tc.oid = c.reltoastrelid)) o), c.relreplident::text, c.relispopulated, pg_catalog.pg_relation_size(c.oid), \
         (SELECT pg_catalog.quote_ident(a.amname) FROM pg_catalog.pg_am a WHERE a.oid = c.relam AND a.amname <> 'heap') \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm') AND {USER_NS} AND {} ORDER BY 3, 4",
        not_ext_member("pg_class", "c.oid")
    );
    client
        .query(sql.as_str(), &[])?
        .iter()
        .map(|r| -> Result<_> {
            Ok(Relation {
                oid: r.value(0)?,
                kind: r.value::<String>(1)?.chars().next().unwrap_or('r'),
                schema: r.value(2)?,
                name: r.value(3)?,
                qualified: r.value(4)?,
                persistence: r.value::<String>(5)?.chars().next().unwrap_or('p'),
                is_partition: r.value(6)?,
                bound: r.value(7)?,
                partkey: r.value(8)?,
                rls: r.value(9)?,
                force_rls: r.value(10)?,
                options: r.value::<Option<String>>(11)?.filter(|s| !s.is_empty()),
                replident: r.value::<String>(12)?.chars().next().unwrap_or('d'),
                populated: r.value(13)?,
                bytes: r.value(14)?,
                access_method: r.value(15)?,
            })
        })
        .collect::<Result<_>>()
}

/// `SET STATISTICS`, `SET STORAGE`, `SET COMPRESSION` and `SET (...)`
/// from a row holding the four columns from `at`.
fn column_settings(r: &postgres::Row, at: usize) -> Result<Vec<String>> {
    let mut settings = Vec::new();
    if let Some(target) = r.value::<Option<i32>>(at)? {
        settings.push(format!("SET STATISTICS {target}"));
    }
    match r.value::<Option<String>>(at + 1)?.as_deref() {
        Some("p") => settings.push("SET STORAGE PLAIN".into()),
        Some("e") => settings.push("SET STORAGE EXTERNAL".into()),
        Some("m") => settings.push("SET STORAGE MAIN".into()),
        Some("x") => settings.push("SET STORAGE EXTENDED".into()),
        _ => {}
    }
    match r.value::<Option<String>>(at + 2)?.as_deref() {
        Some("p") => settings.push("SET COMPRESSION pglz".into()),
        Some("l") => settings.push("SET COMPRESSION lz4".into()),
        _ => {}
    }
    if let Some(options) = r.value::<Option<String>>(at + 3)?.filter(|o| !o.is_empty()) {
        settings.push(format!("SET ({options})"));
    }
    Ok(settings)
}

/// A NOT NULL constraint (PostgreSQL 18 and later).
struct NotNull {
    quoted: String,
    name: String,
    valid: bool,
    no_inherit: bool,
    oid: Oid,
}

struct Check {
    name: String,
    def: String,
    valid: bool,
    local: bool,
    oid: Oid,
}

struct Column {
    num: i16,
    name: String,
    raw_name: String,
    ty: String,
    notnull: bool,
    local: bool,
    identity: String,
    generated: String,
    default: Option<String>,
    collation: Option<String>,
    /// `ALTER COLUMN` settings beyond the definition: statistics target,
    /// storage, compression and attribute options.
    settings: Vec<String>,
}

fn tables(
    client: &mut Client,
    version: i32,
    relations: &[Relation],
    excluded: &HashSet<Oid>,
    identity_seqs: &IdentitySeqs,
    out: &mut Vec<Pending>,
    cat: &mut Catalog,
) -> Result<()> {
    let tables: Vec<&Relation> = relations
        .iter()
        .filter(|r| matches!(r.kind, 'r' | 'p') && !excluded.contains(&r.oid))
        .collect();
    let oids: Vec<Oid> = tables.iter().map(|t| t.oid).collect();
    let generated = if version >= 120000 {
        "a.attgenerated::text"
    } else {
        "''"
    };
    let compression = if version >= 140000 {
        "a.attcompression::text"
    } else {
        "''"
    };
    let mut columns: HashMap<Oid, Vec<Column>> = HashMap::new();
    for r in client.query(
        format!(
            "SELECT a.attrelid, a.attnum, pg_catalog.quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attislocal, \
             a.attidentity::text, {generated}, pg_catalog.pg_get_expr(d.adbin, d.adrelid), \
             CASE WHEN a.attcollation <> t.typcollation THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END, \
             CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::int END, CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END, \
             {compression}, pg_catalog.array_to_string(a.attoptions, ', '), a.attname::text \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum"
        )
        .as_str(),
        &[&oids],
    )? {
        columns.entry(r.value(0)?).or_default().push(Column {
            num: r.value(1)?,
            name: r.value(2)?,
            raw_name: r.value(14)?,
            ty: r.value(3)?,
            notnull: r.value(4)?,
            local: r.value(5)?,
            identity: r.value(6)?,
            generated: r.value(7)?,
            default: r.value(8)?,
            collation: r.value(9)?,
            settings: column_settings(&r, 10)?,
        });
    }
    let mut parents: HashMap<Oid, Vec<(Oid, String)>> = HashMap::new();
    for r in client.query(
        "SELECT i.inhrelid, i.inhparent, pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhparent \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE i.inhrelid = ANY($1) ORDER BY i.inhrelid, i.inhseqno",
        &[&oids],
    )? {
        parents.entry(r.value(0)?).or_default().push((r.value(1)?, r.value(2)?));
    }
    // A default or check that calls a function reading tables (a
    // SQL-standard body, or a table's row type as argument) can close a
    // cycle: the function needs the table, the table its default. As
    // pg_dump splits such a loop, these are set once the function exists.
    let reads_tables = "EXISTS (SELECT 1 FROM pg_catalog.pg_depend x JOIN pg_catalog.pg_depend y ON y.classid = 'pg_proc'::pg_catalog.regclass AND y.objid = x.refobjid \
         WHERE x.classid = $2::text::pg_catalog.regclass AND x.objid = o.oid AND x.refclassid = 'pg_proc'::pg_catalog.regclass AND x.refobjid >= 16384 \
         AND (y.refclassid = 'pg_class'::pg_catalog.regclass OR (y.refclassid = 'pg_type'::pg_catalog.regclass \
              AND EXISTS (SELECT 1 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_class c ON c.oid = t.typrelid WHERE t.oid = y.refobjid AND c.relkind <> 'c'))))";
    let mut split_defaults: HashMap<(Oid, i16), Oid> = HashMap::new();
    for r in client.query(
        format!(
            "SELECT o.adrelid, o.adnum, o.oid FROM pg_catalog.pg_attrdef o WHERE o.adrelid = ANY($1) AND {reads_tables}"
        )
        .as_str(),
        &[&oids, &"pg_attrdef"],
    )? {
        split_defaults.insert((r.value(0)?, r.value(1)?), r.value(2)?);
    }
    let split_checks: HashSet<Oid> = client
        .query(
            format!("SELECT o.oid FROM pg_catalog.pg_constraint o WHERE o.conrelid = ANY($1) AND o.contype = 'c' AND {reads_tables}").as_str(),
            &[&oids, &"pg_constraint"],
        )?
        .iter()
        .map(|r| r.value(0))
        .collect::<Result<_>>()?;
    let mut checks: HashMap<Oid, Vec<Check>> = HashMap::new();
    for r in client.query(
        "SELECT conrelid, pg_catalog.quote_ident(conname), pg_catalog.pg_get_constraintdef(oid), convalidated, conislocal, oid FROM pg_catalog.pg_constraint \
         WHERE conrelid = ANY($1) AND contype = 'c' ORDER BY conrelid, conname",
        &[&oids],
    )? {
        checks.entry(r.value(0)?).or_default().push(Check {
            name: r.value(1)?,
            def: r.value(2)?,
            valid: r.value(3)?,
            local: r.value(4)?,
            oid: r.value(5)?,
        });
    }
    // A partition whose columns stand in another order than its parent's
    // is created on its own and attached, as pg_dump does, so its rows
    // keep their column order.
    let reordered: HashSet<Oid> = client
        .query(
            "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid WHERE c.oid = ANY($1) AND c.relispartition \
             AND ((SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) \
             IS DISTINCT FROM (SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.inhparent AND a.attnum > 0 AND NOT a.attisdropped) \
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint pc JOIN pg_catalog.pg_attribute pa ON pa.attrelid = c.oid AND pa.attnum = pc.conkey[1] \
                WHERE pc.conrelid = c.oid AND pc.contype = 'n' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint qc \
                JOIN pg_catalog.pg_attribute qa ON qa.attrelid = i.inhparent AND qa.attnum = qc.conkey[1] \
                WHERE qc.conrelid = i.inhparent AND qc.contype = 'n' AND qa.attname = pa.attname AND qc.conname = pc.conname)))",
            &[&oids],
        )?
        .iter()
        .map(|r| r.value(0))
        .collect::<Result<_>>()?;
    // From PostgreSQL 18, NOT NULL is a named constraint that can be
    // NOT VALID or NO INHERIT.
    let mut not_nulls: HashMap<(Oid, i16), NotNull> = HashMap::new();
    if version >= 180000 {
        for r in client.query(
            "SELECT conrelid, conkey[1], pg_catalog.quote_ident(conname), conname::text, convalidated, connoinherit, oid FROM pg_catalog.pg_constraint \
             WHERE contype = 'n' AND conrelid = ANY($1)",
            &[&oids],
        )? {
            not_nulls.insert(
                (r.value(0)?, r.value(1)?),
                NotNull {
                    quoted: r.value(2)?,
                    name: r.value(3)?,
                    valid: r.value(4)?,
                    no_inherit: r.value(5)?,
                    oid: r.value(6)?,
                },
            );
        }
    }

    for t in &tables {
        let cols = columns.remove(&t.oid).unwrap_or_default();
        let my_parents = parents.get(&t.oid).cloned().unwrap_or_default();
        let mut defs = Vec::new();
        let mut after = Vec::new();
        let parent_cols: HashMap<String, (bool, Option<String>)> = if my_parents.is_empty() {
            HashMap::new()
        } else {
            let parent_oids: Vec<Oid> = my_parents.iter().map(|p| p.0).collect();
            client
                .query(
                    "SELECT pg_catalog.quote_ident(a.attname), bool_or(a.attnotnull), max(pg_catalog.pg_get_expr(d.adbin, d.adrelid)) FROM pg_catalog.pg_attribute a \
                     LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped GROUP BY 1",
                    &[&parent_oids],
                )?
                .iter()
                .map(|r| -> Result<_> { Ok((r.value::<String>(0)?, (r.value::<bool>(1)?, r.value::<Option<String>>(2)?))) })
                .collect::<Result<_>>()?
        };
        for c in &cols {
            for setting in &c.settings {
                after.push(format!(
                    "ALTER TABLE ONLY {} ALTER COLUMN {} {setting};",
                    t.qualified, c.name
                ));
            }
            if (!c.local || t.is_partition) && !reordered.contains(&t.oid) {
                // Inherited: created by the parent; only differences are set here.
                let (parent_notnull, parent_default) = parent_cols.get(&c.name).cloned().unwrap_or((false, None));
                if c.notnull && !parent_notnull {
                    after.push(match not_nulls.get(&(t.oid, c.num)) {
                        Some(n) => format!(
                            "ALTER TABLE ONLY {} ADD CONSTRAINT {} NOT NULL {}{};",
                            t.qualified,
                            n.quoted,
                            c.name,
                            if n.valid { "" } else { " NOT VALID" }
                        ),
                        None => format!("ALTER TABLE ONLY {} ALTER COLUMN {} SET NOT NULL;", t.qualified, c.name),
                    });
                }
                if c.generated.is_empty()
                    && c.default != parent_default
                    && let Some(d) = &c.default
                {
                    after.push(format!(
                        "ALTER TABLE ONLY {} ALTER COLUMN {} SET DEFAULT {d};",
                        t.qualified, c.name
                    ));
                }
                continue;
            }
            let mut def = format!("{} {}", c.name, c.ty);
            if let Some(coll) = &c.collation {
                def.push_str(&format!(" COLLATE {coll}"));
            }
            if c.generated == "s" {
                def.push_str(&format!(
                    " GENERATED ALWAYS AS ({}) STORED",
                    c.default.as_deref().unwrap_or("NULL")
                ));
            } else if c.generated == "v" {
                def.push_str(&format!(
                    " GENERATED ALWAYS AS ({}) VIRTUAL",
                    c.default.as_deref().unwrap_or("NULL")
                ));
            } else if let Some(d) = &c.default {
                match split_defaults.get(&(t.oid, c.num)) {
                    Some(&attrdef) => out.push(Pending {
                        key: (PG_ATTRDEF, attrdef),
                        rank: 11,
                        item: Item {
                            needs: Vec::new(),
                            kind: "default",
                            name: format!("{}.{}", t.qualified, c.name),
                            sql: format!(
                                "ALTER TABLE ONLY {} ALTER COLUMN {} SET DEFAULT {d};",
                                t.qualified, c.name
                            ),
                            structural: true,
                            key: None,
                        },
                    }),
                    None => def.push_str(&format!(" DEFAULT {d}")),
                }
            }
            if !c.identity.is_empty() {
                let seq = identity_seqs.get(&(t.oid, c.num)).copied();
                let opts = match seq {
                    Some(seq) => {
                        let r = client.query_one(
                            "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, c.relpersistence::text \
                             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid WHERE c.oid = $1",
                            &[&seq],
                        )?;
                        let all = sequence_options(&r, 1)?;
                        // AS type is the column's type for identity sequences.
                        let without_type = all
                            .split_once(' ')
                            .map(|(_, rest)| rest.split_once(' ').map(|(_, r)| r).unwrap_or(rest))
                            .unwrap_or(&all);
                        // Its persistence follows the table's unless set apart.
                        let unlogged = if r.value::<String>(8)? == "u" && t.persistence != 'u' {
                            " UNLOGGED"
                        } else {
                            ""
                        };
                        format!(" (SEQUENCE NAME {}{unlogged} {without_type})", r.value::<String>(0)?)
                    }
                    None => String::new(),
                };
                let how = if c.identity == "a" { "ALWAYS" } else { "BY DEFAULT" };
                def.push_str(&format!(" GENERATED {how} AS IDENTITY{opts}"));
            }
            match not_nulls.get(&(t.oid, c.num)) {
                Some(n) if !n.valid => {
                    // Rows may break it: it is added once they are in.
                    cat.post_data.push(Item {
                        needs: Vec::new(),
                        kind: "constraint",
                        name: format!("{} on {}", n.quoted, t.qualified),
                        sql: format!(
                            "ALTER TABLE {} ADD CONSTRAINT {} NOT NULL {} NOT VALID;",
                            t.qualified, n.quoted, c.name
                        ),
                        structural: true,
                        key: Some((PG_CONSTRAINT, n.oid)),
                    });
                }
                Some(n) => {
                    if n.name != format!("{}_{}_not_null", t.name, c.raw_name) {
                        def.push_str(&format!(" CONSTRAINT {}", n.quoted));
                    }
                    def.push_str(" NOT NULL");
                    if n.no_inherit {
                        def.push_str(" NO INHERIT");
                    }
                }
                None if c.notnull => def.push_str(" NOT NULL"),
                None => {}
            }
            defs.push(def);
        }
        let standalone = !t.is_partition || reordered.contains(&t.oid);
        for Check {
            name,
            def,
            valid,
            local,
            oid,
        } in checks.remove(&t.oid).unwrap_or_default()
        {
            if !(local || t.is_partition && standalone) {
                continue;
            }
            if valid && split_checks.contains(&oid) {
                out.push(Pending {
                    key: (PG_CONSTRAINT, oid),
                    rank: 11,
                    item: Item {
                        needs: Vec::new(),
                        kind: "constraint",
                        name: format!("{name} on {}", t.qualified),
                        sql: format!("ALTER TABLE {} ADD CONSTRAINT {name} {def};", t.qualified),
                        structural: true,
                        key: None,
                    },
                });
            } else if !valid {
                cat.post_data.push(Item {
                    needs: Vec::new(),
                    kind: "constraint",
                    name: format!("{name} on {}", t.qualified),
                    sql: format!("ALTER TABLE {} ADD CONSTRAINT {name} {def};", t.qualified),
                    structural: true,
                    key: Some((PG_CONSTRAINT, oid)),
                });
            } else if !standalone {
                after.push(format!("ALTER TABLE ONLY {} ADD CONSTRAINT {name} {def};", t.qualified));
            } else {
                defs.push(format!("CONSTRAINT {name} {def}"));
            }
        }
        let unlogged = if t.persistence == 'u' { "UNLOGGED " } else { "" };
        let mut sql = if !standalone {
            let parent = my_parents
                .first()
                .map(|p| p.1.clone())
                .context("a partition without a parent")?;
            format!(
                "CREATE {unlogged}TABLE {} PARTITION OF {parent}\n    {}",
                t.qualified,
                t.bound.clone().unwrap_or_default()
            )
        } else {
            let mut s = format!("CREATE {unlogged}TABLE {} (", t.qualified);
            if !defs.is_empty() {
                s.push_str(&format!("\n    {}\n", defs.join(",\n    ")));
            }
            s.push(')');
            if !my_parents.is_empty() && !t.is_partition {
                s.push_str(&format!(
                    "\nINHERITS ({})",
                    my_parents.iter().map(|p| p.1.clone()).collect::<Vec<_>>().join(", ")
                ));
            }
            s
        };
        if let Some(key) = &t.partkey {
            sql.push_str(&format!("\nPARTITION BY {key}"));
        }
        if let Some(am) = t.access_method.as_ref().filter(|_| t.kind == 'r') {
            sql.push_str(&format!("\nUSING {am}"));
        }
        if let Some(opts) = &t.options {
            sql.push_str(&format!("\nWITH ({opts})"));
        }
        sql.push(';');
        if t.is_partition && standalone {
            let parent = my_parents
                .first()
                .map(|p| p.1.clone())
                .context("a partition without a parent")?;
            sql.push_str(&format!(
                "\nALTER TABLE ONLY {parent} ATTACH PARTITION {} {};",
                t.qualified,
                t.bound.clone().unwrap_or_default()
            ));
        }
        for a in after {
            sql.push('\n');
            sql.push_str(&a);
        }
        out.push(Pending {
            key: (PG_CLASS, t.oid),
            rank: 8,
            item: Item {
                needs: Vec::new(),
                kind: "table",
                name: t.qualified.clone(),
                sql,
                structural: true,
                key: None,
            },
        });
        if t.kind == 'r' {
            cat.tables.push(TableData {
                oid: t.oid,
                qualified: t.qualified.clone(),
                display: format!("{}.{}", t.schema, t.name),
                columns: cols
                    .iter()
                    .filter(|c| c.generated.is_empty())
                    .map(|c| c.name.clone())
                    .collect(),
                bytes: t.bytes,
                references: Vec::new(),
                filter: None,
            });
        }
    }
    Ok(())
}

fn views(
    client: &mut Client,
    relations: &[Relation],
    excluded: &HashSet<Oid>,
    late_routines: &[Oid],
    out: &mut Vec<Pending>,
    cat: &mut Catalog,
) -> Result<()> {
    // A view that needs a primary key or unique constraint (a GROUP BY on
    // the key) cannot be created before post-data builds the key: as
    // pg_dump does, such a view starts as a stand-in with the same columns
    // and gets its definition once the keys exist.
    let needs_keys: HashSet<Oid> = client
        .query(
            "SELECT DISTINCT r.ev_class FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid \
             JOIN pg_catalog.pg_constraint c ON c.oid = d.refobjid \
             WHERE d.classid = 'pg_rewrite'::pg_catalog.regclass AND d.refclassid = 'pg_constraint'::pg_catalog.regclass AND c.contype IN ('p', 'u', 'x')",
            &[],
        )?
        .iter()
        .map(|r| r.value(0))
        .chain(
            // A view calling a routine made once the keys are.
            client
                .query(
                    "SELECT DISTINCT r.ev_class FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid \
                     WHERE d.classid = 'pg_rewrite'::pg_catalog.regclass AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass \
                     AND d.refobjid = ANY($1)",
                    &[&late_routines],
                )?
                .iter()
                .map(|r| r.value(0)),
        )
        .collect::<Result<_>>()?;
    // What each view reads; a view or materialized view reading a
    // materialized view made in post-data comes after it, there.
    let mut reads: HashMap<Oid, Vec<Oid>> = HashMap::new();
    for r in client.query(
        "SELECT DISTINCT r.ev_class, d.refobjid FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid \
         WHERE d.classid = 'pg_rewrite'::pg_catalog.regclass AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.refobjid <> r.ev_class",
        &[],
    )? {
        reads.entry(r.value(0)?).or_default().push(r.value(1)?);
    }
    let kinds: HashMap<Oid, char> = relations.iter().map(|r| (r.oid, r.kind)).collect();
    let mut late: HashSet<Oid> = needs_keys
        .iter()
        .copied()
        .filter(|o| matches!(kinds.get(o), Some('v' | 'm')))
        .collect();
    // A view that reads itself (`CREATE OR REPLACE VIEW v AS SELECT * FROM
    // v`), or reads itself through other views, cannot be created from its
    // definition, which names it: it starts as a stand-in too. pg_depend
    // does not tell a view reading itself from any other (each depends on
    // itself), its rule does: the relation's own OID stands in its range
    // table beyond the OLD and NEW entries stored up to PostgreSQL 15.
    let self_reading: Vec<Oid> = client
        .query(
            "SELECT r.ev_class FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class \
             WHERE c.relkind = 'v' AND r.rulename = '_RETURN' \
             AND (SELECT pg_catalog.count(*) FROM pg_catalog.regexp_matches(r.ev_action::pg_catalog.text, ':relid ' || r.ev_class::pg_catalog.text || ' ', 'g')) \
                 > CASE WHEN pg_catalog.current_setting('server_version_num')::pg_catalog.int4 >= 160000 THEN 0 ELSE 2 END",
            &[],
        )
        .context("looking for views that read themselves")?
        .iter()
        .map(|r| r.value(0))
        .collect::<Result<_>>()?;
    late.extend(self_reading);
    for &v in reads.keys() {
        if kinds.get(&v) == Some(&'v') && reaches(&reads, &kinds, v) {
            late.insert(v);
        }
    }
    loop {
        let more: Vec<Oid> = reads
            .iter()
            .filter(|(v, on)| {
                !late.contains(v)
                    && matches!(kinds.get(v), Some('v' | 'm'))
                    && on.iter().any(|o| late.contains(o) && kinds.get(o) == Some(&'m'))
            })
            .map(|(v, _)| *v)
            .collect();
        if more.is_empty() {
            break;
        }
        late.extend(more);
    }
    let mut late_items: Vec<(Oid, Item)> = Vec::new();
    for v in relations
        .iter()
        .filter(|r| matches!(r.kind, 'v' | 'm') && !excluded.contains(&r.oid))
    {
        let def: String = client
            .query_one("SELECT pg_catalog.pg_get_viewdef($1::pg_catalog.oid)", &[&v.oid])?
            .value(0)?;
        let def = def.trim_end().trim_end_matches(';');
        let with = v.options.as_ref().map(|o| format!(" WITH ({o})")).unwrap_or_default();
        let (kind, sql, rank) = if v.kind == 'v' && late.contains(&v.oid) {
            let columns: Vec<String> = client
                .query(
                    "SELECT pg_catalog.format('NULL::%s%s AS %I', pg_catalog.format_type(a.atttypid, a.atttypmod), \
                     CASE WHEN a.attcollation <> t.typcollation THEN ' COLLATE ' || pg_catalog.format('%I.%I', cn.nspname, co.collname) ELSE '' END, a.attname) \
                     FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                     LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
                     WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                    &[&v.oid],
                )?
                .iter()
                .map(|r| r.value(0))
                .collect::<Result<_>>()?;
            cat.stand_ins.insert(v.oid);
            late_items.push((
                v.oid,
                Item {
                    needs: Vec::new(),
                    kind: "view definition",
                    name: v.qualified.clone(),
                    sql: format!("CREATE OR REPLACE VIEW {}{with} AS\n{def};", v.qualified),
                    structural: true,
                    key: None,
                },
            ));
            (
                "view",
                format!(
                    "CREATE VIEW {}{with} AS\n SELECT {};",
                    v.qualified,
                    columns.join(",\n    ")
                ),
                9,
            )
        } else if v.kind == 'v' {
            ("view", format!("CREATE VIEW {}{with} AS\n{def};", v.qualified), 9)
        } else {
            (
                "materialized view",
                format!(
                    "CREATE MATERIALIZED VIEW {}{}{with} AS\n{def}\nWITH NO DATA;",
                    v.qualified,
                    v.access_method
                        .as_ref()
                        .map(|am| format!(" USING {am}"))
                        .unwrap_or_default()
                ),
                10,
            )
        };
        // A view's column defaults (for inserts through it) follow it.
        let mut sql = sql;
        for d in client.query(
            "SELECT pg_catalog.quote_ident(a.attname), pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = $1 ORDER BY d.adnum",
            &[&v.oid],
        )? {
            sql.push_str(&format!(
                "\nALTER TABLE ONLY {} ALTER COLUMN {} SET DEFAULT {};",
                v.qualified,
                d.value::<String>(0)?,
                d.value::<String>(1)?
            ));
        }
        let item = Item {
            needs: Vec::new(),
            kind,
            name: v.qualified.clone(),
            sql,
            structural: true,
            key: Some((PG_CLASS, v.oid)),
        };
        if v.kind == 'm' && late.contains(&v.oid) {
            // No stand-in exists for a materialized view: as pg_dump does,
            // it is made in post-data, once the keys it needs are built,
            // and its own indexes follow it there.
            cat.postponed.insert(v.oid);
            late_items.push((v.oid, item));
        } else {
            out.push(Pending {
                key: (PG_CLASS, v.oid),
                rank,
                item,
            });
        }
    }
    // What is made in post-data, each after what it reads.
    let mut made: HashSet<Oid> = HashSet::new();
    while !late_items.is_empty() {
        let ready = late_items
            .iter()
            .position(|(oid, _)| {
                reads
                    .get(oid)
                    .is_none_or(|on| on.iter().all(|o| !late.contains(o) || made.contains(o) || o == oid))
            })
            .unwrap_or(0);
        let (oid, item) = late_items.remove(ready);
        made.insert(oid);
        cat.post_data.push(item);
    }
    Ok(())
}

/// Whether view `v` reads itself through other views and materialized
/// views.
fn reaches(reads: &HashMap<Oid, Vec<Oid>>, kinds: &HashMap<Oid, char>, v: Oid) -> bool {
    let mut seen: HashSet<Oid> = HashSet::new();
    let mut stack: Vec<Oid> = reads.get(&v).cloned().unwrap_or_default();
    while let Some(o) = stack.pop() {
        if o == v {
            return true;
        }
        if matches!(kinds.get(&o), Some('v' | 'm')) && seen.insert(o) {
            stack.extend(reads.get(&o).into_iter().flatten().copied());
        }
    }
    false
}

/// The rows of tables extensions mark as configuration (with
/// `pg_extension_config_dump`): the user's rows, which `CREATE EXTENSION`
/// does not make, as pg_dump carries them.
fn extension_config(client: &mut Client, selection: &Chosen, cat: &mut Catalog) -> Result<()> {
    let rows = client.query(
        "SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname), n.nspname::text, c.relname::text, x.condition, pg_catalog.pg_relation_size(c.oid), \
         (SELECT pg_catalog.array_agg(pg_catalog.quote_ident(a.attname) ORDER BY a.attnum) FROM pg_catalog.pg_attribute a \
          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') \
         FROM pg_catalog.pg_extension e, LATERAL ROWS FROM (pg_catalog.unnest(e.extconfig), pg_catalog.unnest(e.extcondition)) AS x(config, condition) \
         JOIN pg_catalog.pg_class c ON c.oid = x.config JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' ORDER BY 2",
        &[],
    )?;
    for r in rows {
        if !selection.is_empty() && !selection.wants_name(&r.value::<String>(2)?, &r.value::<String>(3)?) {
            continue;
        }
        let condition: Option<String> = r.value(4)?;
        cat.tables.push(TableData {
            oid: r.value(0)?,
            qualified: r.value(1)?,
            display: format!("{}.{}", r.value::<String>(2)?, r.value::<String>(3)?),
            columns: r.value::<Option<Vec<String>>>(6)?.unwrap_or_default(),
            bytes: r.value(5)?,
            references: Vec::new(),
            filter: Some(condition.filter(|c| !c.trim().is_empty()).unwrap_or_default()),
        });
    }
    Ok(())
}

/// What a selection would leave half made: relations the patterns choose
/// that stand on relations they leave out, and foreign keys of chosen
/// tables to tables left out.
fn selection_gaps(
    client: &mut Client,
    selection: &Chosen,
    relations: &[Relation],
    kept: &HashSet<Oid>,
) -> Result<Vec<String>> {
    if selection.is_empty() {
        return Ok(Vec::new());
    }
    let mut gaps: Vec<String> = relations
        .iter()
        .filter(|r| !kept.contains(&r.oid) && selection.wants_name(&r.schema, &r.name))
        .map(|r| {
            let what = match r.kind {
                'v' => "view",
                'm' => "materialized view",
                _ if r.is_partition => "partition",
                _ => "table",
            };
            format!(
                "{what} {}.{} stands on a table the selection leaves out",
                r.schema, r.name
            )
        })
        .collect();
    let oids: Vec<Oid> = kept.iter().copied().collect();
    for r in client.query(
        "SELECT pg_catalog.format('%I on %s', co.conname, co.conrelid::pg_catalog.regclass), co.confrelid::pg_catalog.regclass::text \
         FROM pg_catalog.pg_constraint co WHERE co.contype = 'f' AND co.conrelid = ANY($1) AND NOT co.confrelid = ANY($1) ORDER BY 1",
        &[&oids],
    )? {
        gaps.push(format!(
            "foreign key {} points at {}, which the selection leaves out",
            r.value::<String>(0)?,
            r.value::<String>(1)?
        ));
    }
    Ok(gaps)
}

/// Orders pre-data so that everything comes after what it depends on;
/// among objects that are free to go, by kind and then by name.
fn order(client: &mut Client, version: i32, pending: Vec<Pending>, stand_ins: &HashSet<Oid>) -> Result<Vec<Item>> {
    let mut owner: HashMap<Key, Key> = HashMap::new();
    for r in client.query("SELECT oid, adrelid FROM pg_catalog.pg_attrdef", &[])? {
        owner.insert((PG_ATTRDEF, r.value(0)?), (PG_CLASS, r.value(1)?));
    }
    for r in client.query(
        "SELECT oid, ev_class FROM pg_catalog.pg_rewrite WHERE oid >= 16384",
        &[],
    )? {
        owner.insert((PG_REWRITE, r.value(0)?), (PG_CLASS, r.value(1)?));
    }
    for r in client.query(
        "SELECT oid, conrelid, contypid FROM pg_catalog.pg_constraint WHERE oid >= 16384",
        &[],
    )? {
        let rel: Oid = r.value(1)?;
        owner.insert(
            (PG_CONSTRAINT, r.value(0)?),
            if rel != 0 {
                (PG_CLASS, rel)
            } else {
                (PG_TYPE, r.value(2)?)
            },
        );
    }
    for r in client.query(
        "SELECT t.oid, t.typrelid, c.relkind::text, t.typelem, t.typcategory::text, c.reltype FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_class c ON c.oid = t.typrelid WHERE t.oid >= 16384",
        &[],
    )? {
        let oid: Oid = r.value(0)?;
        let relid: Oid = r.value(1)?;
        let relkind: Option<String> = r.value(2)?;
        let elem: Oid = r.value(3)?;
        let category: String = r.value(4)?;
        if relid != 0 && relkind.as_deref() != Some("c") {
            owner.insert((PG_TYPE, oid), (PG_CLASS, relid));
        } else if relid != 0 {
            // A composite type's attributes hang off its pg_class row.
            owner.insert((PG_CLASS, relid), (PG_TYPE, oid));
        } else if elem != 0 && category == "A" {
            owner.insert((PG_TYPE, oid), (PG_TYPE, elem));
        }
    }
    let multiranges = if version >= 140000 {
        client.query(
            "SELECT rngmultitypid, rngtypid FROM pg_catalog.pg_range WHERE rngtypid >= 16384",
            &[],
        )?
    } else {
        Vec::new()
    };
    for r in multiranges {
        owner.insert((PG_TYPE, r.value(0)?), (PG_TYPE, r.value(1)?));
    }
    for r in client.query(
        "SELECT classid, objid, refobjid FROM pg_catalog.pg_depend WHERE deptype = 'e'",
        &[],
    )? {
        owner.insert((r.value(0)?, r.value(1)?), (PG_EXTENSION, r.value(2)?));
    }
    for (part, whole) in objects::owners(client, version)? {
        owner.insert(part, whole);
    }
    // What has a statement of its own is not part of its owner's.
    for p in &pending {
        owner.remove(&p.key);
    }
    let resolve = |mut key: Key| {
        for _ in 0..4 {
            match owner.get(&key) {
                Some(k) if *k != key => key = *k,
                _ => break,
            }
        }
        key
    };

    let index: HashMap<Key, usize> = pending.iter().enumerate().map(|(i, p)| (p.key, i)).collect();
    let mut edges: Vec<HashSet<usize>> = vec![HashSet::new(); pending.len()];
    let mut indegree = vec![0usize; pending.len()];
    let add = |from: usize, to: usize, edges: &mut Vec<HashSet<usize>>, indegree: &mut Vec<usize>| {
        if from != to && edges[to].insert(from) {
            indegree[from] += 1;
        }
    };
    // Keys and indexes are built after the rows, in their own sections:
    // what they need is there by then, and a table must not wait for the
    // tables its foreign keys point at (a cycle of keys is no cycle here).
    let later: HashSet<Oid> = client
        .query(
            "SELECT oid FROM pg_catalog.pg_constraint WHERE contype IN ('f', 'p', 'u', 'x', 't') AND oid >= 16384",
            &[],
        )?
        .iter()
        .map(|r| r.value(0))
        .collect::<Result<_>>()?;
    for r in client.query(
        "SELECT classid, objid, refclassid, refobjid FROM pg_catalog.pg_depend WHERE deptype IN ('n', 'a') AND objid >= 16384 AND refobjid >= 16384",
        &[],
    )? {
        if r.value::<Oid>(0)? == PG_CONSTRAINT && later.contains(&r.value::<Oid>(1)?) {
            continue;
        }
        let from = resolve((r.value(0)?, r.value(1)?));
        let to = resolve((r.value(2)?, r.value(3)?));
        let (Some(&f), Some(&t)) = (index.get(&from), index.get(&to)) else { continue };
        // A stand-in reads no view: the views its definition reads (itself
        // among them, or views that read it) come when they come.
        if r.value::<Oid>(0)? == PG_REWRITE
            && from.0 == PG_CLASS
            && stand_ins.contains(&from.1)
            && matches!(pending[t].item.kind, "view" | "materialized view")
        {
            continue;
        }
        // A sequence owned by a column would wait for its table, whose
        // default waits for the sequence: ownership is set in post-data.
        if pending[f].item.kind == "sequence" {
            continue;
        }
        add(f, t, &mut edges, &mut indegree);
    }
    for r in client.query("SELECT inhrelid, inhparent FROM pg_catalog.pg_inherits", &[])? {
        if let (Some(&f), Some(&t)) = (index.get(&(PG_CLASS, r.value(0)?)), index.get(&(PG_CLASS, r.value(1)?))) {
            add(f, t, &mut edges, &mut indegree);
        }
    }
    for r in client.query("SELECT extnamespace, oid FROM pg_catalog.pg_extension", &[])? {
        if let (Some(&f), Some(&t)) = (
            index.get(&(PG_EXTENSION, r.value(1)?)),
            index.get(&(PG_NAMESPACE, r.value(0)?)),
        ) {
            add(f, t, &mut edges, &mut indegree);
        }
    }

    // Kahn's algorithm, lowest (rank, name) first; a cycle is broken at its
    // lowest member rather than dropping anything.
    let mut heap: BinaryHeap<std::cmp::Reverse<(u8, String, usize)>> = BinaryHeap::new();
    let mut done = vec![false; pending.len()];
    for (i, p) in pending.iter().enumerate() {
        if indegree[i] == 0 {
            heap.push(std::cmp::Reverse((p.rank, p.item.name.clone(), i)));
        }
    }
    let mut order = Vec::with_capacity(pending.len());
    while order.len() < pending.len() {
        let next = match heap.pop() {
            Some(std::cmp::Reverse((_, _, i))) if !done[i] => i,
            Some(_) => continue,
            None => (0..pending.len())
                .filter(|&i| !done[i])
                .min_by_key(|&i| (pending[i].rank, pending[i].item.name.clone()))
                .expect("a node is left"),
        };
        done[next] = true;
        order.push(next);
        for &dependent in &edges[next] {
            indegree[dependent] = indegree[dependent].saturating_sub(1);
            if indegree[dependent] == 0 && !done[dependent] {
                heap.push(std::cmp::Reverse((
                    pending[dependent].rank,
                    pending[dependent].item.name.clone(),
                    dependent,
                )));
            }
        }
    }
    let mut slots: Vec<Option<Item>> = pending
        .into_iter()
        .map(|p| {
            Some(Item {
                key: Some(p.key),
                ..p.item
            })
        })
        .collect();
    Ok(order.into_iter().map(|i| slots[i].take().expect("each once")).collect())
}

fn post_data(
    client: &mut Client,
    version: i32,
    relations: &[Relation],
    kept: &HashSet<Oid>,
    cat: &mut Catalog,
) -> Result<()> {
    let oids: Vec<Oid> = kept.iter().copied().collect();
    let by_oid: HashMap<Oid, &Relation> = relations.iter().map(|r| (r.oid, r)).collect();

    // Sequence ownership.
    for r in client.query(
        "SELECT pg_catalog.format('%I.%I', sn.nspname, s.relname), pg_catalog.format('%I.%I', tn.nspname, t.relname), pg_catalog.quote_ident(a.attname), t.oid \
         FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class s ON s.oid = d.objid JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace \
         JOIN pg_catalog.pg_class t ON t.oid = d.refobjid JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
         WHERE d.classid = 'pg_class'::pg_catalog.regclass AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.deptype = 'a' AND s.relkind = 'S' ORDER BY 1",
        &[],
    )? {
        if !kept.contains(&r.value::<Oid>(3)?) {
            continue;
        }
        let seq: String = r.value(0)?;
        cat.post_data.push(Item { needs: Vec::new(),
            kind: "sequence owner",
            name: seq.clone(),
            sql: format!("ALTER SEQUENCE {seq} OWNED BY {}.{};", r.value::<String>(1)?, r.value::<String>(2)?),
            structural: true, key: None });
    }

    // Primary, unique and exclusion constraints, and indexes.
    let parent_of = "(SELECT pg_catalog.format('%I.%I', pn.nspname, pc.relname) FROM pg_catalog.pg_inherits pi JOIN pg_catalog.pg_class pc ON pc.oid = pi.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace WHERE pi.inhrelid = ";
    let mut attaches = Vec::new();
    // What an index carries beside its definition, as pg_dump writes it in
    // the index's own entry: statistics targets of expression columns, the
    // index the table is clustered on, the replica identity.
    let mut extras: HashMap<Oid, Vec<String>> = HashMap::new();
    for r in client.query(
        "SELECT i.indexrelid, pg_catalog.format('%I.%I', tn.nspname, t.relname), pg_catalog.quote_ident(ic.relname), pg_catalog.format('%I.%I', n.nspname, ic.relname), \
         i.indisclustered, i.indisreplident, \
         (SELECT pg_catalog.array_agg(pg_catalog.format('ALTER COLUMN %s SET STATISTICS %s', a.attnum, a.attstattarget) ORDER BY a.attnum) \
          FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0) \
         FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace \
         JOIN pg_catalog.pg_class t ON t.oid = i.indrelid JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace WHERE i.indrelid = ANY($1)",
        &[&oids],
    )? {
        let (table, short, index): (String, String, String) = (r.value(1)?, r.value(2)?, r.value(3)?);
        let mut sql: Vec<String> = r
            .value::<Option<Vec<String>>>(6)?
            .unwrap_or_default()
            .into_iter()
            .map(|s| format!("ALTER INDEX {index} {s};"))
            .collect();
        if r.value::<bool>(4)? {
            sql.push(format!("ALTER TABLE {table} CLUSTER ON {short};"));
        }
        if r.value::<bool>(5)? {
            sql.push(format!("ALTER TABLE ONLY {table} REPLICA IDENTITY USING INDEX {short};"));
        }
        if !sql.is_empty() {
            extras.insert(r.value(0)?, sql);
        }
    }
    let with_extras = |sql: String, index: Oid| match extras.get(&index) {
        Some(more) => format!("{sql}\n{}", more.join("\n")),
        None => sql,
    };
    for r in client.query(
        format!(
            "SELECT co.conrelid, pg_catalog.quote_ident(co.conname), pg_catalog.pg_get_constraintdef(co.oid), \
             pg_catalog.format('%I.%I', n.nspname, ic.relname), {parent_of} co.conindid), co.oid, co.conindid, \
             CASE WHEN co.contype IN ('p', 'u') THEN (SELECT pg_catalog.string_agg(pg_catalog.format('%s=%L', pg_catalog.split_part(o, '=', 1), \
               pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)), ', ') FROM pg_catalog.unnest(ic.reloptions) o) END \
             FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_class ic ON ic.oid = co.conindid JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace \
             WHERE co.conrelid = ANY($1) AND co.contype IN ('p', 'u', 'x') ORDER BY 4"
        )
        .as_str(),
        &[&oids],
    )? {
        let rel = by_oid[&r.value::<Oid>(0)?];
        let name: String = r.value(1)?;
        let def = with_index_options(r.value(2)?, r.value(7)?);
        cat.indexes.push(Item {
            needs: vec![rel.qualified.clone()],
            kind: "constraint",
            name: format!("{name} on {}", rel.qualified),
            sql: with_extras(
                format!("ALTER TABLE ONLY {} ADD CONSTRAINT {name} {def};", rel.qualified),
                r.value(6)?,
            ),
            structural: true,
            key: Some((PG_CONSTRAINT, r.value(5)?)),
        });
        if let Some(parent) = r.value::<Option<String>>(4)? {
            attaches.push((parent, r.value::<String>(3)?));
        }
    }
    // An invalid index (a failed concurrent build) is left out, as pg_dump
    // leaves it: built again, it could fail on the rows it never covered.
    // A partitioned index is invalid until each partition has its own.
    for r in client.query(
        format!(
            "SELECT i.indrelid, pg_catalog.pg_get_indexdef(i.indexrelid), pg_catalog.format('%I.%I', n.nspname, ic.relname), {parent_of} i.indexrelid), i.indexrelid \
             FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace \
             WHERE i.indrelid = ANY($1) AND (i.indisvalid OR ic.relkind = 'I') \
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')) ORDER BY 3"
        )
        .as_str(),
        &[&oids],
    )? {
        let index: String = r.value(2)?;
        let section = if cat.postponed.contains(&r.value::<Oid>(0)?) {
            &mut cat.post_data
        } else {
            &mut cat.indexes
        };
        section.push(Item {
            needs: vec![by_oid[&r.value::<Oid>(0)?].qualified.clone()],
            kind: "index",
            name: index.clone(),
            sql: with_extras(format!("{};", r.value::<String>(1)?), r.value(4)?),
            structural: true,
            key: Some((PG_CLASS, r.value(4)?)),
        });
        if let Some(parent) = r.value::<Option<String>>(3)? {
            attaches.push((parent, index.clone()));
        }
    }
    for (parent, child) in attaches {
        cat.post_data.push(Item {
            needs: Vec::new(),
            kind: "index attach",
            name: child.clone(),
            sql: format!("ALTER INDEX {parent} ATTACH PARTITION {child};"),
            structural: true,
            key: None,
        });
    }

    // Foreign keys, after every index they may need.
    let conparent = if version >= 110000 {
        "co.conparentid = 0"
    } else {
        "true"
    };
    for r in client.query(
        format!(
            "SELECT co.conrelid, pg_catalog.quote_ident(co.conname), pg_catalog.pg_get_constraintdef(co.oid), co.confrelid, co.oid FROM pg_catalog.pg_constraint co \
             WHERE co.conrelid = ANY($1) AND co.contype = 'f' AND {conparent} ORDER BY co.conrelid, co.conname"
        )
        .as_str(),
        &[&oids],
    )? {
        let rel = by_oid[&r.value::<Oid>(0)?];
        if !kept.contains(&r.value::<Oid>(3)?) {
            continue;
        }
        let only = if rel.kind == 'p' { "" } else { "ONLY " };
        let name: String = r.value(1)?;
        cat.foreign_keys.push(Item { needs: vec![rel.qualified.clone(), by_oid[&r.value::<Oid>(3)?].qualified.clone()],
            kind: "foreign key",
            name: format!("{name} on {}", rel.qualified),
            sql: format!("ALTER TABLE {only}{} ADD CONSTRAINT {name} {};", rel.qualified, r.value::<String>(2)?),
            structural: true, key: Some((PG_CONSTRAINT, r.value(4)?)) });
    }

    // Triggers; a partition's copy of its parent's trigger only where it
    // is switched otherwise than the parent's.
    // Up to PostgreSQL 14 a partition's copy is marked internal; before
    // 13 it names no parent, and is found by its parent table's trigger
    // of the same name.
    let parent_enabled = if version >= 130000 {
        "(SELECT p.tgenabled::text FROM pg_catalog.pg_trigger p WHERE p.oid = t.tgparentid)"
    } else {
        "(SELECT p.tgenabled::text FROM pg_catalog.pg_trigger p JOIN pg_catalog.pg_inherits i ON i.inhparent = p.tgrelid WHERE i.inhrelid = t.tgrelid AND p.tgname = t.tgname)"
    };
    for r in client.query(
        format!(
            "SELECT t.tgrelid, pg_catalog.pg_get_triggerdef(t.oid), pg_catalog.quote_ident(t.tgname), t.tgenabled::text, {parent_enabled}, t.oid FROM pg_catalog.pg_trigger t \
             WHERE t.tgrelid = ANY($1) AND (NOT t.tgisinternal OR (t.tgconstraint = 0 AND {parent_enabled} IS NOT NULL)) ORDER BY 3, 5 NULLS FIRST"
        )
        .as_str(),
        &[&oids],
    )? {
        let rel = by_oid[&r.value::<Oid>(0)?];
        let name: String = r.value(2)?;
        let enabled: String = r.value(3)?;
        let parent: Option<String> = r.value(4)?;
        if parent.as_ref() == Some(&enabled) {
            continue;
        }
        let mut sql = if parent.is_some() {
            String::new()
        } else {
            format!("{};\n", r.value::<String>(1)?)
        };
        match (enabled.as_str(), parent.is_some()) {
            ("D", _) => sql.push_str(&format!("ALTER TABLE {} DISABLE TRIGGER {name};", rel.qualified)),
            ("A", _) => sql.push_str(&format!("ALTER TABLE {} ENABLE ALWAYS TRIGGER {name};", rel.qualified)),
            ("R", _) => sql.push_str(&format!("ALTER TABLE {} ENABLE REPLICA TRIGGER {name};", rel.qualified)),
            (_, true) => sql.push_str(&format!("ALTER TABLE {} ENABLE TRIGGER {name};", rel.qualified)),
            _ => {}
        }
        cat.post_data.push(Item {
            needs: Vec::new(),
            kind: "trigger",
            name: format!("{name} on {}", rel.qualified),
            sql: sql.trim_end().to_string(),
            structural: true,
            key: Some((PG_TRIGGER, r.value(5)?)),
        });
    }

    // Row-level security and policies.
    for rel in relations.iter().filter(|r| kept.contains(&r.oid)) {
        if rel.rls {
            cat.post_data.push(Item {
                needs: Vec::new(),
                kind: "row security",
                name: rel.qualified.clone(),
                sql: format!("ALTER TABLE {} ENABLE ROW LEVEL SECURITY;", rel.qualified),
                structural: true,
                key: None,
            });
        }
        if rel.force_rls {
            cat.post_data.push(Item {
                needs: Vec::new(),
                kind: "row security",
                name: format!("{} force", rel.qualified),
                sql: format!("ALTER TABLE {} FORCE ROW LEVEL SECURITY;", rel.qualified),
                structural: true,
                key: None,
            });
        }
        match if matches!(rel.kind, 'r' | 'p') {
            rel.replident
        } else {
            'd'
        } {
            'f' => cat.post_data.push(Item {
                needs: Vec::new(),
                kind: "replica identity",
                name: rel.qualified.clone(),
                sql: format!("ALTER TABLE {} REPLICA IDENTITY FULL;", rel.qualified),
                structural: true,
                key: None,
            }),
            'n' => cat.post_data.push(Item {
                needs: Vec::new(),
                kind: "replica identity",
                name: rel.qualified.clone(),
                sql: format!("ALTER TABLE {} REPLICA IDENTITY NOTHING;", rel.qualified),
                structural: true,
                key: None,
            }),
            _ => {}
        }
    }
    for r in client.query(
        "SELECT p.polrelid, pg_catalog.quote_ident(p.polname), p.polpermissive, p.polcmd::text, \
         CASE WHEN p.polroles = '{0}' THEN 'PUBLIC' ELSE (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(rolname), ', ' ORDER BY rolname) FROM pg_catalog.pg_roles WHERE oid = ANY(p.polroles)) END, \
         pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), p.oid FROM pg_catalog.pg_policy p WHERE p.polrelid = ANY($1) ORDER BY 1, 2",
        &[&oids],
    )? {
        let rel = by_oid[&r.value::<Oid>(0)?];
        let name: String = r.value(1)?;
        let cmd = match r.value::<String>(3)?.as_str() {
            "r" => "SELECT",
            "a" => "INSERT",
            "w" => "UPDATE",
            "d" => "DELETE",
            _ => "ALL",
        };
        let mut sql = format!("CREATE POLICY {name} ON {}", rel.qualified);
        if !r.value::<bool>(2)? {
            sql.push_str(" AS RESTRICTIVE");
        }
        sql.push_str(&format!(" FOR {cmd} TO {}", r.value::<String>(4)?));
        if let Some(q) = r.value::<Option<String>>(5)? {
            sql.push_str(&format!(" USING ({q})"));
        }
        if let Some(c) = r.value::<Option<String>>(6)? {
            sql.push_str(&format!(" WITH CHECK ({c})"));
        }
        sql.push(';');
        cat.post_data.push(Item {
            needs: Vec::new(),
            kind: "policy",
            name: format!("{name} on {}", rel.qualified),
            sql,
            structural: true,
            key: Some((PG_POLICY, r.value(7)?)),
        });
    }

    // Materialized views are filled once their tables are.
    for item in cat.pre_data.iter().filter(|i| i.kind == "materialized view") {
        let populated = relations.iter().any(|r| r.qualified == item.name && r.populated);
        if populated {
            cat.post_data.push(Item {
                needs: Vec::new(),
                kind: "refresh",
                name: item.name.clone(),
                sql: format!("REFRESH MATERIALIZED VIEW {};", item.name),
                structural: false,
                key: None,
            });
        }
    }

    comments(client, kept, cat)?;
    Ok(())
}

/// The words `COMMENT ON` takes before an object's identity, for the kinds
/// `pg_identify_object` names.
fn comment_target(kind: &str, identity: &str) -> Option<String> {
    let word = match kind {
        // An aggregate of no arguments is named `agg(*)`.
        "aggregate" if identity.ends_with("()") => {
            return Some(format!("AGGREGATE {}(*)", identity.trim_end_matches("()")));
        }
        // Identified as `for TYPE on language LANG` (`for TYPE language
        // LANG` from 18 on).
        "transform" => {
            let (ty, lang) = identity.strip_prefix("for ")?.rsplit_once(" language ")?;
            let ty = ty.strip_suffix(" on").unwrap_or(ty);
            return Some(format!("TRANSFORM FOR {ty} LANGUAGE {lang}"));
        }
        "table"
        | "view"
        | "materialized view"
        | "sequence"
        | "index"
        | "function"
        | "procedure"
        | "aggregate"
        | "type"
        | "domain"
        | "schema"
        | "collation"
        | "foreign table"
        | "operator"
        | "operator class"
        | "operator family"
        | "cast"
        | "text search configuration"
        | "text search dictionary"
        | "text search parser"
        | "text search template"
        | "conversion"
        | "event trigger"
        | "publication"
        | "server"
        | "access method"
        | "language"
        | "extension"
        | "rule"
        | "trigger"
        | "policy" => kind.to_ascii_uppercase(),
        "composite type" => "TYPE".into(),
        "foreign-data wrapper" => "FOREIGN DATA WRAPPER".into(),
        "statistics object" => "STATISTICS".into(),
        "table column"
        | "view column"
        | "materialized view column"
        | "composite type column"
        | "foreign table column" => "COLUMN".into(),
        "table constraint" => "CONSTRAINT".into(),
        "domain constraint" => {
            let (name, domain) = identity.split_once(" on ")?;
            return Some(format!("CONSTRAINT {name} ON DOMAIN {domain}"));
        }
        _ => return None,
    };
    Some(format!("{word} {identity}"))
}

/// Comments, each right after the statement that creates its object, in
/// whatever section that lands (a foreign key's comment with the key), so
/// a restore by the stock tools finds the object there. A comment left
/// behind by its object (DROP SUBSCRIPTION leaves its comment) names
/// nothing, and is left out, as pg_dump leaves it out; before
/// `pg_identify_object` sees it, which up to PostgreSQL 13 fails on it.
/// Every subscription's comment is left out: a live subscription stops
/// the backup anyway, and up to 13 only a superuser may read
/// pg_subscription to tell the two apart.
/// Large objects' comments travel with them (see `large_objects.rs`).
fn comments(client: &mut Client, kept: &HashSet<Oid>, cat: &mut Catalog) -> Result<()> {
    let rows = client.query(
        "SELECT o.type, o.schema, o.identity, d.description, d.classoid, d.objoid, \
         CASE WHEN d.classoid = 'pg_class'::pg_catalog.regclass AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid = d.objoid) = 'S' \
              THEN (SELECT refobjid FROM pg_catalog.pg_depend WHERE classid = 'pg_class'::pg_catalog.regclass AND objid = d.objoid \
                    AND refclassid = 'pg_class'::pg_catalog.regclass AND deptype = 'i') \
              WHEN d.classoid = 'pg_class'::pg_catalog.regclass THEN d.objoid WHEN d.classoid = 'pg_constraint'::pg_catalog.regclass THEN (SELECT conrelid FROM pg_catalog.pg_constraint WHERE oid = d.objoid) \
              WHEN d.classoid = 'pg_trigger'::pg_catalog.regclass THEN (SELECT tgrelid FROM pg_catalog.pg_trigger WHERE oid = d.objoid) \
              WHEN d.classoid = 'pg_policy'::pg_catalog.regclass THEN (SELECT polrelid FROM pg_catalog.pg_policy WHERE oid = d.objoid) \
              WHEN d.classoid = 'pg_rewrite'::pg_catalog.regclass THEN (SELECT ev_class FROM pg_catalog.pg_rewrite WHERE oid = d.objoid) \
              WHEN d.classoid = 'pg_statistic_ext'::pg_catalog.regclass THEN (SELECT stxrelid FROM pg_catalog.pg_statistic_ext WHERE oid = d.objoid) END, \
         CASE WHEN d.classoid = 'pg_constraint'::pg_catalog.regclass THEN (SELECT contypid FROM pg_catalog.pg_constraint WHERE oid = d.objoid) \
              WHEN d.classoid = 'pg_class'::pg_catalog.regclass THEN (SELECT reltype FROM pg_catalog.pg_class WHERE oid = d.objoid AND relkind = 'c') END, \
         CASE WHEN d.classoid = 'pg_constraint'::pg_catalog.regclass THEN (SELECT contype IN ('c', 'n') FROM pg_catalog.pg_constraint WHERE oid = d.objoid) ELSE d.classoid = 'pg_class'::pg_catalog.regclass END, \
         CASE WHEN d.classoid = 'pg_class'::pg_catalog.regclass THEN (SELECT refobjid FROM pg_catalog.pg_depend WHERE classid = 'pg_class'::pg_catalog.regclass \
                    AND objid = d.objoid AND refclassid = 'pg_constraint'::pg_catalog.regclass AND deptype = 'i' LIMIT 1) END \
         FROM pg_catalog.pg_description d, LATERAL pg_catalog.pg_identify_object(d.classoid, d.objoid, d.objsubid) o \
         WHERE (d.objoid >= 16384 OR (d.objoid = 'public'::pg_catalog.regnamespace AND d.classoid = 'pg_namespace'::pg_catalog.regclass)) \
         AND NOT (d.objoid = 'public'::pg_catalog.regnamespace AND d.classoid = 'pg_namespace'::pg_catalog.regclass \
                  AND d.description = 'standard public schema') \
         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e') \
         AND d.classoid <> 'pg_catalog.pg_largeobject'::pg_catalog.regclass \
         AND d.classoid <> 'pg_catalog.pg_subscription'::pg_catalog.regclass \
         AND o.identity IS NOT NULL ORDER BY 1, 3",
        &[],
    )?;
    let index_tables: HashMap<Oid, Oid> = client
        .query(
            "SELECT indexrelid, indrelid FROM pg_catalog.pg_index WHERE indexrelid >= 16384",
            &[],
        )?
        .iter()
        .map(|r| -> Result<_> { Ok((r.value(0)?, r.value(1)?)) })
        .collect::<Result<_>>()?;
    // Where each object's statement stands: (section, position).
    let mut placed: HashMap<Key, (usize, usize)> = HashMap::new();
    for (section, items) in [&cat.pre_data, &cat.indexes, &cat.post_data, &cat.foreign_keys]
        .into_iter()
        .enumerate()
    {
        for (at, item) in items.iter().enumerate() {
            if let Some(key) = item.key {
                placed.entry(key).or_insert((section, at));
            }
        }
    }
    let mut loose = Vec::new();
    for r in rows {
        let kind: String = r.value(0)?;
        let schema: Option<String> = r.value(1)?;
        if schema
            .as_deref()
            .is_some_and(|s| s == "pg_catalog" || s == "information_schema" || s.starts_with("pg_toast"))
        {
            continue;
        }
        let relation = r
            .value::<Option<Oid>>(6)?
            .map(|rel| index_tables.get(&rel).copied().unwrap_or(rel));
        let composite = r.value::<Option<Oid>>(7)?.filter(|&t| t != 0);
        if let Some(rel) = relation
            && composite.is_none()
            && !kept.contains(&rel)
        {
            // An object of a table, view or index that was left out.
            continue;
        }
        let identity: String = r.value(2)?;
        let Some(target) = comment_target(&kind, &identity) else {
            cat.unsupported.push(format!("comment on {kind} {identity}"));
            continue;
        };
        let sql = format!("COMMENT ON {target} IS {};", quote_literal(&r.value::<String>(3)?));
        let own: Key = (r.value(4)?, r.value(5)?);
        // A column's comment follows its table or composite type; a check
        // constraint written inside its table's or domain's statement
        // follows that statement.
        let inline: bool = r.value::<Option<bool>>(8)?.unwrap_or(false);
        // The index of a primary key, unique or exclusion constraint is
        // made by the constraint's statement, after its table's: a comment
        // on it follows that statement, not the table's.
        let made_by_constraint = r.value::<Option<Oid>>(9)?.map(|c| (PG_CONSTRAINT, c));
        let owners = [
            Some(own),
            made_by_constraint,
            composite.filter(|_| inline).map(|t| (PG_TYPE, t)),
            // An identity column's sequence is made by its table.
            relation
                .filter(|&rel| rel != 0 && inline && (own.0 == PG_CONSTRAINT || own.0 == PG_CLASS))
                .map(|rel| (PG_CLASS, rel)),
        ];
        if own.0 == PG_CLASS && !owners.iter().flatten().any(|k| placed.contains_key(k)) {
            // A relation (a sequence) the selection left out.
            continue;
        }
        match owners.into_iter().flatten().find_map(|k| placed.get(&k)) {
            Some(&(section, at)) => {
                let item = match section {
                    0 => &mut cat.pre_data[at],
                    1 => &mut cat.indexes[at],
                    2 => &mut cat.post_data[at],
                    _ => &mut cat.foreign_keys[at],
                };
                item.sql.push('\n');
                item.sql.push_str(&sql);
            }
            None => loose.push(Item {
                needs: Vec::new(),
                kind: "comment",
                name: target,
                sql,
                structural: true,
                key: None,
            }),
        }
    }
    // Schema public's comment is initdb's unless changed, whether public
    // was made again or not (above). From PostgreSQL 15, pg_dump writes
    // an empty one where it was taken away (or the schema made again): a
    // new database's public has it. Up to 14 it writes nothing.
    if cat.version_num >= 150000 {
        let uncommented: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = 'public' AND NOT EXISTS \
                 (SELECT 1 FROM pg_catalog.pg_description d WHERE d.objoid = n.oid AND d.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass))",
                &[],
            )?
            .value(0)?;
        if uncommented {
            loose.push(Item {
                needs: Vec::new(),
                kind: "comment",
                name: "SCHEMA public".into(),
                sql: "COMMENT ON SCHEMA public IS '';".into(),
                structural: true,
                key: None,
            });
        }
    }
    cat.post_data.extend(loose);
    Ok(())
}

/// Tables whose rows this session would see only in part, through
/// row-level security policies: neither superuser nor BYPASSRLS, and not
/// the owner, or the owner of a table that forces its policies.
pub fn filtered_by_policies(client: &mut Client, tables: &[TableData]) -> Result<Vec<String>> {
    let oids: Vec<Oid> = tables.iter().map(|t| t.oid).collect();
    client
        .query(
            "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = ANY($1) AND c.relrowsecurity \
             AND NOT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) \
             AND (c.relforcerowsecurity OR NOT pg_catalog.pg_has_role(c.relowner, 'USAGE')) ORDER BY 1",
            &[&oids],
        )
        .context("looking for tables behind row-level security")?
        .iter()
        .map(|r| r.value(0))
        .collect::<Result<_>>()
}

/// The SQL that goes at the top of every member, as pg_dump's header.
pub const SQL_HEADER: &str = "SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\nSELECT pg_catalog.set_config('search_path', '', false);\nSET check_function_bodies = false;\nSET client_min_messages = warning;\nSET row_security = off;\n\n";

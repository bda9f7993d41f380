//! Reads a database's schema from the catalogs into SQL, with the server's
//! own `pg_get_*def` functions wherever they exist, in the sections
//! pg_dump uses: pre-data ordered by `pg_depend`, then indexes and
//! constraints, then the rest of post-data.

use super::select::Selection;
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
    pub tables: Vec<TableData>,
    pub sequences: Vec<SequenceRef>,
    /// Objects lifeboat cannot carry yet, each with its kind and name.
    pub unsupported: Vec<String>,
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

/// Reads the catalog. `selection` limits which tables and views are taken.
pub fn read(client: &mut Client, selection: &Selection, with_privileges: bool) -> Result<Catalog> {
    let row = client.query_one(
        "SELECT current_setting('server_version'), current_setting('server_version_num')::int, pg_catalog.pg_encoding_to_char(d.encoding) FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()",
        &[],
    )?;
    let mut cat = Catalog {
        server_version: row.get(0),
        version_num: row.get(1),
        encoding: row.get(2),
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
    types(client, cat.version_num, &mut pending)?;
    functions(client, &mut pending)?;
    let (identity_seqs, sequence_owners) = sequences(client, &mut pending)?;
    let relations = relations(client, selection)?;
    let excluded = selection.excluded_relations(client, &relations)?;
    tables(
        client,
        cat.version_num,
        &relations,
        &excluded,
        &identity_seqs,
        &mut pending,
        &mut cat,
    )?;
    views(client, &relations, &excluded, &mut pending)?;
    let foreign = objects::pre_data(client, cat.version_num, selection, &mut pending)?;
    objects::table_attributes(client, &mut pending)?;
    links(client, sequence_owners, &mut cat)?;

    cat.pre_data = order(client, cat.version_num, pending)?;
    let kept: HashSet<Oid> = relations
        .iter()
        .filter(|r| !excluded.contains(&r.oid))
        .map(|r| r.oid)
        .collect();
    post_data(client, cat.version_num, &relations, &kept, &mut cat)?;
    if with_privileges {
        privileges(client, &kept, &mut cat)?;
    }
    let with_foreign: HashSet<Oid> = kept.iter().copied().chain(foreign.iter().map(|r| r.oid)).collect();
    objects::post_data(client, cat.version_num, &with_foreign, &mut cat)?;
    Ok(cat)
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
        let name: String = r.get(1);
        out.push(Pending {
            key: (PG_NAMESPACE, r.get(0)),
            rank: 1,
            item: Item {
                needs: Vec::new(),
                kind: "schema",
                sql: format!("CREATE SCHEMA {name};"),
                name,
                structural: true,
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
        let name: String = r.get(1);
        let schema: String = r.get(2);
        out.push(Pending {
            key: (PG_EXTENSION, r.get(0)),
            rank: 2,
            item: Item { needs: Vec::new(), kind: "extension", sql: format!("CREATE EXTENSION IF NOT EXISTS {name} WITH SCHEMA {schema};"), name, structural: true },
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
        let name: String = r.get(1);
        let provider: String = r.get(2);
        let mut opts = match provider.as_str() {
            "i" => format!(
                "provider = icu, locale = {}",
                quote_literal(&r.get::<_, Option<String>>(6).unwrap_or_default())
            ),
            "b" => format!(
                "provider = builtin, locale = {}",
                quote_literal(&r.get::<_, Option<String>>(6).unwrap_or_default())
            ),
            _ => format!(
                "provider = libc, lc_collate = {}, lc_ctype = {}",
                quote_literal(&r.get::<_, Option<String>>(3).unwrap_or_default()),
                quote_literal(&r.get::<_, Option<String>>(4).unwrap_or_default())
            ),
        };
        if !r.get::<_, bool>(5) {
            opts.push_str(", deterministic = false");
        }
        out.push(Pending {
            key: (PG_COLLATION, r.get(0)),
            rank: 3,
            item: Item {
                needs: Vec::new(),
                kind: "collation",
                sql: format!("CREATE COLLATION {name} ({opts});"),
                name,
                structural: true,
            },
        });
    }
    Ok(())
}

fn types(client: &mut Client, version: i32, out: &mut Vec<Pending>) -> Result<()> {
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
        let oid: Oid = r.get(0);
        let typtype: String = r.get(1);
        let name: String = r.get(2);
        let (kind, sql) = match typtype.as_str() {
            "e" => {
                let labels: Vec<String> = client
                    .query(
                        "SELECT enumlabel::text FROM pg_catalog.pg_enum WHERE enumtypid = $1 ORDER BY enumsortorder",
                        &[&oid],
                    )?
                    .iter()
                    .map(|l| quote_literal(&l.get::<_, String>(0)))
                    .collect();
                ("type", format!("CREATE TYPE {name} AS ENUM ({});", labels.join(", ")))
            }
            "c" => {
                let relid: Oid = r.get(3);
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
                    .map(|a| a.get::<_, String>(0))
                    .collect();
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
                    format!("subtype = {}", r.get::<_, String>(0)),
                    format!("subtype_opclass = {}", r.get::<_, String>(2)),
                ];
                if let Some(c) = r.get::<_, Option<String>>(1) {
                    opts.push(format!("collation = {c}"));
                }
                if let Some(c) = r.get::<_, Option<String>>(3) {
                    opts.push(format!("canonical = {c}"));
                }
                if let Some(d) = r.get::<_, Option<String>>(4) {
                    opts.push(format!("subtype_diff = {d}"));
                }
                if let Some(m) = r.get::<_, Option<String>>(5) {
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
                     CASE WHEN t.typcollation <> bt.typcollation THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END, t.typdefault, t.typnotnull \
                     FROM pg_catalog.pg_type t JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype \
                     LEFT JOIN pg_catalog.pg_collation co ON co.oid = t.typcollation LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE t.oid = $1",
                    &[&oid],
                )?;
                let mut sql = format!("CREATE DOMAIN {name} AS {}", d.get::<_, String>(0));
                if let Some(c) = d.get::<_, Option<String>>(1) {
                    sql.push_str(&format!(" COLLATE {c}"));
                }
                if let Some(def) = d.get::<_, Option<String>>(2) {
                    sql.push_str(&format!(" DEFAULT {def}"));
                }
                if d.get::<_, bool>(3) {
                    sql.push_str(" NOT NULL");
                }
                for c in client.query(
                    "SELECT pg_catalog.quote_ident(conname), pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint WHERE contypid = $1 AND contype = 'c' ORDER BY conname",
                    &[&oid],
                )? {
                    sql.push_str(&format!("\n    CONSTRAINT {} {}", c.get::<_, String>(0), c.get::<_, String>(1)));
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
            },
        });
    }
    Ok(())
}

fn functions(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    let sql = format!(
        "SELECT p.oid, p.prokind::text, pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)), \
         CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END \
         FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE {USER_NS} AND {}",
        standalone("pg_proc", "p.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let oid: Oid = r.get(0);
        let prokind: String = r.get(1);
        let name: String = r.get(2);
        if prokind == "a" {
            let sql = objects::aggregate(client, oid)?;
            out.push(Pending {
                key: (PG_PROC, oid),
                rank: 6,
                item: Item {
                    needs: Vec::new(),
                    kind: "aggregate",
                    sql,
                    name,
                    structural: true,
                },
            });
            continue;
        }
        let def: String = r.get(3);
        let kind = if prokind == "p" { "procedure" } else { "function" };
        out.push(Pending {
            key: (PG_PROC, oid),
            rank: 5,
            item: Item {
                needs: Vec::new(),
                kind,
                sql: format!("{};", def.trim_end()),
                name,
                structural: true,
            },
        });
    }
    Ok(())
}

/// Identity sequences keyed by (table oid, column number).
type IdentitySeqs = HashMap<(Oid, i16), Oid>;

/// Sequences by name, each with the oids of the tables that own it.
type SequenceOwners = Vec<(String, Vec<Oid>)>;

fn sequences(client: &mut Client, out: &mut Vec<Pending>) -> Result<(IdentitySeqs, SequenceOwners)> {
    let sql = format!(
        "SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname), pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle, \
         (SELECT d.refobjid FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.deptype = 'i'), \
         (SELECT d.refobjsubid::int2 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.deptype = 'i'), \
         (SELECT pg_catalog.array_agg(o.relid) FROM pg_catalog.pg_depend d, LATERAL ({}) o \
          WHERE d.classid = 'pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.deptype IN ('a', 'i')) \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid \
         WHERE c.relkind = 'S' AND {USER_NS} AND {} ORDER BY 2",
        leaves("d.refobjid"),
        not_ext_member("pg_class", "c.oid")
    );
    let mut identity = IdentitySeqs::new();
    let mut owners = Vec::new();
    for r in client.query(sql.as_str(), &[])? {
        let oid: Oid = r.get(0);
        let name: String = r.get(1);
        owners.push((name.clone(), r.get::<_, Option<Vec<Oid>>>(11).unwrap_or_default()));
        if let (Some(table), Some(col)) = (r.get::<_, Option<Oid>>(9), r.get::<_, Option<i16>>(10)) {
            identity.insert((table, col), oid);
            continue;
        }
        let sql = format!("CREATE SEQUENCE {name}\n    {};", sequence_options(&r, 2));
        out.push(Pending {
            key: (PG_CLASS, oid),
            rank: 7,
            item: Item {
                needs: Vec::new(),
                kind: "sequence",
                sql,
                name,
                structural: true,
            },
        });
    }
    Ok((identity, owners))
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
        if let Some(name) = names.get(&r.get::<_, Oid>(1)) {
            references.entry(r.get(0)).or_default().push(name.clone());
        }
    }
    for t in &mut cat.tables {
        t.references = references.remove(&t.oid).unwrap_or_default();
    }
    Ok(())
}

/// `AS type START WITH ... CYCLE` from a row with the sequence columns
/// starting at `at`.
fn sequence_options(r: &postgres::Row, at: usize) -> String {
    format!(
        "AS {} START WITH {} INCREMENT BY {} MINVALUE {} MAXVALUE {} CACHE {}{}",
        r.get::<_, String>(at),
        r.get::<_, i64>(at + 1),
        r.get::<_, i64>(at + 2),
        r.get::<_, i64>(at + 3),
        r.get::<_, i64>(at + 4),
        r.get::<_, i64>(at + 5),
        if r.get::<_, bool>(at + 6) {
            " CYCLE"
        } else {
            " NO CYCLE"
        }
    )
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
}

fn relations(client: &mut Client, _selection: &Selection) -> Result<Vec<Relation>> {
    let sql = format!(
        "SELECT c.oid, c.relkind::text, n.nspname::text, c.relname::text, pg_catalog.format('%I.%I', n.nspname, c.relname), c.relpersistence::text, c.relispartition, \
         CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END, \
         CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END, c.relrowsecurity, c.relforcerowsecurity, \
         pg_catalog.array_to_string(c.reloptions, ', '), c.relreplident::text, c.relispopulated, pg_catalog.pg_relation_size(c.oid) \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm') AND {USER_NS} AND {} ORDER BY 3, 4",
        not_ext_member("pg_class", "c.oid")
    );
    Ok(client
        .query(sql.as_str(), &[])?
        .iter()
        .map(|r| Relation {
            oid: r.get(0),
            kind: r.get::<_, String>(1).chars().next().unwrap_or('r'),
            schema: r.get(2),
            name: r.get(3),
            qualified: r.get(4),
            persistence: r.get::<_, String>(5).chars().next().unwrap_or('p'),
            is_partition: r.get(6),
            bound: r.get(7),
            partkey: r.get(8),
            rls: r.get(9),
            force_rls: r.get(10),
            options: r.get::<_, Option<String>>(11).filter(|s| !s.is_empty()),
            replident: r.get::<_, String>(12).chars().next().unwrap_or('d'),
            populated: r.get(13),
            bytes: r.get(14),
        })
        .collect())
}

struct Column {
    num: i16,
    name: String,
    ty: String,
    notnull: bool,
    local: bool,
    identity: String,
    generated: String,
    default: Option<String>,
    collation: Option<String>,
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
    let mut columns: HashMap<Oid, Vec<Column>> = HashMap::new();
    for r in client.query(
        format!(
            "SELECT a.attrelid, a.attnum, pg_catalog.quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attislocal, \
             a.attidentity::text, {generated}, pg_catalog.pg_get_expr(d.adbin, d.adrelid), \
             CASE WHEN a.attcollation <> t.typcollation THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum"
        )
        .as_str(),
        &[&oids],
    )? {
        columns.entry(r.get(0)).or_default().push(Column {
            num: r.get(1),
            name: r.get(2),
            ty: r.get(3),
            notnull: r.get(4),
            local: r.get(5),
            identity: r.get(6),
            generated: r.get(7),
            default: r.get(8),
            collation: r.get(9),
        });
    }
    let mut parents: HashMap<Oid, Vec<(Oid, String)>> = HashMap::new();
    for r in client.query(
        "SELECT i.inhrelid, i.inhparent, pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhparent \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE i.inhrelid = ANY($1) ORDER BY i.inhrelid, i.inhseqno",
        &[&oids],
    )? {
        parents.entry(r.get(0)).or_default().push((r.get(1), r.get(2)));
    }
    let mut checks: HashMap<Oid, Vec<(String, String, bool)>> = HashMap::new();
    for r in client.query(
        "SELECT conrelid, pg_catalog.quote_ident(conname), pg_catalog.pg_get_constraintdef(oid), convalidated FROM pg_catalog.pg_constraint \
         WHERE conrelid = ANY($1) AND contype = 'c' AND conislocal ORDER BY conrelid, conname",
        &[&oids],
    )? {
        checks.entry(r.get(0)).or_default().push((r.get(1), r.get(2), r.get(3)));
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
                .map(|r| (r.get::<_, String>(0), (r.get::<_, bool>(1), r.get::<_, Option<String>>(2))))
                .collect()
        };
        for c in &cols {
            if !c.local || t.is_partition {
                // Inherited: created by the parent; only differences are set here.
                let (parent_notnull, parent_default) = parent_cols.get(&c.name).cloned().unwrap_or((false, None));
                if c.notnull && !parent_notnull {
                    after.push(format!(
                        "ALTER TABLE ONLY {} ALTER COLUMN {} SET NOT NULL;",
                        t.qualified, c.name
                    ));
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
                def.push_str(&format!(" DEFAULT {d}"));
            }
            if !c.identity.is_empty() {
                let seq = identity_seqs.get(&(t.oid, c.num)).copied();
                let opts = match seq {
                    Some(seq) => {
                        let r = client.query_one(
                            "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle \
                             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid WHERE c.oid = $1",
                            &[&seq],
                        )?;
                        let all = sequence_options(&r, 1);
                        // AS type is the column's type for identity sequences.
                        let without_type = all
                            .split_once(' ')
                            .map(|(_, rest)| rest.split_once(' ').map(|(_, r)| r).unwrap_or(rest))
                            .unwrap_or(&all);
                        format!(" (SEQUENCE NAME {} {without_type})", r.get::<_, String>(0))
                    }
                    None => String::new(),
                };
                let how = if c.identity == "a" { "ALWAYS" } else { "BY DEFAULT" };
                def.push_str(&format!(" GENERATED {how} AS IDENTITY{opts}"));
            }
            if c.notnull {
                def.push_str(" NOT NULL");
            }
            defs.push(def);
        }
        for (name, def, valid) in checks.get(&t.oid).cloned().unwrap_or_default() {
            if !valid {
                cat.post_data.push(Item {
                    needs: Vec::new(),
                    kind: "constraint",
                    name: format!("{name} on {}", t.qualified),
                    sql: format!("ALTER TABLE {} ADD CONSTRAINT {name} {def};", t.qualified),
                    structural: true,
                });
            } else if t.is_partition {
                after.push(format!("ALTER TABLE ONLY {} ADD CONSTRAINT {name} {def};", t.qualified));
            } else {
                defs.push(format!("CONSTRAINT {name} {def}"));
            }
        }
        let unlogged = if t.persistence == 'u' { "UNLOGGED " } else { "" };
        let mut sql = if t.is_partition {
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
            if !my_parents.is_empty() {
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
        if let Some(opts) = &t.options {
            sql.push_str(&format!("\nWITH ({opts})"));
        }
        sql.push(';');
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
            });
        }
    }
    Ok(())
}

fn views(client: &mut Client, relations: &[Relation], excluded: &HashSet<Oid>, out: &mut Vec<Pending>) -> Result<()> {
    for v in relations
        .iter()
        .filter(|r| matches!(r.kind, 'v' | 'm') && !excluded.contains(&r.oid))
    {
        let def: String = client
            .query_one("SELECT pg_catalog.pg_get_viewdef($1::pg_catalog.oid)", &[&v.oid])?
            .get(0);
        let def = def.trim_end().trim_end_matches(';');
        let with = v.options.as_ref().map(|o| format!(" WITH ({o})")).unwrap_or_default();
        let (kind, sql, rank) = if v.kind == 'v' {
            ("view", format!("CREATE VIEW {}{with} AS\n{def};", v.qualified), 9)
        } else {
            (
                "materialized view",
                format!(
                    "CREATE MATERIALIZED VIEW {}{with} AS\n{def}\nWITH NO DATA;",
                    v.qualified
                ),
                10,
            )
        };
        out.push(Pending {
            key: (PG_CLASS, v.oid),
            rank,
            item: Item {
                needs: Vec::new(),
                kind,
                name: v.qualified.clone(),
                sql,
                structural: true,
            },
        });
    }
    Ok(())
}

/// Orders pre-data so that everything comes after what it depends on;
/// among objects that are free to go, by kind and then by name.
fn order(client: &mut Client, version: i32, pending: Vec<Pending>) -> Result<Vec<Item>> {
    let mut owner: HashMap<Key, Key> = HashMap::new();
    for r in client.query("SELECT oid, adrelid FROM pg_catalog.pg_attrdef", &[])? {
        owner.insert((PG_ATTRDEF, r.get(0)), (PG_CLASS, r.get(1)));
    }
    for r in client.query(
        "SELECT oid, ev_class FROM pg_catalog.pg_rewrite WHERE oid >= 16384",
        &[],
    )? {
        owner.insert((PG_REWRITE, r.get(0)), (PG_CLASS, r.get(1)));
    }
    for r in client.query(
        "SELECT oid, conrelid, contypid FROM pg_catalog.pg_constraint WHERE oid >= 16384",
        &[],
    )? {
        let rel: Oid = r.get(1);
        owner.insert(
            (PG_CONSTRAINT, r.get(0)),
            if rel != 0 { (PG_CLASS, rel) } else { (PG_TYPE, r.get(2)) },
        );
    }
    for r in client.query(
        "SELECT t.oid, t.typrelid, c.relkind::text, t.typelem, t.typcategory::text, c.reltype FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_class c ON c.oid = t.typrelid WHERE t.oid >= 16384",
        &[],
    )? {
        let oid: Oid = r.get(0);
        let relid: Oid = r.get(1);
        let relkind: Option<String> = r.get(2);
        let elem: Oid = r.get(3);
        let category: String = r.get(4);
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
        owner.insert((PG_TYPE, r.get(0)), (PG_TYPE, r.get(1)));
    }
    for r in client.query(
        "SELECT classid, objid, refobjid FROM pg_catalog.pg_depend WHERE deptype = 'e'",
        &[],
    )? {
        owner.insert((r.get(0), r.get(1)), (PG_EXTENSION, r.get(2)));
    }
    for (part, whole) in objects::owners(client)? {
        owner.insert(part, whole);
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
    for r in client.query(
        "SELECT classid, objid, refclassid, refobjid FROM pg_catalog.pg_depend WHERE deptype IN ('n', 'a') AND objid >= 16384 AND refobjid >= 16384",
        &[],
    )? {
        let from = resolve((r.get(0), r.get(1)));
        let to = resolve((r.get(2), r.get(3)));
        let (Some(&f), Some(&t)) = (index.get(&from), index.get(&to)) else { continue };
        // A sequence owned by a column would wait for its table, whose
        // default waits for the sequence: ownership is set in post-data.
        if pending[f].item.kind == "sequence" {
            continue;
        }
        add(f, t, &mut edges, &mut indegree);
    }
    for r in client.query("SELECT inhrelid, inhparent FROM pg_catalog.pg_inherits", &[])? {
        if let (Some(&f), Some(&t)) = (index.get(&(PG_CLASS, r.get(0))), index.get(&(PG_CLASS, r.get(1)))) {
            add(f, t, &mut edges, &mut indegree);
        }
    }
    for r in client.query("SELECT extnamespace, oid FROM pg_catalog.pg_extension", &[])? {
        if let (Some(&f), Some(&t)) = (
            index.get(&(PG_EXTENSION, r.get(1))),
            index.get(&(PG_NAMESPACE, r.get(0))),
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
    let mut slots: Vec<Option<Item>> = pending.into_iter().map(|p| Some(p.item)).collect();
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
        if !kept.contains(&r.get::<_, Oid>(3)) {
            continue;
        }
        let seq: String = r.get(0);
        cat.post_data.push(Item { needs: Vec::new(),
            kind: "sequence owner",
            name: seq.clone(),
            sql: format!("ALTER SEQUENCE {seq} OWNED BY {}.{};", r.get::<_, String>(1), r.get::<_, String>(2)),
            structural: true,
        });
    }

    // Primary, unique and exclusion constraints, and indexes.
    let parent_of = "(SELECT pg_catalog.format('%I.%I', pn.nspname, pc.relname) FROM pg_catalog.pg_inherits pi JOIN pg_catalog.pg_class pc ON pc.oid = pi.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace WHERE pi.inhrelid = ";
    let mut attaches = Vec::new();
    for r in client.query(
        format!(
            "SELECT co.conrelid, pg_catalog.quote_ident(co.conname), pg_catalog.pg_get_constraintdef(co.oid), \
             pg_catalog.format('%I.%I', n.nspname, ic.relname), {parent_of} co.conindid) \
             FROM pg_catalog.pg_constraint co JOIN pg_catalog.pg_class ic ON ic.oid = co.conindid JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace \
             WHERE co.conrelid = ANY($1) AND co.contype IN ('p', 'u', 'x') ORDER BY 4"
        )
        .as_str(),
        &[&oids],
    )? {
        let rel = by_oid[&r.get::<_, Oid>(0)];
        let name: String = r.get(1);
        cat.indexes.push(Item { needs: vec![rel.qualified.clone()],
            kind: "constraint",
            name: format!("{name} on {}", rel.qualified),
            sql: format!("ALTER TABLE ONLY {} ADD CONSTRAINT {name} {};", rel.qualified, r.get::<_, String>(2)),
            structural: true,
        });
        if let Some(parent) = r.get::<_, Option<String>>(4) {
            attaches.push((parent, r.get::<_, String>(3)));
        }
    }
    for r in client.query(
        format!(
            "SELECT i.indrelid, pg_catalog.pg_get_indexdef(i.indexrelid), pg_catalog.format('%I.%I', n.nspname, ic.relname), {parent_of} i.indexrelid), i.indisclustered \
             FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace \
             WHERE i.indrelid = ANY($1) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')) ORDER BY 3"
        )
        .as_str(),
        &[&oids],
    )? {
        let index: String = r.get(2);
        cat.indexes.push(Item { needs: vec![by_oid[&r.get::<_, Oid>(0)].qualified.clone()], kind: "index", name: index.clone(), sql: format!("{};", r.get::<_, String>(1)), structural: true });
        if let Some(parent) = r.get::<_, Option<String>>(3) {
            attaches.push((parent, index.clone()));
        }
        if r.get::<_, bool>(4) {
            let rel = by_oid[&r.get::<_, Oid>(0)];
            cat.post_data.push(Item { needs: Vec::new(), kind: "cluster", name: index.clone(), sql: format!("ALTER TABLE {} CLUSTER ON {};", rel.qualified, index.rsplit('.').next().unwrap_or(&index)), structural: true });
        }
    }
    for (parent, child) in attaches {
        cat.post_data.push(Item {
            needs: Vec::new(),
            kind: "index attach",
            name: child.clone(),
            sql: format!("ALTER INDEX {parent} ATTACH PARTITION {child};"),
            structural: true,
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
            "SELECT co.conrelid, pg_catalog.quote_ident(co.conname), pg_catalog.pg_get_constraintdef(co.oid), co.confrelid FROM pg_catalog.pg_constraint co \
             WHERE co.conrelid = ANY($1) AND co.contype = 'f' AND {conparent} ORDER BY co.conrelid, co.conname"
        )
        .as_str(),
        &[&oids],
    )? {
        let rel = by_oid[&r.get::<_, Oid>(0)];
        if !kept.contains(&r.get::<_, Oid>(3)) {
            continue;
        }
        let only = if rel.kind == 'p' { "" } else { "ONLY " };
        let name: String = r.get(1);
        cat.foreign_keys.push(Item { needs: vec![rel.qualified.clone(), by_oid[&r.get::<_, Oid>(3)].qualified.clone()],
            kind: "foreign key",
            name: format!("{name} on {}", rel.qualified),
            sql: format!("ALTER TABLE {only}{} ADD CONSTRAINT {name} {};", rel.qualified, r.get::<_, String>(2)),
            structural: true,
        });
    }

    // Triggers.
    let not_clone = if version >= 130000 { "AND t.tgparentid = 0" } else { "" };
    for r in client.query(
        format!(
            "SELECT t.tgrelid, pg_catalog.pg_get_triggerdef(t.oid), pg_catalog.quote_ident(t.tgname), t.tgenabled::text FROM pg_catalog.pg_trigger t \
             WHERE t.tgrelid = ANY($1) AND NOT t.tgisinternal {not_clone} ORDER BY 3"
        )
        .as_str(),
        &[&oids],
    )? {
        let rel = by_oid[&r.get::<_, Oid>(0)];
        let name: String = r.get(2);
        let mut sql = format!("{};", r.get::<_, String>(1));
        match r.get::<_, String>(3).as_str() {
            "D" => sql.push_str(&format!("\nALTER TABLE {} DISABLE TRIGGER {name};", rel.qualified)),
            "A" => sql.push_str(&format!("\nALTER TABLE {} ENABLE ALWAYS TRIGGER {name};", rel.qualified)),
            "R" => sql.push_str(&format!("\nALTER TABLE {} ENABLE REPLICA TRIGGER {name};", rel.qualified)),
            _ => {}
        }
        cat.post_data.push(Item { needs: Vec::new(), kind: "trigger", name: format!("{name} on {}", rel.qualified), sql, structural: true });
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
            });
        }
        if rel.force_rls {
            cat.post_data.push(Item {
                needs: Vec::new(),
                kind: "row security",
                name: format!("{} force", rel.qualified),
                sql: format!("ALTER TABLE {} FORCE ROW LEVEL SECURITY;", rel.qualified),
                structural: true,
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
            }),
            'n' => cat.post_data.push(Item {
                needs: Vec::new(),
                kind: "replica identity",
                name: rel.qualified.clone(),
                sql: format!("ALTER TABLE {} REPLICA IDENTITY NOTHING;", rel.qualified),
                structural: true,
            }),
            _ => {}
        }
    }
    for r in client.query(
        "SELECT p.polrelid, pg_catalog.quote_ident(p.polname), p.polpermissive, p.polcmd::text, \
         CASE WHEN p.polroles = '{0}' THEN 'PUBLIC' ELSE (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(rolname), ', ' ORDER BY rolname) FROM pg_catalog.pg_roles WHERE oid = ANY(p.polroles)) END, \
         pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) FROM pg_catalog.pg_policy p WHERE p.polrelid = ANY($1) ORDER BY 1, 2",
        &[&oids],
    )? {
        let rel = by_oid[&r.get::<_, Oid>(0)];
        let name: String = r.get(1);
        let cmd = match r.get::<_, String>(3).as_str() {
            "r" => "SELECT",
            "a" => "INSERT",
            "w" => "UPDATE",
            "d" => "DELETE",
            _ => "ALL",
        };
        let mut sql = format!("CREATE POLICY {name} ON {}", rel.qualified);
        if !r.get::<_, bool>(2) {
            sql.push_str(" AS RESTRICTIVE");
        }
        sql.push_str(&format!(" FOR {cmd} TO {}", r.get::<_, String>(4)));
        if let Some(q) = r.get::<_, Option<String>>(5) {
            sql.push_str(&format!(" USING ({q})"));
        }
        if let Some(c) = r.get::<_, Option<String>>(6) {
            sql.push_str(&format!(" WITH CHECK ({c})"));
        }
        sql.push(';');
        cat.post_data.push(Item { needs: Vec::new(), kind: "policy", name: format!("{name} on {}", rel.qualified), sql, structural: true });
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
            });
        }
    }

    comments(client, kept, cat)?;
    Ok(())
}

fn comments(client: &mut Client, kept: &HashSet<Oid>, cat: &mut Catalog) -> Result<()> {
    let rows = client.query(
        "SELECT o.type, o.schema, o.identity, d.description, d.classoid, d.objoid, \
         CASE WHEN d.classoid = 'pg_class'::pg_catalog.regclass THEN d.objoid WHEN d.classoid = 'pg_constraint'::pg_catalog.regclass THEN (SELECT conrelid FROM pg_catalog.pg_constraint WHERE oid = d.objoid) \
              WHEN d.classoid = 'pg_trigger'::pg_catalog.regclass THEN (SELECT tgrelid FROM pg_catalog.pg_trigger WHERE oid = d.objoid) \
              WHEN d.classoid = 'pg_policy'::pg_catalog.regclass THEN (SELECT polrelid FROM pg_catalog.pg_policy WHERE oid = d.objoid) END \
         FROM pg_catalog.pg_description d, LATERAL pg_catalog.pg_identify_object(d.classoid, d.objoid, d.objsubid) o \
         WHERE d.objoid >= 16384 AND d.classoid <> 'pg_extension'::pg_catalog.regclass \
         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e') ORDER BY 1, 3",
        &[],
    )?;
    let index_tables: HashMap<Oid, Oid> = client
        .query(
            "SELECT indexrelid, indrelid FROM pg_catalog.pg_index WHERE indexrelid >= 16384",
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for r in rows {
        let kind: String = r.get(0);
        let schema: Option<String> = r.get(1);
        if schema
            .as_deref()
            .is_some_and(|s| s == "pg_catalog" || s == "information_schema" || s.starts_with("pg_toast"))
        {
            continue;
        }
        if let Some(rel) = r.get::<_, Option<Oid>>(6) {
            let rel = index_tables.get(&rel).copied().unwrap_or(rel);
            if !kept.contains(&rel)
                && (kind.contains("table")
                    || kind.contains("view")
                    || kind.contains("column")
                    || kind == "index"
                    || kind.ends_with("constraint")
                    || kind == "trigger"
                    || kind == "policy")
            {
                continue;
            }
        }
        let identity: String = r.get(2);
        let target = match kind.as_str() {
            "table" | "view" | "materialized view" | "sequence" | "index" | "function" | "procedure" | "type"
            | "domain" | "schema" | "collation" => {
                format!("{} {identity}", kind.to_ascii_uppercase())
            }
            "composite type" => format!("TYPE {identity}"),
            "table column" | "view column" | "materialized view column" | "composite type column" => {
                format!("COLUMN {identity}")
            }
            "table constraint" | "trigger" | "policy" => {
                let word = match kind.as_str() {
                    "table constraint" => "CONSTRAINT",
                    k => &k.to_ascii_uppercase(),
                };
                format!("{word} {identity}")
            }
            "domain constraint" => {
                let (name, domain) = identity.split_once(" on ").unwrap_or((&identity, ""));
                format!("CONSTRAINT {name} ON DOMAIN {domain}")
            }
            other if objects::comments_itself(other) => continue,
            other => {
                cat.unsupported.push(format!("comment on {other} {identity}"));
                continue;
            }
        };
        let text: String = r.get(3);
        cat.post_data.push(Item {
            needs: Vec::new(),
            kind: "comment",
            name: target.clone(),
            sql: format!("COMMENT ON {target} IS {};", quote_literal(&text)),
            structural: true,
        });
    }
    Ok(())
}

/// Owners and grants, asked for with `--with-privileges`.
fn privileges(client: &mut Client, kept: &HashSet<Oid>, cat: &mut Catalog) -> Result<()> {
    let oids: Vec<Oid> = kept.iter().copied().collect();
    for r in client.query(
        "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, \
         pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner)), \
         (SELECT pg_catalog.string_agg(pg_catalog.format('GRANT %s ON %I.%I TO %s;', a.privilege_type, n.nspname, c.relname, \
            CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END), E'\\n' ORDER BY a.grantee, a.privilege_type) \
          FROM pg_catalog.aclexplode(c.relacl) a WHERE a.grantee <> c.relowner) \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY($1) ORDER BY 1",
        &[&oids],
    )? {
        let name: String = r.get(0);
        let mut sql = format!("ALTER {} {name} OWNER TO {};", r.get::<_, String>(1), r.get::<_, String>(2));
        if let Some(grants) = r.get::<_, Option<String>>(3) {
            sql.push('\n');
            sql.push_str(&grants);
        }
        cat.post_data.push(Item { needs: Vec::new(), kind: "privileges", name, sql, structural: true });
    }
    Ok(())
}

/// The SQL that goes at the top of every member, as pg_dump's header.
pub const SQL_HEADER: &str = "SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\nSELECT pg_catalog.set_config('search_path', '', false);\nSET check_function_bodies = false;\nSET client_min_messages = warning;\n\n";

/// Renders items as one SQL script.
/// Marks the table an index belongs to inside a script.
pub const TABLE_LINE: &str = "-- table: ";

pub fn script(items: &[Item]) -> String {
    let mut out = String::from(SQL_HEADER);
    for item in items {
        out.push_str(&format!("-- {}: {}\n", item.kind, item.name.replace('\n', " ")));
        for table in &item.needs {
            out.push_str(&format!("{TABLE_LINE}{}\n", table.replace('\n', " ")));
        }
        out.push_str(&format!("{}\n\n", item.sql));
    }
    out
}

//! Owners, grants and default privileges, asked for with
//! `--with-privileges`: as pg_dump writes them, an object's privileges
//! that differ from the defaults its owner gets, as REVOKEs and GRANTs.

use super::{Catalog, Item, USER_NS, standalone};
use crate::engine::postgres::rows::Value;
use anyhow::{Context, Result};
use postgres::Client;
use postgres::types::Oid;
use std::collections::HashSet;

/// A role by name, or PUBLIC.
const GRANTEE: &str =
    "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END";

/// From PostgreSQL 15, whose new databases' schema public belongs to
/// pg_database_owner, pg_dump writes its owner when that was changed, and
/// its grants relative to that owner.
const PUBLIC_OWNED: &str = "pg_catalog.current_setting('server_version_num')::pg_catalog.int4 >= 150000";

/// REVOKEs of the defaults `acl` takes away and GRANTs of what it adds,
/// one statement a line, for an object named `target` (`TABLE public.t`)
/// with `acldefault` kind `kind` and owner `owner`.
pub(crate) fn acl_statements(acl: &str, kind: char, owner: &str, target: &str, columns: &str) -> String {
    acl_statements_from(
        acl,
        &format!("pg_catalog.acldefault('{kind}', {owner})"),
        target,
        columns,
    )
}

/// As `acl_statements`, against the privileges `baseline` the object has
/// when it is made. GRANTs keep the order of the ACL's entries, which a
/// grant to a new grantee appends to: restored, the ACL lists its roles
/// as the source's does, and pg_dump prints them in that order.
fn acl_statements_from(acl: &str, baseline: &str, target: &str, columns: &str) -> String {
    let defaults = format!("pg_catalog.aclexplode({baseline})");
    format!(
        "(SELECT pg_catalog.string_agg(s.statement, E'\\n' ORDER BY s.revoke DESC, s.place, s.statement) FROM ( \
           SELECT true AS revoke, 0::pg_catalog.int8 AS place, pg_catalog.format('REVOKE %s{columns} ON %s FROM %s;', a.privilege_type, {target}, {GRANTEE}) AS statement \
           FROM {defaults} a WHERE {acl} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode({acl}) x WHERE x.grantee = a.grantee AND x.privilege_type = a.privilege_type) \
           UNION ALL \
           SELECT false, a.place, pg_catalog.format('GRANT %s{columns} ON %s TO %s%s;', a.privilege_type, {target}, {GRANTEE}, CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) \
           FROM pg_catalog.aclexplode({acl}) WITH ORDINALITY a(grantor, grantee, privilege_type, is_grantable, place) \
           WHERE NOT EXISTS (SELECT 1 FROM {defaults} d WHERE d.grantee = a.grantee AND d.privilege_type = a.privilege_type AND d.is_grantable = a.is_grantable) \
         ) s)"
    )
}

/// As `acl_statements_from`, comparing whole entries as pg_dump up to 14
/// compares schema public's: an entry of the baseline the ACL does not
/// hold with the same privileges is revoked whole, and the ACL's entries
/// the baseline lacks are granted in their order, so that a changed entry
/// moves behind the others as it does through pg_dump | psql. Grantors are
/// left out of the comparison: a new owner becomes the grantor of every
/// entry, and a restore grants as the owner it makes.
fn acl_entry_statements_from(acl: &str, baseline: &str, target: &str) -> String {
    let same_entry = |x: &str, list: &str| {
        format!(
            "EXISTS (SELECT 1 FROM pg_catalog.unnest({list}) other(item) WHERE \
               (SELECT pg_catalog.array_agg(e.grantee::text || ':' || e.privilege_type || ':' || e.is_grantable::text ORDER BY 1) FROM pg_catalog.aclexplode(ARRAY[other.item]) e) \
             = (SELECT pg_catalog.array_agg(e.grantee::text || ':' || e.privilege_type || ':' || e.is_grantable::text ORDER BY 1) FROM pg_catalog.aclexplode(ARRAY[{x}]) e))"
        )
    };
    format!(
        "(SELECT pg_catalog.string_agg(s.statement, E'\\n' ORDER BY s.revoke DESC, s.place, s.statement) FROM ( \
           SELECT true AS revoke, 0::pg_catalog.int8 AS place, pg_catalog.format('REVOKE %s ON %s FROM %s;', a.privilege_type, {target}, {GRANTEE}) AS statement \
           FROM pg_catalog.unnest({baseline}) base_entry(item), pg_catalog.aclexplode(ARRAY[base_entry.item]) a \
           WHERE {acl} IS NOT NULL AND NOT {kept} \
           UNION ALL \
           SELECT false, entry.place, pg_catalog.format('GRANT %s ON %s TO %s%s;', a.privilege_type, {target}, {GRANTEE}, CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) \
           FROM pg_catalog.unnest({acl}) WITH ORDINALITY entry(item, place), pg_catalog.aclexplode(ARRAY[entry.item]) a \
           WHERE NOT {inherited} \
         ) s)",
        kept = same_entry("base_entry.item", acl),
        inherited = same_entry("entry.item", baseline),
    )
}

/// The privileges an object had when initdb or its extension's script
/// made it (`pg_init_privs`, at sub-object `sub`), else its owner's
/// defaults: the object is initdb's or the extension's, but grants on it
/// since are the database's, and pg_dump carries those.
fn initial_privileges(catalog: &str, oid: &str, sub: &str, kind: &str, owner: &str) -> String {
    format!(
        "COALESCE((SELECT i.initprivs FROM pg_catalog.pg_init_privs i WHERE i.objoid = {oid} \
           AND i.classoid = '{catalog}'::pg_catalog.regclass AND i.objsubid = {sub}), pg_catalog.acldefault({kind}, {owner}))"
    )
}

/// An extension's own object, with the catalog row called `x`.
fn extension_member(catalog: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = '{catalog}'::pg_catalog.regclass AND e.objid = x.oid AND e.deptype = 'e')"
    )
}

/// A kind of object that initdb or an extension's script makes, whose
/// privileges pg_dump writes as the difference between its ACL and the
/// one `pg_init_privs` recorded (no owner, no definition: those are
/// initdb's or the extension's). The catalog row is called `x`.
struct InitialKind {
    what: &'static str,
    catalog: &'static str,
    /// The ACL and owner columns.
    acl: &'static str,
    owner: &'static str,
    /// `acldefault`'s kind, as SQL.
    default_kind: &'static str,
    /// The item's name, as SQL.
    name: &'static str,
    /// What GRANT and REVOKE name, as SQL (`FUNCTION f(int)`).
    target: &'static str,
    /// Which rows initdb made, besides those of extensions: pg_dump
    /// writes the changed privileges of pg_catalog's objects and of the
    /// procedural languages initdb made (plpgsql, in template1 by initdb,
    /// whose ACL pg_init_privs leaves to the default).
    from_initdb: &'static str,
}

const RELATION_GRANT_TARGET: &str =
    "pg_catalog.format('%s %s', CASE x.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, x.oid::pg_catalog.regclass)";

/// Every kind pg_dump compares with `pg_init_privs`: schemas, routines
/// (aggregates included), relations (and their columns, below), types,
/// procedural languages, foreign-data wrappers and servers.
const INITIAL_KINDS: &[InitialKind] = &[
    InitialKind {
        what: "schemas of initdb and of extensions",
        catalog: "pg_namespace",
        acl: "nspacl",
        owner: "nspowner",
        default_kind: "'n'",
        name: "pg_catalog.quote_ident(x.nspname)",
        target: "pg_catalog.format('SCHEMA %I', x.nspname)",
        from_initdb: "x.nspname = 'pg_catalog'",
    },
    InitialKind {
        what: "routines of initdb and of extensions",
        catalog: "pg_proc",
        acl: "proacl",
        owner: "proowner",
        default_kind: "'f'",
        name: "x.oid::pg_catalog.regprocedure::text",
        target: "pg_catalog.format('%s %s', CASE x.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, x.oid::pg_catalog.regprocedure)",
        from_initdb: "x.pronamespace = 'pg_catalog'::pg_catalog.regnamespace",
    },
    InitialKind {
        what: "tables and sequences of initdb and of extensions",
        catalog: "pg_class",
        acl: "relacl",
        owner: "relowner",
        default_kind: "CASE x.relkind WHEN 'S' THEN 's' ELSE 'r' END::\"char\"",
        name: "x.oid::pg_catalog.regclass::text",
        target: RELATION_GRANT_TARGET,
        from_initdb: "x.relnamespace = 'pg_catalog'::pg_catalog.regnamespace",
    },
    InitialKind {
        what: "types of initdb and of extensions",
        catalog: "pg_type",
        acl: "typacl",
        owner: "typowner",
        default_kind: "'T'",
        name: "x.oid::pg_catalog.regtype::text",
        // By schema and name: GRANT takes no SQL-standard alias
        // (`bigint`) that regtype prints for some of pg_catalog's types.
        target: "pg_catalog.format('TYPE %I.%I', (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = x.typnamespace), x.typname)",
        from_initdb: "x.typnamespace = 'pg_catalog'::pg_catalog.regnamespace",
    },
    InitialKind {
        what: "procedural languages of initdb and of extensions",
        catalog: "pg_language",
        acl: "lanacl",
        owner: "lanowner",
        default_kind: "'l'",
        name: "pg_catalog.quote_ident(x.lanname)",
        target: "pg_catalog.format('LANGUAGE %I', x.lanname)",
        from_initdb: "x.lanispl AND x.oid < 16384",
    },
    InitialKind {
        what: "foreign-data wrappers of extensions",
        catalog: "pg_foreign_data_wrapper",
        acl: "fdwacl",
        owner: "fdwowner",
        default_kind: "'F'",
        name: "pg_catalog.quote_ident(x.fdwname)",
        target: "pg_catalog.format('FOREIGN DATA WRAPPER %I', x.fdwname)",
        from_initdb: "false",
    },
    InitialKind {
        what: "foreign servers of extensions",
        catalog: "pg_foreign_server",
        acl: "srvacl",
        owner: "srvowner",
        default_kind: "'S'",
        name: "pg_catalog.quote_ident(x.srvname)",
        target: "pg_catalog.format('FOREIGN SERVER %I', x.srvname)",
        from_initdb: "false",
    },
];

impl InitialKind {
    /// The rows of this kind initdb or an extension made.
    fn made_initially(&self) -> String {
        format!("({} OR {})", self.from_initdb, extension_member(self.catalog))
    }

    fn baseline(&self) -> String {
        initial_privileges(
            self.catalog,
            "x.oid",
            "0",
            self.default_kind,
            &format!("x.{}", self.owner),
        )
    }
}

/// Grants on the objects initdb and extensions made that differ from
/// those they were made with: (what, the query giving name, no owner,
/// grants).
fn initial_object_grants() -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = INITIAL_KINDS
        .iter()
        .map(|k| {
            (
                k.what,
                format!(
                    "SELECT {}, NULL::text, {} FROM pg_catalog.{} x WHERE x.{} IS NOT NULL AND {}",
                    k.name,
                    acl_statements_from(&format!("x.{}", k.acl), &k.baseline(), k.target, ""),
                    k.catalog,
                    k.acl,
                    k.made_initially()
                ),
            )
        })
        .collect();
    // Column grants, against the column's own initial privileges (initdb
    // grants some of pg_catalog's columns to PUBLIC).
    let relations = INITIAL_KINDS
        .iter()
        .find(|k| k.catalog == "pg_class")
        .expect("relations are listed");
    out.push((
        "columns of initdb's and extensions' tables",
        format!(
            "SELECT pg_catalog.format('%s.%I', x.oid::pg_catalog.regclass, at.attname), NULL::text, {} \
             FROM pg_catalog.pg_class x JOIN pg_catalog.pg_attribute at ON at.attrelid = x.oid \
             WHERE at.attacl IS NOT NULL AND NOT at.attisdropped AND {}",
            acl_statements_from(
                "at.attacl",
                &initial_privileges("pg_class", "x.oid", "at.attnum", "'c'", "x.relowner"),
                RELATION_GRANT_TARGET,
                " (%I)"
            )
            .replace(
                "a.privilege_type, pg_catalog.format('%s %s'",
                "a.privilege_type, at.attname, pg_catalog.format('%s %s'"
            ),
            relations.made_initially()
        ),
    ));
    out
}

/// The grantees the statements of `initial_object_grants` name: those of
/// entries granted since, and those of initial entries revoked since.
/// Not every grantee of the ACL: initdb's grant to its bootstrap
/// superuser, whose name another cluster need not share, is written by
/// no statement.
fn initial_object_grantees() -> String {
    let changed = |acl: &str, baseline: &str, filter: &str, from: &str| {
        let differs = |of: &str, against: &str| {
            format!(
                "SELECT a.grantee FROM {from}, pg_catalog.aclexplode({of}) a WHERE {acl} IS NOT NULL AND {filter} \
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode({against}) d WHERE d.grantee = a.grantee \
                 AND d.privilege_type = a.privilege_type AND d.is_grantable = a.is_grantable)"
            )
        };
        format!(" UNION {} UNION {}", differs(acl, baseline), differs(baseline, acl))
    };
    let mut out: String = INITIAL_KINDS
        .iter()
        .map(|k| {
            changed(
                &format!("x.{}", k.acl),
                &k.baseline(),
                &k.made_initially(),
                &format!("pg_catalog.{} x", k.catalog),
            )
        })
        .collect();
    let relations = INITIAL_KINDS
        .iter()
        .find(|k| k.catalog == "pg_class")
        .expect("relations are listed");
    out.push_str(&changed(
        "at.attacl",
        &initial_privileges("pg_class", "x.oid", "at.attnum", "'c'", "x.relowner"),
        &format!("NOT at.attisdropped AND {}", relations.made_initially()),
        "pg_catalog.pg_class x JOIN pg_catalog.pg_attribute at ON at.attrelid = x.oid",
    ));
    out
}

/// Owners and grants of the schemas, relations in `kept`, sequences,
/// routines and types, and the default privileges.
pub fn privileges(client: &mut Client, kept: &HashSet<Oid>, cat: &mut Catalog) -> Result<()> {
    let oids: Vec<Oid> = kept.iter().copied().collect();
    let relation_word = "CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END";
    let relation_name = "pg_catalog.format('%I.%I', n.nspname, c.relname)";
    let grant_target = format!(
        "pg_catalog.format('%s %s', CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, {relation_name})"
    );
    // (what, the query giving name, owner statement and grants per object)
    let queries: Vec<(&str, String)> = vec![
        (
            "schemas",
            format!(
                "SELECT pg_catalog.quote_ident(n.nspname), \
                 CASE WHEN n.nspname <> 'public' OR ({PUBLIC_OWNED} AND pg_catalog.pg_get_userbyid(n.nspowner) <> 'pg_database_owner') \
                   THEN pg_catalog.format('ALTER SCHEMA %I OWNER TO %I;', n.nspname, pg_catalog.pg_get_userbyid(n.nspowner)) END, {} \
                 FROM pg_catalog.pg_namespace n WHERE {USER_NS} AND {}",
                // Schema public, as pg_dump compares it: from 15 on, against
                // the privileges a new database's public has, with its
                // owner (usage for all, all for the owner), whatever
                // pg_init_privs says of it (its initdb owner; nothing once
                // dropped and made again). Before, against its initial
                // privileges, as pg_dump of those versions does.
                {
                    let acl = "COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))";
                    let baseline = format!(
                        "CASE WHEN n.nspname = 'public' AND {PUBLIC_OWNED} \
                           THEN pg_catalog.array_append(pg_catalog.acldefault('n', n.nspowner), pg_catalog.makeaclitem(0, n.nspowner, 'USAGE', false)) \
                         ELSE COALESCE((SELECT i.initprivs FROM pg_catalog.pg_init_privs i WHERE i.objoid = n.oid \
                           AND i.classoid = 'pg_namespace'::pg_catalog.regclass AND i.objsubid = 0), pg_catalog.acldefault('n', n.nspowner)) END"
                    );
                    let target = "pg_catalog.format('SCHEMA %I', n.nspname)";
                    format!(
                        "CASE WHEN n.nspname = 'public' AND NOT {PUBLIC_OWNED} THEN {} ELSE {} END",
                        acl_entry_statements_from(acl, &baseline, target),
                        acl_statements_from(acl, &baseline, target, "")
                    )
                },
                standalone("pg_namespace", "n.oid")
            ),
        ),
        (
            "tables, views and sequences",
            format!(
                // A sequence a chosen table's column owns has that table's
                // owner, set with it; set by itself, the server refuses.
                "SELECT {relation_name}, CASE WHEN c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_class'::pg_catalog.regclass \
                 AND d.objid = c.oid AND d.refclassid = 'pg_class'::pg_catalog.regclass AND d.deptype = 'a' AND d.refobjid = ANY($1)) THEN NULL \
                 ELSE pg_catalog.format('ALTER %s %s OWNER TO %I;', {relation_word}, {relation_name}, pg_catalog.pg_get_userbyid(c.relowner)) END, \
                 pg_catalog.concat_ws(E'\\n', {}, (SELECT pg_catalog.string_agg({}, E'\\n' ORDER BY at.attnum) FROM pg_catalog.pg_attribute at WHERE at.attrelid = c.oid AND at.attacl IS NOT NULL)) \
                 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE (c.oid = ANY($1) OR (c.relkind = 'S' AND {USER_NS} AND {})) ",
                acl_statements("c.relacl", 'r', "c.relowner", &grant_target, "").replace(
                    "pg_catalog.acldefault('r'",
                    "pg_catalog.acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::\"char\""
                ),
                acl_statements("at.attacl", 'c', "c.relowner", &grant_target, " (%I)").replace(
                    "a.privilege_type, pg_catalog.format('%s %s'",
                    "a.privilege_type, at.attname, pg_catalog.format('%s %s'"
                ),
                standalone("pg_class", "c.oid")
            ),
        ),
        (
            "routines",
            format!(
                "SELECT p.oid::pg_catalog.regprocedure::text, pg_catalog.format('ALTER %s %s OWNER TO %I;', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, \
                 p.oid::pg_catalog.regprocedure, pg_catalog.pg_get_userbyid(p.proowner)), {} \
                 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE {USER_NS} AND {}",
                acl_statements(
                    "p.proacl",
                    'f',
                    "p.proowner",
                    "pg_catalog.format('%s %s', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::pg_catalog.regprocedure)",
                    ""
                ),
                standalone("pg_proc", "p.oid")
            ),
        ),
        (
            "types",
            format!(
                "SELECT pg_catalog.format('%I.%I', n.nspname, t.typname), pg_catalog.format('ALTER %s %I.%I OWNER TO %I;', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, \
                 n.nspname, t.typname, pg_catalog.pg_get_userbyid(t.typowner)), {} \
                 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE {USER_NS} AND {} \
                 AND (t.typtype IN ('e', 'r', 'd') OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c'))",
                acl_statements(
                    "t.typacl",
                    'T',
                    "t.typowner",
                    "pg_catalog.format('TYPE %I.%I', n.nspname, t.typname)",
                    ""
                ),
                standalone("pg_type", "t.oid")
            ),
        ),
    ];
    let mut queries = queries;
    queries.extend(other_owners());
    queries.extend(initial_object_grants());
    for (what, sql) in queries {
        // In name order: the same source writes the same set.
        let sql = format!("{sql} ORDER BY 1");
        let rows = if sql.contains("$1") {
            client.query(sql.as_str(), &[&oids])
        } else {
            client.query(sql.as_str(), &[])
        }
        .with_context(|| format!("reading the owners and grants of {what}"))?;
        for r in rows {
            let name: String = r.value(0)?;
            let sql: Vec<String> = [r.value::<Option<String>>(1)?, r.value::<Option<String>>(2)?]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect();
            if !sql.is_empty() {
                cat.post_data.push(Item {
                    needs: Vec::new(),
                    kind: "privileges",
                    name,
                    sql: sql.join("\n"),
                    structural: true,
                    key: None,
                });
            }
        }
    }
    default_privileges(client, cat)?;
    cat.roles = roles(client, kept)?;
    Ok(())
}

/// Objects of a schema whose owner pg_dump writes besides tables, routines
/// and types, named `schema.name` in `ALTER <kind> ... OWNER TO`: (kind,
/// catalog, the prefix of its name, namespace and owner columns, whether
/// an access method follows the name, and which of them are taken).
const SCHEMA_OBJECT_OWNERS: &[(&str, &str, &str, bool, &str)] = &[
    ("COLLATION", "pg_collation", "coll", false, ""),
    ("CONVERSION", "pg_conversion", "con", false, ""),
    ("TEXT SEARCH DICTIONARY", "pg_ts_dict", "dict", false, ""),
    ("TEXT SEARCH CONFIGURATION", "pg_ts_config", "cfg", false, ""),
    ("OPERATOR CLASS", "pg_opclass", "opc", true, ""),
    ("OPERATOR FAMILY", "pg_opfamily", "opf", true, ""),
    // Those of the tables kept.
    (
        "STATISTICS",
        "pg_statistic_ext",
        "stx",
        false,
        " AND x.stxrelid = ANY($1)",
    ),
];

/// Owners (and grants, for those that have them) of the objects besides
/// schemas, relations, routines and types that pg_dump writes an owner
/// for: those above, operators, foreign-data wrappers, servers,
/// publications and procedural languages; those of extensions are the
/// extension's.
fn other_owners() -> Vec<(&'static str, String)> {
    let owner = |o: &str| format!("pg_catalog.pg_get_userbyid({o})");
    let mut out: Vec<(&'static str, String)> = SCHEMA_OBJECT_OWNERS
        .iter()
        .map(|(kind, catalog, p, method, only)| {
            let (using, am, join) = if *method {
                (
                    " USING %I",
                    " a.amname,",
                    format!(" JOIN pg_catalog.pg_am a ON a.oid = x.{p}method"),
                )
            } else {
                ("", "", String::new())
            };
            (
                *kind,
                format!(
                    "SELECT pg_catalog.format('%I.%I', n.nspname, x.{p}name), pg_catalog.format('ALTER {kind} %I.%I{using} OWNER TO %I;', n.nspname, x.{p}name,{am} {}), NULL::text \
                     FROM pg_catalog.{catalog} x JOIN pg_catalog.pg_namespace n ON n.oid = x.{p}namespace{join} WHERE {USER_NS}{only} AND {}",
                    owner(&format!("x.{p}owner")),
                    standalone(catalog, "x.oid")
                ),
            )
        })
        .collect();
    out.extend([
        (
            "operators",
            format!(
                "SELECT x.oid::pg_catalog.regoperator::text, pg_catalog.format('ALTER OPERATOR %s OWNER TO %I;', x.oid::pg_catalog.regoperator, {}), NULL::text \
                 FROM pg_catalog.pg_operator x JOIN pg_catalog.pg_namespace n ON n.oid = x.oprnamespace WHERE {USER_NS} AND {}",
                owner("x.oprowner"),
                standalone("pg_operator", "x.oid")
            ),
        ),
        (
            "publications",
            format!(
                "SELECT pg_catalog.quote_ident(x.pubname), pg_catalog.format('ALTER PUBLICATION %I OWNER TO %I;', x.pubname, {}), NULL::text \
                 FROM pg_catalog.pg_publication x",
                owner("x.pubowner")
            ),
        ),
    ]);
    out.extend(GLOBAL_OBJECT_OWNERS.iter().map(|(what, catalog, p, alter, grant, kind, only)| {
        (
            *what,
            format!(
                "SELECT pg_catalog.quote_ident(x.{p}name), pg_catalog.format('ALTER {alter} %I OWNER TO %I;', x.{p}name, {}), {} \
                 FROM pg_catalog.{catalog} x WHERE {only} AND {}",
                owner(&format!("x.{p}owner")),
                acl_statements(
                    &format!("x.{p}acl"),
                    *kind,
                    &format!("x.{p}owner"),
                    &format!("pg_catalog.format('{grant} %I', x.{p}name)"),
                    ""
                ),
                standalone(catalog, "x.oid")
            ),
        )
    }));
    out
}

/// Objects outside schemas with owners and grants: (what, catalog, the
/// prefix of its name, owner and ACL columns, the words `ALTER` and
/// `GRANT` take, `acldefault`'s kind, which of them are taken).
const GLOBAL_OBJECT_OWNERS: &[(&str, &str, &str, &str, &str, char, &str)] = &[
    (
        "foreign-data wrappers",
        "pg_foreign_data_wrapper",
        "fdw",
        "FOREIGN DATA WRAPPER",
        "FOREIGN DATA WRAPPER",
        'F',
        "true",
    ),
    (
        "servers",
        "pg_foreign_server",
        "srv",
        "SERVER",
        "FOREIGN SERVER",
        'S',
        "true",
    ),
    // Those made after initdb (plpgsql is an extension's).
    (
        "procedural languages",
        "pg_language",
        "lan",
        "LANGUAGE",
        "LANGUAGE",
        'l',
        "x.oid >= 16384",
    ),
];

/// Every role an owner or a grant written above names, but the system's.
fn roles(client: &mut Client, kept: &HashSet<Oid>) -> Result<Vec<String>> {
    let oids: Vec<Oid> = kept.iter().copied().collect();
    let holders = |catalog: &str, owner: &str, acl: &str, filter: &str| {
        format!(
            "SELECT {owner} AS role FROM pg_catalog.{catalog} x WHERE {filter} \
             UNION SELECT a.grantee FROM pg_catalog.{catalog} x, pg_catalog.aclexplode(x.{acl}) a WHERE {filter}"
        )
    };
    let others: String = SCHEMA_OBJECT_OWNERS
        .iter()
        .map(|(_, catalog, p, _, only)| (*catalog, format!("{p}owner"), *only))
        .chain([
            ("pg_operator", "oprowner".into(), ""),
            ("pg_publication", "pubowner".into(), ""),
        ])
        .map(|(catalog, owner, only)| {
            format!(
                " UNION SELECT x.{owner} FROM pg_catalog.{catalog} x WHERE x.oid >= 16384{only} AND {}",
                standalone(catalog, "x.oid")
            )
        })
        .chain(GLOBAL_OBJECT_OWNERS.iter().map(|(_, catalog, p, _, _, _, only)| {
            format!(
                " UNION {}",
                holders(
                    catalog,
                    &format!("x.{p}owner"),
                    &format!("{p}acl"),
                    &format!("{only} AND {}", standalone(catalog, "x.oid"))
                )
            )
        }))
        .collect();
    // Grantees on the objects initdb and extensions made.
    let extensions = initial_object_grantees();
    let sql = format!(
        "SELECT DISTINCT r.rolname::text FROM ({} UNION {} UNION {} UNION {} UNION {}{others} \
           UNION SELECT defaclrole FROM pg_catalog.pg_default_acl UNION SELECT a.grantee FROM pg_catalog.pg_default_acl d, pg_catalog.aclexplode(d.defaclacl) a{extensions}) h \
         JOIN pg_catalog.pg_roles r ON r.oid = h.role WHERE r.rolname NOT LIKE 'pg\\_%' ORDER BY 1",
        holders(
            "pg_namespace",
            "x.nspowner",
            "nspacl",
            &format!("{USER_NS_X} AND {}", standalone("pg_namespace", "x.oid"))
        ),
        holders("pg_class", "x.relowner", "relacl", "x.oid = ANY($1)"),
        "SELECT a.grantee FROM pg_catalog.pg_attribute x, pg_catalog.aclexplode(x.attacl) a WHERE x.attrelid = ANY($1)",
        holders(
            "pg_proc",
            "x.proowner",
            "proacl",
            &format!(
                "x.pronamespace NOT IN ('pg_catalog'::pg_catalog.regnamespace, 'information_schema'::pg_catalog.regnamespace) AND {}",
                standalone("pg_proc", "x.oid")
            )
        ),
        holders(
            "pg_type",
            "x.typowner",
            "typacl",
            &format!(
                "x.typnamespace NOT IN ('pg_catalog'::pg_catalog.regnamespace, 'information_schema'::pg_catalog.regnamespace) AND {}",
                standalone("pg_type", "x.oid")
            )
        ),
    );
    client
        .query(sql.as_str(), &[&oids])
        .context("reading the roles owners and grants name")?
        .iter()
        .map(|r| r.value(0))
        .collect::<Result<_>>()
}

/// User schemas, with the catalog row called `x`.
const USER_NS_X: &str = "x.nspname NOT IN ('pg_catalog', 'information_schema') AND x.nspname NOT LIKE 'pg\\_toast%' AND x.nspname NOT LIKE 'pg\\_temp%'";

/// `ALTER DEFAULT PRIVILEGES`: what objects a role creates later get.
fn default_privileges(client: &mut Client, cat: &mut Catalog) -> Result<()> {
    let rows = client
        .query(
            format!(
                "SELECT pg_catalog.format('%I %s %s', pg_catalog.pg_get_userbyid(d.defaclrole), d.defaclobjtype, COALESCE(n.nspname, '')), \
                 (SELECT pg_catalog.string_agg(s.statement, E'\\n' ORDER BY s.revoke DESC, s.statement) FROM ( \
                   SELECT true AS revoke, pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I%s REVOKE %s ON %s FROM %s;', pg_catalog.pg_get_userbyid(d.defaclrole), \
                     CASE WHEN n.nspname IS NULL THEN '' ELSE pg_catalog.format(' IN SCHEMA %I', n.nspname) END, a.privilege_type, w.word, {GRANTEE}) AS statement \
                   FROM pg_catalog.aclexplode(pg_catalog.acldefault(CASE d.defaclobjtype WHEN 'S' THEN 's' ELSE d.defaclobjtype END::\"char\", d.defaclrole)) a \
                   WHERE d.defaclnamespace = 0 AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode(d.defaclacl) x WHERE x.grantee = a.grantee AND x.privilege_type = a.privilege_type) \
                   UNION ALL \
                   SELECT false, pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I%s GRANT %s ON %s TO %s%s;', pg_catalog.pg_get_userbyid(d.defaclrole), \
                     CASE WHEN n.nspname IS NULL THEN '' ELSE pg_catalog.format(' IN SCHEMA %I', n.nspname) END, a.privilege_type, w.word, {GRANTEE}, \
                     CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) \
                   FROM pg_catalog.aclexplode(d.defaclacl) a WHERE d.defaclnamespace <> 0 OR NOT EXISTS (SELECT 1 FROM \
                     pg_catalog.aclexplode(pg_catalog.acldefault(CASE d.defaclobjtype WHEN 'S' THEN 's' ELSE d.defaclobjtype END::\"char\", d.defaclrole)) x \
                     WHERE x.grantee = a.grantee AND x.privilege_type = a.privilege_type AND x.is_grantable = a.is_grantable) \
                 ) s) \
                 FROM pg_catalog.pg_default_acl d LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace, \
                 LATERAL (SELECT CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES' ELSE 'SCHEMAS' END AS word) w \
                 ORDER BY 1"
            )
            .as_str(),
            &[],
        )
        .context("reading the default privileges")?;
    for r in rows {
        if let Some(sql) = r.value::<Option<String>>(1)? {
            cat.post_data.push(Item {
                needs: Vec::new(),
                kind: "default privileges",
                name: r.value(0)?,
                sql,
                structural: true,
                key: None,
            });
        }
    }
    Ok(())
}

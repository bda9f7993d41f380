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

/// REVOKEs of the defaults `acl` takes away and GRANTs of what it adds,
/// one statement a line, for an object named `target` (`TABLE public.t`)
/// with `acldefault` kind `kind` and owner `owner`.
fn acl_statements(acl: &str, kind: char, owner: &str, target: &str, columns: &str) -> String {
    acl_statements_from(
        acl,
        &format!("pg_catalog.acldefault('{kind}', {owner})"),
        target,
        columns,
    )
}

/// As `acl_statements`, against the privileges `baseline` the object has
/// when it is made.
fn acl_statements_from(acl: &str, baseline: &str, target: &str, columns: &str) -> String {
    let defaults = format!("pg_catalog.aclexplode({baseline})");
    format!(
        "(SELECT pg_catalog.string_agg(s.statement, E'\\n' ORDER BY s.revoke DESC, s.statement) FROM ( \
           SELECT true AS revoke, pg_catalog.format('REVOKE %s{columns} ON %s FROM %s;', a.privilege_type, {target}, {GRANTEE}) AS statement \
           FROM {defaults} a WHERE {acl} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.aclexplode({acl}) x WHERE x.grantee = a.grantee AND x.privilege_type = a.privilege_type) \
           UNION ALL \
           SELECT false, pg_catalog.format('GRANT %s{columns} ON %s TO %s%s;', a.privilege_type, {target}, {GRANTEE}, CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) \
           FROM pg_catalog.aclexplode({acl}) a WHERE NOT EXISTS (SELECT 1 FROM {defaults} d WHERE d.grantee = a.grantee AND d.privilege_type = a.privilege_type AND d.is_grantable = a.is_grantable) \
         ) s)"
    )
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
    // Schema public is made by initdb, owned by pg_database_owner from 15
    // on and by the bootstrap superuser before: its owner is written, as
    // pg_dump writes it, where it is another.
    let public_owner = if cat.version_num >= 150000 {
        "'pg_database_owner'::pg_catalog.regrole"
    } else {
        "10"
    };
    // A schema initdb made (public) starts from its initial privileges, as
    // pg_dump compares it. Up to 14 those name the bootstrap superuser,
    // whatever owns public now; as pg_dump does for those servers, they are
    // taken as its owner's, with USAGE and CREATE for PUBLIC, so that
    // grants read the same on a server whose superuser has another name.
    let schema_baseline = if cat.version_num >= 150000 {
        "COALESCE((SELECT i.initprivs FROM pg_catalog.pg_init_privs i WHERE i.objoid = n.oid \
         AND i.classoid = 'pg_namespace'::pg_catalog.regclass AND i.objsubid = 0), pg_catalog.acldefault('n', n.nspowner))"
    } else {
        "CASE WHEN n.nspname = 'public' THEN pg_catalog.acldefault('n', n.nspowner) || pg_catalog.makeaclitem(0, n.nspowner, 'USAGE', false) \
         || pg_catalog.makeaclitem(0, n.nspowner, 'CREATE', false) ELSE pg_catalog.acldefault('n', n.nspowner) END"
    };
    // (what, the query giving name, owner statement and grants per object)
    let queries: Vec<(&str, String)> = vec![
        (
            "schemas",
            format!(
                "SELECT pg_catalog.quote_ident(n.nspname), \
                 CASE WHEN n.nspname <> 'public' OR n.nspowner <> {public_owner} THEN pg_catalog.format('ALTER SCHEMA %I OWNER TO %I;', n.nspname, pg_catalog.pg_get_userbyid(n.nspowner)) END, {} \
                 FROM pg_catalog.pg_namespace n WHERE {USER_NS} AND {}",
                acl_statements_from(
                    "n.nspacl",
                    schema_baseline,
                    "pg_catalog.format('SCHEMA %I', n.nspname)",
                    ""
                ),
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

/// Every role an owner or a grant written above names, but the system's.
fn roles(client: &mut Client, kept: &HashSet<Oid>) -> Result<Vec<String>> {
    let oids: Vec<Oid> = kept.iter().copied().collect();
    let holders = |catalog: &str, owner: &str, acl: &str, filter: &str| {
        format!(
            "SELECT {owner} AS role FROM pg_catalog.{catalog} x WHERE {filter} \
             UNION SELECT a.grantee FROM pg_catalog.{catalog} x, pg_catalog.aclexplode(x.{acl}) a WHERE {filter}"
        )
    };
    let sql = format!(
        "SELECT DISTINCT r.rolname::text FROM ({} UNION {} UNION {} UNION {} UNION {} \
           UNION SELECT defaclrole FROM pg_catalog.pg_default_acl UNION SELECT a.grantee FROM pg_catalog.pg_default_acl d, pg_catalog.aclexplode(d.defaclacl) a) h \
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
    Ok(client
        .query(sql.as_str(), &[&oids])
        .context("reading the roles owners and grants name")?
        .iter()
        .map(|r| r.value(0))
        .collect::<Result<_>>()?)
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

//! Object kinds beyond tables, views and functions, written as pg_dump
//! writes them: operators with their classes and families, casts, text
//! search objects, conversions, access methods, foreign data wrappers,
//! servers, user mappings and foreign tables, aggregates of every kind in
//! pre-data; rules, extended statistics and publications in post-data;
//! event triggers last of all. Objects that belong to an extension are left
//! to `CREATE EXTENSION`, and so are those attached to one of its relations.

use super::{Catalog, Chosen, Item, Key, Pending, Relation, USER_NS, not_ext_member, quote_literal, standalone};
use crate::engine::postgres::rows::Value;
use anyhow::{Context, Result};
use postgres::Client;
use postgres::types::Oid;
use std::collections::{HashMap, HashSet};

const PG_CLASS: Oid = 1259;
const PG_TYPE: Oid = 1247;
const PG_PROC: Oid = 1255;
const PG_OPERATOR: Oid = 2617;
const PG_OPCLASS: Oid = 2616;
const PG_OPFAMILY: Oid = 2753;
const PG_AMOP: Oid = 2602;
const PG_AMPROC: Oid = 2603;
const PG_CAST: Oid = 2605;
const PG_TS_CONFIG: Oid = 3602;
const PG_TS_DICT: Oid = 3600;
const PG_TS_PARSER: Oid = 3601;
const PG_TS_TEMPLATE: Oid = 3764;
const PG_FOREIGN_DATA_WRAPPER: Oid = 2328;
const PG_FOREIGN_SERVER: Oid = 1417;
const PG_CONVERSION: Oid = 2607;
const PG_AM: Oid = 2601;
const PG_LANGUAGE: Oid = 2612;
const PG_TRANSFORM: Oid = 3576;
const PG_REWRITE: Oid = 2618;
const PG_STATISTIC_EXT: Oid = 3381;
const PG_PUBLICATION: Oid = 6104;
const PG_PUBLICATION_REL: Oid = 6106;
const PG_PUBLICATION_NAMESPACE: Oid = 6237;
const PG_EVENT_TRIGGER: Oid = 3466;

fn pending(key: Key, rank: u8, kind: &'static str, name: String, sql: String) -> Pending {
    Pending {
        key,
        rank,
        item: Item {
            needs: Vec::new(),
            kind,
            name,
            sql,
            structural: true,
            key: Some(key),
        },
    }
}

/// A post-data item; `key` places comments on the object right after it.
fn post(key: Key, kind: &'static str, name: String, sql: String) -> Item {
    Item {
        needs: Vec::new(),
        kind,
        name,
        sql,
        structural: true,
        key: Some(key),
    }
}

/// `OPTIONS (a 'x', b 'y')` from a generic options array, or nothing.
fn options_sql(expr: &str) -> String {
    format!(
        "(SELECT pg_catalog.string_agg(pg_catalog.quote_ident(o.option_name) || ' ' || pg_catalog.quote_literal(o.option_value), ', ' ORDER BY o.option_name) FROM pg_catalog.pg_options_to_table({expr}) o)"
    )
}

fn options_clause(opts: Option<String>) -> String {
    opts.map(|o| format!(" OPTIONS ({o})")).unwrap_or_default()
}

/// Pre-data objects of the kinds above, pushed for `order()` to place by
/// their dependencies. Returns the foreign tables taken, which post-data
/// treats as kept relations.
pub(super) fn pre_data(
    client: &mut Client,
    version: i32,
    selection: &Chosen,
    excluded: &HashSet<Oid>,
    out: &mut Vec<Pending>,
) -> Result<Vec<Relation>> {
    shell_types(client, out).context("reading shell types")?;
    base_types(client, version, out).context("reading base types")?;
    access_methods(client, out).context("reading access methods")?;
    languages(client, out).context("reading procedural languages")?;
    transforms(client, out).context("reading transforms")?;
    operators(client, out).context("reading operators")?;
    operator_families(client, out).context("reading operator families")?;
    operator_classes(client, out).context("reading operator classes")?;
    casts(client, out).context("reading casts")?;
    conversions(client, out).context("reading conversions")?;
    text_search(client, out).context("reading text search objects")?;
    foreign_data(client, out).context("reading foreign data wrappers and servers")?;
    let foreign = foreign_tables(client, version, selection, excluded, out).context("reading foreign tables")?;
    Ok(foreign)
}

/// Types declared and never defined (`CREATE TYPE name;`), which pg_dump
/// writes as they are.
fn shell_types(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    let sql = format!(
        "SELECT t.oid, pg_catalog.format('%I.%I', n.nspname, t.typname) FROM pg_catalog.pg_type t \
         JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE t.typtype = 'p' AND NOT t.typisdefined AND {USER_NS} AND {} ORDER BY 2",
        not_ext_member("pg_type", "t.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        // Its comment, as any type's, is written with the other comments.
        let sql = format!("CREATE TYPE {name};");
        out.push(pending((PG_TYPE, r.value(0)?), 4, "type", name, sql));
    }
    Ok(())
}

/// Procedural languages of the database's own (not of an extension, as
/// plpgsql is), always with their handlers: without one, `CREATE LANGUAGE`
/// means `CREATE EXTENSION`.
fn languages(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    let sql = format!(
        "SELECT l.oid, pg_catalog.quote_ident(l.lanname), l.lanpltrusted, l.lanplcallfoid::pg_catalog.regproc::text, \
         CASE WHEN l.laninline <> 0 THEN l.laninline::pg_catalog.regproc::text END, CASE WHEN l.lanvalidator <> 0 THEN l.lanvalidator::pg_catalog.regproc::text END \
         FROM pg_catalog.pg_language l WHERE l.oid >= 16384 AND {} ORDER BY 2",
        not_ext_member("pg_language", "l.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        let mut sql = format!(
            "CREATE {}PROCEDURAL LANGUAGE {name} HANDLER {}",
            if r.value::<bool>(2)? { "TRUSTED " } else { "" },
            r.value::<String>(3)?
        );
        if let Some(f) = r.value::<Option<String>>(4)? {
            sql.push_str(&format!(" INLINE {f}"));
        }
        if let Some(f) = r.value::<Option<String>>(5)? {
            sql.push_str(&format!(" VALIDATOR {f}"));
        }
        sql.push(';');
        out.push(pending((PG_LANGUAGE, r.value(0)?), 5, "language", name, sql));
    }
    Ok(())
}

fn transforms(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    let sql = format!(
        "SELECT t.oid, pg_catalog.format('FOR %s LANGUAGE %I', pg_catalog.format_type(t.trftype, NULL), l.lanname), \
         CASE WHEN t.trffromsql <> 0 THEN t.trffromsql::pg_catalog.regprocedure::text END, CASE WHEN t.trftosql <> 0 THEN t.trftosql::pg_catalog.regprocedure::text END \
         FROM pg_catalog.pg_transform t JOIN pg_catalog.pg_language l ON l.oid = t.trflang WHERE {} ORDER BY 2",
        not_ext_member("pg_transform", "t.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        let mut ways = Vec::new();
        if let Some(f) = r.value::<Option<String>>(2)? {
            ways.push(format!("FROM SQL WITH FUNCTION {f}"));
        }
        if let Some(f) = r.value::<Option<String>>(3)? {
            ways.push(format!("TO SQL WITH FUNCTION {f}"));
        }
        let sql = format!("CREATE TRANSFORM {name} ({});", ways.join(", "));
        out.push(pending((PG_TRANSFORM, r.value(0)?), 6, "transform", name, sql));
    }
    Ok(())
}

/// The support functions of base types (input, output, receive, send,
/// typmod, analyze, subscript), for `version`, as an SQL array of oids.
fn support_functions(version: i32) -> &'static str {
    if version >= 140000 {
        "ARRAY[t.typinput, t.typoutput, t.typreceive, t.typsend, t.typmodin, t.typmodout, t.typanalyze, t.typsubscript]::pg_catalog.oid[]"
    } else {
        "ARRAY[t.typinput, t.typoutput, t.typreceive, t.typsend, t.typmodin, t.typmodout, t.typanalyze]::pg_catalog.oid[]"
    }
}

/// Base types of the database's own (not arrays, not of extensions).
fn base_type_filter() -> String {
    format!(
        "t.typtype = 'b' AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.typarray = t.oid) AND {USER_NS} AND {}",
        not_ext_member("pg_type", "t.oid")
    )
}

/// Base types as pg_dump writes them: a shell type, then its support
/// functions, then the full definition. The functions need the shell and
/// the type needs the functions, so the three go as one statement group,
/// and `owners()` makes the functions part of the type for ordering.
fn base_types(client: &mut Client, version: i32, out: &mut Vec<Pending>) -> Result<()> {
    let subscript = if version >= 140000 {
        "CASE WHEN t.typsubscript <> 0 THEN t.typsubscript::pg_catalog.regproc::text END"
    } else {
        "NULL::text"
    };
    let proc = |col: &str| format!("CASE WHEN t.{col} <> 0 THEN t.{col}::pg_catalog.regproc::text END");
    let sql = format!(
        "SELECT t.oid, pg_catalog.format('%I.%I', n.nspname, t.typname), t.typlen::int, {}, {}, {}, {}, {}, {}, {}, {subscript}, \
         t.typcategory::text, t.typispreferred, t.typdefault, CASE WHEN t.typelem <> 0 THEN pg_catalog.format_type(t.typelem, NULL) END, t.typdelim::text, \
         t.typalign::text, t.typstorage::text, t.typcollation <> 0, t.typbyval, {} \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE {} ORDER BY 2",
        proc("typinput"),
        proc("typoutput"),
        proc("typreceive"),
        proc("typsend"),
        proc("typmodin"),
        proc("typmodout"),
        proc("typanalyze"),
        support_functions(version),
        base_type_filter()
    );
    for r in client.query(sql.as_str(), &[])? {
        let oid: Oid = r.value(0)?;
        let name: String = r.value(1)?;
        let len: i32 = r.value(2)?;
        let mut opts = vec![format!(
            "INTERNALLENGTH = {}",
            if len == -1 {
                "variable".to_string()
            } else {
                len.to_string()
            }
        )];
        for (i, key) in [
            (3, "INPUT"),
            (4, "OUTPUT"),
            (5, "RECEIVE"),
            (6, "SEND"),
            (7, "TYPMOD_IN"),
            (8, "TYPMOD_OUT"),
            (9, "ANALYZE"),
            (10, "SUBSCRIPT"),
        ] {
            if let Some(f) = r.value::<Option<String>>(i)? {
                opts.push(format!("{key} = {f}"));
            }
        }
        let category: String = r.value(11)?;
        if category != "U" {
            opts.push(format!("CATEGORY = {}", quote_literal(&category)));
        }
        if r.value::<bool>(12)? {
            opts.push("PREFERRED = true".into());
        }
        if let Some(d) = r.value::<Option<String>>(13)? {
            opts.push(format!("DEFAULT = {}", quote_literal(&d)));
        }
        if let Some(e) = r.value::<Option<String>>(14)? {
            opts.push(format!("ELEMENT = {e}"));
        }
        let delim: String = r.value(15)?;
        if delim != "," {
            opts.push(format!("DELIMITER = {}", quote_literal(&delim)));
        }
        opts.push(format!(
            "ALIGNMENT = {}",
            match r.value::<String>(16)?.as_str() {
                "c" => "char",
                "s" => "int2",
                "d" => "double",
                _ => "int4",
            }
        ));
        opts.push(format!(
            "STORAGE = {}",
            match r.value::<String>(17)?.as_str() {
                "e" => "external",
                "x" => "extended",
                "m" => "main",
                _ => "plain",
            }
        ));
        if r.value::<bool>(18)? {
            opts.push("COLLATABLE = true".into());
        }
        if r.value::<bool>(19)? {
            opts.push("PASSEDBYVALUE".into());
        }
        // The support functions written here rather than on their own.
        let functions: Vec<Oid> = r.value(20)?;
        let mut sql = format!("CREATE TYPE {name};");
        for f in functions.iter().filter(|&&f| f != 0) {
            if let Some(at) = out.iter().position(|p| p.key == (PG_PROC, *f)) {
                let p = out.remove(at);
                sql.push('\n');
                sql.push_str(&p.item.sql);
            }
        }
        sql.push_str(&format!("\nCREATE TYPE {name} (\n    {}\n);", opts.join(",\n    ")));
        out.push(pending((PG_TYPE, oid), 5, "type", name, sql));
    }
    Ok(())
}

fn access_methods(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    let sql = format!(
        "SELECT a.oid, pg_catalog.quote_ident(a.amname), a.amtype::text, a.amhandler::pg_catalog.regproc::text \
         FROM pg_catalog.pg_am a WHERE a.oid >= 16384 AND {} ORDER BY 2",
        not_ext_member("pg_am", "a.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        let ty = if r.value::<String>(2)? == "t" { "TABLE" } else { "INDEX" };
        let sql = format!(
            "CREATE ACCESS METHOD {name} TYPE {ty} HANDLER {};",
            r.value::<String>(3)?
        );
        out.push(pending((PG_AM, r.value(0)?), 5, "access method", name, sql));
    }
    Ok(())
}

fn operators(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    let other = |col: &str| {
        format!(
            "(SELECT pg_catalog.format('OPERATOR(%I.%s)', cn.nspname, co.oprname) FROM pg_catalog.pg_operator co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.oprnamespace WHERE co.oid = o.{col})"
        )
    };
    let sql = format!(
        "SELECT o.oid, pg_catalog.format('%I.%s', n.nspname, o.oprname), o.oprcode::pg_catalog.regproc::text, \
         CASE WHEN o.oprleft <> 0 THEN pg_catalog.format_type(o.oprleft, NULL) END, CASE WHEN o.oprright <> 0 THEN pg_catalog.format_type(o.oprright, NULL) END, \
         {}, {}, o.oprcanmerge, o.oprcanhash, \
         CASE WHEN o.oprrest <> 0 THEN o.oprrest::pg_catalog.regproc::text END, CASE WHEN o.oprjoin <> 0 THEN o.oprjoin::pg_catalog.regproc::text END \
         FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace \
         WHERE o.oprcode <> 0 AND {USER_NS} AND {} ORDER BY 2, 4, 5",
        other("oprcom"),
        other("oprnegate"),
        not_ext_member("pg_operator", "o.oid")
    );
    // Shell operators (oprcode 0) are left out: the COMMUTATOR or NEGATOR
    // that named them creates them again.
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        let left: Option<String> = r.value(3)?;
        let right: Option<String> = r.value(4)?;
        let mut opts = vec![format!("FUNCTION = {}", r.value::<String>(2)?)];
        if let Some(l) = &left {
            opts.push(format!("LEFTARG = {l}"));
        }
        if let Some(rt) = &right {
            opts.push(format!("RIGHTARG = {rt}"));
        }
        if let Some(c) = r.value::<Option<String>>(5)? {
            opts.push(format!("COMMUTATOR = {c}"));
        }
        if let Some(c) = r.value::<Option<String>>(6)? {
            opts.push(format!("NEGATOR = {c}"));
        }
        if r.value::<bool>(7)? {
            opts.push("MERGES".into());
        }
        if r.value::<bool>(8)? {
            opts.push("HASHES".into());
        }
        if let Some(f) = r.value::<Option<String>>(9)? {
            opts.push(format!("RESTRICT = {f}"));
        }
        if let Some(f) = r.value::<Option<String>>(10)? {
            opts.push(format!("JOIN = {f}"));
        }
        let sql = format!("CREATE OPERATOR {name} (\n    {}\n);", opts.join(",\n    "));
        let signature = format!(
            "{name} ({}, {})",
            left.as_deref().unwrap_or("NONE"),
            right.as_deref().unwrap_or("NONE")
        );
        out.push(pending((PG_OPERATOR, r.value(0)?), 6, "operator", signature, sql));
    }
    Ok(())
}

/// The operators and support functions of an operator class or family
/// that belong to it by `pg_depend` (`refclass` the class or the family),
/// as the items of `CREATE OPERATOR CLASS ... AS` or `ALTER OPERATOR
/// FAMILY ... ADD`.
fn members(client: &mut Client, refclass: Oid, refobj: Oid, family: Oid) -> Result<Vec<String>> {
    let mut items = Vec::new();
    for r in client.query(
        "SELECT ao.amopstrategy::int, ao.amopopr::pg_catalog.regoperator::text, ao.amoppurpose::text, \
         CASE WHEN ao.amopsortfamily <> 0 THEN (SELECT pg_catalog.format('%I.%I', sn.nspname, sf.opfname) FROM pg_catalog.pg_opfamily sf JOIN pg_catalog.pg_namespace sn ON sn.oid = sf.opfnamespace WHERE sf.oid = ao.amopsortfamily) END \
         FROM pg_catalog.pg_amop ao JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_amop'::pg_catalog.regclass AND d.objid = ao.oid \
         WHERE d.refclassid = $1 AND d.refobjid = $2 AND ao.amopfamily = $3 ORDER BY 1",
        &[&refclass, &refobj, &family],
    )? {
        let mut item = format!("OPERATOR {} {}", r.value::<i32>(0)?, r.value::<String>(1)?);
        if let Some(f) = r.value::<Option<String>>(3)? {
            item.push_str(&format!(" FOR ORDER BY {f}"));
        }
        items.push(item);
    }
    for r in client.query(
        "SELECT ap.amprocnum::int, pg_catalog.format_type(ap.amproclefttype, NULL), pg_catalog.format_type(ap.amprocrighttype, NULL), ap.amproc::pg_catalog.regprocedure::text \
         FROM pg_catalog.pg_amproc ap JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_amproc'::pg_catalog.regclass AND d.objid = ap.oid \
         WHERE d.refclassid = $1 AND d.refobjid = $2 AND ap.amprocfamily = $3 ORDER BY 1, 2, 3",
        &[&refclass, &refobj, &family],
    )? {
        items.push(format!(
            "FUNCTION {} ({}, {}) {}",
            r.value::<i32>(0)?,
            r.value::<String>(1)?,
            r.value::<String>(2)?,
            r.value::<String>(3)?
        ));
    }
    Ok(items)
}

fn operator_families(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    let sql = format!(
        "SELECT f.oid, pg_catalog.format('%I.%I', n.nspname, f.opfname), pg_catalog.quote_ident(a.amname) \
         FROM pg_catalog.pg_opfamily f JOIN pg_catalog.pg_namespace n ON n.oid = f.opfnamespace JOIN pg_catalog.pg_am a ON a.oid = f.opfmethod \
         WHERE {USER_NS} AND {} ORDER BY 2, 3",
        not_ext_member("pg_opfamily", "f.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let oid: Oid = r.value(0)?;
        let name = format!("{} USING {}", r.value::<String>(1)?, r.value::<String>(2)?);
        let mut sql = format!("CREATE OPERATOR FAMILY {name};");
        // Members added to the family itself rather than to one of its
        // classes ("loose" members).
        let loose = members(client, PG_OPFAMILY, oid, oid)?;
        if !loose.is_empty() {
            sql.push_str(&format!(
                "\nALTER OPERATOR FAMILY {name} ADD\n    {};",
                loose.join(",\n    ")
            ));
        }
        out.push(pending((PG_OPFAMILY, oid), 6, "operator family", name, sql));
    }
    Ok(())
}

fn operator_classes(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    let sql = format!(
        "SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.opcname), pg_catalog.quote_ident(a.amname), c.opcdefault, pg_catalog.format_type(c.opcintype, NULL), \
         CASE WHEN c.opckeytype <> 0 THEN pg_catalog.format_type(c.opckeytype, NULL) END, pg_catalog.format('%I.%I', fn.nspname, f.opfname), c.opcfamily \
         FROM pg_catalog.pg_opclass c JOIN pg_catalog.pg_namespace n ON n.oid = c.opcnamespace JOIN pg_catalog.pg_am a ON a.oid = c.opcmethod \
         JOIN pg_catalog.pg_opfamily f ON f.oid = c.opcfamily JOIN pg_catalog.pg_namespace fn ON fn.oid = f.opfnamespace \
         WHERE {USER_NS} AND {} ORDER BY 2, 3",
        not_ext_member("pg_opclass", "c.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let oid: Oid = r.value(0)?;
        let am: String = r.value(2)?;
        let name = format!("{} USING {am}", r.value::<String>(1)?);
        let mut items = Vec::new();
        if let Some(storage) = r.value::<Option<String>>(5)? {
            items.push(format!("STORAGE {storage}"));
        }
        items.extend(members(client, PG_OPCLASS, oid, r.value(7)?)?);
        if items.is_empty() {
            items.push(format!("STORAGE {}", r.value::<String>(4)?));
        }
        let sql = format!(
            "CREATE OPERATOR CLASS {}\n    {}FOR TYPE {} USING {am} FAMILY {} AS\n    {};",
            r.value::<String>(1)?,
            if r.value::<bool>(3)? { "DEFAULT " } else { "" },
            r.value::<String>(4)?,
            r.value::<String>(6)?,
            items.join(",\n    ")
        );
        out.push(pending((PG_OPCLASS, oid), 6, "operator class", name, sql));
    }
    Ok(())
}

fn casts(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    // As pg_dump: every cast made after initdb, except those of extensions
    // and those made as part of another object (a range type's casts to
    // its multirange).
    let sql = format!(
        "SELECT c.oid, pg_catalog.format('(%s AS %s)', pg_catalog.format_type(c.castsource, NULL), pg_catalog.format_type(c.casttarget, NULL)), c.castmethod::text, \
         CASE WHEN c.castfunc <> 0 THEN c.castfunc::pg_catalog.regprocedure::text END, c.castcontext::text \
         FROM pg_catalog.pg_cast c WHERE c.oid >= 16384 AND {} ORDER BY 2",
        standalone("pg_cast", "c.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        let how = match r.value::<String>(2)?.as_str() {
            "i" => "WITH INOUT".to_string(),
            "b" => "WITHOUT FUNCTION".to_string(),
            _ => format!(
                "WITH FUNCTION {}",
                r.value::<Option<String>>(3)?.context("a cast without its function")?
            ),
        };
        let context = match r.value::<String>(4)?.as_str() {
            "a" => " AS ASSIGNMENT",
            "i" => " AS IMPLICIT",
            _ => "",
        };
        let sql = format!("CREATE CAST {name} {how}{context};");
        out.push(pending((PG_CAST, r.value(0)?), 6, "cast", name, sql));
    }
    Ok(())
}

fn conversions(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    let sql = format!(
        "SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.conname), c.condefault, pg_catalog.pg_encoding_to_char(c.conforencoding), \
         pg_catalog.pg_encoding_to_char(c.contoencoding), c.conproc::pg_catalog.regproc::text \
         FROM pg_catalog.pg_conversion c JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace WHERE {USER_NS} AND {} ORDER BY 2",
        not_ext_member("pg_conversion", "c.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        let sql = format!(
            "CREATE {}CONVERSION {name} FOR {} TO {} FROM {};",
            if r.value::<bool>(2)? { "DEFAULT " } else { "" },
            quote_literal(&r.value::<String>(3)?),
            quote_literal(&r.value::<String>(4)?),
            r.value::<String>(5)?
        );
        out.push(pending((PG_CONVERSION, r.value(0)?), 6, "conversion", name, sql));
    }
    Ok(())
}

fn text_search(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    let sql = format!(
        "SELECT p.oid, pg_catalog.format('%I.%I', n.nspname, p.prsname), p.prsstart::pg_catalog.regproc::text, p.prstoken::pg_catalog.regproc::text, \
         p.prsend::pg_catalog.regproc::text, CASE WHEN p.prsheadline <> 0 THEN p.prsheadline::pg_catalog.regproc::text END, p.prslextype::pg_catalog.regproc::text \
         FROM pg_catalog.pg_ts_parser p JOIN pg_catalog.pg_namespace n ON n.oid = p.prsnamespace WHERE {USER_NS} AND {} ORDER BY 2",
        not_ext_member("pg_ts_parser", "p.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        let mut opts = vec![
            format!("START = {}", r.value::<String>(2)?),
            format!("GETTOKEN = {}", r.value::<String>(3)?),
            format!("END = {}", r.value::<String>(4)?),
        ];
        if let Some(h) = r.value::<Option<String>>(5)? {
            opts.push(format!("HEADLINE = {h}"));
        }
        opts.push(format!("LEXTYPES = {}", r.value::<String>(6)?));
        let sql = format!("CREATE TEXT SEARCH PARSER {name} (\n    {}\n);", opts.join(",\n    "));
        out.push(pending((PG_TS_PARSER, r.value(0)?), 6, "text search parser", name, sql));
    }

    let sql = format!(
        "SELECT t.oid, pg_catalog.format('%I.%I', n.nspname, t.tmplname), CASE WHEN t.tmplinit <> 0 THEN t.tmplinit::pg_catalog.regproc::text END, \
         t.tmpllexize::pg_catalog.regproc::text \
         FROM pg_catalog.pg_ts_template t JOIN pg_catalog.pg_namespace n ON n.oid = t.tmplnamespace WHERE {USER_NS} AND {} ORDER BY 2",
        not_ext_member("pg_ts_template", "t.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        let mut opts = Vec::new();
        if let Some(i) = r.value::<Option<String>>(2)? {
            opts.push(format!("INIT = {i}"));
        }
        opts.push(format!("LEXIZE = {}", r.value::<String>(3)?));
        let sql = format!("CREATE TEXT SEARCH TEMPLATE {name} (\n    {}\n);", opts.join(",\n    "));
        out.push(pending(
            (PG_TS_TEMPLATE, r.value(0)?),
            6,
            "text search template",
            name,
            sql,
        ));
    }

    let sql = format!(
        "SELECT d.oid, pg_catalog.format('%I.%I', n.nspname, d.dictname), pg_catalog.format('%I.%I', tn.nspname, t.tmplname), d.dictinitoption \
         FROM pg_catalog.pg_ts_dict d JOIN pg_catalog.pg_namespace n ON n.oid = d.dictnamespace JOIN pg_catalog.pg_ts_template t ON t.oid = d.dicttemplate \
         JOIN pg_catalog.pg_namespace tn ON tn.oid = t.tmplnamespace WHERE {USER_NS} AND {} ORDER BY 2",
        not_ext_member("pg_ts_dict", "d.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        let mut opts = vec![format!("TEMPLATE = {}", r.value::<String>(2)?)];
        // The options are kept as the text they were given in, which is
        // the text CREATE takes back.
        if let Some(o) = r.value::<Option<String>>(3)?.filter(|o| !o.is_empty()) {
            opts.push(o);
        }
        let sql = format!(
            "CREATE TEXT SEARCH DICTIONARY {name} (\n    {}\n);",
            opts.join(",\n    ")
        );
        out.push(pending(
            (PG_TS_DICT, r.value(0)?),
            6,
            "text search dictionary",
            name,
            sql,
        ));
    }

    let sql = format!(
        "SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.cfgname), pg_catalog.format('%I.%I', pn.nspname, p.prsname), c.cfgparser \
         FROM pg_catalog.pg_ts_config c JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace JOIN pg_catalog.pg_ts_parser p ON p.oid = c.cfgparser \
         JOIN pg_catalog.pg_namespace pn ON pn.oid = p.prsnamespace WHERE {USER_NS} AND {} ORDER BY 2",
        not_ext_member("pg_ts_config", "c.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let oid: Oid = r.value(0)?;
        let name: String = r.value(1)?;
        let mut sql = format!(
            "CREATE TEXT SEARCH CONFIGURATION {name} (\n    PARSER = {}\n);",
            r.value::<String>(2)?
        );
        // One mapping per token type, its dictionaries in order.
        for m in client.query(
            "SELECT pg_catalog.quote_ident(t.alias), pg_catalog.string_agg(m.mapdict::pg_catalog.regdictionary::text, ', ' ORDER BY m.mapseqno) \
             FROM pg_catalog.pg_ts_config_map m JOIN pg_catalog.ts_token_type($2::pg_catalog.oid) t ON t.tokid = m.maptokentype \
             WHERE m.mapcfg = $1 GROUP BY m.maptokentype, t.alias ORDER BY m.maptokentype",
            &[&oid, &r.value::<Oid>(3)?],
        )? {
            sql.push_str(&format!(
                "\nALTER TEXT SEARCH CONFIGURATION {name}\n    ADD MAPPING FOR {} WITH {};",
                m.value::<String>(0)?,
                m.value::<String>(1)?
            ));
        }
        out.push(pending((PG_TS_CONFIG, oid), 7, "text search configuration", name, sql));
    }
    Ok(())
}

fn foreign_data(client: &mut Client, out: &mut Vec<Pending>) -> Result<()> {
    let sql = format!(
        "SELECT w.oid, pg_catalog.quote_ident(w.fdwname), CASE WHEN w.fdwhandler <> 0 THEN w.fdwhandler::pg_catalog.regproc::text END, \
         CASE WHEN w.fdwvalidator <> 0 THEN w.fdwvalidator::pg_catalog.regproc::text END, {} \
         FROM pg_catalog.pg_foreign_data_wrapper w WHERE {} ORDER BY 2",
        options_sql("w.fdwoptions"),
        not_ext_member("pg_foreign_data_wrapper", "w.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let name: String = r.value(1)?;
        let mut sql = format!("CREATE FOREIGN DATA WRAPPER {name}");
        if let Some(h) = r.value::<Option<String>>(2)? {
            sql.push_str(&format!(" HANDLER {h}"));
        }
        if let Some(v) = r.value::<Option<String>>(3)? {
            sql.push_str(&format!(" VALIDATOR {v}"));
        }
        sql.push_str(&options_clause(r.value(4)?));
        sql.push(';');
        out.push(pending(
            (PG_FOREIGN_DATA_WRAPPER, r.value(0)?),
            6,
            "foreign data wrapper",
            name,
            sql,
        ));
    }

    let sql = format!(
        "SELECT s.oid, pg_catalog.quote_ident(s.srvname), s.srvtype, s.srvversion, pg_catalog.quote_ident(w.fdwname), {} \
         FROM pg_catalog.pg_foreign_server s JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw WHERE {} ORDER BY 2",
        options_sql("s.srvoptions"),
        not_ext_member("pg_foreign_server", "s.oid")
    );
    for r in client.query(sql.as_str(), &[])? {
        let oid: Oid = r.value(0)?;
        let name: String = r.value(1)?;
        let mut sql = format!("CREATE SERVER {name}");
        if let Some(t) = r.value::<Option<String>>(2)? {
            sql.push_str(&format!(" TYPE {}", quote_literal(&t)));
        }
        if let Some(v) = r.value::<Option<String>>(3)? {
            sql.push_str(&format!(" VERSION {}", quote_literal(&v)));
        }
        sql.push_str(&format!(" FOREIGN DATA WRAPPER {}", r.value::<String>(4)?));
        sql.push_str(&options_clause(r.value(5)?));
        sql.push(';');
        // User mappings go with their server, as pg_dump writes them; the
        // view shows their options as pg_dump reads them.
        for m in client.query(
            format!(
                "SELECT CASE WHEN m.umuser = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(m.usename) END, {} FROM pg_catalog.pg_user_mappings m WHERE m.srvid = $1 ORDER BY 1",
                options_sql("m.umoptions")
            )
            .as_str(),
            &[&oid],
        )? {
            sql.push_str(&format!(
                "\nCREATE USER MAPPING FOR {} SERVER {name}{};",
                m.value::<String>(0)?,
                options_clause(m.value(1)?)
            ));
        }
        out.push(pending((PG_FOREIGN_SERVER, oid), 7, "server", name, sql));
    }
    Ok(())
}

/// Foreign tables: standalone, partitions of a partitioned table, or
/// inheritance children (left out with a parent left out); those of an
/// extension are its own.
fn foreign_tables(
    client: &mut Client,
    version: i32,
    selection: &Chosen,
    excluded_tables: &HashSet<Oid>,
    out: &mut Vec<Pending>,
) -> Result<Vec<Relation>> {
    let sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, pg_catalog.format('%I.%I', n.nspname, c.relname), pg_catalog.quote_ident(s.srvname), {}, \
         c.relispartition, CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END, \
         (SELECT pg_catalog.array_agg(i.inhparent ORDER BY i.inhseqno) FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid), \
         (SELECT pg_catalog.string_agg(pg_catalog.format('%I.%I', pn.nspname, pc.relname), ', ' ORDER BY i.inhseqno) FROM pg_catalog.pg_inherits i \
          JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid) \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_foreign_table f ON f.ftrelid = c.oid \
         JOIN pg_catalog.pg_foreign_server s ON s.oid = f.ftserver \
         WHERE c.relkind = 'f' AND {USER_NS} AND {} ORDER BY 2, 3",
        options_sql("f.ftoptions"),
        not_ext_member("pg_class", "c.oid")
    );
    let rows = client.query(sql.as_str(), &[])?;
    let relations: Vec<Relation> = rows
        .iter()
        .map(|r| -> Result<_> {
            Ok(Relation {
                oid: r.value(0)?,
                kind: 'f',
                schema: r.value(1)?,
                name: r.value(2)?,
                qualified: r.value(3)?,
                persistence: 'p',
                is_partition: r.value(6)?,
                bound: r.value(7)?,
                partkey: None,
                rls: false,
                force_rls: false,
                options: None,
                replident: 'd',
                populated: true,
                bytes: 0,
                access_method: None,
            })
        })
        .collect::<Result<_>>()?;
    let excluded = selection.excluded_relations(client, &relations)?;
    let generated = if version >= 120000 {
        "a.attgenerated::text"
    } else {
        "''"
    };
    let mut kept = Vec::new();
    for (r, rel) in rows.iter().zip(relations) {
        let parents: Vec<Oid> = r.value::<Option<Vec<Oid>>>(8)?.unwrap_or_default();
        if excluded.contains(&rel.oid) || parents.iter().any(|p| excluded_tables.contains(p)) {
            continue;
        }
        let name = rel.qualified.clone();
        let mut defs = Vec::new();
        // Inherited columns come from the parents; only what differs from
        // theirs is set after the statement.
        let mut after = Vec::new();
        let parent_cols: HashMap<String, (bool, Option<String>)> = if parents.is_empty() {
            HashMap::new()
        } else {
            client
                .query(
                    "SELECT pg_catalog.quote_ident(a.attname), pg_catalog.bool_or(a.attnotnull), pg_catalog.max(pg_catalog.pg_get_expr(d.adbin, d.adrelid)) FROM pg_catalog.pg_attribute a \
                     LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped GROUP BY 1",
                    &[&parents],
                )?
                .iter()
                .map(|c| -> Result<_> { Ok((c.value(0)?, (c.value(1)?, c.value(2)?))) })
                .collect::<Result<_>>()?
        };
        for a in client.query(
            format!(
                "SELECT pg_catalog.quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod), {}, \
                 CASE WHEN a.attcollation <> t.typcollation THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END, \
                 {generated}, pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attnotnull, a.attislocal \
                 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                 LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                options_sql("a.attfdwoptions")
            )
            .as_str(),
            &[&rel.oid],
        )? {
            let col: String = a.value(0)?;
            // A partition's columns are all its parent's; a child's are
            // inherited unless also declared locally.
            let inherited = rel.is_partition || !a.value::<bool>(7)?;
            if let Some((parent_notnull, parent_default)) = parent_cols.get(&col).filter(|_| inherited) {
                if let Some(o) = a.value::<Option<String>>(2)? {
                    after.push(format!("ALTER FOREIGN TABLE {name} ALTER COLUMN {col} OPTIONS ({o});"));
                }
                let default: Option<String> = a.value(5)?;
                if a.value::<String>(4)?.is_empty()
                    && default != *parent_default
                    && let Some(d) = default
                {
                    after.push(format!("ALTER FOREIGN TABLE {name} ALTER COLUMN {col} SET DEFAULT {d};"));
                }
                if a.value::<bool>(6)? && !parent_notnull {
                    after.push(format!("ALTER FOREIGN TABLE {name} ALTER COLUMN {col} SET NOT NULL;"));
                }
                continue;
            }
            let mut def = format!("{col} {}{}", a.value::<String>(1)?, options_clause(a.value(2)?));
            if let Some(c) = a.value::<Option<String>>(3)? {
                def.push_str(&format!(" COLLATE {c}"));
            }
            let generated: String = a.value(4)?;
            match (generated.as_str(), a.value::<Option<String>>(5)?) {
                ("s", Some(e)) => def.push_str(&format!(" GENERATED ALWAYS AS ({e}) STORED")),
                (_, Some(e)) => def.push_str(&format!(" DEFAULT {e}")),
                _ => {}
            }
            if a.value::<bool>(6)? {
                def.push_str(" NOT NULL");
            }
            defs.push(def);
        }
        for c in client.query(
            "SELECT pg_catalog.quote_ident(conname), pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint WHERE conrelid = $1 AND contype = 'c' AND conislocal ORDER BY conname",
            &[&rel.oid],
        )? {
            defs.push(format!("CONSTRAINT {} {}", c.value::<String>(0)?, c.value::<String>(1)?));
        }
        let mut sql = match (&rel.bound, r.value::<Option<String>>(9)?) {
            (Some(bound), Some(parent)) => {
                format!("CREATE FOREIGN TABLE {name} PARTITION OF {parent}\n    {bound}")
            }
            _ => format!("CREATE FOREIGN TABLE {name} ("),
        };
        if rel.is_partition {
            // Checks of its own, as pg_dump writes a partition's.
            after.extend(defs.iter().map(|d| format!("ALTER FOREIGN TABLE {name} ADD {d};")));
        } else {
            if !defs.is_empty() {
                sql.push_str(&format!("\n    {}\n", defs.join(",\n    ")));
            }
            sql.push(')');
            if let Some(parents) = r.value::<Option<String>>(9)? {
                sql.push_str(&format!("\nINHERITS ({parents})"));
            }
        }
        sql.push_str(&format!(
            "\nSERVER {}{};",
            r.value::<String>(4)?,
            options_clause(r.value(5)?)
        ));
        for a in after {
            sql.push('\n');
            sql.push_str(&a);
        }
        out.push(pending((PG_CLASS, rel.oid), 8, "foreign table", name, sql));
        kept.push(rel);
    }
    Ok(kept)
}

/// Typed tables (`OF type`), on the statements the tables code wrote for
/// them: the table is created with its columns and then bound to its type,
/// which leaves the same catalog as `CREATE TABLE ... OF`.
pub(super) fn typed_tables(client: &mut Client, out: &mut [Pending]) -> Result<()> {
    let found: HashMap<Oid, (String, String)> = client
        .query(
            "SELECT c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname), pg_catalog.format_type(c.reloftype, NULL) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND c.reloftype <> 0",
            &[],
        )?
        .iter()
        .map(|r| -> Result<_> { Ok((r.value(0)?, (r.value(1)?, r.value(2)?))) })
        .collect::<Result<_>>()?;
    for p in out.iter_mut().filter(|p| p.key.0 == PG_CLASS) {
        if let Some((name, of)) = found.get(&p.key.1) {
            p.item.sql.push_str(&format!("\nALTER TABLE ONLY {name} OF {of};"));
        }
    }
    Ok(())
}

/// What `order()` needs to see operator class and family members (rows of
/// pg_amop and pg_amproc) as parts of their class or family.
pub(super) fn owners(client: &mut Client, version: i32) -> Result<Vec<(Key, Key)>> {
    let mut found = Vec::new();
    // A base type's support functions are written with it.
    for r in client.query(
        format!(
            "SELECT f, t.oid FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace, pg_catalog.unnest({}) f \
             WHERE f >= 16384 AND {}",
            support_functions(version),
            base_type_filter()
        )
        .as_str(),
        &[],
    )? {
        found.push(((PG_PROC, r.value(0)?), (PG_TYPE, r.value(1)?)));
    }
    for r in client.query(
        "SELECT d.classid, d.objid, d.refclassid, d.refobjid FROM pg_catalog.pg_depend d \
         WHERE d.classid IN ('pg_catalog.pg_amop'::pg_catalog.regclass, 'pg_catalog.pg_amproc'::pg_catalog.regclass) \
         AND d.refclassid IN ('pg_catalog.pg_opclass'::pg_catalog.regclass, 'pg_catalog.pg_opfamily'::pg_catalog.regclass) \
         AND d.deptype IN ('i', 'a') AND d.objid >= 16384",
        &[],
    )? {
        let class: Oid = r.value(0)?;
        debug_assert!(class == PG_AMOP || class == PG_AMPROC);
        found.push(((class, r.value(1)?), (r.value(2)?, r.value(3)?)));
    }
    Ok(found)
}

/// CREATE AGGREGATE for every kind of aggregate: plain, moving-window,
/// ordered-set, hypothetical-set and zero-argument (`agg(*)`).
pub(super) fn aggregate(client: &mut Client, oid: Oid) -> Result<String> {
    let r = client.query_one(
        "SELECT a.aggkind::text, pg_catalog.format('%I.%I', n.nspname, p.proname), pg_catalog.pg_get_function_arguments(p.oid), \
         a.aggtransfn::pg_catalog.regproc::text, pg_catalog.format_type(a.aggtranstype, NULL), a.aggtransspace, \
         CASE WHEN a.aggfinalfn <> 0 THEN a.aggfinalfn::pg_catalog.regproc::text END, a.aggfinalextra, a.aggfinalmodify::text, \
         CASE WHEN a.aggcombinefn <> 0 THEN a.aggcombinefn::pg_catalog.regproc::text END, \
         CASE WHEN a.aggserialfn <> 0 THEN a.aggserialfn::pg_catalog.regproc::text END, \
         CASE WHEN a.aggdeserialfn <> 0 THEN a.aggdeserialfn::pg_catalog.regproc::text END, \
         a.agginitval, CASE WHEN a.aggsortop <> 0 THEN a.aggsortop::pg_catalog.regoperator::text END, p.proparallel::text, \
         CASE WHEN a.aggmtransfn <> 0 THEN a.aggmtransfn::pg_catalog.regproc::text END, \
         CASE WHEN a.aggminvtransfn <> 0 THEN a.aggminvtransfn::pg_catalog.regproc::text END, \
         CASE WHEN a.aggmtranstype <> 0 THEN pg_catalog.format_type(a.aggmtranstype, NULL) END, a.aggmtransspace, \
         CASE WHEN a.aggmfinalfn <> 0 THEN a.aggmfinalfn::pg_catalog.regproc::text END, a.aggmfinalextra, a.aggmfinalmodify::text, a.aggminitval, \
         pg_catalog.pg_get_function_identity_arguments(p.oid) \
         FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE a.aggfnoid = $1",
        &[&oid],
    )?;
    let kind: String = r.value(0)?;
    let mut opts = vec![
        format!("SFUNC = {}", r.value::<String>(3)?),
        format!("STYPE = {}", r.value::<String>(4)?),
    ];
    let space: i32 = r.value(5)?;
    if space != 0 {
        opts.push(format!("SSPACE = {space}"));
    }
    if let Some(f) = r.value::<Option<String>>(6)? {
        opts.push(format!("FINALFUNC = {f}"));
    }
    if r.value::<bool>(7)? {
        opts.push("FINALFUNC_EXTRA".into());
    }
    // Ordered-set aggregates' final functions modify the state by default.
    let default_modify = if kind == "n" { "r" } else { "w" };
    let modify = |m: String| match m.as_str() {
        _ if m == default_modify => None,
        "r" => Some("READ_ONLY"),
        "s" => Some("SHAREABLE"),
        _ => Some("READ_WRITE"),
    };
    if let Some(m) = modify(r.value(8)?) {
        opts.push(format!("FINALFUNC_MODIFY = {m}"));
    }
    for (i, key) in [(9, "COMBINEFUNC"), (10, "SERIALFUNC"), (11, "DESERIALFUNC")] {
        if let Some(f) = r.value::<Option<String>>(i)? {
            opts.push(format!("{key} = {f}"));
        }
    }
    if let Some(init) = r.value::<Option<String>>(12)? {
        opts.push(format!("INITCOND = {}", quote_literal(&init)));
    }
    if let Some(f) = r.value::<Option<String>>(15)? {
        opts.push(format!("MSFUNC = {f}"));
        if let Some(f) = r.value::<Option<String>>(16)? {
            opts.push(format!("MINVFUNC = {f}"));
        }
        if let Some(t) = r.value::<Option<String>>(17)? {
            opts.push(format!("MSTYPE = {t}"));
        }
        let space: i32 = r.value(18)?;
        if space != 0 {
            opts.push(format!("MSSPACE = {space}"));
        }
        if let Some(f) = r.value::<Option<String>>(19)? {
            opts.push(format!("MFINALFUNC = {f}"));
        }
        if r.value::<bool>(20)? {
            opts.push("MFINALFUNC_EXTRA".into());
        }
        if let Some(m) = modify(r.value(21)?) {
            opts.push(format!("MFINALFUNC_MODIFY = {m}"));
        }
        if let Some(init) = r.value::<Option<String>>(22)? {
            opts.push(format!("MINITCOND = {}", quote_literal(&init)));
        }
    }
    if let Some(op) = r.value::<Option<String>>(13)? {
        // regoperator prints `<(integer,integer)`; SORTOP takes the name.
        let name = op.split('(').next().unwrap_or(&op);
        opts.push(format!("SORTOP = OPERATOR({name})"));
    }
    if kind == "h" {
        opts.push("HYPOTHETICAL".into());
    }
    match r.value::<String>(14)?.as_str() {
        "s" => opts.push("PARALLEL = SAFE".into()),
        "r" => opts.push("PARALLEL = RESTRICTED".into()),
        _ => {}
    }
    let args: String = r.value(2)?;
    // An aggregate of no arguments is written `agg(*)`.
    let args = if args.is_empty() { "*".to_string() } else { args };
    let name: String = r.value(1)?;
    let sql = format!("CREATE AGGREGATE {name}({args}) (\n    {}\n);", opts.join(",\n    "));
    Ok(sql)
}

/// Post-data objects: extended statistics, rules and publications after
/// the rest of post-data, and event triggers last.
pub(super) fn post_data(client: &mut Client, version: i32, kept: &HashSet<Oid>, cat: &mut Catalog) -> Result<()> {
    let oids: Vec<Oid> = kept.iter().copied().collect();

    // Statistics objects on kept relations (those of extensions' relations
    // are the extension's).
    // A statistics target of its own: from 13 on, NULL for none from 17.
    let target = if version >= 170000 {
        "s.stxstattarget"
    } else if version >= 130000 {
        "NULLIF(s.stxstattarget, -1)"
    } else {
        "NULL"
    };
    for r in client.query(
        format!(
            "SELECT pg_catalog.format('%I.%I', n.nspname, s.stxname), pg_catalog.pg_get_statisticsobjdef(s.oid), {target}::int, s.oid \
             FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace WHERE s.stxrelid = ANY($1) AND {} ORDER BY 1",
            not_ext_member("pg_statistic_ext", "s.oid")
        )
        .as_str(),
        &[&oids],
    )? {
        let name: String = r.value(0)?;
        let mut sql = format!("{};", r.value::<String>(1)?);
        if let Some(t) = r.value::<Option<i32>>(2)? {
            sql.push_str(&format!("\nALTER STATISTICS {name} SET STATISTICS {t};"));
        }
        cat.post_data.push(post((PG_STATISTIC_EXT, r.value(3)?), "statistics", name, sql));
    }

    // Rules other than a view's own _RETURN rule.
    for r in client.query(
        format!(
            "SELECT pg_catalog.quote_ident(r.rulename), pg_catalog.format('%I.%I', n.nspname, c.relname), pg_catalog.pg_get_ruledef(r.oid), r.ev_enabled::text, r.oid \
             FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE r.ev_class = ANY($1) AND r.rulename <> '_RETURN' AND {} ORDER BY 2, 1",
            not_ext_member("pg_rewrite", "r.oid")
        )
        .as_str(),
        &[&oids],
    )? {
        let rule: String = r.value(0)?;
        let table: String = r.value(1)?;
        let mut sql: String = r.value(2)?;
        match r.value::<String>(3)?.as_str() {
            "D" => sql.push_str(&format!("\nALTER TABLE {table} DISABLE RULE {rule};")),
            "A" => sql.push_str(&format!("\nALTER TABLE {table} ENABLE ALWAYS RULE {rule};")),
            "R" => sql.push_str(&format!("\nALTER TABLE {table} ENABLE REPLICA RULE {rule};")),
            _ => {}
        }
        let name = format!("{rule} ON {table}");
        cat.post_data.push(post((PG_REWRITE, r.value(4)?), "rule", name, sql));
    }

    publications(client, version, kept, cat)?;
    event_triggers(client, cat)?;
    Ok(())
}

fn publications(client: &mut Client, version: i32, kept: &HashSet<Oid>, cat: &mut Catalog) -> Result<()> {
    let via_root = if version >= 130000 { "p.pubviaroot" } else { "false" };
    for r in client.query(
        format!(
            "SELECT p.oid, pg_catalog.quote_ident(p.pubname), p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, {via_root} FROM pg_catalog.pg_publication p ORDER BY 2"
        )
        .as_str(),
        &[],
    )? {
        let oid: Oid = r.value(0)?;
        let name: String = r.value(1)?;
        let mut publish: Vec<&str> = Vec::new();
        for (i, w) in [(3, "insert"), (4, "update"), (5, "delete"), (6, "truncate")] {
            if r.value::<bool>(i)? {
                publish.push(w);
            }
        }
        let mut sql = format!("CREATE PUBLICATION {name}");
        if r.value::<bool>(2)? {
            sql.push_str(" FOR ALL TABLES");
        }
        sql.push_str(&format!(" WITH (publish = {}", quote_literal(&publish.join(", "))));
        if r.value::<bool>(7)? {
            sql.push_str(", publish_via_partition_root = true");
        }
        sql.push_str(");");
        cat.post_data.push(post((PG_PUBLICATION, oid), "publication", name.clone(), sql));

        let (columns, filter) = if version >= 150000 {
            (
                "(SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.n) FROM pg_catalog.unnest(pr.prattrs) WITH ORDINALITY k(attnum, n) \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = pr.prrelid AND a.attnum = k.attnum)",
                "pg_catalog.pg_get_expr(pr.prqual, pr.prrelid)",
            )
        } else {
            ("NULL::text", "NULL::text")
        };
        for t in client.query(
            format!(
                "SELECT pr.prrelid, pg_catalog.format('%I.%I', n.nspname, c.relname), {columns}, {filter}, pr.oid FROM pg_catalog.pg_publication_rel pr \
                 JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE pr.prpubid = $1 ORDER BY 2"
            )
            .as_str(),
            &[&oid],
        )? {
            if !kept.contains(&t.value::<Oid>(0)?) {
                continue;
            }
            let table: String = t.value(1)?;
            let mut sql = format!("ALTER PUBLICATION {name} ADD TABLE ONLY {table}");
            if let Some(cols) = t.value::<Option<String>>(2)? {
                sql.push_str(&format!(" ({cols})"));
            }
            if let Some(f) = t.value::<Option<String>>(3)? {
                sql.push_str(&format!(" WHERE ({f})"));
            }
            sql.push(';');
            cat.post_data.push(post(
                (PG_PUBLICATION_REL, t.value(4)?),
                "publication table",
                format!("{table} in {name}"),
                sql,
            ));
        }
        if version >= 150000 {
            for s in client.query(
                "SELECT pg_catalog.quote_ident(n.nspname), pn.oid FROM pg_catalog.pg_publication_namespace pn JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid WHERE pn.pnpubid = $1 ORDER BY 1",
                &[&oid],
            )? {
                let schema: String = s.value(0)?;
                cat.post_data.push(post(
                    (PG_PUBLICATION_NAMESPACE, s.value(1)?),
                    "publication schema",
                    format!("{schema} in {name}"),
                    format!("ALTER PUBLICATION {name} ADD TABLES IN SCHEMA {schema};"),
                ));
            }
        }
    }
    Ok(())
}

fn event_triggers(client: &mut Client, cat: &mut Catalog) -> Result<()> {
    for r in client.query(
        format!(
            "SELECT pg_catalog.quote_ident(et.evtname), et.evtevent::text, \
             (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(t), ', ') FROM pg_catalog.unnest(et.evttags) t), \
             et.evtfoid::pg_catalog.regproc::text, et.evtenabled::text, et.oid \
             FROM pg_catalog.pg_event_trigger et WHERE {} ORDER BY 1",
            not_ext_member("pg_event_trigger", "et.oid")
        )
        .as_str(),
        &[],
    )? {
        let name: String = r.value(0)?;
        let mut sql = format!("CREATE EVENT TRIGGER {name} ON {}", r.value::<String>(1)?);
        if let Some(tags) = r.value::<Option<String>>(2)? {
            sql.push_str(&format!("\n    WHEN TAG IN ({tags})"));
        }
        sql.push_str(&format!("\n    EXECUTE FUNCTION {}();", r.value::<String>(3)?));
        match r.value::<String>(4)?.as_str() {
            "D" => sql.push_str(&format!("\nALTER EVENT TRIGGER {name} DISABLE;")),
            "R" => sql.push_str(&format!("\nALTER EVENT TRIGGER {name} ENABLE REPLICA;")),
            "A" => sql.push_str(&format!("\nALTER EVENT TRIGGER {name} ENABLE ALWAYS;")),
            _ => {}
        }
        // Moved after the foreign keys by `last_of_all`.
        cat.post_data
            .push(post((PG_EVENT_TRIGGER, r.value(5)?), "event trigger", name, sql));
    }
    Ok(())
}

/// Moves what pg_dump restores last out of post-data, after the foreign
/// keys: event triggers, so that no statement of the restore fires them,
/// then materialized view refreshes, which pg_dump runs after them.
pub(super) fn last_of_all(cat: &mut Catalog) {
    let (triggers, rest): (Vec<Item>, Vec<Item>) = std::mem::take(&mut cat.post_data)
        .into_iter()
        .partition(|i| i.kind == "event trigger");
    let (refreshes, rest): (Vec<Item>, Vec<Item>) = rest.into_iter().partition(|i| i.kind == "refresh");
    cat.post_data = rest;
    cat.last = triggers;
    cat.last.extend(refreshes);
}

/// What lifeboat still cannot carry, each as `kind name`.
pub(super) fn unsupported(client: &mut Client) -> Result<Vec<String>> {
    let checks: Vec<(&str, String)> = vec![
        (
            // Restoring one names a server to connect to, which a restore
            // never lets a set choose.
            "subscription",
            "SELECT pg_catalog.quote_ident(s.subname) FROM pg_catalog.pg_subscription s JOIN pg_catalog.pg_database d ON d.oid = s.subdbid \
             WHERE d.datname = pg_catalog.current_database()".into(),
        ),
        (
            // They need the label provider's module loaded where they are
            // restored, which lifeboat cannot tell.
            "security label",
            "SELECT pg_catalog.format('%s on %s %s', l.provider, o.type, o.identity) FROM pg_catalog.pg_seclabel l, \
             LATERAL pg_catalog.pg_identify_object(l.classoid, l.objoid, l.objsubid) o WHERE l.objoid >= 16384 \
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = l.classoid AND e.objid = l.objoid AND e.deptype = 'e')"
                .into(),
        ),
        (
            // A restore runs no code loaded into the server (the guard
            // refuses these statements), so a set holding them would not
            // restore. Base types, procedural languages and transforms are
            // made of such functions, and so are refused through them.
            "function in C or internal code, which a restore never loads,",
            format!(
                "SELECT pg_catalog.format('%s (LANGUAGE %s)', p.oid::pg_catalog.regprocedure, l.lanname) FROM pg_catalog.pg_proc p \
                 JOIN pg_catalog.pg_language l ON l.oid = p.prolang JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
                 WHERE l.lanname IN ('c', 'internal') AND p.prokind IN ('f', 'p') AND {USER_NS} AND {}",
                // Aggregates and a range type's constructors are internal
                // too, and written as what they belong to.
                standalone("pg_proc", "p.oid")
            ),
        ),
    ];
    let mut found = Vec::new();
    for (kind, sql) in checks {
        let rows = client
            .query(sql.as_str(), &[])
            .with_context(|| format!("looking for {kind}s"))?;
        for r in rows {
            found.push(format!("{kind} {}", r.value::<String>(0)?));
        }
    }
    Ok(found)
}

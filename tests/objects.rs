//! Object kinds beyond tables and views (operators, casts, text search,
//! foreign data, rules, statistics, publications, event triggers...): a
//! backup restores them as `pg_dump | psql` does, and what lifeboat still
//! cannot carry stops the backup with every object named.

mod common;

use common::pg::cluster;
use common::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// `pg_dump db | psql target` on the test cluster: the reference restore.
fn pg_dump_into(dir: &std::path::Path, db: &str, target: &str) {
    let c = cluster();
    c.createdb(target);
    let env = format!("PGHOST='{}' PGPORT={} PGUSER=postgres", c.dir.display(), c.port);
    sh(
        dir,
        &format!(
            "set -o pipefail; {env} '{}' -d {db} | {env} '{}' -X -q -v ON_ERROR_STOP=1 -d {target} >/dev/null 2>&1",
            c.tool("pg_dump").display(),
            c.tool("psql").display()
        ),
    );
}

/// What pg_dump's schema listing leaves out (its SET lines are filtered by
/// the oracle) or prints the same either way: table access methods, rule
/// and event trigger states, and the rows of every table.
fn details(db: &str) -> String {
    cluster().psql(
        db,
        "SELECT string_agg(x, E'\\n' ORDER BY x) FROM ( \
         SELECT format('am %s %s', c.oid::regclass, a.amname) AS x FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relnamespace = 'geo'::regnamespace \
         UNION ALL SELECT format('event trigger %s %s %s', evtname, evtenabled::text, evttags::text) FROM pg_event_trigger \
         UNION ALL SELECT format('rule %s %s %s', ev_class::regclass, rulename, ev_enabled::text) FROM pg_rewrite WHERE rulename <> '_RETURN' \
         UNION ALL SELECT format('typed %s %s', oid::regclass, reloftype::regtype) FROM pg_class WHERE reloftype <> 0 \
         UNION ALL SELECT format('ledger %s', string_agg(format('%s=%s', id, amount), ',' ORDER BY id)) FROM geo.ledger \
         UNION ALL SELECT format('wallet %s', string_agg(format('%s', w), ',' ORDER BY id)) FROM geo.wallet w \
         UNION ALL SELECT format('doc %s', string_agg(tsv::text, ',' ORDER BY id)) FROM geo.doc \
         UNION ALL SELECT format('people %s', string_agg(format('%s', p), ',')) FROM geo.people p \
         UNION ALL SELECT format('heap2 %s', string_agg(id::text, ',' ORDER BY id)) FROM geo.in_heap2 \
         UNION ALL SELECT format('address %s', count(*)) FROM geo.address \
         UNION ALL SELECT format('orders %s', string_agg(format('%s', o), ',' ORDER BY id)) FROM ONLY geo.orders_near o \
         UNION ALL SELECT format('events %s', string_agg(format('%s', e), ',' ORDER BY id)) FROM ONLY geo.events e \
         ) s",
    )
}

#[test]
fn every_object_kind_restores_as_pg_dump_restores_it() {
    let c = cluster();
    let dir = tmp();
    c.fixture("objs_src", "objects_zoo.sql", &[]);
    let set = backup(dir.path(), &c.url("objs_src"));
    let set = set.to_str().unwrap();

    pg_dump_into(dir.path(), "objs_src", "objs_ref");
    let reference = c.schema("objs_ref");
    for kind in [
        "CREATE OPERATOR geo.<",
        "CREATE OPERATOR CLASS geo.money2_ops",
        "ALTER OPERATOR FAMILY geo.loose_ops USING btree ADD",
        "CREATE CAST (geo.money2 AS numeric)",
        "CREATE TEXT SEARCH CONFIGURATION \"Text Search\".docs",
        "CREATE TEXT SEARCH PARSER",
        "CREATE AGGREGATE geo.my_count(*)",
        "HYPOTHETICAL",
        "MINVFUNC = geo.sum_inv",
        "CREATE RULE ledger_update",
        "CREATE STATISTICS geo.address_expr",
        "CREATE EVENT TRIGGER ddl_watch",
        "ALTER PUBLICATION pub_some ADD TABLE ONLY geo.wallet (id, code) WHERE",
        "CREATE SERVER remote",
        "CREATE USER MAPPING FOR public SERVER remote",
        "CREATE FOREIGN TABLE geo.remote_orders",
        "CREATE FOREIGN TABLE geo.orders_far",
        "INHERITS (geo.events)",
        "CREATE TABLE geo.people OF geo.person",
        "CREATE DEFAULT CONVERSION geo.my_default",
        "CREATE ACCESS METHOD heap2",
        "CREATE TYPE geo.later;",
    ] {
        assert!(reference.contains(kind), "the fixture lost {kind}");
    }
    // An extension's own relation, its rule and statistics are the
    // extension's: neither written nor refused.
    assert!(!reference.contains("ext_owned"), "{reference}");

    // Into a new database, one statement at a time and in parallel.
    for (db, jobs) in [("objs_one", "1"), ("objs_four", "4")] {
        expect(
            dir.path(),
            &["restore", set, "--to", &c.url(db), "--create-db", "--jobs", jobs],
            0,
        );
        assert_eq!(c.schema(db), reference, "{db} differs from the pg_dump copy");
        assert_eq!(details(db), details("objs_ref"), "{db} differs from the pg_dump copy");
        expect(dir.path(), &["compare", set, &c.url(db)], 0);
    }
    // By the stock tools, into a database made beforehand.
    c.createdb("objs_manual");
    sh(
        dir.path(),
        &format!(
            "set -o pipefail; tar --wildcards -xOf '{set}' 'objs_src/*' | gunzip | PGHOST='{}' PGPORT={} PGUSER=postgres '{}' -X -q -v ON_ERROR_STOP=1 -d objs_manual >/dev/null 2>&1",
            c.dir.display(),
            c.port,
            c.tool("psql").display()
        ),
    );
    assert_eq!(c.schema("objs_manual"), reference);
    assert_eq!(details("objs_manual"), details("objs_ref"));
    // The operator class is in use: the restored index finds rows by it.
    assert_eq!(
        c.psql(
            "objs_one",
            "SET enable_seqscan = off; SELECT id FROM geo.wallet WHERE balance = ROW(3, 50)::geo.money2"
        ),
        "1"
    );
}

/// Backs up `url` and returns the set's path.
fn backup(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let out = expect(dir, &["backup", url, "--out", "bk", "--quiet", "--jobs", "2"], 0);
    dir.join(out.trim())
}

#[test]
fn every_object_lifeboat_cannot_carry_is_named() {
    let c = cluster();
    let dir = tmp();
    c.createdb("refused");
    c.psql(
        "refused",
        "CREATE TABLE t (x int); \
         SELECT lo_create(5000 + g) FROM generate_series(1, 30) g; \
         CREATE TABLE base (id int); \
         CREATE FOREIGN DATA WRAPPER w; CREATE SERVER s FOREIGN DATA WRAPPER w; \
         CREATE FOREIGN TABLE far_child () INHERITS (base) SERVER s; \
         CREATE PUBLICATION p FOR TABLE t; \
         CREATE FUNCTION my_len(text) RETURNS int LANGUAGE internal IMMUTABLE STRICT AS 'textlen'; \
         CREATE FUNCTION my_handler() RETURNS language_handler LANGUAGE c AS '$libdir/plpgsql', 'plpgsql_call_handler'; \
         CREATE LANGUAGE my_pl HANDLER my_handler;",
    );
    c.psql(
        "refused",
        "CREATE SUBSCRIPTION sub CONNECTION 'dbname=nowhere' PUBLICATION p WITH (connect = false, slot_name = NONE)",
    );
    let out = run(dir.path(), &["backup", &c.url("refused"), "--out", "bk"]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    // Large objects are carried now: never refused.
    assert!(!t.contains("large object"), "{t}");
    // Each kind refused says what to do about it.
    for advice in ["CREATE EXTENSION", "drop them before the backup"] {
        assert!(t.contains(advice), "no advice {advice}: {t}");
    }
    for named in [
        "subscription sub",
        "function in C or internal code, which a restore never loads, public.my_len(text) (LANGUAGE internal)",
        "public.my_handler() (LANGUAGE c)",
    ] {
        assert!(t.contains(named), "{named} is not named: {t}");
    }
    assert!(!t.contains("more"), "the list was cut short: {t}");
    // Carried kinds are not refused.
    assert!(
        !t.contains("publication p") && !t.contains("server s") && !t.contains("far_child"),
        "{t}"
    );
    assert!(!dir.path().join("bk").exists() || std::fs::read_dir(dir.path().join("bk")).unwrap().next().is_none());
}

#[test]
fn statistics_rules_and_publication_members_stay_with_tables_left_out() {
    let c = cluster();
    let dir = tmp();
    c.fixture("objs_sel", "objects_zoo.sql", &[]);
    let out = expect(
        dir.path(),
        &[
            "backup",
            &c.url("objs_sel"),
            "--out",
            "bk",
            "--quiet",
            "--exclude-schema",
            "geo",
        ],
        0,
    );
    let set = dir.path().join(out.trim());
    expect(
        dir.path(),
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &c.url("objs_sel_dst"),
            "--create-db",
        ],
        0,
    );
    // The tables of geo (plain and foreign) and what hangs on them are
    // left out; the schema's other objects are not.
    assert_eq!(
        c.psql(
            "objs_sel_dst",
            "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'geo'::regnamespace AND relkind IN ('r', 'p', 'f')) || ' ' || \
             (SELECT count(*) FROM pg_statistic_ext) || ' ' || (SELECT count(*) FROM pg_publication_rel) || ' ' || \
             (SELECT count(*) FROM pg_rewrite WHERE rulename <> '_RETURN' AND ev_class >= 16384) || ' ' || \
             (SELECT count(*) FROM pg_operator WHERE oprnamespace = 'geo'::regnamespace) || ' ' || (SELECT count(*) FROM pg_publication)"
        ),
        "0 0 0 0 7 4"
    );
}

#[test]
fn tables_and_indexes_in_tablespaces_of_their_own_are_named_never_moved() {
    let c = cluster();
    let dir = tmp();
    // A tablespace in the cluster's own directory, which its server may use.
    let location = c.dir.join("ts_elsewhere");
    if c.psql(
        "postgres",
        "SELECT count(*) FROM pg_tablespace WHERE spcname = 'elsewhere'",
    ) == "0"
    {
        std::fs::create_dir_all(&location).unwrap();
        if unsafe { libc::geteuid() } == 0 {
            sh(dir.path(), &format!("chown postgres '{}'", location.display()));
        }
        c.psql(
            "postgres",
            &format!("CREATE TABLESPACE elsewhere LOCATION '{}'", location.display()),
        );
    }
    c.createdb("spaced");
    c.psql(
        "spaced",
        "CREATE TABLE here (id int PRIMARY KEY); \
         CREATE TABLE there (id int PRIMARY KEY USING INDEX TABLESPACE elsewhere, v text) TABLESPACE elsewhere; \
         CREATE INDEX here_elsewhere ON here (id) TABLESPACE elsewhere;",
    );
    let out = run(dir.path(), &["backup", &c.url("spaced"), "--out", "bk"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    for named in [
        "table public.there in tablespace elsewhere",
        "index public.there_pkey in tablespace elsewhere",
        "index public.here_elsewhere in tablespace elsewhere",
    ] {
        assert!(t.contains(named), "{named} is not named: {t}");
    }
    // A selection without them backs up.
    let out = run(
        dir.path(),
        &["backup", &c.url("spaced"), "--out", "bk", "-t", "here", "--quiet"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("here_elsewhere"), "{}", text(&out));
    // The refusal says what to do: --no-tablespaces, which restores them
    // into the target's default tablespace, as pg_dump --no-tablespaces.
    assert!(text(&out).contains("--no-tablespaces"), "{}", text(&out));
    let out = expect(
        dir.path(),
        &[
            "backup",
            &c.url("spaced"),
            "--out",
            "nts",
            "--quiet",
            "--no-tablespaces",
        ],
        0,
    );
    let set = dir.path().join(out.trim());
    let manifest: serde_json::Value = serde_json::from_slice(&read_members(&set)[0].1).unwrap();
    assert_eq!(manifest["databases"][0]["no_tablespaces"], true);
    c.reference(dir.path(), "spaced", "spaced_ref", "--no-tablespaces");
    c.psql("postgres", "DROP DATABASE IF EXISTS spaced_nts");
    expect(
        dir.path(),
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &c.url("spaced_nts"),
            "--create-db",
        ],
        0,
    );
    assert_eq!(c.schema("spaced_nts"), c.schema("spaced_ref"));
    assert_eq!(
        c.psql(
            "spaced_nts",
            "SELECT count(*) FROM pg_class WHERE reltablespace <> 0 AND relnamespace = 'public'::regnamespace"
        ),
        "0"
    );
    c.psql("spaced", "DROP INDEX here_elsewhere");
    expect(
        dir.path(),
        &["backup", &c.url("spaced"), "--out", "bk", "-t", "here", "--quiet"],
        0,
    );
}

//! Fidelity against the reference: the same source restored by lifeboat, in
//! every way a restore can go, and by `pg_dump | psql` must print the same
//! `pg_dump --schema-only` and hold the same rows.

mod common;

use common::pg::{Cluster, cluster};
use common::*;
use std::path::{Path, PathBuf};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Backs up `url` and returns the set's path.
fn backup(dir: &Path, url: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec!["backup", url, "--quiet"];
    if !extra.contains(&"--out") {
        args.extend(["--out", "bk"]);
    }
    args.extend_from_slice(extra);
    let out = expect(dir, &args, 0);
    dir.join(out.trim())
}

/// Restore-level verification in a throw-away cluster of the test
/// server's binaries, where the set's SQL runs as a role that is no
/// superuser; requires exit `code` and returns stdout.
fn verify_in_scratch(c: &Cluster, dir: &Path, set: &Path, code: i32) -> String {
    let args = [
        "verify",
        set.to_str().unwrap(),
        "--level",
        "restore",
        "--scratch",
        "local",
        "--pg-bin",
        c.bin.to_str().unwrap(),
    ];
    expect(dir, &args, code)
}

/// Restores `set` every way a user can and holds each result against the
/// reference database `reference`.
fn restores_like_the_reference(c: &Cluster, dir: &Path, set: &Path, src: &str, reference: &str) {
    restores_like(c, dir, set, src, reference, true);
}

/// As [`restores_like_the_reference`]; `in_place`: also over a copy of the
/// source with --clean, which keeps what a set without owners and grants
/// says nothing of (schema public's owner and grants).
fn restores_like(c: &Cluster, dir: &Path, set: &Path, src: &str, reference: &str, in_place: bool) {
    let schema = c.schema(reference);
    let data = c.rows(reference);
    let set_arg = set.to_str().unwrap();
    let check = |db: &str, how: &str| {
        assert_eq!(c.schema(db), schema, "{how}: the schema differs from pg_dump | psql");
        assert_eq!(c.rows(db), data, "{how}: the rows differ from pg_dump | psql");
        expect(dir, &["compare", set_arg, &c.url(db)], 0);
    };

    // A new database, in parallel.
    let par = format!("{src}_par");
    c.psql("postgres", &format!("DROP DATABASE IF EXISTS \"{par}\""));
    expect(
        dir,
        &["restore", set_arg, "--to", &c.url(&par), "--create-db", "--jobs", "4"],
        0,
    );
    check(&par, "--create-db --jobs 4");

    // A database created beforehand, over one connection.
    let one = format!("{src}_one");
    c.createdb(&one);
    expect(dir, &["restore", set_arg, "--to", &c.url(&one), "--jobs", "1"], 0);
    check(&one, "into a pre-created database with --jobs 1");

    // In place, over a copy of the source itself: --clean drops what the
    // set creates again, in the same transaction.
    if in_place {
        let inplace = format!("{src}_inplace");
        c.psql("postgres", &format!("DROP DATABASE IF EXISTS \"{inplace}\""));
        c.psql("postgres", &format!("CREATE DATABASE \"{inplace}\" TEMPLATE \"{src}\""));
        expect(
            dir,
            &[
                "restore",
                set_arg,
                "--to",
                &c.url(&inplace),
                "--clean",
                "--force",
                "--jobs",
                "4",
            ],
            0,
        );
        check(&inplace, "in place with --clean");
    }

    // The stock tools, as RESTORE.md says.
    let stock = format!("{src}_stock");
    c.createdb(&stock);
    sh(
        dir,
        &format!(
            "set -o pipefail; tar --wildcards -xOf '{}' '{src}/*' | gunzip | {} '{}' -X -q -v ON_ERROR_STOP=1 -d {stock} >/dev/null",
            set.display(),
            c.shell_env(),
            c.tool("psql").display()
        ),
    );
    check(&stock, "tar | gunzip | psql");
}

#[test]
fn real_world_shapes_restore_as_pg_dump_restores_them() {
    let c = cluster();
    let dir = tmp();
    c.fixture("rw_src", "real_world.sql", &[]);
    // Shapes only newer servers have, from real_world_<major>.sql.
    let version: u32 = c.psql("rw_src", "SHOW server_version_num").parse().unwrap();
    for major in [14, 15, 16, 18] {
        if version >= major * 10000 {
            let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/real_world_{major}.sql"));
            c.psql_file("rw_src", &file, &[]);
        }
    }
    c.reference(dir.path(), "rw_src", "rw_ref", "");
    let set = backup(dir.path(), &c.url("rw_src"), &["--jobs", "2"]);
    restores_like_the_reference(c, dir.path(), &set, "rw_src", "rw_ref");

    // Proven by restore into a throw-away cluster: no finding, though the
    // server prints some definitions otherwise after the round trip.
    let out = verify_in_scratch(c, dir.path(), &set, 0);
    assert!(out.contains("passed"), "{out}");
    // What pg_dump would print differently is a difference: a comment gone.
    c.psql("rw_src_par", "COMMENT ON TABLE public.\"line\nbreak\" IS NULL");
    let out = expect(dir.path(), &["compare", set.to_str().unwrap(), &c.url("rw_src_par")], 3);
    assert!(out.contains("line"), "{out}");
    c.psql(
        "rw_src_par",
        "ALTER TABLE public.attrs ALTER COLUMN body SET STATISTICS -1",
    );
    let out = expect(
        dir.path(),
        &["compare", set.to_str().unwrap(), &c.url("rw_src_par"), "--json"],
        3,
    );
    assert!(out.contains("public.attrs"), "{out}");

    // A name holding a newline works as a --table choice, too.
    c.psql("postgres", "DROP DATABASE IF EXISTS rw_one_table");
    expect(
        dir.path(),
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &c.url("rw_one_table"),
            "--create-db",
            "--table",
            "public.line\nbreak",
        ],
        0,
    );
    assert_eq!(
        c.psql(
            "rw_one_table",
            "SELECT \"quo\"\"te\" || '|' || \"back\\slash\" FROM public.\"line\nbreak\""
        ),
        "q'x|b\\s"
    );
}

#[test]
fn the_zoo_restores_as_pg_dump_restores_it() {
    let c = cluster();
    let dir = tmp();
    c.fixture("zf_src", "schema_zoo.sql", &[]);
    c.reference(dir.path(), "zf_src", "zf_ref", "");
    let set = backup(dir.path(), &c.url("zf_src"), &[]);
    restores_like_the_reference(c, dir.path(), &set, "zf_src", "zf_ref");
}

#[test]
fn values_sent_in_binary_restore_as_pg_dump_restores_them() {
    let c = cluster();
    let dir = tmp();
    c.fixture("bin_src", "binary_values.sql", &[]);
    c.reference(dir.path(), "bin_src", "bin_ref", "");
    let set = backup(dir.path(), &c.url("bin_src"), &[]);
    let set_arg = set.to_str().unwrap();
    // A parallel restore sends every table of the fixture in binary but
    // the one whose row is too long to convert in memory; had a value not
    // converted, its table would be named here too.
    let log = dir.path().join("binary.log");
    c.psql("postgres", "DROP DATABASE IF EXISTS bin_logged");
    expect(
        dir.path(),
        &[
            "restore",
            set_arg,
            "--to",
            &c.url("bin_logged"),
            "--create-db",
            "--log-file",
            log.to_str().unwrap(),
        ],
        0,
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(
            "rows of 3 of 4 tables sent in binary (1 back to text on a row lifeboat does not convert: public.wide)"
        ),
        "{logged}"
    );
    assert_eq!(c.rows("bin_logged"), c.rows("bin_ref"));
    restores_like_the_reference(c, dir.path(), &set, "bin_src", "bin_ref");

    // A row written otherwise than COPY writes it, which the server's text
    // input still reads (`+2`, a timestamp without its offset): the table
    // loads as text, with the same rows, and the log names it.
    let members = read_members(&set);
    let (scalars, _) = members
        .iter()
        .find(|(name, _)| name.contains("scalars"))
        .expect("a member of table scalars");
    let text = String::from_utf8(member_content(&set, scalars)).unwrap();
    let edited =
        text.replacen("\n2\tf\t", "\n+2\tf\t", 1)
            .replacen("\t1900-01-01 00:19:32+00\t", "\t1900-01-01 00:19:32\t", 1);
    assert_eq!(edited.len(), text.len() - 2, "the edit found its rows");
    replace_member(&set, scalars, edited.as_bytes());
    c.psql("postgres", "DROP DATABASE IF EXISTS bin_text");
    let fallback = dir.path().join("fallback.log");
    expect(
        dir.path(),
        &[
            "restore",
            set_arg,
            "--to",
            &c.url("bin_text"),
            "--create-db",
            "--log-file",
            fallback.to_str().unwrap(),
        ],
        0,
    );
    let logged = std::fs::read_to_string(&fallback).unwrap();
    assert!(
        logged.contains("rows of 2 of 4 tables sent in binary (2 back to text")
            && logged.contains("public.scalars, public.wide"),
        "{logged}"
    );
    assert_eq!(c.rows("bin_text"), c.rows("bin_ref"));
    // The same inside one transaction (one connection, into a database
    // made beforehand): the failed COPY is undone to a savepoint.
    c.createdb("bin_text_one");
    expect(
        dir.path(),
        &["restore", set_arg, "--to", &c.url("bin_text_one"), "--jobs", "1"],
        0,
    );
    assert_eq!(c.rows("bin_text_one"), c.rows("bin_ref"));
    assert_eq!(c.schema("bin_text_one"), c.schema("bin_ref"));
}

#[test]
fn regression_test_shapes_restore_as_pg_dump_restores_them() {
    let c = cluster();
    let dir = tmp();
    c.fixture("rs_src", "regress_shapes.sql", &[]);
    c.reference(dir.path(), "rs_src", "rs_ref", "");
    let set = backup(dir.path(), &c.url("rs_src"), &["--jobs", "2"]);
    restores_like_the_reference(c, dir.path(), &set, "rs_src", "rs_ref");
    // An inheritance child restored with its parents' columns first holds
    // the same rows: no finding, here as after pg_dump | psql.
    expect(dir.path(), &["compare", set.to_str().unwrap(), &c.url("rs_ref")], 0);
    // The schema alone leaves materialized views unfilled, as pg_dump
    // --schema-only does, whether the set was taken so or the restore
    // asks for it.
    c.reference(dir.path(), "rs_src", "rs_schema_ref", "--schema-only");
    let filled =
        "SELECT string_agg(relname || ' ' || relispopulated, ', ' ORDER BY relname) FROM pg_class WHERE relkind = 'm'";
    let schema_set = backup(dir.path(), &c.url("rs_src"), &["--schema-only", "--out", "schema"]);
    for (db, from, extra) in [
        ("rs_schema_set", &schema_set, None),
        ("rs_schema_restore", &set, Some("--schema-only")),
    ] {
        c.psql("postgres", &format!("DROP DATABASE IF EXISTS {db}"));
        let url = c.url(db);
        let mut args = vec!["restore", from.to_str().unwrap(), "--to", &url, "--create-db"];
        args.extend(extra);
        expect(dir.path(), &args, 0);
        assert_eq!(c.schema(db), c.schema("rs_schema_ref"), "{db}");
        assert_eq!(c.psql(db, filled), c.psql("rs_schema_ref", filled), "{db}");
    }
    let out = verify_in_scratch(c, dir.path(), &set, 0);
    assert!(out.contains("passed"), "{out}");
}

#[test]
fn definitions_the_server_prints_otherwise_once_restored_are_no_finding() {
    let c = cluster();
    let dir = tmp();
    c.fixture("rtp_src", "round_trip_printing.sql", &[]);
    c.reference(dir.path(), "rtp_src", "rtp_ref", "");
    let set = backup(dir.path(), &c.url("rtp_src"), &[]);
    // Each restore is compared with the set too, which must see no
    // difference where pg_dump | psql's restore prints the same.
    restores_like_the_reference(c, dir.path(), &set, "rtp_src", "rtp_ref");
    expect(dir.path(), &["compare", set.to_str().unwrap(), &c.url("rtp_ref")], 0);
    let out = verify_in_scratch(c, dir.path(), &set, 0);
    assert!(out.contains("passed"), "{out}");
    // A view whose branch gets another name is still a difference.
    c.psql(
        "rtp_src_par",
        "CREATE OR REPLACE VIEW music.release_event AS SELECT release, date_year, country FROM (\
         SELECT release, date_year, country FROM music.release_country UNION ALL \
         SELECT release, date_year, NULL::integer AS int8 FROM music.release_unknown_country) AS q",
    );
    let out = expect(
        dir.path(),
        &["compare", set.to_str().unwrap(), &c.url("rtp_src_par")],
        3,
    );
    assert!(out.contains("music.release_event"), "{out}");
}

#[test]
fn event_triggers_fire_on_nothing_a_restore_does_before_them() {
    let c = cluster();
    let dir = tmp();
    c.fixture("evt_src", "event_triggers.sql", &[]);
    c.reference(dir.path(), "evt_src", "evt_ref", "");
    let set = backup(dir.path(), &c.url("evt_src"), &[]);
    restores_like_the_reference(c, dir.path(), &set, "evt_src", "evt_ref");
    // A local scratch cluster restores as a role that is no superuser; its
    // admin makes the event trigger, rebuilt from its parts, once the
    // restore is over, so it fired on nothing there either.
    let out = verify_in_scratch(c, dir.path(), &set, 0);
    assert!(out.contains("passed"), "{out}");
}

#[test]
fn what_only_a_superuser_may_make_restores_and_is_proven_in_scratch() {
    let c = cluster();
    let dir = tmp();
    c.fixture("su_src", "superuser_objects.sql", &[]);
    c.reference(dir.path(), "su_src", "su_ref", "");
    let set = backup(dir.path(), &c.url("su_src"), &["--jobs", "2"]);
    restores_like_the_reference(c, dir.path(), &set, "su_src", "su_ref");
    // The event triggers fired on nothing a restore did.
    assert_eq!(c.psql("su_src_par", "SELECT count(*) FROM sec.ddl_log"), "0");
    // Proven where the set's SQL runs as a role that is no superuser: the
    // scratch cluster's admin made what only it may, from lifeboat's own
    // rebuilding of the set's statements.
    let out = verify_in_scratch(c, dir.path(), &set, 0);
    assert!(out.contains("passed"), "{out}");
    // And with owners: the event triggers' owner is a superuser, which no
    // role of the scratch cluster is but its admin.
    let owned = backup(dir.path(), &c.url("su_src"), &["--with-privileges", "--out", "owned"]);
    let out = verify_in_scratch(c, dir.path(), &owned, 0);
    assert!(out.contains("passed"), "{out}");
}

#[test]
fn a_set_passes_none_of_its_own_statements_to_the_scratch_admin() {
    let c = cluster();
    let dir = tmp();
    c.fixture("suh_src", "superuser_objects.sql", &[]);
    let pristine = backup(dir.path(), &c.url("suh_src"), &["--out", "pristine"]);
    // (what lifeboat wrote, what a stranger wrote instead): each
    // a statement the scratch cluster's admin would run if it ran the
    // set's text, which must reach the restore role instead, and fail
    // there as it fails for any role that is no superuser.
    let cases = [
        (
            "CREATE EVENT TRIGGER sec_log ON ddl_command_end\n    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')",
            "CREATE EVENT TRIGGER sec_log ON ddl_command_end\n    WHEN TAG IN ('CREATE TABLE') AND tag IN ('ALTER TABLE')",
            "permission denied to create event trigger",
        ),
        (
            "CREATE EVENT TRIGGER sec_drop ON sql_drop",
            "CREATE EVENT TRIGGER sec_drop ON login",
            "permission denied to create event trigger",
        ),
        // An aggregate passing one function's internal state to another
        // that reads it as something else: refused, never made.
        (
            "CREATE AGGREGATE sec.pct_disc(",
            "CREATE AGGREGATE sec.bad(anynonarray) (SFUNC = pg_catalog.array_agg_transfn, STYPE = internal, \
             FINALFUNC = pg_catalog.string_agg_finalfn);\nCREATE AGGREGATE sec.pct_disc(",
            "not ones the server or an extension uses together",
        ),
        // A second statement after an operator family's is a statement of
        // its own, the restore role's: it may not give the schema away.
        (
            "CREATE OPERATOR FAMILY sec.rev_family USING btree;",
            "CREATE OPERATOR FAMILY sec.rev_family USING btree; ALTER SCHEMA sec OWNER TO lifeboat_scratch_admin;",
            // The server's answer to the restore role names the role quoted
            // ("must be member of role" up to 15, "must be able to SET
            // ROLE" from 16).
            "\"lifeboat_scratch_admin\"",
        ),
    ];
    for (i, (written, hostile, answer)) in cases.iter().enumerate() {
        let set = dir.path().join(format!("hostile-{i}.tar"));
        std::fs::copy(&pristine, &set).unwrap();
        // The set's schema.json and script, altered alike.
        alter_item(
            &set,
            "suh_src",
            |item| item["sql"].as_str().is_some_and(|sql| sql.contains(written)),
            |sql| sql.replacen(written, hostile, 1),
        );
        rewrite_sidecar(&set);
        let out = verify_in_scratch(c, dir.path(), &set, 3);
        assert!(out.contains(answer), "{hostile}: {out}");
        assert!(!out.contains("passed"), "{hostile}: {out}");
    }
    // The pristine set is proven.
    let out = verify_in_scratch(c, dir.path(), &pristine, 0);
    assert!(out.contains("passed"), "{out}");
}

#[test]
fn row_level_security_never_hides_rows_from_a_backup() {
    let c = cluster();
    let dir = tmp();
    c.createdb("rls_src");
    c.psql(
        "rls_src",
        "DO $$ BEGIN \
           IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rls_owner') THEN \
             CREATE ROLE rls_owner LOGIN PASSWORD 'owner-pw'; \
             CREATE ROLE rls_reader LOGIN PASSWORD 'reader-pw'; \
             CREATE ROLE rls_bypass LOGIN BYPASSRLS PASSWORD 'bypass-pw'; \
           END IF; END $$; \
         CREATE TABLE public.secrets (id int PRIMARY KEY, owner_name text); \
         CREATE TABLE public.open_table (id int); \
         INSERT INTO public.secrets SELECT g, 'someone' FROM generate_series(1, 2000) g; \
         ALTER TABLE public.secrets ENABLE ROW LEVEL SECURITY; \
         CREATE POLICY mine ON public.secrets USING (owner_name = current_user); \
         ALTER TABLE public.secrets OWNER TO rls_owner; \
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO rls_reader, rls_bypass",
    );
    // Not the owner: the policy would filter every row away.
    let out = run(
        dir.path(),
        &["backup", &c.url_as("rls_reader", "reader-pw", "rls_src"), "--out", "bk"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("public.secrets"), "{}", text(&out));
    assert!(text(&out).contains("BYPASSRLS"), "{}", text(&out));
    assert!(!text(&out).contains("open_table"), "{}", text(&out));
    // The owner sees every row, until the table forces its policies.
    let set = backup(
        dir.path(),
        &c.url_as("rls_owner", "owner-pw", "rls_src"),
        &["-t", "secrets"],
    );
    let manifest = String::from_utf8(read_members(&set)[0].1.clone()).unwrap();
    assert!(manifest.contains("\"rows\": 2000"), "{manifest}");
    c.psql("rls_src", "ALTER TABLE public.secrets FORCE ROW LEVEL SECURITY");
    let out = run(
        dir.path(),
        &[
            "backup",
            &c.url_as("rls_owner", "owner-pw", "rls_src"),
            "--out",
            "bk2",
            "-t",
            "secrets",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("public.secrets"), "{}", text(&out));
    assert!(
        !dir.path()
            .join("bk2")
            .read_dir()
            .map(|mut d| d.any(|e| e.unwrap().path().extension().is_some_and(|x| x == "tar")))
            .unwrap_or(false)
    );
    // A role with BYPASSRLS takes every row.
    let set = backup(
        dir.path(),
        &c.url_as("rls_bypass", "bypass-pw", "rls_src"),
        &["--out", "bk3"],
    );
    let manifest = String::from_utf8(read_members(&set)[0].1.clone()).unwrap();
    assert!(manifest.contains("\"rows\": 2000"), "{manifest}");
    // compare as the reader would call the data different, not equal.
    let out = run(
        dir.path(),
        &[
            "compare",
            set.to_str().unwrap(),
            &c.url_as("rls_reader", "reader-pw", "rls_src"),
        ],
    );
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn selections_bring_the_sequences_their_tables_need() {
    let c = cluster();
    let dir = tmp();
    c.createdb("sel_src");
    c.psql(
        "sel_src",
        "CREATE TABLE users (id serial PRIMARY KEY, name text); \
         CREATE TABLE messages (id int PRIMARY KEY DEFAULT nextval('users_id_seq'), body text); \
         CREATE TABLE tokens (id int GENERATED ALWAYS AS IDENTITY, t text); \
         CREATE TABLE token_usage (id bigserial, token int); \
         INSERT INTO users (name) VALUES ('a'), ('b'); INSERT INTO messages (body) VALUES ('m'); \
         INSERT INTO tokens (t) VALUES ('x'); INSERT INTO token_usage (token) VALUES (1)",
    );
    // What a selection would leave half made is refused, by name, before
    // anything is written; rows alone need nothing else.
    c.psql(
        "sel_src",
        "CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users); \
         CREATE VIEW user_names AS SELECT name FROM users",
    );
    let out = run(
        dir.path(),
        &["backup", &c.url("sel_src"), "--out", "refused", "-t", "orders"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("orders_user_id_fkey on public.orders points at public.users"),
        "{}",
        text(&out)
    );
    let out = run(
        dir.path(),
        &["backup", &c.url("sel_src"), "--out", "refused", "-T", "users"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("view public.user_names"), "{}", text(&out));
    assert!(
        !dir.path().join("refused").exists() || std::fs::read_dir(dir.path().join("refused")).unwrap().next().is_none()
    );
    backup(
        dir.path(),
        &c.url("sel_src"),
        &["--out", "rows", "-t", "orders", "--data-only"],
    );
    c.psql("sel_src", "DROP VIEW user_names; DROP TABLE orders");

    let selections: [&[&str]; 4] = [
        &["-t", "messages"],
        &["-T", "users"],
        &["-t", "public.token*", "--schema-only"],
        &["-t", "token_usage"],
    ];
    for (i, selection) in selections.iter().enumerate() {
        let out = format!("bk{i}");
        let mut args = vec!["--out", out.as_str()];
        args.extend_from_slice(selection);
        let set = backup(dir.path(), &c.url("sel_src"), &args);
        let db = format!("sel_dst{i}");
        c.psql("postgres", &format!("DROP DATABASE IF EXISTS {db}"));
        expect(
            dir.path(),
            &["restore", set.to_str().unwrap(), "--to", &c.url(&db), "--create-db"],
            0,
        );
        expect(dir.path(), &["compare", set.to_str().unwrap(), &c.url(&db)], 0);
        let tables = c.psql(&db, "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace");
        if selection.contains(&"messages") {
            // The sequence stands where it stood: no key is taken twice.
            assert_eq!(c.psql(&db, "SELECT last_value FROM users_id_seq"), "3", "{selection:?}");
        }
        // Each table's defaults work: the sequences they use are there.
        for table in tables.split(',').filter(|t| !t.is_empty()) {
            c.psql(&db, &format!("INSERT INTO {table} DEFAULT VALUES"));
        }
    }
}

#[test]
fn selection_patterns_choose_the_tables_pg_dump_chooses() {
    let c = cluster();
    let dir = tmp();
    c.createdb("pat_src");
    c.psql(
        "pat_src",
        "CREATE TABLE events (id int); INSERT INTO events VALUES (1); \
         CREATE TABLE \"Events\" (id int); INSERT INTO \"Events\" VALUES (2); \
         CREATE TABLE \"EVENTS\" (id int); INSERT INTO \"EVENTS\" VALUES (3); \
         CREATE TABLE orders_1 (id int); CREATE TABLE orders_x (id int); \
         CREATE SCHEMA \"Sales\"; CREATE TABLE \"Sales\".t (id int); CREATE SCHEMA sales; CREATE TABLE sales.t (id int); \
         CREATE TABLE public.users (id int); CREATE SCHEMA audit; CREATE TABLE audit.users (id int)",
    );
    // The oracle: the tables the real pg_dump writes with the same words.
    let pg_dump = |args: &[&str]| -> Vec<String> {
        let out = std::process::Command::new(c.tool("pg_dump"))
            .env("PGHOST", &c.dir)
            .env("PGPORT", c.port.to_string())
            .env("PGUSER", "postgres")
            .args(["--schema-only", "-d", "pat_src"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_dump {args:?}: {}", text(&out));
        let mut tables: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("CREATE TABLE ")?.strip_suffix(" ("))
            .map(str::to_string)
            .collect();
        tables.sort();
        tables
    };
    let selections: [&[&str]; 9] = [
        &["-T", "events"],
        &["-N", "sales"],
        &["-t", "events"],
        &["-t", "orders_[0-9]"],
        &["-t", "events|orders_1"],
        &["-t", "users"],
        &["-T", "users"],
        &["-n", "\"Sales\"", "-T", "\"EVENTS\""],
        &["-t", "sales.t", "-N", "sales"],
    ];
    for (i, selection) in selections.iter().enumerate() {
        let out = format!("pat{i}");
        let mut args = vec!["--out", out.as_str()];
        args.extend_from_slice(selection);
        let set = backup(dir.path(), &c.url("pat_src"), &args);
        let manifest: serde_json::Value = serde_json::from_slice(&read_members(&set)[0].1).unwrap();
        let mut tables: Vec<String> = manifest["databases"][0]["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["sql_name"].as_str().unwrap().to_string())
            .collect();
        tables.sort();
        let expected = pg_dump(selection);
        assert!(!expected.is_empty(), "{selection:?}");
        assert_eq!(tables, expected, "{selection:?}: not the tables pg_dump takes");
    }
    // A table or schema pattern that names nothing is an error, as in
    // pg_dump, naming the pattern; no set is written.
    for (flag, pattern) in [("-t", "nosuchtable"), ("-t", "\"eVents\""), ("-n", "nosuchschema")] {
        let out = run(
            dir.path(),
            &["backup", &c.url("pat_src"), "--out", "none", flag, pattern],
        );
        assert_eq!(out.status.code(), Some(2), "{flag} {pattern}: {}", text(&out));
        assert!(text(&out).contains(pattern), "{}", text(&out));
        assert!(names_in(&dir.path().join("none")).is_empty());
    }
}

#[test]
fn contrib_extensions_restore_as_pg_dump_restores_them() {
    let c = cluster();
    let dir = tmp();
    c.fixture("ext_src", "extensions.sql", &[]);
    c.reference(dir.path(), "ext_src", "ext_ref", "");
    let set = backup(dir.path(), &c.url("ext_src"), &[]);
    // Objects the extensions own are made by CREATE EXTENSION, never
    // written by lifeboat.
    let pre_data = String::from_utf8(member_content(&set, "ext_src/0-pre-data.sql.gz")).unwrap();
    assert!(pre_data.contains("CREATE EXTENSION IF NOT EXISTS hstore"), "{pre_data}");
    assert!(!pre_data.contains("CREATE FUNCTION public.hstore"), "{pre_data}");
    assert!(!pre_data.contains("CREATE TYPE public.ltree"), "{pre_data}");
    restores_like_the_reference(c, dir.path(), &set, "ext_src", "ext_ref");
    // Proven in a throw-away cluster, whose superuser makes the extensions
    // the restore role may not (on PostgreSQL 12, which trusts none, all of
    // them) when the restore reaches them, pg_trgm in the set's own schema
    // while that schema is still empty.
    let out = verify_in_scratch(c, dir.path(), &set, 0);
    assert!(out.contains("passed"), "{out}");
}

#[test]
fn owners_and_grants_as_pg_dump_carries_them() {
    let c = cluster();
    let dir = tmp();
    c.fixture("priv_src", "privileges.sql", &[]);
    // Asked for, they all come back, revokes of defaults included.
    c.reference(dir.path(), "priv_src", "priv_ref", "");
    let set = backup(dir.path(), &c.url("priv_src"), &["--with-privileges"]);
    restores_like_the_reference(c, dir.path(), &set, "priv_src", "priv_ref");
    // Proven by restore into a throw-away cluster, where the set's SQL runs
    // as a role that is no superuser: owners without CREATE on their
    // objects' schemas still get them.
    let out = verify_in_scratch(c, dir.path(), &set, 0);
    assert!(out.contains("passed"), "{out}");
    // Left out, as pg_dump --no-owner --no-privileges leaves them out.
    c.reference(dir.path(), "priv_src", "priv_bare_ref", "--no-owner --no-privileges");
    let set = backup(dir.path(), &c.url("priv_src"), &["--out", "bare"]);
    c.createdb("priv_bare");
    expect(
        dir.path(),
        &["restore", set.to_str().unwrap(), "--to", &c.url("priv_bare")],
        0,
    );
    assert_eq!(c.schema("priv_bare"), c.schema("priv_bare_ref"));
}

#[test]
fn grants_changed_on_what_initdb_and_extensions_made_as_pg_dump_carries_them() {
    let c = cluster();
    let dir = tmp();
    c.fixture("initpriv_src", "initial_privileges.sql", &[]);
    c.reference(dir.path(), "initpriv_src", "initpriv_ref", "");
    let set = backup(dir.path(), &c.url("initpriv_src"), &["--with-privileges"]);
    restores_like_the_reference(c, dir.path(), &set, "initpriv_src", "initpriv_ref");
    // Spelled out, as the security setting it is: PUBLIC may not use
    // plpgsql in the restored database either.
    assert_eq!(
        c.psql(
            "initpriv_src_par",
            "SELECT has_language_privilege('public', 'plpgsql', 'USAGE')"
        ),
        "f"
    );
    // Proven in a local scratch cluster, whose admin makes the grants on
    // plpgsql and on the wrapper of an extension it made, and takes back
    // what it lent the restore role before the database is inspected...
    c.createdb("initpriv_lang");
    c.psql(
        "initpriv_lang",
        "REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC; CREATE EXTENSION postgres_fdw; \
         GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO initial_user; \
         GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO PUBLIC; CREATE TABLE t (id int); INSERT INTO t VALUES (1);",
    );
    let small = backup(dir.path(), &c.url("initpriv_lang"), &["--with-privileges"]);
    let out = verify_in_scratch(c, dir.path(), &small, 0);
    assert!(out.contains("passed"), "{out}");
    // ...while grants on pg_catalog's functions are a superuser's: the set
    // is said to be unproven there, not broken.
    let out = verify_in_scratch(c, dir.path(), &set, 3);
    assert!(out.contains("not proven"), "{out}");
}

#[test]
fn postgis_restores_as_pg_dump_restores_it() {
    let c = cluster();
    let dir = tmp();
    c.fixture("gis_src", "postgis.sql", &[]);
    c.reference(dir.path(), "gis_src", "gis_ref", "");
    let set = backup(dir.path(), &c.url("gis_src"), &[]);
    restores_like_the_reference(c, dir.path(), &set, "gis_src", "gis_ref");
    // The rows the user added to the extensions' configuration tables
    // came back; those CREATE EXTENSION makes were not written twice.
    assert_eq!(
        c.psql(
            "gis_src_par",
            "SELECT auth_name FROM spatial_ref_sys WHERE srid = 990001"
        ),
        "lifeboat"
    );
    assert_eq!(
        c.psql("gis_src_par", "SELECT count(*) FROM spatial_ref_sys"),
        c.psql("gis_src", "SELECT count(*) FROM spatial_ref_sys")
    );
    assert_eq!(
        c.psql("gis_src_par", "SELECT word FROM us_gaz WHERE is_custom"),
        "LIFEBOAT"
    );
}

#[test]
fn views_that_read_themselves_restore_as_they_stand() {
    let c = cluster();
    let dir = tmp();
    c.fixture("loops_src", "view_cycles.sql", &[]);
    // pg_dump writes these views in an order that does not restore:
    // lifeboat does better, and every restore prints the source itself.
    let set = backup(dir.path(), &c.url("loops_src"), &[]);
    restores_like_the_reference(c, dir.path(), &set, "loops_src", "loops_src");
    let out = verify_in_scratch(c, dir.path(), &set, 0);
    assert!(out.contains("passed"), "{out}");
}

#[test]
fn schema_public_made_again_or_given_away_restores_as_pg_dump_restores_it() {
    let c = cluster();
    let dir = tmp();
    // Made again: no comment, which pg_dump carries as an empty one.
    c.fixture("pubnew_src", "public_recreated.sql", &[]);
    c.reference(dir.path(), "pubnew_src", "pubnew_ref", "--no-owner --no-privileges");
    let set = backup(dir.path(), &c.url("pubnew_src"), &[]);
    // Over a copy of the source, a set without owners and grants leaves
    // public's as they are there, as pg_dump --no-owner --no-privileges does.
    restores_like(c, dir.path(), &set, "pubnew_src", "pubnew_ref", false);
    // pg_dump writes both from PostgreSQL 15 on (before, neither).
    let since_15 = c.psql("pubnew_src", "SHOW server_version_num").parse::<u32>().unwrap() >= 150000;
    let comment = "SELECT coalesce(obj_description('public'::regnamespace, 'pg_namespace'), '(none)')";
    if since_15 {
        assert_eq!(c.psql("pubnew_src_par", comment), "(none)");
    }
    // With its owner and privileges too.
    c.reference(dir.path(), "pubnew_src", "pubnew_priv_ref", "");
    let set = backup(
        dir.path(),
        &c.url("pubnew_src"),
        &["--with-privileges", "--out", "priv"],
    );
    restores_like_the_reference(c, dir.path(), &set, "pubnew_src", "pubnew_priv_ref");

    // Given to another owner: its owner comes back, and its grants read
    // against that owner, as pg_dump writes them.
    c.fixture("pubown_src", "public_owned.sql", &[]);
    c.reference(dir.path(), "pubown_src", "pubown_ref", "");
    let set = backup(
        dir.path(),
        &c.url("pubown_src"),
        &["--with-privileges", "--out", "owned"],
    );
    // Up to 14 pg_dump writes no owner for public: over a copy of the
    // source, its owner (and so its grants) stays the source's.
    restores_like(c, dir.path(), &set, "pubown_src", "pubown_ref", since_15);
    if since_15 {
        assert_eq!(
            c.psql(
                "pubown_src_par",
                "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'public'"
            ),
            "public_keeper"
        );
        let post_data = String::from_utf8(member_content(&set, "pubown_src/3-post-data.sql.gz")).unwrap();
        assert!(
            post_data.contains("ALTER SCHEMA public OWNER TO public_keeper;"),
            "{post_data}"
        );
        assert!(!post_data.contains("pg_database_owner"), "{post_data}");
    }
}

#[test]
fn routines_standing_on_keys_restore_as_pg_dump_restores_them() {
    let c = cluster();
    let dir = tmp();
    c.fixture("keyed_src", "key_dependents.sql", &[]);
    c.reference(dir.path(), "keyed_src", "keyed_ref", "");
    let set = backup(dir.path(), &c.url("keyed_src"), &[]);
    restores_like_the_reference(c, dir.path(), &set, "keyed_src", "keyed_ref");
    let version: u32 = c.psql("keyed_src", "SHOW server_version_num").parse().unwrap();
    if version >= 140000 {
        assert_eq!(c.psql("keyed_src_par", "SELECT keyed.order_count()"), "2");
    }
}

#[test]
fn owners_of_every_kind_come_back_with_privileges() {
    let c = cluster();
    let dir = tmp();
    c.fixture("kinds_src", "owners.sql", &[]);
    c.reference(dir.path(), "kinds_src", "kinds_ref", "");
    let set = backup(dir.path(), &c.url("kinds_src"), &["--with-privileges"]);
    restores_like_the_reference(c, dir.path(), &set, "kinds_src", "kinds_ref");
    assert_eq!(
        c.psql(
            "kinds_src_par",
            "SELECT string_agg(DISTINCT pg_get_userbyid(o), ',') FROM (SELECT collowner FROM pg_collation WHERE collname = 'c_copy' \
             UNION ALL SELECT oprowner FROM pg_operator WHERE oprname = '===' UNION ALL SELECT srvowner FROM pg_foreign_server \
             UNION ALL SELECT pubowner FROM pg_publication UNION ALL SELECT stxowner FROM pg_statistic_ext) x(o)"
        ),
        "kinds_owner"
    );
}

/// Every large object as a query sees it: oid, owner, comment, grants,
/// size and the data's digest.
fn large_objects(c: &Cluster, db: &str) -> String {
    c.psql(
        db,
        "SELECT coalesce(string_agg(pg_catalog.format('%s %s %L %s %s %s', m.oid, m.lomowner::regrole, \
         pg_catalog.obj_description(m.oid, 'pg_largeobject'), m.lomacl, pg_catalog.length(pg_catalog.lo_get(m.oid)), \
         pg_catalog.md5(pg_catalog.lo_get(m.oid))), E'\\n' ORDER BY m.oid), 'none') FROM pg_catalog.pg_largeobject_metadata m",
    )
}

#[test]
fn large_objects_restore_as_pg_dump_restores_them() {
    let c = cluster();
    let dir = tmp();
    c.fixture("lo_src", "large_objects.sql", &[]);
    // With owners and grants, every way a restore can go; `rows` (pg_dump
    // --data-only) and `compare` both see every large object.
    c.reference(dir.path(), "lo_src", "lo_ref", "");
    let set = backup(dir.path(), &c.url("lo_src"), &["--with-privileges", "--jobs", "2"]);
    restores_like_the_reference(c, dir.path(), &set, "lo_src", "lo_ref");
    let expected = large_objects(c, "lo_ref");
    assert!(expected.contains("3000000123 lo_owner"), "{expected}");
    assert!(expected.contains("4294967000 "), "{expected}");
    for db in ["lo_src_par", "lo_src_one", "lo_src_inplace", "lo_src_stock"] {
        assert_eq!(large_objects(c, db), expected, "{db}");
    }
    // Proven in a throw-away cluster, whose restore role is no superuser.
    let out = verify_in_scratch(c, dir.path(), &set, 0);
    assert!(out.contains("passed"), "{out}");

    // Without owners and grants, as pg_dump --no-owner --no-privileges.
    c.reference(dir.path(), "lo_src", "lo_bare_ref", "--no-owner --no-privileges");
    let bare = backup(dir.path(), &c.url("lo_src"), &["--out", "bare"]);
    restores_like(c, dir.path(), &bare, "lo_src", "lo_bare_ref", false);
    assert_eq!(large_objects(c, "lo_src_par"), large_objects(c, "lo_bare_ref"));

    // The schema alone carries none, as pg_dump --schema-only; rows alone
    // carry them all, as pg_dump --data-only.
    let schema_set = backup(dir.path(), &c.url("lo_src"), &["--schema-only", "--out", "schema"]);
    c.psql("postgres", "DROP DATABASE IF EXISTS lo_schema");
    let url = c.url("lo_schema");
    expect(
        dir.path(),
        &["restore", schema_set.to_str().unwrap(), "--to", &url, "--create-db"],
        0,
    );
    assert_eq!(large_objects(c, "lo_schema"), "none");
    let data_set = backup(dir.path(), &c.url("lo_src"), &["--data-only", "--out", "data"]);
    expect(
        dir.path(),
        &[
            "restore",
            data_set.to_str().unwrap(),
            "--to",
            &url,
            "--force",
            "--no-safety-backup",
        ],
        0,
    );
    assert_eq!(large_objects(c, "lo_schema"), large_objects(c, "lo_bare_ref"));
    // A whole set restored with --schema-only or --table leaves them out,
    // as pg_restore does.
    c.psql("postgres", "DROP DATABASE IF EXISTS lo_schema");
    expect(
        dir.path(),
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &url,
            "--create-db",
            "--schema-only",
        ],
        0,
    );
    assert_eq!(large_objects(c, "lo_schema"), "none");

    // A table selection leaves them out, and says so; --large-objects
    // takes them anyway, --no-large-objects leaves them out of everything.
    let out = run(
        dir.path(),
        &["backup", &c.url("lo_src"), "--out", "sel", "-t", "documents"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("4 large objects left out"), "{}", text(&out));
    let with = backup(
        dir.path(),
        &c.url("lo_src"),
        &["--out", "selb", "-t", "documents", "-b"],
    );
    let without = backup(dir.path(), &c.url("lo_src"), &["--out", "nob", "-B"]);
    for (set, count) in [(&with, Some(4)), (&without, None)] {
        let manifest: serde_json::Value = serde_json::from_slice(&read_members(set)[0].1).unwrap();
        let db = &manifest["databases"][0];
        assert_eq!(db["large_objects"]["count"].as_u64(), count, "{db}");
        let has_member = db["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["role"] == "large-objects");
        assert_eq!(has_member, count.is_some());
    }

    // compare sees a large object changed, and one removed.
    c.psql("postgres", "DROP DATABASE IF EXISTS lo_changed");
    c.psql("postgres", "CREATE DATABASE lo_changed TEMPLATE lo_src");
    expect(
        dir.path(),
        &["compare", bare.to_str().unwrap(), &c.url("lo_changed")],
        0,
    );
    c.psql("lo_changed", "SELECT lo_put(16500, 0, '\\x48')");
    let out = expect(
        dir.path(),
        &["compare", bare.to_str().unwrap(), &c.url("lo_changed")],
        3,
    );
    assert!(out.contains("large objects"), "{out}");
    c.psql(
        "lo_changed",
        "SELECT lo_put(16500, 0, '\\x68'); SELECT lo_unlink(16501)",
    );
    let out = expect(
        dir.path(),
        &["compare", bare.to_str().unwrap(), &c.url("lo_changed")],
        3,
    );
    assert!(out.contains("4 of"), "{out}");
}

#[test]
fn a_large_object_member_runs_nothing_lifeboat_did_not_write() {
    let c = cluster();
    let dir = tmp();
    c.fixture("lo_hostile", "large_objects.sql", &[]);
    let set = backup(dir.path(), &c.url("lo_hostile"), &[]);
    let member = "lo_hostile/1-large-objects.sql.gz";
    let original = String::from_utf8(member_content(&set, member)).unwrap();
    assert!(
        original.contains("SELECT pg_catalog.lo_put(16500, 0, '\\x"),
        "{original}"
    );
    c.psql("postgres", "DROP DATABASE IF EXISTS lo_victim");
    c.psql("postgres", "CREATE DATABASE lo_victim");
    c.psql("lo_victim", "CREATE TABLE keep (x int); SELECT lo_create(777)");
    for (what, hostile) in [
        ("a statement of another kind", format!("{original}DROP TABLE keep;\n")),
        (
            "a write into a large object the set did not make",
            format!("{original}SELECT pg_catalog.lo_put(777, 0, '\\x41');\n"),
        ),
        (
            "a call with an expression",
            original.replace("lo_create(16500)", "lo_create(pg_catalog.lo_unlink(777))"),
        ),
    ] {
        let copy = dir.path().join("hostile.tar");
        std::fs::copy(&set, &copy).unwrap();
        replace_member(&copy, member, hostile.as_bytes());
        let out = run(
            dir.path(),
            &[
                "restore",
                copy.to_str().unwrap(),
                "--to",
                &c.url("lo_victim"),
                "--clean",
                "--force",
                "--no-safety-backup",
            ],
        );
        assert_ne!(out.status.code(), Some(0), "{what}: {}", text(&out));
        assert!(
            text(&out).to_lowercase().contains("the set was altered"),
            "{what}: {}",
            text(&out)
        );
        assert_eq!(c.psql("lo_victim", "SELECT count(*) FROM keep"), "0", "{what}");
        assert_eq!(
            c.psql(
                "lo_victim",
                "SELECT string_agg(oid::text, ',') FROM pg_largeobject_metadata"
            ),
            "777",
            "{what}"
        );
    }
}

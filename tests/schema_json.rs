//! Restore dependencies as data: every PostgreSQL set carries a
//! `<database>.schema.json` beside its scripts that a restore plans from,
//! its scripts must say the same, and sets written before it still restore.

mod common;

use common::pg::cluster;
use common::*;
use std::path::{Path, PathBuf};

fn backup(dir: &Path, url: &str) -> PathBuf {
    let out = expect(dir, &["backup", url, "--out", "bk", "--quiet"], 0);
    dir.join(out.trim())
}

fn schema_json(set: &Path, db: &str) -> serde_json::Value {
    serde_json::from_slice(&member_content(set, &format!("{db}.schema.json.gz"))).unwrap()
}

/// A set written by lifeboat 0.2.0 before schema.json (committed as it
/// was written, with its sidecar), and the SQL of the database it was
/// taken from.
const LEGACY_SET: &str = "tests/fixtures/legacy/legacy-20261204T131441Z.tar";

#[test]
fn a_set_from_before_schema_json_restores_from_its_script_comments() {
    let c = cluster();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"));
    let set = dir.join("legacy-20261204T131441Z.tar");
    std::fs::copy(fixtures.join(LEGACY_SET), &set).unwrap();
    std::fs::copy(
        fixtures.join(format!("{LEGACY_SET}.sha256")),
        dir.join("legacy-20261204T131441Z.tar.sha256"),
    )
    .unwrap();
    assert!(
        read_members(&set).iter().all(|(n, _)| !n.contains("schema.json")),
        "the fixture must be a set from before schema.json"
    );
    c.fixture("legacy_ref", "legacy/legacy.sql", &[]);
    expect(dir, &["verify", set.to_str().unwrap()], 0);
    // One connection, and several, where indexes and keys wait for the
    // tables their comment lines name.
    for jobs in ["1", "3"] {
        let target = format!("legacy_jobs{jobs}");
        c.psql("postgres", &format!("DROP DATABASE IF EXISTS {target}"));
        expect(
            dir,
            &[
                "restore",
                set.to_str().unwrap(),
                "--to",
                &c.url(&target),
                "--create-db",
                "--jobs",
                jobs,
            ],
            0,
        );
        assert_eq!(c.schema("legacy_ref"), c.schema(&target));
        assert_eq!(c.rows("legacy_ref"), c.rows(&target));
        expect(dir, &["compare", set.to_str().unwrap(), &c.url(&target)], 0);
    }
}

#[test]
fn schema_json_holds_every_item_with_what_it_needs_and_matches_its_scripts() {
    let c = cluster();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    c.fixture("items_src", "legacy/legacy.sql", &[]);
    let set = backup(dir, &c.url("items_src"));
    let names: Vec<String> = read_members(&set).into_iter().map(|(n, _)| n).collect();
    // Once, beside the database's folder, so `items_src/*` stays SQL for
    // psql. Where in the tar is the writer's choice: members go in as
    // they are finished, and the restore finds each by the manifest.
    assert_eq!(
        names
            .iter()
            .filter(|n| n.as_str() == "items_src.schema.json.gz")
            .count(),
        1,
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("items_src/") && n.contains("schema")),
        "{names:?}"
    );
    let restore_md = String::from_utf8(read_members(&set)[1].1.clone()).unwrap();
    assert!(
        restore_md.contains("`items_src.schema.json.gz` beside them"),
        "{restore_md}"
    );
    let schema = schema_json(&set, "items_src");
    assert_eq!(schema["format"], "lifeboat-schema");
    let items = schema["items"].as_array().unwrap();
    let fk = items
        .iter()
        .find(|i| i["kind"] == "foreign key")
        .unwrap_or_else(|| panic!("{schema:#}"));
    assert_eq!(fk["section"], "foreign-keys");
    assert_eq!(
        fk["needs"],
        serde_json::json!(["shop.\"Odd \"\"order\"\" table\"", "shop.customers"])
    );
    let index = items.iter().find(|i| i["name"] == "shop.orders_by_customer").unwrap();
    assert_eq!(index["section"], "indexes");
    assert_eq!(index["needs"], serde_json::json!(["shop.\"Odd \"\"order\"\" table\""]));
    // Every item's statement is in its section's script, as psql reads it.
    for item in items {
        let file = match item["section"].as_str().unwrap() {
            "pre-data" => "0-pre-data",
            "indexes" => "2-indexes",
            "post-data" => "3-post-data",
            "foreign-keys" => "4-foreign-keys",
            "last" => "5-last",
            other => panic!("unknown section {other}"),
        };
        let script = String::from_utf8(member_content(&set, &format!("items_src/{file}.sql.gz"))).unwrap();
        assert!(script.contains(item["sql"].as_str().unwrap()), "{item} not in {file}");
    }
    expect(dir, &["verify", set.to_str().unwrap()], 0);

    // A script that says something else than schema.json (here only a
    // comment more) is a finding, and a restore refuses the set.
    let altered = dir.join("bk/altered-20260101T000000Z.tar");
    std::fs::copy(&set, &altered).unwrap();
    let mut script = member_content(&altered, "items_src/2-indexes.sql.gz");
    script.extend_from_slice(b"-- nothing\n");
    replace_member(&altered, "items_src/2-indexes.sql.gz", &script);
    let out = run(dir, &["verify", altered.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "schema" && f["object"] == "items_src/2-indexes.sql.gz"),
        "{report:#}"
    );
    c.createdb("items_dst");
    let out = run(
        dir,
        &[
            "restore",
            altered.to_str().unwrap(),
            "--to",
            &c.url("items_dst"),
            "--force",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("differs from the indexes items"), "{}", text(&out));
    assert_eq!(
        c.psql("items_dst", "SELECT count(*) FROM pg_namespace WHERE nspname = 'shop'"),
        "0"
    );

    // The same the other way round: schema.json says more than its script.
    let altered = dir.join("bk/altered-20260102T000000Z.tar");
    std::fs::copy(&set, &altered).unwrap();
    let mut schema = schema_json(&altered, "items_src");
    schema["items"].as_array_mut().unwrap().push(serde_json::json!({
        "section": "indexes", "kind": "index", "name": "shop.extra",
        "sql": "CREATE INDEX extra ON shop.customers USING btree (email);",
        "needs": ["shop.customers"],
    }));
    replace_member(
        &altered,
        "items_src.schema.json.gz",
        &serde_json::to_vec(&schema).unwrap(),
    );
    let out = run(dir, &["verify", altered.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("differs from the indexes items"), "{}", text(&out));
}

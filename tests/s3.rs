//! Sets in an S3-compatible bucket, against a real server on loopback
//! (moto's): backup, list, info, verify, restore and prune there; a set
//! larger than one part; an upload cut short leaves no visible set; and a
//! wrong bucket or credential says so, with no secret in sight.

mod common;

use common::s3::{Moto, SECRET, slow_relay};
use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn s3_cmd(dir: &Path, moto: &Moto, args: &[&str]) -> Command {
    let mut cmd = lifeboat(dir);
    cmd.args(args).env("TMPDIR", dir.join("tmp"));
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    cmd
}

fn s3_run(dir: &Path, moto: &Moto, args: &[&str]) -> Output {
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    let out = s3_cmd(dir, moto, args).output().unwrap();
    assert!(
        !text(&out).contains(SECRET),
        "the secret key was printed by {args:?}: {}",
        text(&out)
    );
    out
}

fn s3_expect(dir: &Path, moto: &Moto, args: &[&str], code: i32) -> String {
    let out = s3_run(dir, moto, args);
    assert_eq!(out.status.code(), Some(code), "lifeboat {args:?}:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Nothing left in the private temporary directories lifeboat made.
fn assert_no_scratch(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
}

#[test]
fn backup_list_info_verify_restore_and_prune_in_a_bucket() {
    let moto = Moto::start(false);
    moto.create_bucket("lifeboat");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let db = agent_db(d, "agent.db", 0.01);
    let url = "s3://lifeboat/nightly/app";

    // Backup straight into the bucket, verified, in the storage class asked.
    let set = s3_expect(
        d,
        &moto,
        &[
            "backup",
            "agent.db",
            "--out",
            url,
            "--verify",
            "quick",
            "--storage-class",
            "STANDARD_IA",
            "--quiet",
        ],
        0,
    );
    let set = set.trim().to_string();
    assert!(
        set.starts_with("s3://lifeboat/nightly/app/agent-") && set.ends_with(".tar"),
        "{set}"
    );
    let file = set.rsplit('/').next().unwrap().to_string();
    let key = format!("lifeboat/nightly/app/{file}");
    assert_eq!(
        moto.keys("lifeboat"),
        vec![
            format!("nightly/app/{file}"),
            format!("nightly/app/{file}.sha256"),
            format!("nightly/app/{file}.verified.json")
        ]
    );
    assert_eq!(moto.header(&key, "x-amz-storage-class").as_deref(), Some("STANDARD_IA"));
    assert!(!d.join("backups").exists(), "a backup to a bucket writes no local set");
    assert_no_scratch(d);

    // The sidecar is what sha256sum -c reads.
    let (_, sidecar) = moto.request("GET", &format!("/{key}.sha256"), b"");
    let (_, tar) = moto.request("GET", &format!("/{key}"), b"");
    std::fs::write(d.join(&file), &tar).unwrap();
    std::fs::write(d.join(format!("{file}.sha256")), &sidecar).unwrap();
    sh(d, &format!("sha256sum -c {file}.sha256"));

    // list and info read the sidecar, record and manifest without the set.
    let listed: serde_json::Value = serde_json::from_str(&s3_expect(d, &moto, &["list", url, "--json"], 0)).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["file_name"], file.as_str());
    assert_eq!(listed[0]["verified"]["level"], "quick");
    assert_eq!(listed[0]["verified"]["passed"], true);
    assert!(listed[0]["rows"].as_u64().unwrap() > 0);
    let text_list = s3_expect(d, &moto, &["list", url], 0);
    assert!(
        text_list.contains(&file) && text_list.contains("quick ok"),
        "{text_list}"
    );
    let info: serde_json::Value = serde_json::from_str(&s3_expect(d, &moto, &["info", &set, "--json"], 0)).unwrap();
    assert_eq!(info["set"], "agent");
    assert_eq!(info["databases"][0]["engine"], "sqlite");

    // verify --latest at the restore level records its pass in the bucket.
    let report = s3_expect(
        d,
        &moto,
        &["verify", "--latest", url, "--level", "restore", "--json"],
        0,
    );
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["set"], set.as_str());
    let (_, record) = moto.request("GET", &format!("/{key}.verified.json"), b"");
    let record: serde_json::Value = serde_json::from_slice(&record).unwrap();
    assert_eq!(record["level"], "restore");
    assert_no_scratch(d);

    // restore --latest from the bucket gives the database back.
    s3_expect(
        d,
        &moto,
        &["restore", "--latest", url, "--to", "sqlite:restored.db", "--quiet"],
        0,
    );
    assert_eq!(dump(&d.join("restored.db")), dump(&db));
    // And one set by its URL, over an existing database: its safety
    // backup goes to ./backups/safety, not into the temporary download.
    s3_expect(
        d,
        &moto,
        &["restore", &set, "--to", "sqlite:restored.db", "--force", "--quiet"],
        0,
    );
    let safety: Vec<String> = names_in(&d.join("backups/safety"))
        .into_iter()
        .filter(|n| n.ends_with(".tar") || n.ends_with(".sha256"))
        .collect();
    assert_eq!(safety.len(), 2, "a safety set and its sidecar: {safety:?}");
    assert_no_scratch(d);

    // A damaged object is refused before anything is restored.
    let mut bad = tar.clone();
    let at = bad.len() - 2000;
    bad[at] ^= 0xff;
    moto.request("PUT", &format!("/{key}"), &bad);
    let out = s3_run(d, &moto, &["restore", &set, "--to", "sqlite:other.db"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does not match its .sha256"), "{}", text(&out));
    assert!(!d.join("other.db").exists());
    assert_no_scratch(d);
}

#[test]
fn retention_in_the_bucket_removes_the_right_objects() {
    let moto = Moto::start(false);
    moto.create_bucket("keep");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    agent_db(d, "agent.db", 0.005);
    let set = d.join(expect(d, &["backup", "agent.db", "--out", "bk", "--quiet"], 0).trim());
    // The same set under the names of sets taken on ten days.
    for day in 1..=10 {
        let name = format!("agent-202611{day:02}T030000Z.tar");
        let copy = d.join("bk").join(&name);
        std::fs::copy(&set, &copy).unwrap();
        rewrite_sidecar(&copy);
        moto.put_file(&format!("keep/p/{name}"), &copy);
        moto.put_file(&format!("keep/p/{name}.sha256"), &d.join(format!("bk/{name}.sha256")));
    }
    // A tar whose sidecar never came (an upload on its way) is not a set,
    // and another prefix is another store.
    moto.put_file("keep/p/agent-20261111T030000Z.tar", &set);
    moto.put_file("keep/other/agent-20261101T030000Z.tar", &set);
    let url = "s3://keep/p";
    let listed: serde_json::Value = serde_json::from_str(&s3_expect(d, &moto, &["list", url, "--json"], 0)).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 10);

    // Day 3 is the only verified set.
    s3_expect(d, &moto, &["verify", "s3://keep/p/agent-20261103T030000Z.tar"], 0);

    let before = moto.keys("keep");
    let plan = s3_expect(d, &moto, &["prune", url, "--keep-last", "2", "--dry-run", "--json"], 0);
    assert_eq!(moto.keys("keep"), before, "a dry run changes nothing");
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["groups"][0]["dir"], url);

    let out = s3_expect(d, &moto, &["prune", url, "--keep-last", "2"], 0);
    assert!(out.contains("removed 7 sets"), "{out}");
    let mut expected = vec![
        "other/agent-20261101T030000Z.tar".to_string(),
        "p/agent-20261111T030000Z.tar".into(),
    ];
    for day in [3, 9, 10] {
        expected.push(format!("p/agent-202611{day:02}T030000Z.tar"));
        expected.push(format!("p/agent-202611{day:02}T030000Z.tar.sha256"));
    }
    expected.push("p/agent-20261103T030000Z.tar.verified.json".into());
    expected.sort();
    assert_eq!(moto.keys("keep"), expected);
    let listed: serde_json::Value = serde_json::from_str(&s3_expect(d, &moto, &["list", url, "--json"], 0)).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "agent-20261103T030000Z.tar",
            "agent-20261109T030000Z.tar",
            "agent-20261110T030000Z.tar"
        ]
    );
}

/// A SQLite database of random blobs: `mb` megabytes that do not compress.
fn random_db(dir: &Path, mb: u32) -> std::path::PathBuf {
    let db = dir.join("big.db");
    sqlite(
        &db,
        &format!(
            "CREATE TABLE blobs(b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {mb}) INSERT INTO blobs SELECT randomblob(1048576) FROM n;"
        ),
    );
    db
}

#[test]
fn a_set_larger_than_one_part_and_an_upload_cut_short() {
    let moto = Moto::start(false);
    moto.create_bucket("big");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    random_db(d, 20);

    // 20 MB in 8 MiB parts: three parts, as the multipart ETag says.
    let set = s3_expect(
        d,
        &moto,
        &[
            "backup",
            "big.db",
            "--out",
            "s3://big/sets",
            "--compression",
            "none",
            "--quiet",
        ],
        0,
    );
    let key = set.trim().strip_prefix("s3://").unwrap().to_string();
    let etag = moto.header(&key, "etag").unwrap();
    assert!(etag.ends_with("-3"), "a three-part upload's ETag: {etag}");
    s3_expect(
        d,
        &moto,
        &["restore", set.trim(), "--to", "sqlite:back.db", "--quiet"],
        0,
    );
    assert_eq!(
        sqlite(&d.join("back.db"), "SELECT count(*), sum(length(b)) FROM blobs"),
        "20|20971520"
    );
    let keys_before = moto.keys("big");

    // Through a relay of 4 MB/s the upload takes seconds: stop it after
    // its first part, by SIGTERM and by SIGKILL.
    let relay = slow_relay(moto.port, 4 << 20);
    for (signal, code) in [(libc::SIGTERM, Some(143)), (libc::SIGKILL, None)] {
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        let log = d.join(format!("upload-{signal}.log"));
        let mut child = s3_cmd(
            d,
            &moto,
            &[
                "backup",
                "big.db",
                "--out",
                "s3://big/sets",
                "--compression",
                "none",
                "--log-file",
                log.to_str().unwrap(),
            ],
        )
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{relay}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let started = Instant::now();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("uploaded part 1 of")
        {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the upload never sent a part"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "the upload ended before it could be stopped"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: kill(2) on a child we started and have not reaped.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), code, "{}", text(&out));
        assert_eq!(moto.keys("big"), keys_before, "a stopped upload left objects");
        let listed: serde_json::Value =
            serde_json::from_str(&s3_expect(d, &moto, &["list", "s3://big/sets", "--json"], 0)).unwrap();
        assert_eq!(
            listed.as_array().unwrap().len(),
            1,
            "only the first, complete set: {listed}"
        );
        if signal == libc::SIGTERM {
            assert!(text(&out).contains("cancelled"), "{}", text(&out));
            assert_no_scratch(d);
        }
    }
}

#[test]
fn a_wrong_bucket_or_credential_is_named() {
    let moto = Moto::start(false);
    moto.create_bucket("there");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    agent_db(d, "agent.db", 0.002);

    let out = s3_run(d, &moto, &["backup", "agent.db", "--out", "s3://not-there/x"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("bucket not-there does not exist at http://127.0.0.1:"),
        "{}",
        text(&out)
    );
    let out = s3_run(d, &moto, &["list", "s3://not-there"]);
    assert!(text(&out).contains("bucket not-there does not exist"), "{}", text(&out));

    // Plain http only when asked.
    let out = s3_cmd(d, &moto, &["list", "s3://there"])
        .env_remove("AWS_ALLOW_HTTP")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--s3-allow-http"), "{}", text(&out));

    // No credentials at all: said before any request.
    let out = s3_cmd(d, &moto, &["list", "s3://there"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no credentials"), "{}", text(&out));

    // The secret from a file (Docker secrets) works as the variable does.
    std::fs::write(d.join("secret"), format!("{SECRET}\n")).unwrap();
    std::fs::create_dir_all(d.join("tmp")).unwrap();
    let out = s3_cmd(d, &moto, &["list", "s3://there"])
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_SECRET_ACCESS_KEY_FILE", d.join("secret"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // In GitHub Actions the secret key and the webhook URL are masked
    // before anything else is printed.
    let webhook = "https://hooks.example.com/services/T0/B0/WEBHOOKTOKEN";
    let out = s3_cmd(d, &moto, &["list", "s3://there", "--json"])
        .env("GITHUB_ACTIONS", "true")
        .env("LIFEBOAT_WEBHOOK", webhook)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let masks: Vec<&str> = stdout.lines().take_while(|l| l.starts_with("::add-mask::")).collect();
    for secret in [SECRET, webhook, "/services/T0/B0/WEBHOOKTOKEN"] {
        assert!(
            masks.contains(&format!("::add-mask::{secret}").as_str()),
            "{secret} not masked first: {stdout}"
        );
    }
    assert!(
        !stdout
            .lines()
            .skip(masks.len())
            .any(|l| l.contains(SECRET) || l.contains("WEBHOOKTOKEN")),
        "{stdout}"
    );

    // A server that checks credentials and knows none of ours.
    let strict = Moto::start(true);
    let out = s3_run(d, &strict, &["backup", "agent.db", "--out", "s3://there/x"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("refused the credentials"), "{}", text(&out));
    assert!(!d.join("backups").exists());
    assert_no_scratch(d);
}

/// An encrypted set in a bucket: uploaded with its README, listed and
/// shown with the key (the manifest decrypted from the set's first
/// ranges), restored with it, and pruned with its README.
#[test]
fn an_encrypted_set_in_a_bucket() {
    let moto = Moto::start(false);
    moto.create_bucket("lifeboat");
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let db = agent_db(d, "agent.db", 0.01);
    let url = "s3://lifeboat/crypt";
    let with_key = |args: &[&str], code: i32| {
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        let out = s3_cmd(d, &moto, args)
            .env("LIFEBOAT_PASSPHRASE", "bucket pass/phrase")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "lifeboat {args:?}:\n{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = with_key(&["backup", "agent.db", "--out", url, "--quiet"], 0);
    let first = first.trim().to_string();
    assert!(first.ends_with(".tar.age"), "{first}");
    let file = first.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        moto.keys("lifeboat"),
        vec![
            format!("crypt/{file}"),
            format!("crypt/{file}.README"),
            format!("crypt/{file}.sha256"),
        ]
    );
    let listed: serde_json::Value = serde_json::from_str(&with_key(&["list", url, "--json"], 0)).unwrap();
    assert_eq!(listed[0]["encrypted"], true);
    assert!(listed[0]["rows"].as_u64().unwrap() > 0, "{listed}");
    let listed: serde_json::Value = serde_json::from_str(&s3_expect(d, &moto, &["list", url, "--json"], 0)).unwrap();
    assert!(
        listed[0]["problem"].as_str().unwrap().contains("is encrypted: give"),
        "{listed}"
    );
    let info: serde_json::Value = serde_json::from_str(&with_key(&["info", &first, "--json"], 0)).unwrap();
    assert_eq!(info["set"], "agent");
    with_key(&["restore", &first, "--to", "sqlite:restored.db", "--quiet"], 0);
    assert_eq!(dump(&d.join("restored.db")), dump(&db));
    assert_no_scratch(d);
    let out = s3_run(d, &moto, &["restore", &first, "--to", "sqlite:never.db"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    with_key(&["backup", "agent.db", "--out", url, "--quiet"], 0);
    with_key(&["prune", url, "--keep-last", "1"], 0);
    assert!(
        moto.keys("lifeboat").iter().all(|k| !k.contains(&file)),
        "{:?}",
        moto.keys("lifeboat")
    );
}

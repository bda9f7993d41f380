//! Sets encrypted with age, end to end: round trips with a passphrase and
//! with recipients (SQLite and PostgreSQL), the age CLI both ways, wrong
//! and missing keys, tampered and truncated files, the sidecar without the
//! key, unencrypted sets refused when a key is given, and list and prune
//! with the README beside each set. (The public-repository rule for
//! encrypted sets is in tests/github.rs, the action's inputs in
//! tests/action.rs, the secret scan in tests/secrets.rs.)

mod common;

use age::secrecy::ExposeSecret;
use common::pg::cluster;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A passphrase with the characters that break naive quoting.
const PASSPHRASE: &str = "cor/rect @horse %batt:ery staple";

fn with_passphrase(dir: &Path, passphrase: &str, args: &[&str]) -> Output {
    lifeboat(dir)
        .env("LIFEBOAT_PASSPHRASE", passphrase)
        .args(args)
        .output()
        .unwrap()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// A fresh x25519 key pair: the identity file's text and the recipient.
fn key_pair() -> (String, String) {
    let identity = age::x25519::Identity::generate();
    let text = format!(
        "# created by the test\n# public key: {}\n{}\n",
        identity.to_public(),
        identity.to_string().expose_secret()
    );
    (text, identity.to_public().to_string())
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

fn set_of(dir: &Path, stdout: &str) -> PathBuf {
    dir.join(stdout.trim())
}

#[test]
fn sqlite_round_trip_with_a_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "agent.db", 0.01);
    let out = with_passphrase(
        dir,
        PASSPHRASE,
        &["backup", "agent.db", "--out", "bk", "--encrypt", "--quiet"],
    );
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let set = set_of(dir, &String::from_utf8_lossy(&out.stdout));
    let name = set.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("agent-") && name.ends_with(".tar.age"), "{name}");
    assert_eq!(
        files_in(&dir.join("bk")),
        [name.clone(), format!("{name}.README"), format!("{name}.sha256")]
    );
    let bytes = std::fs::read(&set).unwrap();
    assert!(
        bytes.starts_with(b"age-encryption.org/v1\n-> scrypt "),
        "not an age passphrase file"
    );
    let plain_db = std::fs::read(&db).unwrap();
    assert!(
        !bytes.windows(13).any(|w| w == b"manifest.json") && !bytes.windows(16).any(|w| w == &plain_db[..16]),
        "plaintext in the encrypted set"
    );
    // The sidecar covers the file as stored: sha256sum needs no key.
    sh(&dir.join("bk"), &format!("sha256sum -c '{name}.sha256'"));
    let readme = std::fs::read_to_string(dir.join(format!("bk/{name}.README"))).unwrap();
    assert!(
        readme.contains(&format!("age -d -o {} {name}", name.trim_end_matches(".age"))),
        "{readme}"
    );
    assert!(
        !readme.contains("agent.db") && !readme.contains("agent/"),
        "the README names a database: {readme}"
    );

    // With the key: info, a quick verification of everything, a restore.
    let out = with_passphrase(dir, PASSPHRASE, &["info", set.to_str().unwrap(), "--json"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["databases"][0]["name"], "agent");
    let out = with_passphrase(dir, PASSPHRASE, &["verify", set.to_str().unwrap(), "--json"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["encrypted"], true);
    assert_eq!(report["level"], "quick");
    assert_eq!(report["members_checked"], 1);
    assert_eq!(report["warnings"], 0, "{report}");
    let out = with_passphrase(
        dir,
        PASSPHRASE,
        &["restore", set.to_str().unwrap(), "--to", "sqlite:restored.db"],
    );
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(dump(&dir.join("restored.db")), dump(&db));

    // The same passphrase from a file, and restore-level verification.
    std::fs::write(dir.join("pass.txt"), format!("{PASSPHRASE}\n")).unwrap();
    let out = expect(
        dir,
        &[
            "verify",
            set.to_str().unwrap(),
            "--level",
            "restore",
            "--passphrase-file",
            "pass.txt",
        ],
        0,
    );
    assert!(out.contains("passed") && out.contains("3 tables"), "{out}");
    // A restore over the database keeps an encrypted safety backup, which
    // the same passphrase opens.
    let out = lifeboat(dir)
        .args([
            "restore",
            set.to_str().unwrap(),
            "--to",
            "sqlite:restored.db",
            "--force",
            "--passphrase-file",
            "pass.txt",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let safety = dir.join("bk/safety");
    let kept: Vec<String> = files_in(&safety);
    assert!(
        kept.iter().any(|n| n.ends_with(".tar.age")) && kept.iter().any(|n| n.ends_with(".tar.age.README")),
        "{kept:?}"
    );
    expect(
        dir,
        &[
            "verify",
            "--latest",
            safety.to_str().unwrap(),
            "--passphrase-file",
            "pass.txt",
        ],
        0,
    );
}

#[test]
fn sqlite_round_trip_with_recipients_and_the_age_cli_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "agent.db", 0.01);
    let (key_a, recipient_a) = key_pair();
    let (key_b, recipient_b) = key_pair();
    std::fs::write(dir.join("a.key"), &key_a).unwrap();
    std::fs::write(dir.join("b.key"), &key_b).unwrap();
    std::fs::write(dir.join("recipients.txt"), format!("# team\n{recipient_b}\n\n")).unwrap();
    let set = set_of(
        dir,
        &expect(
            dir,
            &[
                "backup",
                "agent.db",
                "--out",
                "bk",
                "--recipient",
                &recipient_a,
                "--recipients-file",
                "recipients.txt",
                "--quiet",
            ],
            0,
        ),
    );
    assert!(set.to_string_lossy().ends_with(".tar.age"));
    let readme = std::fs::read_to_string(format!("{}.README", set.display())).unwrap();
    assert!(readme.contains("age -d -i key.txt"), "{readme}");

    // Either recipient's identity opens it, from a file or from the
    // environment; a third does not, and says so.
    for (how, key) in [("file", "a.key"), ("env", "b.key")] {
        let mut cmd = lifeboat(dir);
        cmd.args(["restore", set.to_str().unwrap(), "--to", &format!("sqlite:{how}.db")]);
        if how == "file" {
            cmd.args(["--identity", key]);
        } else {
            cmd.env("LIFEBOAT_IDENTITY", std::fs::read_to_string(dir.join(key)).unwrap());
        }
        let out = cmd.output().unwrap();
        assert_eq!(code(&out), Some(0), "{how}: {}", text(&out));
        assert_eq!(dump(&dir.join(format!("{how}.db"))), dump(&db));
    }
    let (stranger, _) = key_pair();
    std::fs::write(dir.join("stranger.key"), &stranger).unwrap();
    let out = run(
        dir,
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            "sqlite:never.db",
            "--identity",
            "stranger.key",
        ],
    );
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("encrypted to age recipients") && text(&out).contains("does not open it"),
        "{}",
        text(&out)
    );
    assert!(!dir.join("never.db").exists());
    // A passphrase does not open a set made for recipients.
    let out = with_passphrase(dir, PASSPHRASE, &["verify", set.to_str().unwrap()]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(text(&out).contains("give --identity"), "{}", text(&out));

    // The age CLI decrypts lifeboat's set, and the README's stock-tool
    // restore works on the result.
    let name = set.file_name().unwrap().to_string_lossy().into_owned();
    let bk = dir.join("bk");
    sh(
        &bk,
        &format!(
            "age -d -i ../a.key -o plain.tar '{name}' && tar -xOf plain.tar agent/agent.db.gz | gunzip > ../by-age.db"
        ),
    );
    assert_eq!(dump(&dir.join("by-age.db")), dump(&db));
    sh(&bk, "rm plain.tar");
    // And lifeboat reads a set the age CLI encrypted.
    let plain = set_of(
        dir,
        &expect(dir, &["backup", "agent.db", "--out", "plain", "--quiet"], 0),
    );
    let by_cli = dir.join("plain/agent-20260101T000000Z.tar.age");
    sh(
        dir,
        &format!(
            "age -r {recipient_a} -o '{}' '{}' && sha256sum '{}' | sed 's|  .*/|  |' > '{}.sha256'",
            by_cli.display(),
            plain.display(),
            by_cli.display(),
            by_cli.display()
        ),
    );
    expect(dir, &["verify", by_cli.to_str().unwrap(), "--identity", "a.key"], 0);
}

#[test]
fn wrong_and_missing_keys_tampered_and_truncated_sets_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    agent_db(dir, "agent.db", 0.02);
    let out = with_passphrase(dir, PASSPHRASE, &["backup", "agent.db", "--out", "bk", "--quiet"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let set = set_of(dir, &String::from_utf8_lossy(&out.stdout));
    let path = set.to_str().unwrap();

    // No key: quick verification checks the file against its sidecar and
    // says what it could not check; nothing that needs the contents runs.
    let out = run(dir, &["verify", path, "--json"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["level"], "integrity");
    assert_eq!(report["members_checked"], 0);
    let finding = &report["findings"][0];
    assert_eq!(finding["check"], "encrypted");
    assert_eq!(finding["severity"], "warning");
    assert!(
        finding["message"].as_str().unwrap().contains("were not checked"),
        "{finding}"
    );
    let hint = "is encrypted: give LIFEBOAT_PASSPHRASE or --passphrase-file / --identity";
    for args in [
        vec!["restore", path, "--to", "sqlite:x.db"],
        vec!["info", path],
        vec!["compare", path, "agent.db"],
    ] {
        let out = run(dir, &args);
        assert_eq!(code(&out), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(hint), "{args:?}: {}", text(&out));
    }
    let out = run(dir, &["verify", path, "--level", "restore"]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("restore level needs to open the set"),
        "{}",
        text(&out)
    );
    // Without its sidecar, a keyless check proves nothing: no pass.
    let sidecar = format!("{path}.sha256");
    std::fs::rename(&sidecar, dir.join("aside")).unwrap();
    let out = run(dir, &["verify", path]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    std::fs::rename(dir.join("aside"), &sidecar).unwrap();

    // A wrong passphrase: named, and nothing restored.
    for args in [vec!["restore", path, "--to", "sqlite:x.db"], vec!["verify", path]] {
        let out = with_passphrase(dir, "not the passphrase", &args);
        assert_eq!(code(&out), Some(3), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("the passphrase does not open set"),
            "{args:?}: {}",
            text(&out)
        );
    }
    let out = with_passphrase(dir, "not the passphrase", &["info", path]);
    assert_eq!(code(&out), Some(1), "{}", text(&out));
    assert!(!dir.join("x.db").exists());

    // One byte changed inside the ciphertext, sidecar recomputed: the
    // hash still passes, age's authentication does not.
    let original = std::fs::read(&set).unwrap();
    let mut tampered = original.clone();
    let at = original.len() / 2;
    tampered[at] ^= 0x20;
    std::fs::write(&set, &tampered).unwrap();
    let out = run(dir, &["verify", path]);
    assert_eq!(
        code(&out),
        Some(3),
        "the sidecar catches it without the key: {}",
        text(&out)
    );
    rewrite_sidecar(&set);
    let out = with_passphrase(dir, PASSPHRASE, &["verify", path]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(text(&out).contains("truncated or was altered"), "{}", text(&out));
    let out = with_passphrase(dir, PASSPHRASE, &["restore", path, "--to", "sqlite:x.db"]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(!dir.join("x.db").exists());
    // The header altered: its MAC no longer holds.
    let mut header = original.clone();
    let line = header.windows(4).position(|w| w == b"\n---").unwrap();
    header[line - 3] ^= 0x01;
    std::fs::write(&set, &header).unwrap();
    rewrite_sidecar(&set);
    let out = with_passphrase(dir, PASSPHRASE, &["verify", path]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));

    // Cut short (and the sidecar recomputed): the last chunk is missing.
    std::fs::write(&set, &original[..original.len() - 5000]).unwrap();
    rewrite_sidecar(&set);
    let out = with_passphrase(dir, PASSPHRASE, &["verify", path]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(text(&out).contains("truncated"), "{}", text(&out));
    // Cut at a chunk boundary: every chunk left authenticates, but none
    // is marked last.
    let header_len = original.windows(4).position(|w| w == b"\n---").unwrap();
    let header_end = header_len + original[header_len + 1..].iter().position(|b| *b == b'\n').unwrap() + 2;
    let payload_start = header_end + 16;
    std::fs::write(&set, &original[..payload_start + 65552]).unwrap();
    rewrite_sidecar(&set);
    let out = with_passphrase(dir, PASSPHRASE, &["verify", path]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    // A header that asks for 2^30 scrypt work (128 GiB) is refused before
    // any is done.
    let first_line = original.iter().position(|b| *b == b'\n').unwrap() + 1;
    let stanza_end = first_line + original[first_line..].iter().position(|b| *b == b'\n').unwrap();
    let stanza = String::from_utf8(original[first_line..stanza_end].to_vec()).unwrap();
    assert!(stanza.starts_with("-> scrypt ") && stanza.ends_with(" 18"), "{stanza}");
    let mut greedy = original.clone();
    greedy[stanza_end - 2..stanza_end].copy_from_slice(b"30");
    std::fs::write(&set, &greedy).unwrap();
    rewrite_sidecar(&set);
    let started = std::time::Instant::now();
    let out = with_passphrase(dir, PASSPHRASE, &["verify", path]);
    assert_eq!(code(&out), Some(3), "{}", text(&out));
    assert!(text(&out).contains("scrypt 2^30"), "{}", text(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));

    std::fs::write(&set, &original).unwrap();
    rewrite_sidecar(&set);
    let out = with_passphrase(dir, PASSPHRASE, &["verify", path]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
}

#[test]
fn unencrypted_sets_are_refused_when_a_key_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "agent.db", 0.005);
    let set = set_of(dir, &expect(dir, &["backup", "agent.db", "--out", "bk", "--quiet"], 0));
    let path = set.to_str().unwrap();
    let (key, _) = key_pair();
    std::fs::write(dir.join("me.key"), key).unwrap();
    for args in [
        vec!["restore", path, "--to", "sqlite:x.db"],
        vec!["verify", path],
        vec!["restore", path, "--to", "sqlite:x.db", "--identity", "me.key"],
    ] {
        let out = with_passphrase(dir, PASSPHRASE, &args);
        assert_eq!(code(&out), Some(3), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("is not encrypted") && text(&out).contains("--allow-unauthenticated"),
            "{args:?}: {}",
            text(&out)
        );
    }
    assert!(!dir.join("x.db").exists());
    // Reading it is still allowed where nothing is restored or proven.
    let out = with_passphrase(dir, PASSPHRASE, &["info", path]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    // Told to, lifeboat takes it; the safety backup of the target it
    // replaces is encrypted with the key given.
    let out = with_passphrase(
        dir,
        PASSPHRASE,
        &["restore", path, "--to", "sqlite:x.db", "--allow-unauthenticated"],
    );
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(dump(&dir.join("x.db")), dump(&db));
    let out = lifeboat(dir)
        .env("LIFEBOAT_PASSPHRASE", PASSPHRASE)
        .env("LIFEBOAT_ALLOW_UNAUTHENTICATED", "true")
        .args(["verify", path])
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{}", text(&out));
}

#[test]
fn list_and_prune_keep_the_readme_and_sidecar_with_their_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    agent_db(dir, "agent.db", 0.005);
    let mut sets = Vec::new();
    for _ in 0..3 {
        let out = with_passphrase(dir, PASSPHRASE, &["backup", "agent.db", "--out", "bk", "--quiet"]);
        assert_eq!(code(&out), Some(0), "{}", text(&out));
        sets.push(set_of(dir, &String::from_utf8_lossy(&out.stdout)));
    }
    let bk = dir.join("bk");
    assert_eq!(files_in(&bk).len(), 9, "{:?}", files_in(&bk));

    // Listed with the key: what each holds. Without it: encrypted, and why
    // it cannot say more.
    let out = with_passphrase(dir, PASSPHRASE, &["list", "bk", "--json"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert_eq!(listed[0]["encrypted"], true);
    assert_eq!(listed[0]["tables"], 3);
    let listed: serde_json::Value = serde_json::from_str(&expect(dir, &["list", "bk", "--json"], 0)).unwrap();
    assert!(
        listed[0]["problem"].as_str().unwrap().contains("is encrypted: give"),
        "{listed}"
    );
    let size: serde_json::Value = serde_json::from_str(&expect(dir, &["size", "bk", "--json"], 0)).unwrap();
    let on_disk: u64 = files_in(&bk)
        .iter()
        .map(|n| std::fs::metadata(bk.join(n)).unwrap().len())
        .sum();
    assert_eq!(size["total_bytes"], on_disk, "size counts the README and sidecar");

    // Prune removes each old set with its README and sidecar: no orphan.
    let out = expect(dir, &["prune", "bk", "--keep-last", "1"], 0);
    assert!(out.contains("removed 2 sets"), "{out}");
    let newest = sets[2].file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        files_in(&bk),
        [newest.clone(), format!("{newest}.README"), format!("{newest}.sha256")]
    );
    // A README whose set is gone (a set removed by hand) is a leftover
    // that prune clears.
    std::fs::remove_file(&sets[2]).unwrap();
    std::fs::remove_file(format!("{}.sha256", sets[2].display())).unwrap();
    expect(dir, &["prune", "bk", "--keep-last", "1"], 0);
    assert_eq!(files_in(&bk), Vec::<String>::new());
}

#[test]
fn postgres_round_trip_with_a_passphrase_and_with_recipients() {
    let c = cluster();
    c.createdb("crypt_src");
    c.psql(
        "crypt_src",
        "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
         CREATE TABLE orders (id bigserial PRIMARY KEY, customer int REFERENCES customers, note text);
         INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 2000) g;
         INSERT INTO orders (customer, note) SELECT 1 + g % 2000, repeat('x', g % 300) FROM generate_series(1, 30000) g;",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("pass.txt"), PASSPHRASE).unwrap();
    let set = set_of(
        dir,
        &expect(
            dir,
            &[
                "backup",
                &c.url("crypt_src"),
                "--out",
                "bk",
                "--jobs",
                "2",
                "--passphrase-file",
                "pass.txt",
                "--encrypt",
                "--quiet",
            ],
            0,
        ),
    );
    assert!(set.to_string_lossy().ends_with(".tar.age"));
    c.createdb("crypt_dst");
    expect(
        dir,
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            &c.url("crypt_dst"),
            "--create-db",
            "--jobs",
            "2",
            "--force",
            "--no-safety-backup",
            "--passphrase-file",
            "pass.txt",
        ],
        0,
    );
    assert_eq!(c.rows("crypt_dst"), c.rows("crypt_src"));
    assert_eq!(c.schema("crypt_dst"), c.schema("crypt_src"));
    let out = expect(
        dir,
        &[
            "compare",
            set.to_str().unwrap(),
            &c.url("crypt_src"),
            "--passphrase-file",
            "pass.txt",
        ],
        0,
    );
    assert!(out.contains("matches"), "{out}");

    // To a recipient, proven by a restore into a throw-away cluster with
    // the identity.
    let (key, recipient) = key_pair();
    std::fs::write(dir.join("ops.key"), key).unwrap();
    let set = set_of(
        dir,
        &expect(
            dir,
            &[
                "backup",
                &c.url("crypt_src"),
                "--out",
                "bk",
                "--recipient",
                &recipient,
                "--quiet",
            ],
            0,
        ),
    );
    let out = expect(
        dir,
        &[
            "verify",
            set.to_str().unwrap(),
            "--level",
            "restore",
            "--scratch",
            "local",
            "--pg-bin",
            c.bin.to_str().unwrap(),
            "--identity",
            "ops.key",
        ],
        0,
    );
    assert!(out.contains("passed") && out.contains("2 tables"), "{out}");
    // The stock-tool path the README gives, streaming, no plaintext file.
    c.createdb("crypt_cli");
    let name = set.file_name().unwrap().to_string_lossy().into_owned();
    sh(
        &dir.join("bk"),
        &format!(
            "set -o pipefail; age -d -i ../ops.key '{name}' | tar --wildcards -xOf - 'crypt_src/*' | gunzip | {} '{}' -X -q -v ON_ERROR_STOP=1 -d crypt_cli >/dev/null",
            c.shell_env(),
            c.tool("psql").display()
        ),
    );
    assert_eq!(c.rows("crypt_cli"), c.rows("crypt_src"));
}

#[test]
fn keys_that_cannot_work_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    agent_db(dir, "agent.db", 0.002);
    let out = run(dir, &["backup", "agent.db", "--out", "bk", "--encrypt"]);
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--encrypt needs a key"), "{}", text(&out));
    let (key, recipient) = key_pair();
    let out = with_passphrase(
        dir,
        PASSPHRASE,
        &["backup", "agent.db", "--out", "bk", "--recipient", &recipient],
    );
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not both"), "{}", text(&out));
    // A secret key where a recipient belongs is named, never echoed.
    let secret = key.lines().last().unwrap().to_string();
    let out = run(dir, &["backup", "agent.db", "--out", "bk", "--recipient", &secret]);
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("age-keygen -y") && !text(&out).contains(&secret),
        "{}",
        text(&out)
    );
    std::fs::write(dir.join("bad.key"), format!("{secret}x\n")).unwrap();
    let out = run(dir, &["list", "--identity", "bad.key"]);
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("line 1") && !text(&out).contains(&secret[20..]),
        "{}",
        text(&out)
    );
    std::fs::write(dir.join("empty.txt"), "\n").unwrap();
    let out = run(
        dir,
        &["backup", "agent.db", "--out", "bk", "--passphrase-file", "empty.txt"],
    );
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    assert!(!dir.join("bk").exists());
}

/// An encrypted set fetched from an artifact of an earlier run (with its
/// sidecar and README): checked against the sidecar without the key, and
/// restored with it.
#[test]
fn an_encrypted_set_restores_from_an_artifact() {
    use common::github::{FakeGitHub, artifact, zip_of};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "agent.db", 0.005);
    let out = with_passphrase(dir, PASSPHRASE, &["backup", "agent.db", "--out", "bk", "--quiet"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let set = set_of(dir, &String::from_utf8_lossy(&out.stdout));
    let name = set.file_name().unwrap().to_string_lossy().into_owned();
    let companion = |suffix: &str| std::fs::read(format!("{}{suffix}", set.display())).unwrap();
    let api = FakeGitHub::start();
    {
        let mut st = api.state.lock().unwrap();
        st.artifacts.push(artifact(700, "nightly", 970, "main", 1, false));
        st.blobs.push((
            700,
            zip_of(&[
                (&name, std::fs::read(&set).unwrap()),
                (&format!("{name}.sha256"), companion(".sha256")),
                (&format!("{name}.README"), companion(".README")),
            ]),
        ));
    }
    let step = |passphrase: Option<&str>, args: &[&str]| {
        let mut cmd = lifeboat(dir);
        cmd.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REPOSITORY", "o/r")
            .env("GITHUB_API_URL", &api.url)
            .env("GITHUB_TOKEN", "ghs_faketoken123")
            .env("GITHUB_OUTPUT", dir.join("output"))
            .env("GITHUB_STEP_SUMMARY", dir.join("summary"));
        if let Some(p) = passphrase {
            cmd.env("LIFEBOAT_PASSPHRASE", p);
        }
        cmd.args(args).output().unwrap()
    };
    let out = step(None, &["fetch", "nightly", "--out", "dl"]);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    let fetched = PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last().unwrap().trim());
    assert!(fetched.to_string_lossy().ends_with(".tar.age"), "{}", text(&out));
    assert!(Path::new(&format!("{}.README", fetched.display())).is_file());
    let args = [
        "restore",
        "--artifact",
        "nightly",
        "--out",
        "dl2",
        "--to",
        "sqlite:restored.db",
    ];
    let out = step(None, &args);
    assert_eq!(code(&out), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is encrypted: give"), "{}", text(&out));
    let out = step(Some(PASSPHRASE), &args);
    assert_eq!(code(&out), Some(0), "{}", text(&out));
    assert_eq!(dump(&dir.join("restored.db")), dump(&db));
}

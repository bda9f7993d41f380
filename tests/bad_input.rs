//! Bad input gets a clear message and the documented exit code, and leaves
//! the target database and existing sets as they were.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// A directory with a database, a set of it, and a copy of the database
/// as the restore target.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    agent_db(&dir, "agent.db", 0.01);
    let set = dir.join(expect(&dir, &["backup", "agent.db", "--out", "bk", "--quiet"], 0).trim());
    std::fs::copy(dir.join("agent.db"), dir.join("target.db")).unwrap();
    sqlite(&dir.join("target.db"), "DELETE FROM AgentQuery WHERE id > 10");
    (tmp, set, dir.join("target.db"))
}

/// Verify must fail with code 3 naming `check`; restore must fail with
/// code 3 and leave the target and the set directory untouched.
fn assert_rejected(dir: &Path, set: &Path, target: &Path, check: &str) {
    let out = run(dir, &["verify", set.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(3), "verify {}:\n{}", set.display(), text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], false);
    let checks: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert!(checks.contains(&check), "expected a {check} finding, got {checks:?}");
    for f in report["findings"].as_array().unwrap() {
        assert!(
            !f["fix"].as_str().unwrap().is_empty(),
            "every finding says what to do: {f}"
        );
    }

    let before_target = sha256(target);
    let before_sets = snapshot(&dir.join("bk"));
    let out = run(
        dir,
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            target.to_str().unwrap(),
            "--force",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "restore of a bad set:\n{}", text(&out));
    assert!(text(&out).contains("nothing was restored"), "{}", text(&out));
    // Blocking findings are errors, as verify calls them, never warnings.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("error: [{check}]")), "{stderr}");
    assert!(!stderr.contains("warning:"), "{stderr}");
    assert_eq!(sha256(target), before_target, "the target changed");
    assert_eq!(snapshot(&dir.join("bk")), before_sets, "the set directory changed");
    assert!(
        !dir.join("bk/safety").exists(),
        "no safety backup for a refused restore"
    );
}

#[test]
fn bit_flip_in_a_member() {
    let (tmp, set, target) = setup();
    let mut bytes = std::fs::read(&set).unwrap();
    let at = bytes.len() - 4096;
    bytes[at] ^= 0x01;
    std::fs::write(&set, bytes).unwrap();
    rewrite_sidecar(&set);
    assert_rejected(tmp.path(), &set, &target, "member-hash");
}

#[test]
fn truncated_set() {
    let (tmp, set, target) = setup();
    let bytes = std::fs::read(&set).unwrap();
    std::fs::write(&set, &bytes[..bytes.len() / 2]).unwrap();
    assert_rejected(tmp.path(), &set, &target, "tar");
}

#[test]
fn sidecar_that_does_not_match() {
    let (tmp, set, target) = setup();
    let name = set.file_name().unwrap().to_string_lossy().into_owned();
    std::fs::write(
        format!("{}.sha256", set.display()),
        format!("{}  {name}\n", "0".repeat(64)),
    )
    .unwrap();
    assert_rejected(tmp.path(), &set, &target, "sidecar");
}

#[test]
fn missing_member_and_tampered_manifest() {
    let (tmp, set, target) = setup();
    let members = read_members(&set);
    write_set(&set, &members[..2]);
    assert_rejected(tmp.path(), &set, &target, "member-missing");

    let (tmp, set, target) = setup();
    let mut members = read_members(&set);
    let mut manifest: serde_json::Value = serde_json::from_slice(&members[0].1).unwrap();
    manifest["databases"][0]["members"][0]["sha256"] = serde_json::json!("f".repeat(64));
    members[0].1 = serde_json::to_vec(&manifest).unwrap();
    write_set(&set, &members);
    assert_rejected(tmp.path(), &set, &target, "member-hash");
}

#[test]
fn hostile_tar_entries() {
    for (name, check) in [("../escape.db.gz", "tar"), ("/tmp/absolute.db.gz", "tar")] {
        let (tmp, set, target) = setup();
        let mut members = read_members(&set);
        members.push((name.to_string(), gzip(b"not yours")));
        write_set(&set, &members);
        assert_rejected(tmp.path(), &set, &target, check);
        assert!(!tmp.path().join("escape.db.gz").exists());
    }

    // A symlink that points out of the set.
    let (tmp, set, target) = setup();
    let members = read_members(&set);
    write_set(&set, &members);
    {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&set).unwrap();
        // Rewrite without the end-of-archive blocks, then append a link.
        let len = file.metadata().unwrap().len();
        let mut builder = tar::Builder::new(file);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_path("agent/link").unwrap();
        h.set_link_name("/etc/passwd").unwrap();
        h.set_cksum();
        use std::io::{Seek, SeekFrom};
        let inner = builder.get_mut();
        inner.seek(SeekFrom::Start(len - 1024)).unwrap();
        builder.append(&h, std::io::empty()).unwrap();
        builder.into_inner().unwrap();
    }
    rewrite_sidecar(&set);
    let listing = sh(tmp.path(), &format!("tar -tvf '{}'", set.display()));
    assert!(listing.contains("agent/link -> /etc/passwd"), "{listing}");
    assert_rejected(tmp.path(), &set, &target, "tar");
}

#[test]
fn self_consistent_but_wrong_restore_leaves_target_byte_identical() {
    let (tmp, set, target) = setup();
    let dir = tmp.path();
    // Alter the data inside the member, then rewrite every hash so the set
    // is self-consistent: only the table digests can notice.
    let altered = dir.join("altered.db");
    std::fs::write(&altered, member_content(&set, "agent/agent.db.gz")).unwrap();
    sqlite(
        &altered,
        "PRAGMA journal_mode=DELETE; UPDATE AgentQuery SET latency_ms = -1 WHERE id = 5; PRAGMA journal_mode=WAL;",
    );
    replace_member(&set, "agent/agent.db.gz", &std::fs::read(&altered).unwrap());
    expect(dir, &["verify", set.to_str().unwrap()], 0);

    let before = sha256(&target);
    let out = run(
        dir,
        &[
            "restore",
            set.to_str().unwrap(),
            "--to",
            target.to_str().unwrap(),
            "--force",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("AgentQuery"), "the table is named: {}", text(&out));
    assert!(text(&out).contains("target was not changed"), "{}", text(&out));
    assert_eq!(sha256(&target), before);
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("lifeboat-restore"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn missing_and_non_sqlite_sources_and_empty_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("bk")).unwrap();

    let out = run(dir, &["backup", "missing.db", "--out", "bk"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("cannot open SQLite database missing.db"),
        "{}",
        text(&out)
    );
    assert!(
        !dir.join("missing.db").exists(),
        "a wrong path must not create a database"
    );

    std::fs::write(dir.join("notes.db"), "just text, not a database").unwrap();
    let out = run(dir, &["backup", "notes.db", "--out", "bk"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("not a SQLite database"), "{}", text(&out));
    assert!(
        std::fs::read_dir(dir.join("bk")).unwrap().next().is_none(),
        "a failed backup leaves nothing in the directory"
    );

    for args in [
        &["verify", "--latest", "bk"][..],
        &["restore", "--latest", "bk"],
        &["list", "nowhere"],
    ] {
        let out = run(dir, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let t = text(&out);
        assert!(
            t.contains("no backup sets in bk") || t.contains("does not exist"),
            "{args:?}: {t}"
        );
    }
    let out = run(dir, &["verify", "nothing.tar"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no backup set at nothing.tar"), "{}", text(&out));

    std::fs::write(dir.join("bk/random-20260101T000000Z.tar"), "garbage").unwrap();
    let out = run(dir, &["verify", "--latest", "bk"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = run(dir, &["backup", "--out", "bk"]);
    assert_eq!(out.status.code(), Some(2), "no databases named: {}", text(&out));
    let out = run(dir, &["backup", "mysql://h/db"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn postgres_only_flags_on_a_sqlite_target_are_refused() {
    let (tmp, set, target) = setup();
    let before = sha256(&target);
    for flag in [["-t", "AgentQuery"], ["--data-only", "--force"]] {
        let mut args = vec!["restore", set.to_str().unwrap(), "--to", target.to_str().unwrap()];
        args.extend(flag);
        let out = run(tmp.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("restored whole"), "{}", text(&out));
    }
    assert_eq!(sha256(&target), before, "the target changed");
}

/// A full disk, made real with a small tmpfs in a private mount namespace:
/// the backup and the restore that run out of space say so, and the sets
/// and the database already there stay as they were, with nothing
/// half-written beside them.
#[test]
fn a_full_disk_leaves_sets_and_target_as_they_were() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    agent_db(dir, "small.db", 0.01);
    agent_db(dir, "big.db", 0.2);
    let big_set = dir.join(expect(dir, &["backup", "big.db", "--out", "bk", "--quiet"], 0).trim());
    let script = format!(
        r#"set -e
        mkdir -p full && mount -t tmpfs -o size=2m tmpfs full
        "$LB" backup small.db --out full/bk --quiet > /dev/null
        cp small.db full/target.db
        (cd full && sha256sum bk/* target.db) > before
        set +e
        "$LB" backup big.db --out full/bk > /dev/null 2> backup.err; echo $? > backup.code
        "$LB" restore '{set}' --to full/target.db --force --no-safety-backup > /dev/null 2> restore.err; echo $? > restore.code
        set -e
        (cd full && sha256sum bk/* target.db) > after
        ls -A full full/bk > listing
        umount full"#,
        set = big_set.display()
    );
    // Mounting needs root: as another user (a GitHub runner), through sudo.
    let root = sh(dir, "id -u").trim() == "0";
    let mut command = std::process::Command::new(if root { "unshare" } else { "sudo" });
    if !root {
        command.args(["-n", "--preserve-env=LB", "unshare"]);
    }
    let out = command
        .args(["-m", "bash", "-c", &script])
        .current_dir(dir)
        .env("LB", bin())
        .output()
        .unwrap();
    assert!(out.status.success(), "the tmpfs scenario did not run: {}", text(&out));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    for step in ["backup", "restore"] {
        assert_eq!(
            read(&format!("{step}.code")).trim(),
            "1",
            "{step}: {}",
            read(&format!("{step}.err"))
        );
        let err = read(&format!("{step}.err"));
        assert!(err.contains("hint: the disk is full"), "{step}: {err}");
    }
    // The restore knew before it wrote: the set's raw size is more than
    // the filesystem has free.
    let err = read("restore.err");
    assert!(err.contains("free; nothing was written"), "{err}");
    assert_eq!(read("before"), read("after"), "a set or the target changed");
    let listing = read("listing");
    assert!(
        !listing.contains("partial") && !listing.contains("staging") && !listing.contains(".tmp"),
        "{listing}"
    );
    assert_eq!(
        listing.matches(".tar").count(),
        2,
        "one set and its sidecar only: {listing}"
    );
}

/// Values that mean nothing are refused with a usage error (exit 2) before
/// anything is touched, instead of being taken silently.
#[test]
fn nonsense_values_are_refused() {
    let (_tmp, set, target) = setup();
    let dir = set.parent().unwrap().parent().unwrap();
    let set = set.to_str().unwrap();
    let before = dump(&target);
    for (args, says) in [
        (vec!["prune", "bk", "--keep-last", "0"], "--keep-last"),
        (
            vec!["verify", "--latest", "bk", "--level", "none"],
            "would check nothing",
        ),
        (vec!["backup", "agent.db", "--out", "bk", "--jobs", "0"], "--jobs"),
        (
            vec![
                "restore",
                set,
                "--to",
                "sqlite:target.db",
                "--clean",
                "--create-db",
                "--force",
            ],
            "--create-db",
        ),
        (
            vec!["backup", "agent.db", "--out", "bk", "-t", "AgentQuery"],
            "--table applies to PostgreSQL only",
        ),
        (vec!["report", "--outcome", "failure"], "not a GitHub Actions step"),
    ] {
        let out = run(dir, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}:\n{}", text(&out));
        assert!(
            text(&out).contains(says),
            "{args:?} does not say {says:?}:\n{}",
            text(&out)
        );
    }
    std::fs::write(dir.join("zero.toml"), "[retention]\nkeep_last = 0\n").unwrap();
    let out = run(dir, &["--config", "zero.toml", "prune", "bk"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        std::fs::read_dir(dir.join("bk")).unwrap().count(),
        2,
        "prune touched the sets"
    );
    assert_eq!(dump(&target), before, "the target changed");
}

//! A secret scan: passwords with `/`, `@`, `%`, `:` and spaces planted in
//! URLs, lifeboat.toml and --scratch, and everything lifeboat wrote
//! (stdout, stderr, the log file, reports, the summary, step outputs and
//! issue bodies sent to the fake GitHub API) searched for them.

mod common;

use common::github::FakeGitHub;
use common::*;
use std::path::Path;
use std::process::Command;

const RAW: &str = "s3/cr@t:p%w d";
const ENCODED: &str = "s3%2Fcr%40t%3Ap%25w%20d";

fn step(dir: &Path, api: &FakeGitHub) -> Command {
    let mut cmd = lifeboat(dir);
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_API_URL", &api.url)
        .env("GITHUB_RUN_ID", "7")
        .env("GITHUB_TOKEN", "ghs_faketoken123")
        .env("GITHUB_OUTPUT", dir.join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.join("summary"))
        .env("LIFEBOAT_ISSUE_ON_FAILURE", "true")
        .env("LIFEBOAT_LOG_FILE", dir.join("lifeboat.log"));
    cmd
}

/// Every piece of text lifeboat wrote, but the `::add-mask::` lines that
/// exist to hide the secrets.
fn everything(dir: &Path, api: &FakeGitHub, outputs: &[std::process::Output]) -> String {
    let mut all = String::new();
    for out in outputs {
        for line in text(out).lines() {
            if !line.starts_with("::add-mask::") {
                all.push_str(line);
                all.push('\n');
            }
        }
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != "lifeboat.toml" {
                all.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
            }
        }
    }
    let st = api.state.lock().unwrap();
    for i in &st.issues {
        all.push_str(&i.to_string());
    }
    for (_, c) in &st.comments {
        all.push_str(c);
    }
    all
}

fn assert_no_secret(all: &str) {
    for secret in [RAW, ENCODED, "s3/cr", "cr@t", "p%w d", "w d"] {
        assert!(!all.contains(secret), "{secret:?} leaked in:\n{all}");
    }
}

#[test]
fn planted_passwords_reach_no_output_report_summary_or_issue() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let api = FakeGitHub::start();
    let mut outs = Vec::new();
    // A closed port: the connection fails, the failure is reported.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for url in [
        format!("postgresql://app:{RAW}@127.0.0.1:{port}/shop"),
        format!("postgresql://app:{ENCODED}@127.0.0.1:{port}/shop?sslmode=disable"),
        format!("postgres://127.0.0.1:{port}/shop?password={ENCODED}&user=app"),
        format!("mysql://app:{RAW}@127.0.0.1/shop"),
        format!("app:{RAW}@db"),
    ] {
        let out = step(dir, &api).args(["backup", &url, "--out", "bk"]).output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{}", text(&out));
        outs.push(out);
    }
    // lifeboat.toml with a syntax error on the line holding the URL.
    std::fs::write(
        dir.join("lifeboat.toml"),
        format!("[[databases]]\nurl = \"postgresql://app:{RAW}@db/shop\" trailing\n"),
    )
    .unwrap();
    let out = step(dir, &api).args(["backup"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("line 2"), "{}", text(&out));
    outs.push(out);
    std::fs::remove_file(dir.join("lifeboat.toml")).unwrap();

    // A --scratch URL with a password: masked first, shown nowhere.
    agent_db(dir, "app.db", 0.01);
    let out = expect(dir, &["backup", "app.db", "--out", "bk", "--quiet"], 0);
    let set = dir.join(out.trim());
    let scratch = format!("postgresql://app:{ENCODED}@127.0.0.1:{port}/scratch");
    let out = step(dir, &api)
        .args([
            "verify",
            set.to_str().unwrap(),
            "--level",
            "restore",
            "--scratch",
            &scratch,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.lines().next().is_some_and(|l| l.starts_with("::add-mask::")),
        "the scratch password is masked before anything else: {stdout}"
    );
    outs.push(out);
    let out = step(dir, &api)
        .args([
            "verify",
            set.to_str().unwrap(),
            "--scratch",
            &format!("nonsense:{RAW}@x"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    outs.push(out);

    let all = everything(dir, &api, &outs);
    assert!(all.contains("***"), "the redacted URLs are shown: {all}");
    assert!(all.contains("app:***@127.0.0.1"), "the failures name the server: {all}");
    assert!(
        !api.state.lock().unwrap().issues.is_empty(),
        "failures were reported as issues"
    );
    assert_no_secret(&all);
}

/// The age passphrase and identity: planted with `/ @ % :` and spaces,
/// masked first in Actions, and found nowhere in what an encrypted backup,
/// its verification, restores (a failing one too) and their issues wrote.
#[test]
fn age_passphrases_and_identities_reach_no_output_report_summary_or_issue() {
    use age::secrecy::ExposeSecret;
    const PASSPHRASE: &str = "pa/ss @w%rd: z y";
    const WRONG: &str = "wr/ong @p%ss: q v";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The files that hold keys live outside the scanned directory.
    let keys = tempfile::tempdir().unwrap();
    let pass_file = keys.path().join("pass.txt");
    std::fs::write(&pass_file, format!("{PASSPHRASE}\n")).unwrap();
    let identity = age::x25519::Identity::generate();
    let secret_key = identity.to_string().expose_secret().to_string();
    let key_file = keys.path().join("ops.key");
    std::fs::write(&key_file, format!("{secret_key}\n")).unwrap();
    let api = FakeGitHub::start();
    agent_db(dir, "app.db", 0.01);
    let mut outs = Vec::new();

    let out = step(dir, &api)
        .env("LIFEBOAT_PASSPHRASE", PASSPHRASE)
        .args(["backup", "app.db", "--out", "bk", "--verify", "restore"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        stdout.lines().next().is_some_and(|l| l.starts_with("::add-mask::")),
        "the passphrase is masked before anything else: {stdout}"
    );
    let set = std::fs::read_dir(dir.join("bk"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.age"))
        .unwrap();
    let set = set.to_str().unwrap();
    outs.push(out);
    let pass_file = pass_file.to_str().unwrap();
    for args in [
        vec!["verify", set, "--passphrase-file", pass_file],
        vec![
            "restore",
            set,
            "--to",
            "sqlite:restored.db",
            "--passphrase-file",
            pass_file,
        ],
        vec!["info", set, "--passphrase-file", pass_file],
        vec!["list", "bk", "--passphrase-file", pass_file],
    ] {
        let out = step(dir, &api).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        outs.push(out);
    }
    // A wrong passphrase fails, and its issue says why without it.
    let out = step(dir, &api)
        .env("LIFEBOAT_PASSPHRASE", WRONG)
        .args(["restore", set, "--to", "sqlite:other.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    outs.push(out);
    // An identity, in the environment and in a file, for a set made for
    // another recipient: it fails, and is masked and named nowhere.
    let other = age::x25519::Identity::generate().to_public().to_string();
    let out = step(dir, &api)
        .args(["backup", "app.db", "--out", "bk2", "--recipient", &other])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    outs.push(out);
    for with_file in [false, true] {
        let mut cmd = step(dir, &api);
        cmd.args(["restore", "--latest", "bk2", "--to", "sqlite:never.db"]);
        if with_file {
            cmd.args(["--identity", key_file.to_str().unwrap()]);
        } else {
            cmd.env("LIFEBOAT_IDENTITY", format!("# mine\n{secret_key}\n"));
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            stdout.contains(&format!("::add-mask::{secret_key}")),
            "the identity is masked: {stdout}"
        );
        outs.push(out);
    }

    let all = everything(dir, &api, &outs);
    assert!(
        !api.state.lock().unwrap().issues.is_empty(),
        "the failed restores were reported as issues"
    );
    assert!(all.contains("the passphrase does not open set"), "{all}");
    for secret in [
        PASSPHRASE,
        "pa/ss",
        "@w%rd",
        "rd: z",
        WRONG,
        "wr/ong",
        "@p%ss",
        secret_key.as_str(),
        &secret_key[15..40],
    ] {
        assert!(!all.contains(secret), "{secret:?} leaked in:\n{all}");
    }
    assert_no_secret(&all);
}

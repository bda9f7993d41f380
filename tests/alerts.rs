//! Webhook alerts against a loopback receiver: the payload's fields, a
//! retry after a 500, a recovery after a failure, nothing secret in what
//! is sent or printed, and an alert that cannot be delivered leaving the
//! command's own outcome alone.

mod common;

use common::webhook::{Receiver, TOKEN};
use common::*;
use std::path::Path;

const PASSWORD: &str = "hunter2-db-pw";

fn run_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = lifeboat(dir);
    cmd.args(args).env("XDG_STATE_HOME", dir.join("state"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    for secret in [TOKEN, PASSWORD] {
        assert!(!text(&out).contains(secret), "{secret} was printed: {}", text(&out));
    }
    out
}

#[test]
fn a_failure_is_posted_with_its_fields_retried_after_a_500_and_nothing_secret() {
    let receiver = Receiver::start(&[500]);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let url = receiver.url();
    // A database that cannot be reached, with a password in its URL.
    let database = format!("postgres://app:{PASSWORD}@127.0.0.1:1/shop");
    let out = run_with(
        d,
        &["backup", &database, "--out", "bk"],
        &[("LIFEBOAT_WEBHOOK", &url), ("PGCONNECT_TIMEOUT", "2")],
    );
    assert_eq!(out.status.code(), Some(1), "the backup's own exit code: {}", text(&out));
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 2, "one 500, then one retry: {bodies:?}");
    assert_eq!(bodies[0], bodies[1], "the retry sends the same alert");
    let alert = &bodies[1];
    assert_eq!(alert["service"], "lifeboat");
    assert_eq!(alert["event"], "backup.failure");
    assert_eq!(alert["status"], "failure");
    assert_eq!(alert["set"], serde_json::Value::Null);
    assert!(!alert["host"].as_str().unwrap().is_empty());
    assert!(alert["timestamp"].as_str().unwrap().ends_with('Z'));
    let message = alert["message"].as_str().unwrap();
    assert!(message.starts_with("lifeboat backup failed on "), "{message}");
    assert!(alert["details"].as_str().unwrap().contains("127.0.0.1"), "{alert}");
    assert!(alert["text"].as_str().unwrap().contains(message), "{alert}");
    assert_eq!(alert["text"], alert["content"]);
    let sent = serde_json::to_string(&bodies).unwrap();
    for secret in [TOKEN, PASSWORD] {
        assert!(!sent.contains(secret), "{secret} was sent: {sent}");
    }
}

#[test]
fn success_and_recovery_are_posted_when_asked_and_an_unreachable_receiver_changes_nothing() {
    let receiver = Receiver::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let url = receiver.url();
    let on = [
        ("LIFEBOAT_WEBHOOK", url.as_str()),
        ("LIFEBOAT_WEBHOOK_ON", "failure,recovery"),
    ];
    // A failure (no such database), then a success: failure, then recovery.
    let out = run_with(d, &["backup", "sqlite:agent.db", "--out", "bk"], &on);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    agent_db(d, "agent.db", 0.002);
    let out = run_with(
        d,
        &["backup", "sqlite:agent.db", "--out", "bk", "--verify", "quick"],
        &on,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A second success is no news.
    let out = run_with(d, &["backup", "sqlite:agent.db", "--out", "bk"], &on);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let events: Vec<String> = receiver
        .bodies()
        .iter()
        .map(|b| b["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["backup.failure", "backup.recovery"]);
    let recovery = &receiver.bodies()[1];
    assert_eq!(recovery["set"], "agent");
    assert!(recovery["details"].as_str().unwrap().contains("agent-"), "{recovery}");

    // --webhook-on success posts every success.
    let out = run_with(
        d,
        &[
            "backup",
            "sqlite:agent.db",
            "--out",
            "bk",
            "--webhook",
            &url,
            "--webhook-on",
            "success",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(receiver.bodies().len(), 3);
    assert_eq!(receiver.bodies()[2]["status"], "success");

    // Nobody listening: a warning naming the host only, and exit 0 all
    // the same.
    let closed = format!("http://127.0.0.1:{}/services/{TOKEN}", common::s3::free_port());
    let out = run_with(
        d,
        &["backup", "sqlite:agent.db", "--out", "bk"],
        &[("LIFEBOAT_WEBHOOK", &closed), ("LIFEBOAT_WEBHOOK_ON", "success")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed = text(&out);
    assert!(
        printed.contains("alert to http://127.0.0.1:") && printed.contains("was not delivered"),
        "{printed}"
    );
}

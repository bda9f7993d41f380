//! Service mode with a schedule that fires every two seconds: the first
//! backup at start, two scheduled runs with retention after each, one log
//! line per run, and SIGTERM during a run stopping it cleanly with nothing
//! half-written; SIGTERM between runs stops it at once.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

fn spawn(dir: &Path, args: &[&str]) -> (Child, Receiver<String>) {
    let mut child = lifeboat(dir)
        .args(args)
        .env("TMPDIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Standard output is the service's log, one line per run.
    let (tx, rx) = channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The next log line, at most `limit` away.
fn next_line(lines: &Receiver<String>, limit: Duration) -> String {
    lines
        .recv_timeout(limit)
        .unwrap_or_else(|e| panic!("no log line within {limit:?}: {e}"))
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn wait_bounded(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the service still ran {limit:?} after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_first_run_two_scheduled_runs_and_sigterm_during_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    // Big enough that a run takes a moment to interrupt.
    agent_db(d, "app.db", 0.3);
    let (mut child, lines) = spawn(
        d,
        &[
            "schedule",
            "--cron",
            "*/2 * * * * *",
            "--initial",
            "sqlite:app.db",
            "--out",
            "bk",
            "--verify",
            "quick",
            "--keep-last",
            "2",
        ],
    );
    let started = next_line(&lines, Duration::from_secs(30));
    assert!(started.contains("schedule \"*/2 * * * * *\" started"), "{started}");
    let mut runs = Vec::new();
    for _ in 0..3 {
        let line = next_line(&lines, Duration::from_secs(60));
        assert!(
            line.contains(" backup ok ") && line.contains("verified (quick)"),
            "{line}"
        );
        runs.push(line);
    }
    // Retention after each run: never more than two sets.
    assert!(runs[2].contains("pruned 1"), "{}", runs[2]);
    let sets: Vec<String> = names_in(&d.join("bk"))
        .into_iter()
        .filter(|n| n.ends_with(".tar"))
        .collect();
    assert_eq!(sets.len(), 2, "{sets:?}");

    // The fourth run: SIGTERM once it is writing.
    let staging = || names_in(&d.join("bk")).iter().any(|n| n.ends_with(".staging"));
    let clock = Instant::now();
    while !staging() {
        assert!(
            clock.elapsed() < Duration::from_secs(30),
            "the fourth run never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(&child, libc::SIGTERM);
    let status = wait_bounded(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "a service stopped by SIGTERM stopped cleanly");
    let rest: Vec<String> = lines.iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("backup cancelled by SIGTERM")),
        "{rest:?}"
    );
    assert!(rest.last().unwrap().contains("schedule stopped by SIGTERM"), "{rest:?}");
    let left: Vec<String> = names_in(&d.join("bk"))
        .into_iter()
        .filter(|n| n.starts_with('.') && !n.ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "half-written files: {left:?}");
    for set in names_in(&d.join("bk")).iter().filter(|n| n.ends_with(".tar")) {
        sh(&d.join("bk"), &format!("sha256sum -c {set}.sha256"));
    }
}

#[test]
fn sigterm_between_runs_stops_at_once_and_bad_schedules_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    agent_db(d, "app.db", 0.002);
    let (mut child, lines) = spawn(d, &["schedule", "--cron", "0 3 * * *", "sqlite:app.db", "--out", "bk"]);
    let started = next_line(&lines, Duration::from_secs(30));
    assert!(
        started.contains("next run") && started.contains("T03:00:00"),
        "{started}"
    );
    signal(&child, libc::SIGTERM);
    let status = wait_bounded(&mut child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
    assert!(!d.join("bk").exists(), "no run, no set");

    for bad in ["* * * *", "0 0 2 * * * 2030", "61 * * * *"] {
        let out = run(d, &["schedule", "--cron", bad, "sqlite:app.db"]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
        assert!(text(&out).contains("--cron"), "{}", text(&out));
    }
}

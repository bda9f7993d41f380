//! `lifeboat help <command>` for every command, compared with the snapshots
//! in tests/help/, so every change to what users read is reviewed.
//! `UPDATE_HELP=1 cargo test --test help` rewrites them.

mod common;

use std::path::Path;

const COMMANDS: [&str; 11] = [
    "backup", "restore", "verify", "list", "info", "size", "compare", "prune", "report", "fetch", "schedule",
];

#[test]
fn help_matches_the_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/help");
    let update = std::env::var("UPDATE_HELP").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for command in std::iter::once("lifeboat").chain(COMMANDS) {
        let mut cmd = common::lifeboat(&dir);
        cmd.arg("help");
        if command != "lifeboat" {
            cmd.arg(command);
        }
        // Help is wrapped to the terminal; piped, clap uses 100 columns.
        let out = cmd.env_remove("COLUMNS").output().unwrap();
        assert!(out.status.success(), "lifeboat help {command} failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let file = dir.join(format!("{command}.txt"));
        if update {
            std::fs::write(&file, &text).unwrap();
        } else if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
            stale.push(file.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "help differs from {stale:?}: review the change, then run UPDATE_HELP=1 cargo test --test help"
    );
}

/// Each command's help names the database forms it takes and shows
/// examples; the GitHub flags appear only where they act.
#[test]
fn help_gives_examples_and_github_flags_only_where_they_act() {
    let dir = tempfile::tempdir().unwrap();
    for command in COMMANDS {
        let text = common::expect(dir.path(), &["help", command], 0);
        assert!(text.contains("Examples"), "{command} has no examples");
        let github = matches!(command, "backup" | "restore" | "verify" | "prune" | "report");
        assert_eq!(text.contains("--issue-on-failure"), github, "{command}");
        assert!(text.contains("postgres://"), "{command} does not name PostgreSQL URLs");
    }
}

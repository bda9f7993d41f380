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

/// The footer's promise: a flag shown with `[env: LIFEBOAT_…]` can be set
/// by that variable, and an empty variable counts as unset. With every such
/// variable of every command's help set empty, commands run as without them
/// (an empty LIFEBOAT_JOBS or LIFEBOAT_COMPRESSION taken as a value would
/// be refused), boolean variables read GitHub's spellings, and a variable
/// set to a value acts as its flag.
#[test]
fn every_variable_the_help_names_counts_as_unset_when_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut names = std::collections::BTreeSet::new();
    for command in std::iter::once("lifeboat").chain(COMMANDS) {
        let args: Vec<&str> = if command == "lifeboat" {
            vec!["help"]
        } else {
            vec!["help", command]
        };
        let help = common::expect(dir, &args, 0);
        for piece in help.split("[env: ").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            assert!(name.starts_with("LIFEBOAT_"), "{command}: {name}");
            names.insert(name);
        }
    }
    assert!(names.len() >= 30, "too few variables in the help: {names:?}");
    common::agent_db(dir, "app.db", 0.002);
    let with_empty = |args: &[&str]| {
        let mut cmd = common::lifeboat(dir);
        for name in &names {
            cmd.env(name, "");
        }
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?} with every LIFEBOAT_ variable empty:\n{}",
            common::text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    with_empty(&["backup", "app.db", "--out", "bk"]);
    with_empty(&["verify", "--latest", "bk"]);
    with_empty(&["list", "bk"]);
    with_empty(&["restore", "--latest", "bk", "--to", "sqlite:copy.db"]);
    with_empty(&["prune", "bk", "--keep-last", "1"]);
    // The boolean variables take GitHub's spellings, as the action's
    // inputs arrive in them (`force: "True"`).
    for (value, code) in [
        ("True", 0),
        ("TRUE", 0),
        ("true", 0),
        ("False", 2),
        ("FALSE", 2),
        ("false", 2),
    ] {
        let out = common::lifeboat(dir)
            .env("LIFEBOAT_FORCE", value)
            .env("LIFEBOAT_QUIET", value)
            .args(["restore", "--latest", "bk", "--to", "sqlite:copy.db"])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "LIFEBOAT_FORCE={value}:\n{}",
            common::text(&out)
        );
        // Not set: the restore's own refusal, not a parse error.
        assert!(
            code == 0 || common::text(&out).contains("pass --force"),
            "LIFEBOAT_FORCE={value}:\n{}",
            common::text(&out)
        );
    }
    // A value is taken, as its flag would be.
    let out = common::lifeboat(dir)
        .env("LIFEBOAT_OUT", "from-env")
        .env("LIFEBOAT_LABEL", "envlabel")
        .args(["backup", "app.db"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    let sets: Vec<_> = std::fs::read_dir(dir.join("from-env")).unwrap().collect();
    assert!(
        sets.iter().any(|e| e
            .as_ref()
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with("-envlabel.tar")),
        "LIFEBOAT_OUT and LIFEBOAT_LABEL were not taken"
    );
}

//! Retention end to end: the plan with reasons, dry runs that change
//! nothing, and the newest verified set surviving any policy.

mod common;

use common::*;

/// Copies one real set under the names of sets taken on other days.
fn history(dir: &std::path::Path, days: &[u32]) {
    agent_db(dir, "agent.db", 0.005);
    let set = dir.join(expect(dir, &["backup", "agent.db", "--out", "bk", "--quiet"], 0).trim());
    for day in days {
        let copy = dir.join(format!("bk/agent-202611{day:02}T030000Z.tar"));
        std::fs::copy(&set, &copy).unwrap();
        rewrite_sidecar(&copy);
    }
    std::fs::remove_file(&set).unwrap();
    std::fs::remove_file(format!("{}.sha256", set.display())).unwrap();
}

#[test]
fn prune_explains_itself_and_keeps_the_newest_verified_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    history(dir, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Day 3 is the only verified set; day 10's verification failed.
    expect(dir, &["verify", "bk/agent-20261103T030000Z.tar"], 0);
    std::fs::write(
        dir.join("bk/agent-20261110T030000Z.tar.verified.json"),
        r#"{"level":"quick","passed":false,"at":"2026-11-10T04:00:00Z","sha256":"x"}"#,
    )
    .unwrap();

    let before = snapshot(&dir.join("bk"));
    let json = expect(
        dir,
        &[
            "prune",
            "bk",
            "--keep-last",
            "2",
            "--keep-within",
            "3d",
            "--dry-run",
            "--json",
        ],
        0,
    );
    assert_eq!(snapshot(&dir.join("bk")), before, "a dry run changes nothing");
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    let decisions = plan["groups"][0]["decisions"].as_array().unwrap();
    let reasons = |day: u32| -> (bool, String) {
        let id = format!("agent-202611{day:02}T030000Z.tar");
        let d = decisions.iter().find(|d| d["id"] == id.as_str()).unwrap();
        (
            d["keep"].as_bool().unwrap(),
            d["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(", "),
        )
    };
    // A set that failed its verification never takes an intact one's place.
    assert_eq!(reasons(10), (false, "failed its last verification".into()));
    assert_eq!(reasons(9), (true, "last 2, within 3d of the newest".into()));
    assert_eq!(reasons(8), (true, "last 2, within 3d of the newest".into()));
    assert_eq!(reasons(7), (true, "within 3d of the newest".into()));
    assert_eq!(reasons(6), (false, "no rule keeps it".into()));
    assert_eq!(reasons(3), (true, "newest verified set".into()));

    let text_plan = expect(dir, &["prune", "bk", "--keep-last", "2", "--keep-within", "3d"], 0);
    assert!(text_plan.contains("removed 6 sets"), "{text_plan}");
    let mut left: Vec<String> = std::fs::read_dir(dir.join("bk"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "agent-20261103T030000Z.tar",
            "agent-20261103T030000Z.tar.sha256",
            "agent-20261103T030000Z.tar.verified.json",
            "agent-20261107T030000Z.tar",
            "agent-20261107T030000Z.tar.sha256",
            "agent-20261108T030000Z.tar",
            "agent-20261108T030000Z.tar.sha256",
            "agent-20261109T030000Z.tar",
            "agent-20261109T030000Z.tar.sha256",
        ]
    );
    // What is left still verifies and restores.
    expect(dir, &["verify", "--latest", "bk"], 0);
}

#[test]
fn prune_needs_a_rule_and_reads_the_config() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    history(dir, &[1, 2, 3]);
    let out = run(dir, &["prune", "bk"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no keep rules"));
    std::fs::write(dir.join("lifeboat.toml"), "out = \"bk\"\n[retention]\nkeep_daily = 1\n").unwrap();
    let plan = expect(dir, &["prune", "--dry-run"], 0);
    assert!(plan.contains("daily 2026-11-03"), "{plan}");
    assert!(plan.contains("would remove 2 sets"), "{plan}");
}

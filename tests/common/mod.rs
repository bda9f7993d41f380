//! Helpers shared by the integration tests: run the real binary, make
//! SQLite fixtures with the real sqlite3, and build altered sets.
#![allow(dead_code)]

pub mod github;
pub mod pg;
pub mod s3;
pub mod webhook;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lifeboat"))
}

/// A lifeboat command with a clean environment: no LIFEBOAT_* or GITHUB_*
/// variables from the machine running the tests.
pub fn lifeboat(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("LIFEBOAT_") || k.starts_with("GITHUB_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Runs lifeboat and returns its output; the caller asserts on the status.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    lifeboat(dir).args(args).output().expect("lifeboat runs")
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs lifeboat, requires exit code `code`, returns stdout.
pub fn expect(dir: &Path, args: &[&str], code: i32) -> String {
    let out = run(dir, args);
    assert_eq!(out.status.code(), Some(code), "lifeboat {args:?}:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "{script} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The shared SQLite fixture at a small scale (about 1 MB per 0.02).
pub fn agent_db(dir: &Path, name: &str, scale: f64) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agent_sqlite.sql");
    let db = dir.join(name);
    sh(
        dir,
        &format!(
            "sqlite3 -cmd '.parameter set @scale {scale}' '{}' < '{}' > /dev/null",
            db.display(),
            fixture.display()
        ),
    );
    db
}

pub fn sqlite(db: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().expect("sqlite3 runs");
    assert!(out.status.success(), "sqlite3 {sql}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn dump(db: &Path) -> String {
    sqlite(db, ".dump")
}

/// The names in a directory, sorted; none when it does not exist.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The one set in a directory.
pub fn only_set(dir: &Path) -> PathBuf {
    let sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tar"))
        .collect();
    assert_eq!(sets.len(), 1, "expected one set in {}: {sets:?}", dir.display());
    sets[0].clone()
}

pub fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// Every file under a directory with its content hash, to prove nothing
/// changed.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), sha256(&p)));
            }
        }
    }
    out.sort();
    out
}

/// The members of a set as (path, bytes), in tar order.
pub fn read_members(set: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut archive = tar::Archive::new(std::fs::File::open(set).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let mut bytes = Vec::new();
            e.read_to_end(&mut bytes).unwrap();
            (name, bytes)
        })
        .collect()
}

/// Writes members as a tar with raw names (no checks, so tests can build
/// hostile sets), and a matching sidecar.
pub fn write_set(set: &Path, members: &[(String, Vec<u8>)]) {
    let file = std::fs::File::create(set).unwrap();
    let mut builder = tar::Builder::new(file);
    for (name, bytes) in members {
        let mut h = tar::Header::new_gnu();
        let raw = &mut h.as_gnu_mut().unwrap().name;
        raw.fill(0);
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(bytes.len() as u64);
        h.set_mode(0o600);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        builder.append(&h, &bytes[..]).unwrap();
    }
    builder.into_inner().unwrap();
    rewrite_sidecar(set);
}

pub fn rewrite_sidecar(set: &Path) {
    let name = set.file_name().unwrap().to_string_lossy();
    std::fs::write(
        format!("{}.sha256", set.display()),
        format!("{}  {name}\n", sha256(set)),
    )
    .unwrap();
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// Replaces one member's content (given uncompressed; stored gzipped, as
/// the sets in these tests are) and rewrites its size and hashes in the
/// manifest and the sidecar: a set that is self-consistent but no longer
/// holds what was backed up.
pub fn replace_member(set: &Path, member: &str, raw: &[u8]) {
    let mut members = read_members(set);
    let packed = gzip(raw);
    let mut manifest: serde_json::Value = serde_json::from_slice(&members[0].1).unwrap();
    let mut found = false;
    for db in manifest["databases"].as_array_mut().unwrap() {
        for m in db["members"].as_array_mut().unwrap() {
            if m["path"] == member {
                m["sha256"] = serde_json::json!(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&packed)));
                m["size"] = serde_json::json!(packed.len());
                m["raw_size"] = serde_json::json!(raw.len());
                found = true;
            }
        }
    }
    assert!(found, "no member {member} in {}", set.display());
    members[0].1 = serde_json::to_vec(&manifest).unwrap();
    members.iter_mut().find(|(n, _)| n == member).unwrap().1 = packed;
    write_set(set, &members);
}

/// A member's uncompressed content.
pub fn member_content(set: &Path, member: &str) -> Vec<u8> {
    gunzip(
        &read_members(set)
            .into_iter()
            .find(|(n, _)| n == member)
            .unwrap_or_else(|| panic!("no member {member}"))
            .1,
    )
}

/// Rewrites a set's manifest with `edit` and recomputes the sidecar: a
/// hostile set that passes every checksum, as an attacker would build it.
pub fn edit_manifest(set: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut members = read_members(set);
    let mut manifest: serde_json::Value = serde_json::from_slice(&members[0].1).unwrap();
    edit(&mut manifest);
    members[0].1 = serde_json::to_vec_pretty(&manifest).unwrap();
    write_set(set, &members);
}

/// A loopback listener that plays a PostgreSQL server asking for a
/// cleartext password, and records every byte any client sends it: a test
/// asserts nobody connected, or that no password arrived.
pub struct Listener {
    pub port: u16,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    pub connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Listener {
    pub fn start() -> Listener {
        use std::io::{Read, Write};
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (r, c) = (received.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in socket.incoming() {
                let Ok(mut stream) = stream else { continue };
                c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let r = r.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                    let mut buf = [0u8; 4096];
                    let mut asked = false;
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        r.lock().unwrap().extend_from_slice(&buf[..n]);
                        // SSL request: refuse; startup: ask for a password.
                        if n == 8 && buf[4..8] == [0x04, 0xd2, 0x16, 0x2f] {
                            let _ = stream.write_all(b"N");
                        } else if !asked {
                            asked = true;
                            let _ = stream.write_all(&[b'R', 0, 0, 0, 8, 0, 0, 0, 3]);
                        }
                    }
                });
            }
        });
        Listener {
            port,
            received,
            connections,
        }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn saw(&self, text: &str) -> bool {
        let r = self.received.lock().unwrap();
        r.windows(text.len()).any(|w| w == text.as_bytes())
    }
}

/// Runs lifeboat and measures it: exit code, stdout and stderr together,
/// and the most memory it held (max RSS in KiB, from wait4, for this
/// child alone).
pub fn run_measured(dir: &Path, args: &[&str]) -> (Option<i32>, String, u64) {
    let out_path = dir.join(".measured-output");
    let file = std::fs::File::create(&out_path).unwrap();
    let child = lifeboat(dir)
        .args(args)
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 reaps the child we spawned
    // (std's handle is dropped without waiting).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    drop(child);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    (code, text, usage.ru_maxrss as u64)
}

/// Changes the SQL of the first item of a PostgreSQL set's schema.json
/// that `pick` chooses, and the same text in the script it is rendered
/// into, recomputing every hash: an altered set whose schema.json and
/// scripts still agree, as an attacker (or a test of what runs) builds it.
pub fn alter_item(set: &Path, db: &str, pick: impl Fn(&serde_json::Value) -> bool, edit: impl Fn(&str) -> String) {
    let member = format!("{db}.schema.json.gz");
    let mut schema: serde_json::Value = serde_json::from_slice(&member_content(set, &member)).unwrap();
    let item = schema["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| pick(i))
        .unwrap_or_else(|| panic!("no such item in {member}"));
    let old = item["sql"].as_str().unwrap().to_string();
    let new = edit(&old);
    item["sql"] = new.clone().into();
    let file = match item["section"].as_str().unwrap() {
        "pre-data" => "0-pre-data",
        "indexes" => "2-indexes",
        "post-data" => "3-post-data",
        "foreign-keys" => "4-foreign-keys",
        _ => "5-last",
    };
    let script_member = format!("{db}/{file}.sql.gz");
    let script = String::from_utf8(member_content(set, &script_member)).unwrap();
    let old_block = format!("\n{old}\n\n");
    assert_eq!(
        script.matches(&old_block).count(),
        1,
        "{old} is not once in {script_member}"
    );
    replace_member(
        set,
        &script_member,
        script.replace(&old_block, &format!("\n{new}\n\n")).as_bytes(),
    );
    replace_member(set, &member, &serde_json::to_vec(&schema).unwrap());
}

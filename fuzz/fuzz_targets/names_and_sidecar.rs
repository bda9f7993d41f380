//! File names found in a backups directory and the `sha256sum` sidecar
//! beside a set: SetName::parse must read any name back or refuse it, and
//! the sidecar parser must never panic or hand back a malformed hash.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::archive::checksum;
use lifeboat::store::SetName;
use std::sync::OnceLock;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(name) = SetName::parse(&text) {
        // What parse takes apart, file_name puts back together.
        assert_eq!(SetName::parse(&name.file_name()), Some(name.clone()));
    }
    // The first line names the set file; the sidecar is the whole input.
    let file_name = text.lines().next().unwrap_or("").to_string();
    let sidecar = dir().path().join("x.tar.sha256");
    std::fs::write(&sidecar, data).unwrap();
    for wanted in [file_name.as_str(), "x.tar"] {
        if let Ok(hash) = checksum::read_sidecar(&sidecar, wanted) {
            assert_eq!(hash.len(), 64);
            assert!(hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
    }
});

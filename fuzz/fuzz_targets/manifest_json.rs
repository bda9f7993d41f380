//! `manifest.json` as a stranger writes it: parsed, then used the way the
//! commands use it (members, databases, totals). No panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::archive::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = Manifest::from_json(data) else { return };
    let _ = manifest.total_rows();
    for member in manifest.members() {
        // Every member hash is 64 hex digits once the manifest is taken.
        assert_eq!(member.sha256.len(), 64);
        let _ = lifeboat::archive::reader::check_raw_claim(member);
    }
    let _ = manifest.database(None);
    for name in manifest.database_names() {
        let _ = manifest.database(Some(&name));
    }
    let _ = manifest.to_json();
});

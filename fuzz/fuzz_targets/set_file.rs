//! A whole set file as a stranger could hand it over: the tar, its
//! manifest, its members and their streams, read the way `info`, `verify`
//! and `restore` read them. Nothing may panic, and the reader's memory
//! stays bounded whatever the set claims (libFuzzer's -rss_limit_mb).

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::archive::reader;
use std::io::Read;
use std::sync::OnceLock;

/// One directory for the whole run, on tmpfs where there is one: every
/// input goes through a real file, as the reader only takes paths.
fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        }
    })
}

/// Mutations almost never keep a tar header's checksum right, and a wrong
/// one stops the tar reader at once: every header along the chain gets its
/// checksum recomputed, so the fuzzer reaches what lies behind it.
fn fix_header_checksums(data: &mut [u8]) {
    let mut at = 0usize;
    while at + 512 <= data.len() {
        let header = &mut data[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|&b| b as u32).sum();
        let text = format!("{sum:06o}\0 ");
        header[148..156].copy_from_slice(text.as_bytes());
        let size_field = std::str::from_utf8(&header[124..136]).unwrap_or("");
        let size = u64::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8).unwrap_or(0);
        let Some(next) = (size.div_ceil(512) as usize)
            .checked_mul(512)
            .and_then(|s| s.checked_add(at + 512))
        else {
            break;
        };
        at = next;
    }
}

fuzz_target!(|data: &[u8]| {
    let mut data = data.to_vec();
    fix_header_checksums(&mut data);
    let path = dir().path().join("set-20260101T000000Z.tar");
    std::fs::write(&path, &data).unwrap();

    let _ = reader::read_manifest(&path);
    let Ok(scan) = reader::scan(&path, true, &mut |_| {}) else {
        return;
    };
    for member in &scan.members {
        if let Some(raw) = member.raw_size {
            let listed = scan
                .manifest
                .as_ref()
                .and_then(|m| m.members().find(|mm| mm.path == member.path));
            // The scan stops a stream at the raw size its manifest records.
            assert!(raw <= listed.map_or(0, |m| m.raw_size), "{} inflated past its claim", member.path);
        }
    }
    // Restore reads members by offset from the index a scan built.
    if let Some(manifest) = scan.manifest.clone() {
        let source = reader::SetSource::new(&path, manifest.clone(), &scan);
        for member in manifest.members() {
            if let Ok(mut stream) = source.open(&member.path) {
                let mut sink = [0u8; 1 << 16];
                let mut total = 0u64;
                loop {
                    match stream.read(&mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => total += n as u64,
                    }
                }
                assert!(total <= member.raw_size, "{} read past its raw size", member.path);
            }
        }
    }
});

//! The quick level: the file against its sidecar, every member's hash,
//! every stream to its end when asked, and the manifest against the tar.

use super::{FIX_DAMAGED, Findings, display_name};
use crate::archive::checksum;
use crate::archive::crypt::Keys;
use crate::archive::manifest::{MANIFEST_MEMBER, Manifest};
use crate::archive::reader::{self, Scan, SetSource};
use crate::engine;
use crate::progress::Reporter;
use crate::store::local::SetName;
use anyhow::Result;
use std::collections::HashSet;
use std::path::Path;

/// The quick level: sidecar, every member hash, (optionally) every stream
/// decompressed to its end, and the manifest consistent with the tar.
/// Returns the findings and, when the set can be read, its members. An
/// encrypted set is read with `keys`; without any key, only the file
/// against its sidecar is checked, and a warning says what was not.
pub fn quick(
    path: &Path,
    keys: &Keys,
    decompress: bool,
    reporter: &Reporter,
) -> Result<(Findings, Scan, Option<SetSource>)> {
    let (mut findings, scan, source) = quick_with(path, keys, decompress, None, reporter)?;
    if let Some(set) = &source
        && findings.errors() == 0
    {
        check_contents(set, &mut findings);
    }
    Ok((findings, scan, source))
}

/// What each engine finds only in its members' contents (PostgreSQL: a
/// schema.json that disagrees with its scripts).
fn check_contents(set: &SetSource, findings: &mut Findings) {
    for db in &set.manifest.databases {
        for (object, why) in engine::kind(&db.engine)
            .map(|k| k.content_problems(set, db))
            .unwrap_or_default()
        {
            findings.error("schema", &object, why, FIX_DAMAGED);
        }
    }
}

/// The quick level as a restore needs it: members `defer` picks (the rows
/// of the databases it restores) are hashed while they are loaded, and the
/// whole file against its sidecar on a thread beside the load, which
/// [`SetSource::confirm_file`] waits for; everything else (the tar's
/// structure, the manifest, every script, the sidecar's presence, every
/// member's raw-size claim) is checked here, before anything changes. An
/// encrypted set is never deferred: it is checked in full, as [`quick`]
/// checks it.
pub fn quick_for_restore(
    path: &Path,
    keys: &Keys,
    defer: &dyn Fn(&crate::archive::manifest::Member) -> bool,
    reporter: &Reporter,
) -> Result<(Findings, Scan, Option<SetSource>)> {
    quick_with(path, keys, false, Some(defer), reporter)
}

fn quick_with(
    path: &Path,
    keys: &Keys,
    decompress: bool,
    defer: Option<&dyn Fn(&crate::archive::manifest::Member) -> bool>,
    reporter: &Reporter,
) -> Result<(Findings, Scan, Option<SetSource>)> {
    let mut findings = Findings::default();
    let size = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("cannot read backup set {}: {e}", path.display()))?
        .len();
    let task = reporter.task(&format!("checking {}", display_name(path)), Some(size));
    let scan = match defer {
        Some(defer) => reader::scan_deferring(path, keys, defer, &mut |n| task.inc(n))?,
        None => reader::scan(path, keys, decompress, &mut |n| task.inc(n))?,
    };
    task.finish();

    let expected_file = check_sidecar(path, &scan, &mut findings);
    if let Some(locked) = &scan.locked {
        let what = format!(
            "{locked}. Only the whole file was checked against its .sha256 sidecar; its members, their hashes, its streams and its manifest were not checked"
        );
        let fix = "give the key to check the contents too: LIFEBOAT_PASSPHRASE or --passphrase-file / --identity";
        // Without a sidecar nothing at all was checked: that is no pass.
        if checksum::sidecar_path(path).exists() {
            findings.warning("encrypted", &display_name(path), what, fix);
        } else {
            findings.error("encrypted", &display_name(path), what, fix);
        }
        return Ok((findings, scan, None));
    }
    if let Some(why) = &scan.unopened {
        findings.error(
            "encryption",
            &display_name(path),
            why.clone(),
            "use a set made with your key, or give the key this one was made with; --allow-unauthenticated reads an unencrypted set you trust anyway",
        );
        return Ok((findings, scan, None));
    }
    for problem in &scan.problems {
        findings.error("tar", &display_name(path), problem.clone(), FIX_DAMAGED);
    }
    let Some(manifest) = scan.manifest.clone() else {
        let why = scan
            .manifest_error
            .clone()
            .unwrap_or_else(|| "the set has no manifest.json".into());
        findings.error(
            "manifest",
            MANIFEST_MEMBER,
            why,
            "this file is not a readable lifeboat set: check the path, or restore from another set",
        );
        return Ok((findings, scan, None));
    };
    check_members(&manifest, &scan, decompress, &mut findings);
    check_manifest(path, &manifest, &scan, &mut findings);
    let mut source = SetSource::new(path, manifest, &scan, keys);
    if let Some(expected) = expected_file
        && findings.errors() == 0
    {
        source.start_file_check(expected);
    }
    Ok((findings, scan, Some(source)))
}

/// Holds the file's hash against its sidecar; for a scan that left the
/// hash to later, returns the sidecar's value for that later check.
fn check_sidecar(path: &Path, scan: &Scan, findings: &mut Findings) -> Option<String> {
    let sidecar = checksum::sidecar_path(path);
    let name = display_name(path);
    if !sidecar.exists() {
        findings.warning(
            "sidecar",
            &name,
            format!("no checksum file {} beside the set", display_name(&sidecar)),
            "keep the .sha256 file with the set; recreate it with `sha256sum <set> > <set>.sha256` once the set verifies",
        );
        return None;
    }
    match checksum::read_sidecar(&sidecar, &name) {
        Ok(expected) if scan.deferred => return Some(expected),
        Ok(expected) if expected == scan.file_sha256 => {}
        Ok(expected) => findings
            .error(
                "sidecar",
                &name,
                "the file's SHA-256 differs from its .sha256 file: the set was changed or is incomplete".into(),
                FIX_DAMAGED,
            )
            .values(expected, &scan.file_sha256),
        Err(e) => {
            findings.error(
                "sidecar",
                &name,
                format!("{e:#}"),
                "recreate the .sha256 file, or restore from another set",
            );
        }
    }
    None
}

fn check_members(manifest: &Manifest, scan: &Scan, decompress: bool, findings: &mut Findings) {
    let listed: HashSet<&str> = manifest.members().map(|m| m.path.as_str()).collect();
    for member in manifest.members() {
        let Some(found) = scan.members.iter().find(|s| s.path == member.path) else {
            findings.error(
                "member-missing",
                &member.path,
                "the manifest lists this member but the tar does not hold it".into(),
                FIX_DAMAGED,
            );
            continue;
        };
        if found.size != member.size {
            findings
                .error(
                    "member-size",
                    &member.path,
                    "the member's size differs from the manifest".into(),
                    FIX_DAMAGED,
                )
                .values(member.size, found.size);
        }
        if !found.deferred && found.sha256 != member.sha256 {
            findings
                .error(
                    "member-hash",
                    &member.path,
                    "the member's SHA-256 differs from the manifest".into(),
                    FIX_DAMAGED,
                )
                .values(&member.sha256, &found.sha256);
        }
        if let Some(err) = &found.claim_error {
            findings.error("raw-size", &member.path, err.clone(), FIX_DAMAGED);
        } else if let Some(err) = &found.decode_error {
            findings.error(
                "decompress",
                &member.path,
                format!("the {} stream does not decompress: {err}", member.compression),
                FIX_DAMAGED,
            );
        } else if decompress && found.raw_size != Some(member.raw_size) {
            findings
                .error(
                    "decompress",
                    &member.path,
                    "the member decompresses to a different size than the manifest records".into(),
                    FIX_DAMAGED,
                )
                .values(member.raw_size, found.raw_size.unwrap_or(0));
        }
    }
    for found in &scan.members {
        if !listed.contains(found.path.as_str()) {
            findings.error(
                "member-extra",
                &found.path,
                "the tar holds a member the manifest does not list: the set was altered".into(),
                FIX_DAMAGED,
            );
        }
    }
    let mut seen = HashSet::new();
    for found in &scan.members {
        if !seen.insert(found.path.as_str()) {
            findings.error(
                "member-duplicate",
                &found.path,
                "the member appears twice in the tar".into(),
                FIX_DAMAGED,
            );
        }
    }
}

fn check_manifest(path: &Path, manifest: &Manifest, scan: &Scan, findings: &mut Findings) {
    let mut names = HashSet::new();
    for db in &manifest.databases {
        if !names.insert(db.name.as_str()) {
            findings.error(
                "manifest",
                &db.name,
                "two databases in the manifest share a name".into(),
                FIX_DAMAGED,
            );
        }
        for m in &db.members {
            if !m.path.starts_with(&format!("{}/", db.name))
                && !engine::kind(&db.engine).is_some_and(|k| k.member_beside_folder(db, m))
            {
                findings.error(
                    "manifest",
                    &m.path,
                    format!("member is not under its database's folder {}/", db.name),
                    FIX_DAMAGED,
                );
            }
        }
        for problem in engine::kind(&db.engine)
            .map(|k| k.manifest_problems(db))
            .unwrap_or_default()
        {
            findings.error("manifest", &db.name, problem, FIX_DAMAGED);
        }
        if db.members.is_empty() {
            findings.error("manifest", &db.name, "the database has no members".into(), FIX_DAMAGED);
        }
    }
    if manifest.databases.is_empty() {
        findings.error(
            "manifest",
            MANIFEST_MEMBER,
            "the manifest lists no databases".into(),
            FIX_DAMAGED,
        );
    }
    if manifest.finished_at < manifest.started_at {
        findings.warning(
            "manifest",
            MANIFEST_MEMBER,
            "the manifest's end time is before its start time".into(),
            "check the clock of the machine that took the backup",
        );
    }
    if let Some(name) = SetName::parse(&display_name(path))
        && name.set != manifest.set
    {
        findings
            .warning(
                "manifest",
                &display_name(path),
                "the file name's set name differs from the manifest's (was the file renamed?)".into(),
                "keep set files under the names lifeboat gave them, so that list and prune group them right",
            )
            .values(&manifest.set, &name.set);
    }
    if !scan.has_restore_md {
        findings.warning(
            "restore-md",
            "RESTORE.md",
            "the set has no RESTORE.md".into(),
            "nothing to do for restores with lifeboat; sets written by lifeboat carry it",
        );
    }
}

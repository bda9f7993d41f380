// Shared by build.rs (which bakes the hash into `lifeboat --version`) and
// tests/dist.rs (which recomputes it from the checkout), so both hash the
// same files the same way. Not a module: both `include!` it.

/// The files a build is made from, relative to the crate root: every file
/// under src/ and build/, Cargo.toml, Cargo.lock and build.rs, sorted by
/// their `/`-separated path so the order never depends on the file system.
pub fn source_files(root: &std::path::Path) -> std::io::Result<Vec<String>> {
    fn walk(root: &std::path::Path, dir: &str, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(root.join(dir))? {
            let entry = entry?;
            let name = format!("{dir}/{}", entry.file_name().to_string_lossy());
            if entry.file_type()?.is_dir() {
                walk(root, &name, out)?;
            } else {
                out.push(name);
            }
        }
        Ok(())
    }
    let mut files = vec!["Cargo.toml".to_string(), "Cargo.lock".to_string(), "build.rs".to_string()];
    walk(root, "src", &mut files)?;
    walk(root, "build", &mut files)?;
    files.sort();
    Ok(files)
}

/// SHA-256 over each file's path, length and bytes, in `source_files`
/// order; the first 16 hex digits are what `--version` prints.
pub fn source_hash(root: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for file in source_files(root)? {
        let bytes = std::fs::read(root.join(&file))?;
        hasher.update(file.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize())[..16].to_string())
}

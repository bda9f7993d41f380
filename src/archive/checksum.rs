//! SHA-256 while bytes pass by, and the `sha256sum -c` sidecar format.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Counts and hashes everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The inner writer, the hex SHA-256 and the byte count.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Every member and set passes through here: the place to notice a
        // signal while writing.
        crate::cancel::check_io()?;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Counts and hashes everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    pub fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.bytes)
    }

    /// The hex SHA-256 and byte count so far, for a reader that cannot be
    /// taken apart (it sits inside a decoder).
    pub fn digest(&self) -> (String, u64) {
        (hex::encode(self.hasher.clone().finalize()), self.bytes)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::cancel::check_io()?;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Counts bytes written through it, for raw sizes before compression.
pub struct CountingWriter<W> {
    pub inner: W,
    pub bytes: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The hex SHA-256 of a whole file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = HashingReader::new(io::BufReader::with_capacity(1 << 20, file));
    io::copy(&mut reader, &mut io::sink()).with_context(|| format!("reading {}", path.display()))?;
    Ok(reader.finish().0)
}

/// The sidecar path for a set: `<file>.sha256`.
pub fn sidecar_path(set: &Path) -> PathBuf {
    let mut name = set.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// One line as `sha256sum` writes it: hash, two spaces, file name.
pub fn sidecar_line(sha256: &str, file_name: &str) -> String {
    format!("{sha256}  {file_name}\n")
}

/// Reads the hash a sidecar records for `file_name`.
pub fn read_sidecar(sidecar: &Path, file_name: &str) -> Result<String> {
    let text =
        std::fs::read_to_string(sidecar).with_context(|| format!("reading checksum file {}", sidecar.display()))?;
    parse_sidecar(&text, file_name).with_context(|| format!("checksum file {}", sidecar.display()))
}

/// The hash a sidecar's text records for `file_name`.
pub fn parse_sidecar(text: &str, file_name: &str) -> Result<String> {
    for line in text.lines() {
        let Some((hash, name)) = line.split_once(' ') else {
            continue;
        };
        let name = name.trim_start_matches([' ', '*']);
        if name == file_name {
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("malformed hash for {file_name}");
            }
            return Ok(hash.to_ascii_lowercase());
        }
    }
    bail!("no line for {file_name}; recreate it with `sha256sum {file_name} > {file_name}.sha256`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_writer_matches_known_digest() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (inner, hash, n) = w.finish();
        assert_eq!(inner, b"abc");
        assert_eq!(n, 3);
        assert_eq!(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn sidecar_round_trip_and_binary_marker() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.tar.sha256");
        let h = "a".repeat(64);
        std::fs::write(&p, sidecar_line(&h, "x.tar")).unwrap();
        assert_eq!(read_sidecar(&p, "x.tar").unwrap(), h);
        std::fs::write(&p, format!("{h} *x.tar\n")).unwrap();
        assert_eq!(read_sidecar(&p, "x.tar").unwrap(), h);
        assert!(read_sidecar(&p, "y.tar").is_err());
    }
}

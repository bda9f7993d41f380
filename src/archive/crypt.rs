//! Whole sets encrypted with age: the tar streams through age's writer on
//! its way to disk, and is read back through age's seekable reader, so no
//! decrypted copy of a set is ever written.
//!
//! A passphrase set is authenticated: only someone who knows the
//! passphrase can make one. A set encrypted to recipients (public keys) is
//! private, but anyone who has the recipient could have made it.

use age::secrecy::{ExposeSecret, SecretString};
use age::stream::{StreamReader, StreamWriter};
use age::{scrypt, x25519};
use age_core::format::{FileKey, Stanza};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// How every age file begins.
const AGE_MAGIC: &[u8] = b"age-encryption.org/";

/// The scrypt work factor sets are encrypted with: 2^18, as the age CLI
/// uses, about a second and 256 MiB. age's own choice scales with how
/// fast the machine seems, and on a busy runner it picked 2^20 (1 GiB).
const SCRYPT_LOG_N: u8 = 18;

/// The most scrypt work a set may ask for: 2^20 is 1 GiB of memory. A set
/// is input from a stranger, and its header alone must not make lifeboat
/// spend tens of GiB.
const SCRYPT_MAX_LOG_N: u8 = 20;

/// What to tell a user who did not give the key.
pub const KEY_HINT: &str = "give LIFEBOAT_PASSPHRASE or --passphrase-file / --identity";

/// Whether the bytes a file starts with are an age header.
pub fn looks_encrypted(start: &[u8]) -> bool {
    start.starts_with(AGE_MAGIC)
}

/// Whether the file at `path` is age-encrypted.
pub fn is_encrypted(path: &Path) -> Result<bool> {
    let file = std::fs::File::open(path).with_context(|| format!("opening backup set {}", path.display()))?;
    let mut start = Vec::with_capacity(AGE_MAGIC.len());
    file.take(AGE_MAGIC.len() as u64)
        .read_to_end(&mut start)
        .with_context(|| format!("reading backup set {}", path.display()))?;
    Ok(looks_encrypted(&start))
}

/// The set is encrypted and no key at all was given: it can be checked
/// against its sidecar, but not opened.
#[derive(Debug)]
pub struct KeyMissing(pub String);

impl fmt::Display for KeyMissing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyMissing {}

/// How a set is encrypted as it is written.
#[derive(Clone)]
pub enum Encryption {
    Passphrase(SecretString),
    Recipients(Vec<x25519::Recipient>),
}

impl fmt::Debug for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Encryption::Passphrase(_) => f.write_str("Passphrase(..)"),
            Encryption::Recipients(r) => write!(f, "Recipients({})", r.len()),
        }
    }
}

impl Encryption {
    /// Starts an age stream on `out`: the header is written now.
    pub fn seal<W: Write>(&self, out: W) -> io::Result<Sealed<W>> {
        let encryptor = match self {
            Encryption::Passphrase(p) => {
                let mut recipient = scrypt::Recipient::new(p.clone());
                recipient.set_work_factor(SCRYPT_LOG_N);
                age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                    .map_err(|e| io::Error::other(format!("encrypting with the passphrase: {e}")))?
            }
            Encryption::Recipients(list) => {
                age::Encryptor::with_recipients(list.iter().map(|r| r as &dyn age::Recipient))
                    .map_err(|e| io::Error::other(format!("encrypting to the recipients: {e}")))?
            }
        };
        Ok(Sealed::Encrypted(Box::new(encryptor.wrap_output(out)?)))
    }

    /// A line for the log: what kind of key, never the key.
    pub fn describe(&self) -> String {
        match self {
            Encryption::Passphrase(_) => "with the passphrase".into(),
            Encryption::Recipients(r) => format!("to {}", crate::progress::count(r.len() as u64, "age recipient")),
        }
    }
}

/// A writer that encrypts, or passes bytes through.
pub enum Sealed<W: Write> {
    Clear(W),
    Encrypted(Box<StreamWriter<W>>),
}

impl<W: Write> Sealed<W> {
    /// Ends the age stream (its last chunk says the file is whole) and
    /// returns the writer below.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Sealed::Clear(w) => Ok(w),
            Sealed::Encrypted(s) => s.finish(),
        }
    }
}

impl<W: Write> Write for Sealed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sealed::Clear(w) => w.write(buf),
            Sealed::Encrypted(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sealed::Clear(w) => w.flush(),
            Sealed::Encrypted(s) => s.flush(),
        }
    }
}

/// The keys a run reads sets with. Cheap to clone and share between
/// threads; an empty one reads only sets that are not encrypted.
#[derive(Clone, Default)]
pub struct Keys {
    inner: Arc<KeysInner>,
}

#[derive(Default)]
struct KeysInner {
    passphrase: Option<SecretString>,
    identities: Vec<x25519::Identity>,
    /// Refuse sets these keys do not open (restore, verify).
    require_encrypted: bool,
    /// File keys already unwrapped, by header: a passphrase costs a second
    /// of scrypt, and a restore opens the set once per member.
    unwrapped: Mutex<Vec<([u8; 32], [u8; 16])>>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("passphrase", &self.inner.passphrase.is_some())
            .field("identities", &self.inner.identities.len())
            .field("require_encrypted", &self.inner.require_encrypted)
            .finish()
    }
}

impl Keys {
    pub fn new(passphrase: Option<SecretString>, identities: Vec<x25519::Identity>, require_encrypted: bool) -> Keys {
        Keys {
            inner: Arc::new(KeysInner {
                passphrase,
                identities,
                require_encrypted,
                unwrapped: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Whether any key was given.
    pub fn is_empty(&self) -> bool {
        self.inner.passphrase.is_none() && self.inner.identities.is_empty()
    }

    /// Whether a set these keys do not open is refused.
    pub fn requires_encrypted(&self) -> bool {
        self.inner.require_encrypted
    }

    /// The same keys, refusing (or not) sets they do not open.
    pub fn requiring_encrypted(&self, require: bool) -> Keys {
        Keys::new(self.inner.passphrase.clone(), self.inner.identities.clone(), require)
    }

    /// The secrets, to mask in a workflow log: the passphrase and each
    /// identity as written.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .inner
            .identities
            .iter()
            .map(|i| i.to_string().expose_secret().to_string())
            .collect();
        if let Some(p) = &self.inner.passphrase {
            out.push(p.expose_secret().to_string());
        }
        out
    }

    /// How a set written by a run holding only these keys (a safety
    /// backup before a restore) is encrypted, so it opens with them.
    pub fn encryption(&self) -> Option<Encryption> {
        if let Some(p) = &self.inner.passphrase {
            return Some(Encryption::Passphrase(p.clone()));
        }
        if self.inner.identities.is_empty() {
            return None;
        }
        Some(Encryption::Recipients(
            self.inner.identities.iter().map(x25519::Identity::to_public).collect(),
        ))
    }

    fn what_was_given(&self) -> &'static str {
        match (self.inner.passphrase.is_some(), self.inner.identities.is_empty()) {
            (true, true) => "the passphrase",
            (false, _) => "the identities given (--identity / LIFEBOAT_IDENTITY)",
            (true, false) => "the passphrase and identities given",
        }
    }
}

/// A header's stanzas, as a key for the file keys already unwrapped.
fn header_id(stanzas: &[Stanza]) -> [u8; 32] {
    let mut h = Sha256::new();
    for s in stanzas {
        for part in std::iter::once(&s.tag).chain(&s.args) {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.update((s.body.len() as u64).to_le_bytes());
        h.update(&s.body);
    }
    h.finalize().into()
}

impl age::Identity for KeysInner {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        self.unwrap_stanzas(std::slice::from_ref(stanza))
    }

    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, age::DecryptError>> {
        let id = header_id(stanzas);
        if let Ok(known) = self.unwrapped.lock()
            && let Some((_, key)) = known.iter().find(|(h, _)| *h == id)
        {
            // A header we already opened: the key still has to match its
            // MAC and every chunk, so a changed file fails as before.
            return Some(Ok(FileKey::new(Box::new(*key))));
        }
        let found = self
            .passphrase
            .as_ref()
            .and_then(|p| {
                let mut identity = scrypt::Identity::new(p.clone());
                identity.set_max_work_factor(SCRYPT_MAX_LOG_N);
                identity.unwrap_stanzas(stanzas)
            })
            .or_else(|| {
                self.identities
                    .iter()
                    .find_map(|i| age::Identity::unwrap_stanzas(i, stanzas))
            });
        if let Some(Ok(key)) = &found
            && let Ok(mut known) = self.unwrapped.lock()
        {
            known.push((id, *key.expose_secret()));
        }
        found
    }
}

/// A set's tar bytes: as stored, or decrypted on the way.
pub enum Plain<R: Read> {
    Clear(R),
    Decrypted(Box<StreamReader<R>>),
}

impl<R: Read> Plain<R> {
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Plain::Decrypted(_))
    }
}

impl<R: Read> Read for Plain<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Plain::Clear(r) => r.read(buf),
            Plain::Decrypted(r) => r.read(buf).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("the encrypted set does not decrypt here: it is truncated or was altered ({e})"),
                )
            }),
        }
    }
}

impl<R: Read + Seek> Seek for Plain<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            Plain::Clear(r) => r.seek(pos),
            Plain::Decrypted(r) => r.seek(pos),
        }
    }
}

/// Opens a set's bytes for reading its tar: as they are when the set is
/// not encrypted (unless `keys` require it to be), decrypted when it is.
/// Errors say what is wrong and what to give; a set that is encrypted
/// while no key at all was given fails with [`KeyMissing`].
pub fn open<R: BufRead>(mut input: R, keys: &Keys, set: &Path) -> Result<Plain<R>> {
    let name = set
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| set.display().to_string());
    let start = input
        .fill_buf()
        .with_context(|| format!("reading backup set {}", set.display()))?;
    if !looks_encrypted(start) {
        if keys.requires_encrypted() {
            anyhow::bail!(
                "set {name} is not encrypted, and a key was given: lifeboat reads only sets that {} opens, as anyone could have made this one. Pass --allow-unauthenticated to read it anyway",
                keys.what_was_given()
            );
        }
        return Ok(Plain::Clear(input));
    }
    let decryptor = age::Decryptor::new_buffered(input)
        .map_err(|e| anyhow::anyhow!("set {name} is not a readable age file: its header is damaged ({e})"))?;
    if keys.is_empty() {
        return Err(anyhow::Error::new(KeyMissing(format!(
            "set {name} is encrypted: {KEY_HINT}"
        ))));
    }
    let by_passphrase = decryptor.is_scrypt();
    match decryptor.decrypt(std::iter::once(&*keys.inner as &dyn age::Identity)) {
        Ok(reader) => Ok(Plain::Decrypted(Box::new(reader))),
        Err(age::DecryptError::NoMatchingKeys) if by_passphrase => anyhow::bail!(
            "set {name} is encrypted with a passphrase, and {} cannot open it: give LIFEBOAT_PASSPHRASE or --passphrase-file",
            keys.what_was_given()
        ),
        Err(age::DecryptError::NoMatchingKeys) => anyhow::bail!(
            "set {name} is encrypted to age recipients, and {} does not open it: give --identity with the key of one of its recipients",
            keys.what_was_given()
        ),
        Err(age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed) if by_passphrase => {
            anyhow::bail!(
                "the passphrase does not open set {name}: the set was made with another passphrase, or altered"
            )
        }
        Err(age::DecryptError::ExcessiveWork { required, .. }) => anyhow::bail!(
            "set {name} asks for more passphrase work (scrypt 2^{required}) than lifeboat allows (2^{SCRYPT_MAX_LOG_N}, 1 GiB of memory): lifeboat did not make it; if you trust it, decrypt it with the age CLI"
        ),
        Err(age::DecryptError::InvalidMac) => anyhow::bail!(
            "set {name} does not match {}: its header was altered, or it was made with another key",
            keys.what_was_given()
        ),
        Err(e) => anyhow::bail!("set {name} cannot be decrypted with {}: {e}", keys.what_was_given()),
    }
}

/// Reads `--passphrase-file`: the whole file less its line ending, so a
/// passphrase may hold spaces; never quoted in an error.
pub fn read_passphrase_file(path: &Path) -> Result<SecretString> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading passphrase file {}", path.display()))?;
    let passphrase = text.strip_suffix('\n').unwrap_or(&text);
    let passphrase = passphrase.strip_suffix('\r').unwrap_or(passphrase);
    if passphrase.is_empty() {
        anyhow::bail!("passphrase file {} is empty", path.display());
    }
    Ok(SecretString::from(passphrase.to_string()))
}

/// The lines of an identity or recipients file that hold a key, with
/// their index from 0: comments and blank lines skipped, as age does.
fn key_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .map(str::trim)
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Reads age identities (`AGE-SECRET-KEY-1...` lines, as age-keygen
/// writes them; `#` comments and blank lines skipped). `origin` names
/// where they came from; a line is never quoted.
pub fn parse_identities(text: &str, origin: &str) -> Result<Vec<x25519::Identity>> {
    let mut out = Vec::new();
    for (number, line) in key_lines(text) {
        match x25519::Identity::from_str(line) {
            Ok(identity) => out.push(identity),
            Err(_) => anyhow::bail!(
                "{origin}, line {}: not an age identity (an AGE-SECRET-KEY-1... line as age-keygen writes; passphrase-protected identity files are not read)",
                number + 1
            ),
        }
    }
    if out.is_empty() {
        anyhow::bail!("{origin} holds no age identity");
    }
    Ok(out)
}

/// Reads age recipients (`age1...`), as `--recipient` gives them or a
/// recipients file lists them (`#` comments and blank lines skipped).
pub fn parse_recipients(text: &str, origin: &str) -> Result<Vec<x25519::Recipient>> {
    let mut out = Vec::new();
    for (number, line) in key_lines(text) {
        if line.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") {
            anyhow::bail!(
                "{origin}, line {}: this is an identity (a secret key), not a recipient: give its public key, which `age-keygen -y` prints",
                number + 1
            );
        }
        match x25519::Recipient::from_str(line) {
            Ok(r) => out.push(r),
            Err(e) => anyhow::bail!(
                "{origin}, line {}: {:?} is not an age recipient (age1...): {e}",
                number + 1,
                crate::github::workflow::neutralize(line)
            ),
        }
    }
    Ok(out)
}

/// The path of the note beside an encrypted set that says how to open it
/// without lifeboat: `<file>.README`.
pub fn readme_path(set: &Path) -> PathBuf {
    let mut name = set.as_os_str().to_owned();
    name.push(".README");
    PathBuf::from(name)
}

/// The note beside an encrypted set. It names no database and no table:
/// it lies outside the encryption.
pub fn readme(file_name: &str, encryption: &Encryption, compression: super::Algorithm) -> String {
    let tar = file_name.strip_suffix(".age").unwrap_or(file_name);
    let key = match encryption {
        Encryption::Passphrase(_) => "the passphrase it was made with (age asks for it)",
        Encryption::Recipients(_) => "the identity file of one of its recipients (`-i key.txt`)",
    };
    let decrypt = match encryption {
        Encryption::Passphrase(_) => format!("age -d -o {tar} {file_name}"),
        Encryption::Recipients(_) => format!("age -d -i key.txt -o {tar} {file_name}"),
    };
    let stream = match encryption {
        Encryption::Passphrase(_) => format!("age -d {file_name}"),
        Encryption::Recipients(_) => format!("age -d -i key.txt {file_name}"),
    };
    let unpack = match compression {
        super::Algorithm::Gzip => " | gunzip",
        super::Algorithm::Zstd => " | zstd -dc",
        super::Algorithm::None => "",
    };
    let with_lifeboat = match encryption {
        Encryption::Passphrase(_) => format!("LIFEBOAT_PASSPHRASE=... lifeboat restore {file_name} --to <target>"),
        Encryption::Recipients(_) => format!("lifeboat restore {file_name} --identity key.txt --to <target>"),
    };
    format!(
        "# {file_name}\n\n\
A lifeboat backup set, encrypted with age (https://age-encryption.org).\n\
Opening it takes {key}.\n\n\
With lifeboat:\n\n    {with_lifeboat}\n\n\
Without lifeboat, check the file, then decrypt it with the age CLI:\n\n    sha256sum -c {file_name}.sha256\n    {decrypt}\n\n\
{tar} is a plain lifeboat set. Its RESTORE.md says how to restore each\n\
database with stock tools; `tar -xOf {tar} manifest.json` lists them:\n\n    \
tar -xOf {tar} RESTORE.md\n    \
tar -xOf {tar} '<database>/<database>.db{ext}'{unpack} > restored.db     # SQLite\n    \
tar --wildcards -xOf {tar} '<database>/*'{unpack} | psql -v ON_ERROR_STOP=1 -d target   # PostgreSQL\n\n\
To leave no decrypted copy on disk, stream it instead:\n\n    \
{stream} | tar --wildcards -xOf - '<database>/*'{unpack} | psql -v ON_ERROR_STOP=1 -d target\n",
        ext = compression.extension(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn sealed(encryption: &Encryption, plain: &[u8]) -> Vec<u8> {
        let mut s = encryption.seal(Vec::new()).unwrap();
        s.write_all(plain).unwrap();
        s.finish().unwrap()
    }

    #[test]
    fn recipients_round_trip_and_seek() {
        let identity = x25519::Identity::generate();
        let encryption = Encryption::Recipients(vec![identity.to_public()]);
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let bytes = sealed(&encryption, &plain);
        assert!(looks_encrypted(&bytes));
        let keys = Keys::new(None, vec![identity], true);
        let mut reader = open(Cursor::new(&bytes), &keys, Path::new("x.tar.age")).unwrap();
        reader.seek(SeekFrom::Start(200_001)).unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &plain[200_001..]);
        // The file key is remembered: a second open needs no unwrap.
        assert_eq!(keys.inner.unwrapped.lock().unwrap().len(), 1);
        let mut again = open(Cursor::new(&bytes), &keys, Path::new("x.tar.age")).unwrap();
        let mut all = Vec::new();
        again.read_to_end(&mut all).unwrap();
        assert_eq!(all, plain);
    }

    #[test]
    fn wrong_missing_and_unauthenticated_keys_are_named() {
        let identity = x25519::Identity::generate();
        let bytes = sealed(&Encryption::Recipients(vec![identity.to_public()]), b"tar bytes");
        let path = Path::new("s.tar.age");
        let missing = open(Cursor::new(&bytes), &Keys::default(), path).err().unwrap();
        assert!(missing.is::<KeyMissing>());
        assert!(missing.to_string().contains(KEY_HINT), "{missing}");
        let other = Keys::new(None, vec![x25519::Identity::generate()], true);
        let wrong = open(Cursor::new(&bytes), &other, path).err().unwrap();
        assert!(wrong.to_string().contains("does not open it"), "{wrong}");
        let passphrase = Keys::new(Some(SecretString::from("pw".to_string())), vec![], true);
        let plain = open(Cursor::new(b"manifest.json".to_vec()), &passphrase, path)
            .err()
            .unwrap();
        assert!(plain.to_string().contains("--allow-unauthenticated"), "{plain}");
        assert!(
            open(
                Cursor::new(b"manifest.json".to_vec()),
                &passphrase.requiring_encrypted(false),
                path
            )
            .is_ok()
        );
    }

    #[test]
    fn a_truncated_stream_fails_to_read() {
        let identity = x25519::Identity::generate();
        let bytes = sealed(&Encryption::Recipients(vec![identity.to_public()]), &[7u8; 200_000]);
        let keys = Keys::new(None, vec![identity], false);
        let cut = &bytes[..bytes.len() - 1000];
        let mut reader = open(Cursor::new(cut), &keys, Path::new("s.tar.age")).unwrap();
        let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("truncated or was altered"), "{err}");
    }

    #[test]
    fn identities_and_recipients_are_parsed_without_quoting_secrets() {
        let identity = x25519::Identity::generate();
        let secret = identity.to_string().expose_secret().to_string();
        let text = format!("# created: now\n# public key: {}\n{secret}\n", identity.to_public());
        assert_eq!(parse_identities(&text, "key.txt").unwrap().len(), 1);
        let err = parse_identities(&format!("{secret}x\n"), "key.txt")
            .err()
            .unwrap()
            .to_string();
        assert!(!err.contains(&secret) && err.contains("line 1"), "{err}");
        let err = parse_recipients(&secret, "--recipient").unwrap_err().to_string();
        assert!(!err.contains(&secret) && err.contains("age-keygen -y"), "{err}");
        let recipients = parse_recipients(&format!("\n{}\n", identity.to_public()), "r.txt").unwrap();
        assert_eq!(recipients.len(), 1);
    }
}

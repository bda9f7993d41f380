//! Order-independent table digests and schema fingerprints, so that a
//! restored table can be compared with its source whatever the row order.

use sha2::{Digest, Sha256};

/// Sums the SHA-256 of every row as four 64-bit lanes. A sum, unlike XOR,
/// keeps duplicate rows from cancelling out; the row count is folded in at
/// the end.
#[derive(Debug, Clone, Default)]
pub struct RowDigest {
    lanes: [u64; 4],
    rows: u64,
}

impl RowDigest {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one row in the engine's canonical encoding.
    pub fn add_row(&mut self, row: &[u8]) {
        let hash = Sha256::digest(row);
        for (i, lane) in self.lanes.iter_mut().enumerate() {
            let bytes: [u8; 8] = hash[i * 8..i * 8 + 8].try_into().expect("8 bytes");
            *lane = lane.wrapping_add(u64::from_le_bytes(bytes));
        }
        self.rows += 1;
    }

    /// Combines digests taken over parts of a table.
    pub fn merge(&mut self, other: &RowDigest) {
        for (a, b) in self.lanes.iter_mut().zip(other.lanes) {
            *a = a.wrapping_add(b);
        }
        self.rows += other.rows;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// `sha256:` and the hex of the lanes and the count hashed together.
    pub fn hex(&self) -> String {
        let mut h = Sha256::new();
        for lane in self.lanes {
            h.update(lane.to_le_bytes());
        }
        h.update(self.rows.to_le_bytes());
        format!("sha256:{}", hex::encode(h.finalize()))
    }
}

/// The SHA-256 of a text, as hex.
pub fn sha256_hex(text: &[u8]) -> String {
    hex::encode(Sha256::digest(text))
}

/// One fingerprint over every (kind, name, definition hash), sorted, so
/// that the order the catalog lists objects in does not matter.
pub fn schema_fingerprint(objects: &[crate::archive::manifest::SchemaObject]) -> String {
    let mut sorted: Vec<_> = objects.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for o in sorted {
        h.update(o.kind.as_bytes());
        h.update([0]);
        h.update(o.name.as_bytes());
        h.update([0]);
        h.update(o.sha256.as_bytes());
        h.update([b'\n']);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(rows: &[&[u8]]) -> String {
        let mut d = RowDigest::new();
        rows.iter().for_each(|r| d.add_row(r));
        d.hex()
    }

    #[test]
    fn order_does_not_matter_but_content_and_duplicates_do() {
        assert_eq!(digest(&[b"a", b"b", b"c"]), digest(&[b"c", b"a", b"b"]));
        assert_ne!(digest(&[b"a", b"b"]), digest(&[b"a", b"c"]));
        assert_ne!(digest(&[b"a", b"a", b"b"]), digest(&[b"b"]));
        assert_ne!(digest(&[]), digest(&[b""]));
    }

    #[test]
    fn merged_parts_equal_the_whole() {
        let mut a = RowDigest::new();
        a.add_row(b"1");
        let mut b = RowDigest::new();
        b.add_row(b"2");
        a.merge(&b);
        assert_eq!(a.hex(), digest(&[b"2", b"1"]));
    }
}

//! The backup set file: tar writing and safe reading, compression,
//! checksums and the manifest.

pub mod checksum;
pub mod compression;
pub mod crypt;
pub mod manifest;
pub mod reader;
pub mod writer;

pub use compression::{Algorithm, Compression};
pub use manifest::{DatabaseManifest, Manifest, Member, SequencePosition, TableStats};

/// Turns a database or table name into something safe as one path
/// component inside the tar: letters, digits, `.`, `_`, `-`; anything else
/// becomes `_`.
pub fn safe_component(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_start_matches('.');
    if trimmed.is_empty() {
        "_".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn safe_component_strips_traversal_and_odd_characters() {
        assert_eq!(super::safe_component("../etc"), "_etc");
        assert_eq!(super::safe_component("odd name \"quoted\""), "odd_name__quoted_");
        assert_eq!(super::safe_component(".."), "_");
        assert_eq!(super::safe_component("app.db"), "app.db");
    }
}

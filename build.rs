//! Bakes a hash of the sources into the binary, so `lifeboat --version`
//! ties a shipped binary to the checkout it was built from.

include!("build/source_hash.rs");

fn main() {
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    for watched in ["src", "build", "build.rs", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    let hash = source_hash(&root).expect("reading the sources to hash them");
    println!("cargo:rustc-env=LIFEBOAT_SOURCE_HASH={hash}");
}

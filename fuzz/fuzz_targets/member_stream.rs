//! One member's bytes through the decoder restore and verify use, bounded
//! by a raw size: gzip (concatenated members too), zstd and stored. No
//! panic, never more bytes out than the bound allows.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lifeboat::archive::{Algorithm, reader::Bounded, compression};
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else { return };
    let algorithm = match head % 3 {
        0 => Algorithm::Gzip,
        1 => Algorithm::Zstd,
        _ => Algorithm::None,
    };
    // The bound a manifest would claim, from small to "anything".
    let limit = match head / 3 % 4 {
        0 => 0,
        1 => rest.len() as u64,
        2 => 1 << 20,
        _ => 64 << 20,
    };
    let Ok(decoder) = compression::decoder(algorithm, rest) else { return };
    let mut bounded = Bounded::new(decoder, limit);
    let mut buf = [0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        match bounded.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n as u64,
        }
    }
    assert!(total <= limit);
});

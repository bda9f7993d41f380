//! Member compression: gzip (default), zstd or none, as stock streams any
//! shell tool can read.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// How a member's bytes are compressed inside the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Gzip,
    Zstd,
    None,
}

impl Algorithm {
    /// The file name suffix a member compressed this way carries.
    pub fn extension(self) -> &'static str {
        match self {
            Algorithm::Gzip => ".gz",
            Algorithm::Zstd => ".zst",
            Algorithm::None => "",
        }
    }

    /// Measured with scripts/compression-levels.sh (README, Speed): gzip 2
    /// of zlib-rs is within 1% of `pg_dump | gzip` (level 6) in size on the
    /// fixtures at about half the CPU of 6; level 1 is 30-47% larger. zstd
    /// 2 is smaller than zstd 3 on every fixture (7% on agent_platform,
    /// 2% on the SQLite one) at about two thirds of its CPU.
    pub fn default_level(self) -> i32 {
        match self {
            Algorithm::Gzip => 2,
            Algorithm::Zstd => 2,
            Algorithm::None => 0,
        }
    }

    fn level_range(self) -> (i32, i32) {
        match self {
            Algorithm::Gzip => (0, 9),
            Algorithm::Zstd => (1, 19),
            Algorithm::None => (0, 0),
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "gzip" | "gz" => Ok(Algorithm::Gzip),
            "zstd" | "zst" => Ok(Algorithm::Zstd),
            "none" | "off" => Ok(Algorithm::None),
            other => bail!("unknown compression {other:?}: use gzip, zstd or none"),
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Algorithm::Gzip => "gzip",
            Algorithm::Zstd => "zstd",
            Algorithm::None => "none",
        })
    }
}

/// An algorithm with the level it runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compression {
    pub algorithm: Algorithm,
    pub level: i32,
}

impl Compression {
    /// Checks the level against what the algorithm accepts.
    pub fn new(algorithm: Algorithm, level: Option<i32>) -> Result<Self> {
        let level = level.unwrap_or_else(|| algorithm.default_level());
        let (lo, hi) = algorithm.level_range();
        if level < lo || level > hi {
            bail!("compression level {level} is out of range for {algorithm}: use {lo} to {hi}");
        }
        Ok(Compression { algorithm, level })
    }

    /// Wraps `inner` in an encoder; `finish` must be called to end the stream.
    pub fn encoder<'a, W: Write + 'a>(&self, inner: W) -> Result<Encoder<'a, W>> {
        Ok(match self.algorithm {
            Algorithm::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::new(self.level as u32),
            )),
            Algorithm::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(inner, self.level).context("starting zstd")?;
                enc.include_checksum(true).context("configuring zstd")?;
                Encoder::Zstd(enc)
            }
            Algorithm::None => Encoder::None(inner),
        })
    }
}

/// A compressing writer over any of the algorithms.
pub enum Encoder<'a, W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'a, W>),
    None(W),
}

impl<W: Write> Encoder<'_, W> {
    /// Ends the stream and hands back the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::None(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encoder<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::None(w) => w.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.write_all(buf),
            Encoder::Zstd(e) => e.write_all(buf),
            Encoder::None(w) => w.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::None(w) => w.flush(),
        }
    }
}

/// Wraps `inner` in the decoder for `algorithm`. Gzip reads concatenated
/// members as one stream, as `gunzip` does.
pub fn decoder<R: Read>(algorithm: Algorithm, inner: R) -> Result<Decoder<R>> {
    Ok(match algorithm {
        Algorithm::Gzip => Decoder::Gzip(Box::new(flate2::read::MultiGzDecoder::new(inner))),
        Algorithm::Zstd => Decoder::Zstd(
            zstd::stream::read::Decoder::with_buffer(io::BufReader::new(inner)).context("starting zstd decoder")?,
        ),
        Algorithm::None => Decoder::None(inner),
    })
}

/// A decompressing reader over any of the algorithms.
pub enum Decoder<R: Read> {
    Gzip(Box<flate2::read::MultiGzDecoder<R>>),
    Zstd(zstd::stream::read::Decoder<'static, io::BufReader<R>>),
    None(R),
}

impl<R: Read> Decoder<R> {
    /// The compressed stream under the decoder.
    pub fn get_mut(&mut self) -> &mut R {
        match self {
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut().get_mut(),
            Decoder::None(r) => r,
        }
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
            Decoder::None(r) => r.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_algorithm() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for algorithm in [Algorithm::Gzip, Algorithm::Zstd, Algorithm::None] {
            let c = Compression::new(algorithm, None).unwrap();
            let mut enc = c.encoder(Vec::new()).unwrap();
            enc.write_all(&data).unwrap();
            let packed = enc.finish().unwrap();
            let mut out = Vec::new();
            decoder(algorithm, &packed[..]).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, data, "{algorithm}");
        }
    }

    #[test]
    fn levels_are_checked() {
        assert!(Compression::new(Algorithm::Gzip, Some(10)).is_err());
        assert!(Compression::new(Algorithm::Zstd, Some(0)).is_err());
        assert_eq!(Compression::new(Algorithm::Zstd, Some(19)).unwrap().level, 19);
        assert!("lz4".parse::<Algorithm>().is_err());
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let c = Compression::new(Algorithm::Gzip, None).unwrap();
        let mut enc = c.encoder(Vec::new()).unwrap();
        enc.write_all(&[7u8; 50_000]).unwrap();
        let packed = enc.finish().unwrap();
        let cut = &packed[..packed.len() / 2];
        let mut out = Vec::new();
        assert!(decoder(Algorithm::Gzip, cut).unwrap().read_to_end(&mut out).is_err());
    }
}

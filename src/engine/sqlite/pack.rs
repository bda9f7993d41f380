//! One gzip member compressed on several threads, as pigz makes it: the
//! input is cut into chunks, each deflated on its own (primed with the 32
//! KiB before it, so the output is about as small as one deflate stream)
//! and ended on a byte boundary, and the pieces are joined in order behind
//! one gzip header and before one trailer. `gunzip` reads the result as
//! the single gzip member it is.

use flate2::{Compress, Crc, FlushCompress, Status};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

/// Input per chunk: large enough that the flush ending each one costs
/// nothing measurable, small enough that every worker has work at once.
const CHUNK: usize = 1 << 20;
/// Deflate looks back at most this far, so this much of the previous
/// chunk primes the next.
const WINDOW: usize = 32 << 10;

/// What a worker is given: the chunk's place, the bytes before it and its own.
struct Job {
    index: u64,
    dictionary: Vec<u8>,
    data: Vec<u8>,
    last: bool,
}

/// What a worker hands back: the chunk's deflated bytes, its CRC and its
/// length (the CRC's own count wraps at 4 GiB).
type Piece = io::Result<(Vec<u8>, Crc, u64)>;

/// Compresses all of `input` at `level` into `out` as one gzip member on
/// `workers` threads, with at most about three chunks per worker in
/// memory. `on_chunk` hears how many input bytes each finished chunk
/// held. Returns the input's length.
pub fn gzip(
    input: &mut (dyn Read + Send),
    out: &mut dyn Write,
    level: u32,
    workers: usize,
    on_chunk: &mut dyn FnMut(u64) -> io::Result<()>,
) -> io::Result<u64> {
    let workers = workers.max(1);
    let (jobs_in, jobs_out) = sync_channel::<Job>(workers);
    let jobs_out = Arc::new(Mutex::new(jobs_out));
    let (pieces_in, pieces_out) = channel::<(u64, Piece)>();
    // Tokens bound the chunks between reading and writing: the reader
    // takes one per chunk and the writer gives it back once written.
    let in_flight = 3 * workers;
    let (tokens_in, tokens_out) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        tokens_in.send(()).expect("the channel holds every token");
    }
    // Only the workers hold the jobs' receiving end: once they have all
    // stopped (the writer gone), a reader blocked on a full queue is let go.
    let worker_jobs: Vec<_> = (0..workers).map(|_| Arc::clone(&jobs_out)).collect();
    drop(jobs_out);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_chunks(input, &jobs_in, &tokens_out));
        for jobs in worker_jobs {
            let pieces = pieces_in.clone();
            scope.spawn(move || deflate_chunks(&jobs, &pieces, level));
        }
        drop(pieces_in);
        let written = write_pieces(out, level, &pieces_out, &tokens_in, on_chunk);
        // An early error leaves the others blocked on channels this side
        // holds: dropping them lets every thread end.
        drop(pieces_out);
        drop(tokens_in);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("reading for compression panicked")));
        let (raw, crc) = written?;
        let total = read?;
        if raw != total {
            return Err(io::Error::other(format!(
                "compressed {raw} of {total} bytes: a chunk went missing"
            )));
        }
        // The trailer: CRC-32 and length (mod 2^32) of the whole input.
        out.write_all(&crc.sum().to_le_bytes())?;
        out.write_all(&(total as u32).to_le_bytes())?;
        Ok(total)
    })
}

/// Cuts `input` into chunks for the workers; returns its length.
fn read_chunks(input: &mut (dyn Read + Send), jobs: &SyncSender<Job>, tokens: &Receiver<()>) -> io::Result<u64> {
    let mut total = 0u64;
    let mut index = 0u64;
    let mut dictionary = Vec::new();
    let mut next = fill(input)?;
    loop {
        let data = next;
        // One chunk of look-ahead tells whether this one is the last.
        next = if data.len() < CHUNK { Vec::new() } else { fill(input)? };
        let last = next.is_empty();
        total += data.len() as u64;
        let following = data[data.len().saturating_sub(WINDOW)..].to_vec();
        if tokens.recv().is_err() {
            // The writer stopped: its error is the one to report.
            return Ok(total);
        }
        let job = Job {
            index,
            dictionary: std::mem::replace(&mut dictionary, following),
            data,
            last,
        };
        if jobs.send(job).is_err() {
            return Ok(total);
        }
        if last {
            return Ok(total);
        }
        index += 1;
    }
}

/// Reads up to one chunk, short only at the end of the input.
fn fill(input: &mut (dyn Read + Send)) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(CHUNK);
    input.take(CHUNK as u64).read_to_end(&mut data)?;
    Ok(data)
}

/// Deflates chunks until there are none left.
fn deflate_chunks(jobs: &Mutex<Receiver<Job>>, pieces: &std::sync::mpsc::Sender<(u64, Piece)>, level: u32) {
    let mut deflate = Compress::new(flate2::Compression::new(level), false);
    loop {
        let job = match jobs.lock() {
            Ok(jobs) => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let piece = deflate_one(&mut deflate, &job);
        if pieces.send((job.index, piece)).is_err() {
            return;
        }
    }
}

/// One chunk as raw deflate: primed with the bytes before it, ended with a
/// sync flush (byte-aligned, not final) or, for the last, the final block.
fn deflate_one(deflate: &mut Compress, job: &Job) -> Piece {
    deflate.reset();
    if !job.dictionary.is_empty() {
        deflate
            .set_dictionary(&job.dictionary)
            .map_err(|e| io::Error::other(format!("priming deflate: {e}")))?;
    }
    let flush = if job.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(job.data.len() / 2 + 1024);
    let start = deflate.total_in();
    loop {
        let consumed = (deflate.total_in() - start) as usize;
        let status = deflate
            .compress_vec(&job.data[consumed..], &mut out, flush)
            .map_err(|e| io::Error::other(format!("deflating: {e}")))?;
        let all_in = (deflate.total_in() - start) as usize == job.data.len();
        // Done when the input is in and the flush left room to spare (so
        // nothing of it is still held back), or the stream has ended.
        let done = match status {
            Status::StreamEnd => true,
            _ => all_in && !job.last && out.len() < out.capacity(),
        };
        if done {
            break;
        }
        out.reserve(out.capacity().max(64 << 10));
    }
    let mut crc = Crc::new();
    crc.update(&job.data);
    Ok((out, crc, job.data.len() as u64))
}

/// Writes the header, then the pieces in input order as they come back;
/// returns the input bytes they covered and their combined CRC.
fn write_pieces(
    out: &mut dyn Write,
    level: u32,
    pieces: &Receiver<(u64, Piece)>,
    tokens: &SyncSender<()>,
    on_chunk: &mut dyn FnMut(u64) -> io::Result<()>,
) -> io::Result<(u64, Crc)> {
    // The header GzEncoder writes: no name, no time, "unknown" system,
    // and the extra flags deflate's level implies.
    let extra_flags = match level {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    };
    out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extra_flags, 0xff])?;
    let mut waiting = BTreeMap::new();
    let mut next = 0u64;
    let mut crc = Crc::new();
    let mut raw = 0u64;
    for (index, piece) in pieces {
        waiting.insert(index, piece?);
        while let Some((bytes, piece_crc, len)) = waiting.remove(&next) {
            out.write_all(&bytes)?;
            crc.combine(&piece_crc);
            raw += len;
            on_chunk(len)?;
            next += 1;
            // The reader may have ended already; a token it does not need
            // is no error.
            let _ = tokens.try_send(());
        }
    }
    Ok((raw, crc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(data: &[u8], level: u32, workers: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chunks = 0;
        let n = gzip(&mut &data[..], &mut out, level, workers, &mut |_| {
            chunks += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(chunks, data.len().div_ceil(CHUNK).max(1));
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        // Text-like, repetitive across chunk boundaries, with some noise.
        let mut x = 12345u32;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if i % 97 < 80 {
                    b"the quick brown fox "[i % 20]
                } else {
                    (x >> 24) as u8
                }
            })
            .collect()
    }

    #[test]
    fn one_gzip_member_that_gunzip_reads() {
        for len in [0, 1, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 4321] {
            let data = sample(len);
            for workers in [1, 2, 3] {
                let packed = pack(&data, 2, workers);
                // One member: the single-member decoder reads it whole and
                // nothing is left behind it.
                let mut decoder = flate2::bufread::GzDecoder::new(&packed[..]);
                let mut back = Vec::new();
                decoder.read_to_end(&mut back).unwrap();
                assert_eq!(back, data, "{len} bytes, {workers} workers");
                assert!(decoder.into_inner().is_empty());
            }
        }
    }

    #[test]
    fn about_as_small_as_one_stream() {
        let data = sample(4 * CHUNK);
        let mut serial = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(2));
        serial.write_all(&data).unwrap();
        let serial = serial.finish().unwrap();
        let parallel = pack(&data, 2, 2);
        assert!(
            parallel.len() as f64 <= serial.len() as f64 * 1.01,
            "{} against {}",
            parallel.len(),
            serial.len()
        );
    }

    #[test]
    fn an_error_from_the_writer_stops_every_thread() {
        let data = sample(5 * CHUNK);
        let mut out = Vec::new();
        let mut seen = 0;
        let err = gzip(&mut &data[..], &mut out, 2, 2, &mut |_| {
            seen += 1;
            if seen == 2 {
                Err(io::Error::other("disk full"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
    }

    #[test]
    fn a_writer_that_stops_at_once_does_not_leave_the_reader_waiting() {
        // Far more input than the chunks in flight: the reader is blocked
        // on a full queue when the writer gives up (a run cancelled by
        // SIGTERM), and must be let go, not wait for workers that are gone.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut input = io::repeat(b'x').take(64 * CHUNK as u64);
            let result = gzip(&mut input, &mut io::sink(), 2, 2, &mut |_| {
                Err(io::Error::other("cancelled by SIGTERM"))
            });
            let _ = done.send(result.map_err(|e| e.to_string()));
        });
        let result = finished
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("gzip returned after its writer stopped");
        assert_eq!(result.unwrap_err(), "cancelled by SIGTERM");
    }
}

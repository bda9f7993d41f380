//! Table data as members: `COPY ... TO STDOUT` in text format, each chunk a
//! plain SQL script (`COPY ... FROM stdin;`, the rows, `\.`) that psql can
//! run, digested row by row on the way.

use super::binary;
use super::catalog::TableData;
use crate::archive::manifest::{Member, TableStats};
use crate::archive::writer::{MemberWriter, Staging};
use crate::digest::RowDigest;
use crate::progress::Task;
use anyhow::{Context, Result};
use postgres::Client;
use std::io::{BufRead, BufReader, Read, Write};

/// Raw bytes after which a table's data continues in a new member. Each
/// member is a COPY a parallel restore can run beside the others, so a
/// large table loads over several connections; 64 MB keeps the count of
/// members small (a 10 GB table makes 160) while a table of a few hundred
/// MB already spreads over every job.
pub const CHUNK_BYTES: u64 = 64 << 20;

/// [`CHUNK_BYTES`], or `LIFEBOAT_TEST_CHUNK_BYTES` where a test sets it, so
/// a small table can be split into several members.
fn chunk_bytes() -> u64 {
    std::env::var("LIFEBOAT_TEST_CHUNK_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(CHUNK_BYTES)
}

pub fn copy_out_sql(table: &TableData) -> String {
    if let Some(condition) = &table.filter {
        return format!(
            "COPY (SELECT {} FROM {} {condition}) TO STDOUT",
            if table.columns.is_empty() {
                "*".to_string()
            } else {
                table.columns.join(", ")
            },
            table.qualified
        );
    }
    if table.columns.is_empty() {
        format!("COPY {} TO STDOUT", table.qualified)
    } else {
        format!("COPY {} ({}) TO STDOUT", table.qualified, table.columns.join(", "))
    }
}

fn copy_in_header(table: &TableData) -> String {
    if table.columns.is_empty() {
        format!("COPY {} FROM stdin;\n", table.qualified)
    } else {
        format!("COPY {} ({}) FROM stdin;\n", table.qualified, table.columns.join(", "))
    }
}

/// Reads every row of a table; `sink` gets each line with its newline.
pub fn read_rows(
    client: &mut Client,
    table: &TableData,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<TableStats> {
    let reader = client
        .copy_out(copy_out_sql(table).as_str())
        .with_context(|| format!("reading table {}", table.display))?;
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut digest = RowDigest::new();
    let mut raw_bytes = 0u64;
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading table {}", table.display))?;
        if n == 0 {
            break;
        }
        crate::cancel::check()?;
        let row = line.strip_suffix(b"\n").unwrap_or(&line);
        digest.add_row(row);
        raw_bytes += n as u64;
        sink(&line)?;
    }
    Ok(TableStats {
        columns: table.columns.clone(),
        name: table.display.clone(),
        rows: digest.rows(),
        raw_bytes,
        digest: digest.hex(),
        sql_name: Some(table.qualified.clone()),
        references: table.references.clone(),
    })
}

/// Dumps one table into one or more members.
pub fn dump_table(
    client: &mut Client,
    table: &TableData,
    staging: &Staging,
    database: &str,
    seq: usize,
    task: &Task,
) -> Result<(Vec<Member>, TableStats)> {
    let header = copy_in_header(table);
    let base = format!("1-data-{seq:05}-{}", crate::archive::safe_component(&table.display));
    let mut members = Vec::new();
    let mut part = 1;
    let start = |name: String| -> Result<MemberWriter> {
        let mut member = staging.member(database, &name, "data", Some(&table.display))?;
        member.write_all(header.as_bytes())?;
        Ok(member)
    };
    let mut current = Some(start(format!("{base}.sql"))?);
    let mut in_chunk = 0u64;
    let chunk = chunk_bytes();
    let stats = read_rows(client, table, |line| {
        if in_chunk >= chunk {
            if let Some(mut done) = current.take() {
                done.write_all(b"\\.\n\n")?;
                // Finished before the next starts, so the next can take
                // the set's tail instead of waiting in memory.
                members.push(done.finish()?);
            }
            part += 1;
            in_chunk = 0;
            current = Some(start(format!("{base}-part{part}.sql"))?);
        }
        let member = current.as_mut().context("a member of the table")?;
        member.write_all(line)?;
        in_chunk += line.len() as u64;
        task.inc(line.len() as u64);
        Ok(())
    })?;
    let mut last = current.context("a member of the table")?;
    last.write_all(b"\\.\n\n")?;
    members.push(last.finish()?);
    Ok((members, stats))
}

/// Loads one data member of `table` (whose manifest entry gives its SQL
/// name and columns). Its first line must be the COPY lifeboat writes for
/// that table; lifeboat runs its own COPY, and the rest of the member up
/// to `\\.` goes to the server as COPY data only: as it is, or with
/// `binary`, converted row by row to COPY's binary format (a row it cannot
/// convert stops the COPY with [`binary::NotConvertible`], and the caller
/// loads the member as text). With `freeze` the rows go in frozen (COPY's
/// FREEZE: the caller emptied the table in the same transaction). Returns
/// the number of rows the server took.
/// The member is read to its end before the COPY ends, so a reader that
/// checks the member's hash at its end (see `SetSource::open`) fails the
/// COPY instead of letting it finish.
pub fn load_member(
    client: &mut Client,
    table: &TableStats,
    mut reader: impl BufRead,
    binary: Option<&binary::RowFormat>,
    freeze: bool,
) -> Result<u64> {
    // The header is one short line; a member without a newline early on is
    // not lifeboat's, and must not make us read it all into memory.
    let mut header = Vec::new();
    // A quoted name may hold a newline: the line runs to `FROM stdin;`.
    loop {
        let before = header.len();
        (&mut reader)
            .take((64 << 10) - before as u64)
            .read_until(b'\n', &mut header)?;
        if header.len() == before || header.ends_with(b"FROM stdin;\n") || header.len() >= 64 << 10 {
            break;
        }
    }
    if !header.ends_with(b"\n") {
        anyhow::bail!(
            "a data member of {} does not start with a COPY line: the set was altered",
            crate::github::workflow::neutralize(&table.name)
        );
    }
    let header = String::from_utf8(header).context("a data member's COPY line is not UTF-8")?;
    let sql_name = table.sql_name.as_deref().unwrap_or(&table.name);
    let mut statement = super::guard::copy_statement(&header, sql_name, &table.columns)?;
    match (binary.is_some(), freeze) {
        (true, true) => statement.push_str(" WITH (FORMAT binary, FREEZE)"),
        (true, false) => statement.push_str(" WITH (FORMAT binary)"),
        (false, true) => statement.push_str(" WITH (FREEZE)"),
        (false, false) => {}
    }
    let mut writer = client.copy_in(statement.as_str()).context("starting COPY")?;
    let leftover = match binary {
        None => copy_until_end_marker(&mut reader, &mut writer)?,
        Some(format) => convert_until_end_marker(&mut reader, &mut writer, format)?,
    };
    // Nothing but blank lines may follow the rows: one COPY per member.
    // Dropping the writer unfinished on an error aborts the COPY.
    let mut rest = leftover;
    reader.read_to_end_bounded(&mut rest)?;
    if rest.iter().any(|b| !b.is_ascii_whitespace()) {
        anyhow::bail!(
            "a data member of {} holds more after its rows' end marker: the set was altered",
            crate::github::workflow::neutralize(&table.name)
        );
    }
    // The server's own count of the rows it took.
    let rows = writer.finish().context("finishing COPY")?;
    Ok(rows)
}

/// Sends the rows up to the `\\.` line as binary tuples, in blocks of
/// about [`SEND_BYTES`]; returns what follows the marker's line.
fn convert_until_end_marker(
    reader: &mut dyn BufRead,
    out: &mut impl Write,
    format: &binary::RowFormat,
) -> Result<Vec<u8>> {
    let mut block = Vec::with_capacity(SEND_BYTES + (64 << 10));
    block.extend_from_slice(binary::HEADER);
    let mut scratch = binary::Scratch::default();
    // Converts one row; true at the end marker.
    let mut row = |line: &[u8], block: &mut Vec<u8>| -> Result<bool> {
        if line == b"\\." {
            return Ok(true);
        }
        // A carriage return is data only escaped; COPY FROM would read a
        // raw one as the end of the line.
        if memchr::memchr(b'\r', line).is_some() {
            return Err(binary::NotConvertible.into());
        }
        format.row(line, block, &mut scratch)?;
        Ok(false)
    };
    // Rows are read where they lie in the reader's buffer; only a row
    // split between two reads is put together here, and a row held whole
    // in memory is bounded: a longer one streams as text instead.
    let mut partial = Vec::new();
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            anyhow::bail!("a data member ends before its end marker (\\.): the set is damaged");
        }
        let mut start = 0;
        let mut end = false;
        for at in memchr::memchr_iter(b'\n', buf) {
            if (partial.len() + at - start) as u64 > LONGEST_ROW {
                return Err(binary::NotConvertible.into());
            }
            end = if partial.is_empty() {
                row(&buf[start..at], &mut block)?
            } else {
                partial.extend_from_slice(&buf[start..at]);
                let end = row(&partial, &mut block)?;
                partial.clear();
                end
            };
            start = at + 1;
            if end {
                break;
            }
            if block.len() >= SEND_BYTES {
                crate::cancel::check()?;
                out.write_all(&block)?;
                block.clear();
            }
        }
        if end {
            reader.consume(start);
            block.extend_from_slice(binary::TRAILER);
            out.write_all(&block)?;
            return Ok(Vec::new());
        }
        if (partial.len() + buf.len() - start) as u64 > LONGEST_ROW {
            return Err(binary::NotConvertible.into());
        }
        partial.extend_from_slice(&buf[start..]);
        let n = buf.len();
        reader.consume(n);
    }
}

/// How much converted data is sent to the server at a time.
const SEND_BYTES: usize = 256 << 10;

/// The longest row converted to binary; a member with a longer one loads
/// as text.
const LONGEST_ROW: u64 = 4 << 20;

trait ReadToEndBounded {
    fn read_to_end_bounded(&mut self, out: &mut Vec<u8>) -> Result<()>;
}

impl<R: Read> ReadToEndBounded for R {
    /// Reads what is left, keeping at most 64 KiB of it: enough to tell
    /// blank lines from anything else.
    fn read_to_end_bounded(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let mut buf = [0u8; 8192];
        loop {
            let n = self.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            if out.len() < 64 << 10 {
                out.extend_from_slice(&buf[..n]);
            } else if buf[..n].iter().any(|b| !b.is_ascii_whitespace()) {
                out.push(b'x');
                return Ok(());
            }
        }
    }
}

/// Streams rows to `out` in whole blocks up to the `\\.` line that ends
/// them; returns the bytes read past the marker. (The server counts the
/// rows.) Rows cannot hold a raw newline (COPY text escapes it), so the
/// marker is `\\n\\.\\n`, or `\\.\\n` at the very start. Each block is
/// searched once with `memmem` and sent as it is; only the last few bytes
/// of a block, which may begin the marker, wait for the next.
fn copy_until_end_marker(reader: &mut dyn BufRead, out: &mut impl Write) -> Result<Vec<u8>> {
    const MARKER: &[u8] = b"\n\\.\n";
    let keep = MARKER.len() - 1;
    let finder = memchr::memmem::Finder::new(MARKER);
    // Bytes read but not sent yet (at most `keep`), as they may begin the
    // marker. It starts with a newline that is not data, so an empty
    // table's marker is found like any other; `skip` bytes at its front
    // are never sent.
    let mut tail: Vec<u8> = vec![b'\n'];
    let mut skip = 1;
    loop {
        crate::cancel::check()?;
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            anyhow::bail!("a data member ends before its end marker (\\.): the set is damaged");
        }
        let n = buf.len();
        // A marker that starts in the tail ends within `keep` bytes of the
        // block.
        let mut joined = tail.clone();
        joined.extend_from_slice(&buf[..n.min(keep)]);
        if let Some(at) = finder.find(&joined) {
            out.write_all(&joined[skip.min(at + 1)..at + 1])?;
            let leftover = buf[at + MARKER.len() - tail.len()..].to_vec();
            reader.consume(n);
            return Ok(leftover);
        }
        if let Some(at) = finder.find(buf) {
            out.write_all(&tail[skip..])?;
            out.write_all(&buf[..at + 1])?;
            let leftover = buf[at + MARKER.len()..].to_vec();
            reader.consume(n);
            return Ok(leftover);
        }
        if n >= keep {
            out.write_all(&tail[skip..])?;
            out.write_all(&buf[..n - keep])?;
            tail.clear();
            tail.extend_from_slice(&buf[n - keep..]);
            skip = 0;
        } else {
            tail.extend_from_slice(buf);
            if tail.len() > keep {
                let end = tail.len() - keep;
                if end > skip {
                    out.write_all(&tail[skip..end])?;
                }
                skip = skip.saturating_sub(end);
                tail.drain(..end);
            }
        }
        reader.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::copy_until_end_marker;
    use std::io::BufReader;

    #[test]
    fn finds_the_marker_across_block_boundaries() {
        let body = b"a\tb\nc\\.d\n\\.x\n\\.\nCOPY next FROM stdin;\n";
        for capacity in 1..body.len() + 2 {
            let mut reader = BufReader::with_capacity(capacity, &body[..]);
            let mut out = Vec::new();
            let leftover = copy_until_end_marker(&mut reader, &mut out).unwrap();
            assert_eq!(out, b"a\tb\nc\\.d\n\\.x\n", "capacity {capacity}");
            assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 3, "capacity {capacity}");
            let mut rest = String::from_utf8(leftover).unwrap();
            std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
            assert_eq!(rest, "COPY next FROM stdin;\n", "capacity {capacity}");
        }
        for capacity in [1, 2, 3, 64] {
            let mut empty = BufReader::with_capacity(capacity, &b"\\.\n\n"[..]);
            let mut out = Vec::new();
            copy_until_end_marker(&mut empty, &mut out).unwrap();
            assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 0);
            assert!(out.is_empty());
        }
        assert!(copy_until_end_marker(&mut BufReader::new(&b"a\nb\n"[..]), &mut Vec::new()).is_err());
    }

    #[test]
    fn sends_exactly_the_rows_before_the_first_marker() {
        // Rows that hold backslashes and dots, a marker at every place a
        // block boundary can cut it, and bytes after it.
        // (COPY text doubles a backslash in data, so a row is never `\.`.)
        let rows = [
            "",
            "a",
            r"\\.",
            r".\\",
            r"x\\.y",
            r"\\",
            "..",
            r"long row with \\. inside",
            r"\\.\\.",
        ];
        for count in 0..rows.len() {
            let data: String = rows[..count].iter().map(|r| format!("{r}\n")).collect();
            let body = format!("{data}\\.\nafter\n");
            for capacity in 1..body.len() + 2 {
                let mut reader = BufReader::with_capacity(capacity, body.as_bytes());
                let mut out = Vec::new();
                let leftover = copy_until_end_marker(&mut reader, &mut out).unwrap();
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    data,
                    "{count} rows, capacity {capacity}"
                );
                let mut rest = String::from_utf8(leftover).unwrap();
                std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
                assert_eq!(rest, "after\n", "{count} rows, capacity {capacity}");
            }
        }
    }
}

//! A data member's text rows turned into COPY's binary format on the way
//! to the server, for tables whose every column has a type lifeboat reads
//! exactly as the server's own input function would: the server then
//! stores values instead of parsing text (a `real[]` column loads about
//! four times faster), which `pg_restore` cannot do. Anything this module
//! does not recognise as the output PostgreSQL itself prints is refused
//! ([`NotConvertible`]), and the member is loaded as text instead: a value
//! is never guessed at.

use crate::archive::manifest::TableStats;
use anyhow::Result;
use postgres::Client;
use std::collections::HashMap;

/// The start of every binary COPY stream: signature, flags, no extension.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end of a binary COPY stream.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// A value lifeboat cannot convert with certainty, or a row whose shape
/// is not COPY's: the member goes to the server as text, which decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotConvertible;

impl std::fmt::Display for NotConvertible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value is not in the form lifeboat converts to binary")
    }
}

impl std::error::Error for NotConvertible {}

type Converted = std::result::Result<(), NotConvertible>;

/// How a column's text becomes its binary form: the wire format of the
/// type's receive function (of the base type, for a domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    /// The bytes as they are: text, varchar, char(n), json, enum labels.
    Bytes,
    /// A type an extension receives with `textrecv` (citext): the bytes
    /// as they are, for a column without a type modifier, which
    /// `textrecv` would not apply.
    TextReceived,
    Jsonb,
    Bytea,
    Uuid,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Interval,
    /// An array; the receive function checks that `element_type` is the
    /// array type's element type.
    Array {
        element_type: u32,
        element: Box<Kind>,
    },
}

/// Kinds of the built-in types, by their OIDs (the same in every version).
fn builtin(oid: u32) -> Option<Kind> {
    Some(match oid {
        16 => Kind::Bool,
        17 => Kind::Bytea,
        20 => Kind::Int8,
        21 => Kind::Int2,
        23 => Kind::Int4,
        25 | 114 | 1042 | 1043 => Kind::Bytes,
        700 => Kind::Float4,
        701 => Kind::Float8,
        1082 => Kind::Date,
        1083 => Kind::Time,
        1114 => Kind::Timestamp,
        1184 => Kind::TimestampTz,
        1186 => Kind::Interval,
        1700 => Kind::Numeric,
        2950 => Kind::Uuid,
        3802 => Kind::Jsonb,
        _ => return None,
    })
}

/// Which tables of a restore go to the server in binary, and which fell
/// back to text on a value that would not convert.
pub struct Plans {
    formats: HashMap<String, RowFormat>,
    tables: usize,
    /// Whether the rows load inside the restore's transaction, where a
    /// COPY that fails must be undone to a savepoint.
    pub in_transaction: bool,
    fell_back: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Plans {
    /// Reads the target's catalog (with the set's schema in) for the
    /// tables whose rows are about to load. Nothing here can fail on the
    /// server, so a restore's transaction is safe.
    pub fn read<'a>(
        client: &mut Client,
        tables: impl IntoIterator<Item = &'a TableStats>,
        in_transaction: bool,
    ) -> Result<Plans> {
        let tables: Vec<&TableStats> = tables.into_iter().collect();
        let names: Vec<&str> = tables
            .iter()
            .map(|t| t.sql_name.as_deref().unwrap_or(&t.name))
            .collect();
        // Named as the manifest names tables (`format('%I.%I')`).
        let rows = client.query(
            "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), a.attname::text, a.atttypid, a.atttypmod \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE pg_catalog.format('%I.%I', n.nspname, c.relname) = ANY($1) AND c.relkind IN ('r', 'p') \
             AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY 1, a.attnum",
            &[&names],
        )?;
        let mut columns: HashMap<String, Vec<Column>> = HashMap::new();
        for row in rows {
            columns.entry(row.try_get(0)?).or_default().push(Column {
                name: row.try_get(1)?,
                type_oid: row.try_get(2)?,
                typmod: row.try_get(3)?,
            });
        }
        let mut types = Types::default();
        let mut formats = HashMap::new();
        for (table, sql_name) in tables.iter().zip(&names) {
            let Some(attributes) = columns.get(*sql_name) else {
                continue;
            };
            if let Some(format) = types.row_format(client, attributes, &table.columns)? {
                formats.insert(table.name.clone(), format);
            }
        }
        Ok(Plans {
            formats,
            tables: tables.len(),
            in_transaction,
            fell_back: Default::default(),
        })
    }

    /// How to send `table`'s rows in binary; None sends them as text.
    pub fn format(&self, table: &str) -> Option<&RowFormat> {
        if self.fell_back.lock().expect("fell_back").contains(table) {
            return None;
        }
        self.formats.get(table)
    }

    /// Sends the rest of `table` as text.
    pub fn fall_back(&self, table: &str) {
        self.fell_back.lock().expect("fell_back").insert(table.to_string());
    }

    /// For the restore's log: how many tables went in binary.
    pub fn summary(&self) -> String {
        let fell_back = self.fell_back.lock().expect("fell_back");
        let mut line = format!(
            "rows of {} of {} tables sent in binary",
            self.formats.len() - fell_back.len(),
            self.tables
        );
        if !fell_back.is_empty() {
            line.push_str(&format!(
                " ({} back to text on a row lifeboat does not convert: {})",
                fell_back.len(),
                fell_back
                    .iter()
                    .map(|t| crate::github::workflow::neutralize(t))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        line
    }
}

/// A column COPY takes, as the target's catalog has it.
struct Column {
    name: String,
    type_oid: u32,
    typmod: i32,
}

/// The kinds of the target's types, each looked up once.
#[derive(Default)]
struct Types {
    kinds: HashMap<u32, Option<Kind>>,
}

impl Types {
    /// The kinds of the columns a member's COPY names (`columns` as SQL;
    /// empty for every column COPY takes), or None where one of them has
    /// a type this module does not convert.
    fn row_format(
        &mut self,
        client: &mut Client,
        attributes: &[Column],
        columns: &[String],
    ) -> Result<Option<RowFormat>> {
        let chosen: Vec<&Column> = if columns.is_empty() {
            attributes.iter().collect()
        } else {
            let mut chosen = Vec::new();
            for column in columns {
                let name = match super::guard::parse_qualified(column).as_deref() {
                    Ok([one]) => one.clone(),
                    _ => return Ok(None),
                };
                match attributes.iter().find(|a| a.name == name) {
                    Some(a) => chosen.push(a),
                    None => return Ok(None),
                }
            }
            chosen
        };
        // A table without columns has rows of nothing, which text checks.
        if chosen.is_empty() {
            return Ok(None);
        }
        let mut kinds = Vec::new();
        for column in chosen {
            match self.kind(client, column.type_oid, column.typmod)? {
                Some(kind) => kinds.push(kind),
                None => return Ok(None),
            }
        }
        Ok(Some(RowFormat { kinds }))
    }

    fn kind(&mut self, client: &mut Client, oid: u32, typmod: i32) -> Result<Option<Kind>> {
        let kind = match self.kinds.get(&oid) {
            Some(known) => known.clone(),
            None => {
                let kind = self.resolve(client, oid, 0)?;
                self.kinds.insert(oid, kind.clone());
                kind
            }
        };
        let text_received = |k: &Kind| match k {
            Kind::Array { element, .. } => **element == Kind::TextReceived,
            other => *other == Kind::TextReceived,
        };
        Ok(kind.filter(|k| typmod == -1 || !text_received(k)))
    }

    fn resolve(&mut self, client: &mut Client, oid: u32, depth: usize) -> Result<Option<Kind>> {
        if let Some(kind) = builtin(oid) {
            return Ok(Some(kind));
        }
        if depth > 8 {
            return Ok(None);
        }
        let Some(row) = client.query_opt(
            "SELECT t.typtype::text, t.typbasetype, t.typelem, \
             COALESCE(e.typarray = t.oid, false), COALESCE(p.prosrc = 'textrecv' AND p.prolang = 12, false) \
             FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem \
             LEFT JOIN pg_catalog.pg_proc p ON p.oid = t.typreceive WHERE t.oid = $1",
            &[&oid],
        )?
        else {
            return Ok(None);
        };
        let typtype: String = row.try_get(0)?;
        let base: u32 = row.try_get(1)?;
        let element_type: u32 = row.try_get(2)?;
        let is_array: bool = row.try_get(3)?;
        let text_received: bool = row.try_get(4)?;
        Ok(match typtype.as_str() {
            "d" => self.resolve(client, base, depth + 1)?,
            "e" => Some(Kind::Bytes),
            "b" if is_array => match self.resolve(client, element_type, depth + 1)? {
                Some(Kind::Array { .. }) | None => None,
                Some(element) => Some(Kind::Array {
                    element_type,
                    element: Box::new(element),
                }),
            },
            "b" if text_received => Some(Kind::TextReceived),
            _ => None,
        })
    }
}

/// The kinds of one member's columns, in COPY's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFormat {
    pub kinds: Vec<Kind>,
}

impl RowFormat {
    /// Appends one row (a line of COPY text, without its newline) to `out`
    /// as a binary tuple. On `Err`, `out` holds part of a tuple and must
    /// not be sent.
    pub fn row(&self, line: &[u8], out: &mut Vec<u8>, scratch: &mut Scratch) -> Converted {
        out.extend_from_slice(&(self.kinds.len() as i16).to_be_bytes());
        let mut pos = 0;
        for (i, kind) in self.kinds.iter().enumerate() {
            if pos > line.len() {
                return Err(NotConvertible);
            }
            let start = pos;
            let mut escaped = false;
            let end = loop {
                match memchr::memchr2(b'\t', b'\\', &line[pos..]) {
                    None => {
                        pos = line.len() + 1;
                        break line.len();
                    }
                    Some(k) if line[pos + k] == b'\t' => {
                        let end = pos + k;
                        pos = end + 1;
                        break end;
                    }
                    // The escaped byte is the field's, even a tab.
                    Some(k) => {
                        escaped = true;
                        pos += k + 2;
                        if pos > line.len() {
                            return Err(NotConvertible);
                        }
                    }
                }
            };
            // A delimiter after the last column is an extra column.
            let last = i + 1 == self.kinds.len();
            if last != (pos == line.len() + 1) {
                return Err(NotConvertible);
            }
            let raw = &line[start..end];
            if raw == b"\\N" {
                out.extend_from_slice(&(-1i32).to_be_bytes());
                continue;
            }
            let value: &[u8] = if escaped {
                unescape(raw, &mut scratch.field)?;
                &scratch.field
            } else {
                raw
            };
            field(kind, value, out, &mut scratch.array)?;
        }
        Ok(())
    }
}

/// Buffers a converter reuses from row to row.
#[derive(Default)]
pub struct Scratch {
    field: Vec<u8>,
    array: Vec<u8>,
}

/// Undoes COPY text's backslash escapes as COPY FROM does. A lone
/// backslash at the end, and an octal or hex escape for a NUL or a byte
/// above ASCII (which COPY FROM takes in the server's encoding, not the
/// client's), are refused.
fn unescape(raw: &[u8], out: &mut Vec<u8>) -> Converted {
    out.clear();
    let mut rest = raw;
    while let Some(at) = memchr::memchr(b'\\', rest) {
        out.extend_from_slice(&rest[..at]);
        let escape = &rest[at + 1..];
        let (&next, _) = escape.split_first().ok_or(NotConvertible)?;
        let mut used = 1;
        let c = match next {
            b'0'..=b'7' => {
                let mut v = u32::from(next - b'0');
                while used < 3 {
                    match escape.get(used) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            used += 1;
                        }
                        _ => break,
                    }
                }
                ascii((v & 0xff) as u8)?
            }
            b'x' => match escape.get(1).and_then(|&d| hex(d)) {
                Some(high) => {
                    used += 1;
                    let v = match escape.get(2).and_then(|&d| hex(d)) {
                        Some(low) => {
                            used += 1;
                            high * 16 + low
                        }
                        None => high,
                    };
                    ascii(v)?
                }
                None => b'x',
            },
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 11,
            other => other,
        };
        out.push(c);
        rest = &escape[used..];
    }
    out.extend_from_slice(rest);
    Ok(())
}

/// A byte an octal or hex escape made, where it means the same in every
/// encoding.
fn ascii(b: u8) -> std::result::Result<u8, NotConvertible> {
    if b == 0 || b >= 0x80 {
        Err(NotConvertible)
    } else {
        Ok(b)
    }
}

fn hex(d: u8) -> Option<u8> {
    (d as char).to_digit(16).map(|v| v as u8)
}

/// Appends one non-NULL value, with its length in front.
fn field(kind: &Kind, v: &[u8], out: &mut Vec<u8>, array_body: &mut Vec<u8>) -> Converted {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    match kind {
        Kind::Array { element_type, element } => array(v, *element_type, element, out, array_body)?,
        scalar => value(scalar, v, out)?,
    }
    let len = i32::try_from(out.len() - at - 4).map_err(|_| NotConvertible)?;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Appends the binary form of one scalar value (no length).
fn value(kind: &Kind, v: &[u8], out: &mut Vec<u8>) -> Converted {
    match kind {
        Kind::Bool => out.push(match v {
            b"t" => 1,
            b"f" => 0,
            _ => return Err(NotConvertible),
        }),
        Kind::Int2 => out.extend_from_slice(&integer::<i16>(v)?.to_be_bytes()),
        Kind::Int4 => out.extend_from_slice(&integer::<i32>(v)?.to_be_bytes()),
        Kind::Int8 => out.extend_from_slice(&integer::<i64>(v)?.to_be_bytes()),
        Kind::Float4 => out.extend_from_slice(&float::<f32>(v)?.to_be_bytes()),
        Kind::Float8 => out.extend_from_slice(&float::<f64>(v)?.to_be_bytes()),
        Kind::Numeric => numeric(v, out)?,
        Kind::Bytes | Kind::TextReceived => out.extend_from_slice(v),
        Kind::Jsonb => {
            out.push(1);
            out.extend_from_slice(v);
        }
        Kind::Bytea => {
            let digits = v.strip_prefix(b"\\x").ok_or(NotConvertible)?;
            if digits.len() % 2 != 0 {
                return Err(NotConvertible);
            }
            for pair in digits.chunks_exact(2) {
                let high = hex(pair[0]).ok_or(NotConvertible)?;
                let low = hex(pair[1]).ok_or(NotConvertible)?;
                out.push(high * 16 + low);
            }
        }
        Kind::Uuid => {
            if v.len() != 36 || [8, 13, 18, 23].iter().any(|&i| v[i] != b'-') {
                return Err(NotConvertible);
            }
            let mut digits = v.iter().filter(|&&c| c != b'-');
            for _ in 0..16 {
                let high = digits.next().and_then(|&d| hex(d)).ok_or(NotConvertible)?;
                let low = digits.next().and_then(|&d| hex(d)).ok_or(NotConvertible)?;
                out.push(high * 16 + low);
            }
        }
        Kind::Date => {
            let days = match v {
                b"infinity" => i32::MAX,
                b"-infinity" => i32::MIN,
                _ => {
                    let (body, bc) = strip_era(v);
                    let mut s = Cursor(body);
                    let days = s.date(bc)?;
                    s.end()?;
                    i32::try_from(days).map_err(|_| NotConvertible)?
                }
            };
            out.extend_from_slice(&days.to_be_bytes());
        }
        Kind::Time => {
            let mut s = Cursor(v);
            let micros = s.clock(2, 24)?;
            s.end()?;
            if micros > 24 * 3_600_000_000 {
                return Err(NotConvertible);
            }
            out.extend_from_slice(&micros.to_be_bytes());
        }
        Kind::Timestamp | Kind::TimestampTz => {
            let micros = match v {
                b"infinity" => i64::MAX,
                b"-infinity" => i64::MIN,
                _ => timestamp(v, *kind == Kind::TimestampTz)?,
            };
            out.extend_from_slice(&micros.to_be_bytes());
        }
        Kind::Interval => {
            let (micros, days, months) = interval(v)?;
            out.extend_from_slice(&micros.to_be_bytes());
            out.extend_from_slice(&days.to_be_bytes());
            out.extend_from_slice(&months.to_be_bytes());
        }
        Kind::Array { .. } => return Err(NotConvertible),
    }
    Ok(())
}

/// A decimal integer as PostgreSQL prints it, in the range of `T`.
fn integer<T: TryFrom<i64>>(v: &[u8]) -> std::result::Result<T, NotConvertible> {
    let (negative, digits) = match v.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(NotConvertible);
    }
    // Accumulated negative, so that i64::MIN fits.
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(NotConvertible);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_sub(i64::from(d - b'0')))
            .ok_or(NotConvertible)?;
    }
    let n = if negative {
        n
    } else {
        n.checked_neg().ok_or(NotConvertible)?
    };
    T::try_from(n).map_err(|_| NotConvertible)
}

trait Float: std::str::FromStr + Copy + PartialEq + Default {
    fn is_finite(self) -> bool;
    fn is_nan(self) -> bool;
    /// The value nearest `x`, a double that is the decimal correctly
    /// rounded, where rounding `x` cannot differ from rounding the
    /// decimal itself; None sends the text to the full parser.
    fn from_rounded(x: f64) -> Option<Self>;
}

impl Float for f32 {
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn from_rounded(x: f64) -> Option<f32> {
        // Every float and every point halfway between two floats is a
        // double, so none lies strictly between the decimal and its
        // nearest double: rounding that double again gives the decimal's
        // float unless the double is itself a halfway point (the low 29
        // of its 52 mantissa bits 1000...0), where the tie would be
        // broken the wrong way. Subnormal floats have other halfway
        // points, so they take the full parser too.
        let magnitude = x.abs();
        let halfway = x.to_bits() & ((1 << 29) - 1) == 1 << 28;
        (magnitude >= f64::from(f32::MIN_POSITIVE) && magnitude < f64::from(f32::MAX) && !halfway).then_some(x as f32)
    }
}

impl Float for f64 {
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn from_rounded(x: f64) -> Option<f64> {
        Some(x)
    }
}

/// Powers of ten a double holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// The double nearest a plain decimal (`-12.5`, `1.25e-05`) where one
/// exact multiplication or division gives it: digits that make an integer
/// below 2^53, and a power of ten up to 1e22 (Clinger's fast path). None
/// for zero and for anything else, which the full parser reads.
fn short_decimal(v: &[u8]) -> Option<f64> {
    let (negative, rest) = match v.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, v),
    };
    // At most 19 digits are read, so the integer cannot overflow.
    let mut digits: u64 = 0;
    let mut at = 0;
    let mut read = |at: &mut usize| {
        let start = *at;
        while let Some(d) = rest.get(*at).filter(|d| d.is_ascii_digit()) {
            digits = digits.wrapping_mul(10) + u64::from(d - b'0');
            *at += 1;
        }
        *at - start
    };
    let whole = read(&mut at);
    let fraction = if rest.get(at) == Some(&b'.') {
        at += 1;
        read(&mut at)
    } else {
        0
    };
    if whole + fraction == 0 || whole + fraction > 19 || digits == 0 || digits >= 1 << 53 {
        return None;
    }
    let mut exponent = -(fraction as i32);
    if at < rest.len() {
        if !matches!(rest[at], b'e' | b'E') {
            return None;
        }
        let (sign, power) = match rest.get(at + 1)? {
            b'-' => (-1, &rest[at + 2..]),
            b'+' => (1, &rest[at + 2..]),
            _ => (1, &rest[at + 1..]),
        };
        if power.is_empty() || power.len() > 4 || !power.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let power = power.iter().fold(0i32, |n, d| n * 10 + i32::from(d - b'0'));
        exponent += sign * power;
    }
    let scale = *EXACT_POWERS_OF_TEN.get(exponent.unsigned_abs() as usize)?;
    // digits < 2^53: exact as a double, as is the power.
    let magnitude = if exponent < 0 {
        digits as f64 / scale
    } else {
        digits as f64 * scale
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// A float as PostgreSQL prints it. Rust's parse rounds correctly, as
/// strtof/strtod do; a value that overflows, or underflows to zero, is
/// refused (the server's input function rejects both).
fn float<T: Float>(v: &[u8]) -> std::result::Result<T, NotConvertible> {
    if let Some(x) = short_decimal(v).and_then(T::from_rounded) {
        return Ok(x);
    }
    // Rust reads a subset of what strtof/strtod read (no spaces, no hex
    // floats), with the same correctly rounded value.
    let x: T = std::str::from_utf8(v)
        .map_err(|_| NotConvertible)?
        .parse()
        .map_err(|_| NotConvertible)?;
    if x.is_finite() && x != T::default() {
        return Ok(x);
    }
    if x.is_nan() {
        // Only the NaN PostgreSQL prints: strtof's other spellings may
        // carry a sign bit.
        return if v == b"NaN" { Ok(x) } else { Err(NotConvertible) };
    }
    // inf, nan and zeros, spelled out: anything else overflowed or
    // underflowed, which the server refuses.
    let mantissa = v.split(|&c| c == b'e' || c == b'E').next().unwrap_or_default();
    let spelled = if x == T::default() {
        !mantissa.iter().any(|c| (b'1'..=b'9').contains(c))
    } else {
        !v.iter().any(u8::is_ascii_digit)
    };
    if spelled { Ok(x) } else { Err(NotConvertible) }
}

/// numeric's wire form: base-10000 digits, weight, sign, display scale.
fn numeric(v: &[u8], out: &mut Vec<u8>) -> Converted {
    let special = |out: &mut Vec<u8>, sign: u16| {
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
    };
    match v {
        b"NaN" => {
            special(out, 0xC000);
            return Ok(());
        }
        b"Infinity" => {
            special(out, 0xD000);
            return Ok(());
        }
        b"-Infinity" => {
            special(out, 0xF000);
            return Ok(());
        }
        _ => {}
    }
    let (negative, unsigned) = match v.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (whole, fraction) = match unsigned.iter().position(|&c| c == b'.') {
        Some(dot) => (&unsigned[..dot], &unsigned[dot + 1..]),
        None => (unsigned, &b""[..]),
    };
    if whole.is_empty()
        || !whole.iter().all(u8::is_ascii_digit)
        || !fraction.iter().all(u8::is_ascii_digit)
        || (unsigned.contains(&b'.') && fraction.is_empty())
    {
        return Err(NotConvertible);
    }
    let dscale = u16::try_from(fraction.len()).map_err(|_| NotConvertible)?;
    let whole = &whole[whole.iter().position(|&c| c != b'0').unwrap_or(whole.len())..];
    // Groups of four digits either side of the point.
    let lead = whole.len() % 4;
    let mut groups: Vec<i16> = Vec::with_capacity((whole.len() + fraction.len()) / 4 + 2);
    let group = |digits: &[u8]| digits.iter().fold(0i16, |a, &d| a * 10 + i16::from(d - b'0'));
    if lead > 0 {
        groups.push(group(&whole[..lead]));
    }
    for chunk in whole[lead..].chunks(4) {
        groups.push(group(chunk));
    }
    let mut weight = groups.len() as i32 - 1;
    for chunk in fraction.chunks(4) {
        let mut g = group(chunk);
        for _ in chunk.len()..4 {
            g *= 10;
        }
        groups.push(g);
    }
    let leading = groups.iter().take_while(|&&g| g == 0).count();
    groups.drain(..leading);
    weight -= leading as i32;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let ndigits = u16::try_from(groups.len()).map_err(|_| NotConvertible)?;
    let weight = i16::try_from(weight).map_err(|_| NotConvertible)?;
    let sign: u16 = if negative && !groups.is_empty() { 0x4000 } else { 0 };
    out.extend_from_slice(&ndigits.to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(())
}

/// Splits off the ` BC` PostgreSQL prints after a date before year 1.
fn strip_era(v: &[u8]) -> (&[u8], bool) {
    match v.strip_suffix(b" BC") {
        Some(body) => (body, true),
        None => (v, false),
    }
}

/// Microseconds since 2000-01-01 00:00 (UTC, for timestamptz), from ISO
/// `YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM[:SS]]][ BC]`.
fn timestamp(v: &[u8], with_zone: bool) -> std::result::Result<i64, NotConvertible> {
    let (body, bc) = strip_era(v);
    let mut s = Cursor(body);
    let days = s.date(bc)?;
    s.byte(b' ')?;
    let time = s.clock(2, 23)?;
    let mut micros = days
        .checked_mul(86_400_000_000)
        .and_then(|m| m.checked_add(time))
        .ok_or(NotConvertible)?;
    if with_zone {
        let sign: i64 = match s.0.first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(NotConvertible),
        };
        s.0 = &s.0[1..];
        let mut offset = s.digits(2, 2)? * 3600;
        for unit in [60, 1] {
            if s.0.first() == Some(&b':') {
                s.0 = &s.0[1..];
                offset += s.digits(2, 2)? * unit;
            }
        }
        micros = micros.checked_sub(sign * offset * 1_000_000).ok_or(NotConvertible)?;
    }
    s.end()?;
    Ok(micros)
}

/// `[-]1 year 2 mons 3 days [+-]04:05:06.789` as IntervalStyle postgres
/// prints it: (microseconds, days, months).
fn interval(v: &[u8]) -> std::result::Result<(i64, i32, i32), NotConvertible> {
    let text = std::str::from_utf8(v).map_err(|_| NotConvertible)?;
    let mut parts = text.split(' ').peekable();
    let (mut months, mut days, mut micros) = (0i64, 0i64, 0i64);
    let mut seen_clock = false;
    while let Some(part) = parts.next() {
        if part.contains(':') {
            if seen_clock || parts.peek().is_some() {
                return Err(NotConvertible);
            }
            seen_clock = true;
            let (negative, clock) = match part.as_bytes().first() {
                Some(b'-') => (true, &part[1..]),
                Some(b'+') => (false, &part[1..]),
                _ => (false, part),
            };
            let mut s = Cursor(clock.as_bytes());
            let total = s.clock(12, i64::MAX)?;
            s.end()?;
            micros = if negative { -total } else { total };
            continue;
        }
        let unit = parts.next().ok_or(NotConvertible)?;
        let number = part.strip_prefix('+').unwrap_or(part);
        let n: i64 = integer(number.as_bytes())?;
        match unit {
            "year" | "years" => {
                months = months
                    .checked_add(n.checked_mul(12).ok_or(NotConvertible)?)
                    .ok_or(NotConvertible)?
            }
            "mon" | "mons" => months = months.checked_add(n).ok_or(NotConvertible)?,
            "day" | "days" => days = days.checked_add(n).ok_or(NotConvertible)?,
            _ => return Err(NotConvertible),
        }
    }
    if text.is_empty() {
        return Err(NotConvertible);
    }
    Ok((
        micros,
        i32::try_from(days).map_err(|_| NotConvertible)?,
        i32::try_from(months).map_err(|_| NotConvertible)?,
    ))
}

/// What is left of a value being read.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn byte(&mut self, b: u8) -> Converted {
        match self.0.split_first() {
            Some((&c, rest)) if c == b => {
                self.0 = rest;
                Ok(())
            }
            _ => Err(NotConvertible),
        }
    }

    fn end(&self) -> Converted {
        if self.0.is_empty() { Ok(()) } else { Err(NotConvertible) }
    }

    /// Between `min` and `max` decimal digits.
    fn digits(&mut self, min: usize, max: usize) -> std::result::Result<i64, NotConvertible> {
        let n = self.0.iter().take(max).take_while(|c| c.is_ascii_digit()).count();
        if n < min {
            return Err(NotConvertible);
        }
        let (digits, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(digits.iter().fold(0i64, |a, &d| a * 10 + i64::from(d - b'0')))
    }

    /// `.f` to `.ffffff` as microseconds, or nothing.
    fn fraction(&mut self) -> std::result::Result<i64, NotConvertible> {
        if self.0.first() != Some(&b'.') {
            return Ok(0);
        }
        self.0 = &self.0[1..];
        let before = self.0.len();
        let mut f = self.digits(1, 6)?;
        for _ in (before - self.0.len())..6 {
            f *= 10;
        }
        Ok(f)
    }

    /// `YYYY-MM-DD` as days since 2000-01-01 (proleptic Gregorian, as
    /// PostgreSQL counts them); `bc` for a year before 1.
    fn date(&mut self, bc: bool) -> std::result::Result<i64, NotConvertible> {
        let year = self.digits(4, 9)?;
        self.byte(b'-')?;
        let month = self.digits(2, 2)?;
        self.byte(b'-')?;
        let day = self.digits(2, 2)?;
        if year == 0 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month, bc) {
            return Err(NotConvertible);
        }
        let year = if bc { 1 - year } else { year };
        Ok(days_from_civil(year, month, day) - 10_957)
    }

    /// `HH:MM:SS[.ffffff]` as microseconds; an interval's hours may run
    /// to `hour_digits` digits.
    fn clock(&mut self, hour_digits: usize, max_hour: i64) -> std::result::Result<i64, NotConvertible> {
        let hours = self.digits(2, hour_digits)?;
        self.byte(b':')?;
        let minutes = self.digits(2, 2)?;
        self.byte(b':')?;
        let seconds = self.digits(2, 2)?;
        let fraction = self.fraction()?;
        if hours > max_hour || minutes > 59 || seconds > 59 {
            return Err(NotConvertible);
        }
        hours
            .checked_mul(3_600_000_000)
            .and_then(|h| h.checked_add((minutes * 60 + seconds) * 1_000_000 + fraction))
            .ok_or(NotConvertible)
    }
}

fn days_in_month(year: i64, month: i64, bc: bool) -> i64 {
    let y = if bc { 1 - year } else { year };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (astronomical year).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// An array's text form (`{1,2}`, `{{"a",NULL}}`, `[0:1]={1,2}`) as
/// array_recv reads it: dimensions, lower bounds, element type, then each
/// element with its length.
fn array(v: &[u8], element_type: u32, element_kind: &Kind, out: &mut Vec<u8>, body: &mut Vec<u8>) -> Converted {
    let mut s = v;
    let mut bounds: Vec<(i64, i64)> = Vec::new();
    while s.first() == Some(&b'[') {
        let close = s.iter().position(|&c| c == b']').ok_or(NotConvertible)?;
        let inner = std::str::from_utf8(&s[1..close]).map_err(|_| NotConvertible)?;
        let (low, high) = inner.split_once(':').ok_or(NotConvertible)?;
        bounds.push((integer(low.as_bytes())?, integer(high.as_bytes())?));
        s = &s[close + 1..];
    }
    if !bounds.is_empty() {
        s = s.strip_prefix(b"=").ok_or(NotConvertible)?;
    }
    body.clear();
    let mut dims: Vec<i64> = Vec::new();
    let mut counts: Vec<i64> = Vec::new();
    let mut has_null = false;
    let mut depth = 0usize;
    let mut leaf_depth: Option<usize> = None;
    let mut i = 0;
    let mut element_buf = Vec::new();
    // Where the last token left the reader: after `{`, an element or `}`.
    #[derive(PartialEq)]
    enum After {
        Open,
        Value,
        Close,
    }
    let mut after = After::Open;
    loop {
        let Some(&c) = s.get(i) else {
            return Err(NotConvertible);
        };
        match c {
            b'{' => {
                if after != After::Open || leaf_depth.is_some_and(|d| depth >= d) {
                    return Err(NotConvertible);
                }
                depth += 1;
                if depth > 6 {
                    return Err(NotConvertible);
                }
                if counts.len() < depth {
                    counts.push(0);
                }
                if depth > 1 {
                    counts[depth - 2] += 1;
                }
                counts[depth - 1] = 0;
                i += 1;
                after = After::Open;
            }
            b'}' => {
                if depth == 0 {
                    return Err(NotConvertible);
                }
                let n = counts[depth - 1];
                if n == 0 {
                    // Only `{}` itself may be empty.
                    if depth != 1 || after != After::Open {
                        return Err(NotConvertible);
                    }
                } else {
                    if dims.len() < depth {
                        dims.resize(depth, -1);
                    }
                    if dims[depth - 1] == -1 {
                        dims[depth - 1] = n;
                    } else if dims[depth - 1] != n {
                        return Err(NotConvertible);
                    }
                }
                depth -= 1;
                i += 1;
                after = After::Close;
                if depth == 0 {
                    break;
                }
            }
            b',' => {
                if after == After::Open || depth == 0 {
                    return Err(NotConvertible);
                }
                i += 1;
                after = After::Open;
                // A comma is always followed by an element or a `{`.
                if matches!(s.get(i), Some(b'}') | Some(b',') | None) {
                    return Err(NotConvertible);
                }
            }
            _ => {
                if depth == 0 || after == After::Value || after == After::Close {
                    return Err(NotConvertible);
                }
                if *leaf_depth.get_or_insert(depth) != depth {
                    return Err(NotConvertible);
                }
                counts[depth - 1] += 1;
                let quoted = c == b'"';
                let element: &[u8] = if quoted {
                    element_buf.clear();
                    i += 1;
                    loop {
                        match s.get(i) {
                            Some(b'"') => {
                                i += 1;
                                break;
                            }
                            Some(b'\\') => {
                                element_buf.push(*s.get(i + 1).ok_or(NotConvertible)?);
                                i += 2;
                            }
                            Some(&b) => {
                                element_buf.push(b);
                                i += 1;
                            }
                            None => return Err(NotConvertible),
                        }
                    }
                    &element_buf
                } else {
                    let start = i;
                    loop {
                        match s.get(i) {
                            Some(b',') | Some(b'}') => break,
                            Some(b'{') | Some(b'"') | Some(b'\\') | None => return Err(NotConvertible),
                            Some(b) if b.is_ascii_whitespace() => return Err(NotConvertible),
                            Some(_) => i += 1,
                        }
                    }
                    &s[start..i]
                };
                if !quoted && element.eq_ignore_ascii_case(b"NULL") {
                    has_null = true;
                    body.extend_from_slice(&(-1i32).to_be_bytes());
                } else {
                    let at = body.len();
                    body.extend_from_slice(&[0; 4]);
                    value(element_kind, element, body)?;
                    let len = i32::try_from(body.len() - at - 4).map_err(|_| NotConvertible)?;
                    body[at..at + 4].copy_from_slice(&len.to_be_bytes());
                }
                after = After::Value;
            }
        }
    }
    if i != s.len() {
        return Err(NotConvertible);
    }
    let ndim = if counts.first() == Some(&0) && dims.is_empty() {
        0
    } else {
        dims.len()
    };
    if ndim == 0 && !bounds.is_empty() {
        return Err(NotConvertible);
    }
    if !bounds.is_empty()
        && (bounds.len() != ndim
            || bounds
                .iter()
                .zip(&dims)
                .any(|(&(l, h), &n)| h.checked_sub(l).and_then(|d| d.checked_add(1)) != Some(n)))
    {
        return Err(NotConvertible);
    }
    out.extend_from_slice(&(ndim as i32).to_be_bytes());
    out.extend_from_slice(&i32::from(has_null).to_be_bytes());
    out.extend_from_slice(&element_type.to_be_bytes());
    for (d, &size) in dims.iter().enumerate().take(ndim) {
        let low = bounds.get(d).map_or(1, |b| b.0);
        out.extend_from_slice(&i32::try_from(size).map_err(|_| NotConvertible)?.to_be_bytes());
        out.extend_from_slice(&i32::try_from(low).map_err(|_| NotConvertible)?.to_be_bytes());
    }
    out.extend_from_slice(body);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(kind: Kind, text: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let format = RowFormat { kinds: vec![kind] };
        format.row(text.as_bytes(), &mut out, &mut Scratch::default()).ok()?;
        Some(out[6..].to_vec())
    }

    /// Every text the short path reads must give what the full parser
    /// gives: the floats PostgreSQL prints (shortest round trip, plain or
    /// with an exponent), decimals of up to 17 digits and every exponent
    /// the path takes, and the halfway points between two floats.
    #[test]
    fn short_decimals_read_as_the_full_parser_reads_them() {
        fn same<T: Float + std::fmt::Debug>(text: &str) {
            let full: Option<T> = text.parse().ok();
            let short = short_decimal(text.as_bytes()).and_then(T::from_rounded);
            if let Some(short) = short {
                assert_eq!(Some(short), full, "{text}");
            }
            if let (Ok(a), Some(b)) = (float::<T>(text.as_bytes()), full) {
                assert!(a == b || (a.is_nan() && b.is_nan()), "{text}");
            }
        }
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut taken = 0;
        for _ in 0..200_000 {
            let r = next();
            let f = f32::from_bits(r as u32);
            let d = f64::from_bits(r);
            for text in [format!("{f}"), format!("{f:e}"), format!("{d}"), format!("{d:e}")] {
                same::<f32>(&text);
                same::<f64>(&text);
            }
            // A decimal of 1 to 17 digits, its point anywhere, and an
            // exponent near the edges of the fast path.
            let digits = (next() % 10u64.pow(1 + (r % 17) as u32)).to_string();
            let point = (next() as usize) % (digits.len() + 1);
            let exponent = (next() % 60) as i32 - 30;
            let text = format!("{}.{}e{exponent}", &digits[..point], &digits[point..]).replace(".e", "e");
            let text = text.strip_prefix('.').map(|t| format!("0.{t}")).unwrap_or(text);
            same::<f32>(&text);
            same::<f64>(&text);
            taken += usize::from(short_decimal(text.as_bytes()).is_some());
            // Halfway between two floats: the short path must not break
            // the tie itself.
            let below = f32::from_bits((r as u32 & 0x7F7F_FFFF).max(0x0080_0000));
            let halfway = (f64::from(below) + f64::from(f32::from_bits(below.to_bits() + 1))) / 2.0;
            same::<f32>(&format!("{halfway:e}"));
            same::<f32>(&format!("{halfway}"));
        }
        assert!(taken > 50_000, "the short path read only {taken} decimals");
        assert_eq!(short_decimal(b"0.83276534"), Some(0.83276534));
        assert_eq!(short_decimal(b"-1.25e-05"), Some(-1.25e-05));
        for text in [
            "",
            "-",
            ".",
            "1e",
            "1e+",
            "+1",
            "1.2.3",
            "0",
            "-0",
            "1e400",
            "1x",
            "12345678901234567",
        ] {
            assert_eq!(short_decimal(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn dates_count_days_from_2000() {
        assert_eq!(one(Kind::Date, "2000-01-01"), Some(0i32.to_be_bytes().to_vec()));
        assert_eq!(one(Kind::Date, "1999-12-31"), Some((-1i32).to_be_bytes().to_vec()));
        assert_eq!(one(Kind::Date, "2000-03-01"), Some(60i32.to_be_bytes().to_vec()));
        // 1 BC is astronomical year 0, a leap year.
        assert!(one(Kind::Date, "0001-02-29 BC").is_some());
        assert!(one(Kind::Date, "0001-02-29").is_none());
        assert!(one(Kind::Date, "2001-02-29").is_none());
    }

    #[test]
    fn timestamps_take_their_offset() {
        let utc = one(Kind::TimestampTz, "2000-01-01 01:00:00+00").unwrap();
        assert_eq!(utc, 3_600_000_000i64.to_be_bytes());
        assert_eq!(one(Kind::TimestampTz, "2000-01-01 06:30:00+05:30").unwrap(), utc);
        assert_eq!(one(Kind::TimestampTz, "1999-12-31 23:40:28.5-01:19:32").unwrap(), {
            let m: i64 = 3_600_000_000 + 500_000;
            m.to_be_bytes()
        });
        assert!(one(Kind::TimestampTz, "2000-01-01 01:00:00").is_none());
        assert!(one(Kind::Timestamp, "2000-01-01 01:00:00+00").is_none());
    }

    #[test]
    fn floats_refuse_what_the_server_would() {
        assert_eq!(one(Kind::Float4, "0.1"), Some(0.1f32.to_be_bytes().to_vec()));
        assert_eq!(one(Kind::Float8, "-0"), Some((-0.0f64).to_be_bytes().to_vec()));
        assert!(one(Kind::Float4, "1e39").is_none());
        assert!(one(Kind::Float4, "1e-50").is_none());
        assert_eq!(one(Kind::Float4, "inf"), Some(f32::INFINITY.to_be_bytes().to_vec()));
        assert_eq!(one(Kind::Float4, "NaN"), Some(f32::NAN.to_be_bytes().to_vec()));
        assert!(one(Kind::Float4, "-NaN").is_none());
        assert!(one(Kind::Float4, "0x1p3").is_none());
        assert!(one(Kind::Float4, " 1").is_none());
    }

    #[test]
    fn numerics_group_by_four_digits() {
        // 12345.678: digits 1, 2345, 6780; weight 1; dscale 3.
        let mut expected = vec![0, 3, 0, 1, 0, 0, 0, 3];
        for g in [1i16, 2345, 6780] {
            expected.extend_from_slice(&g.to_be_bytes());
        }
        assert_eq!(one(Kind::Numeric, "12345.678"), Some(expected));
        // 0.00012 is 0.0001 2000: digits 1, 2000 from weight -1.
        assert_eq!(
            one(Kind::Numeric, "0.00012"),
            Some(vec![0, 2, 0xff, 0xff, 0, 0, 0, 5, 0, 1, 0x07, 0xd0])
        );
        assert_eq!(one(Kind::Numeric, "-0.00"), Some(vec![0, 0, 0, 0, 0, 0, 0, 2]));
        assert!(one(Kind::Numeric, "1e5").is_none());
    }

    #[test]
    fn arrays_keep_their_shape() {
        let float4 = Kind::Array {
            element_type: 700,
            element: Box::new(Kind::Float4),
        };
        let two_by_one = one(float4.clone(), "{{1},{2}}").unwrap();
        assert_eq!(&two_by_one[..8], &[0, 0, 0, 2, 0, 0, 0, 0]);
        assert!(one(float4.clone(), "{{1},{2,3}}").is_none());
        assert!(one(float4.clone(), "{1,{2}}").is_none());
        assert!(one(float4.clone(), "{1,}").is_none());
        let empty = one(float4.clone(), "{}").unwrap();
        assert_eq!(empty, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 188]);
        let bounded = one(float4, "[0:1]={1,NULL}").unwrap();
        assert_eq!(&bounded[4..8], &[0, 0, 0, 1]);
        assert_eq!(&bounded[16..20], &[0, 0, 0, 0]);
        let text = Kind::Array {
            element_type: 25,
            element: Box::new(Kind::Bytes),
        };
        let quoted = one(text, r#"{"a,\\\\\\"b",NULL,"NULL"}"#).unwrap();
        assert!(quoted.windows(5).any(|w| w == b"a,\\\"b"));
        assert!(quoted.windows(4).any(|w| w == b"NULL"));
    }

    #[test]
    fn rows_split_as_copy_splits_them() {
        let format = RowFormat {
            kinds: vec![Kind::Bytes, Kind::Int4],
        };
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        // An escaped tab belongs to the field.
        format.row(b"a\\\tb\t7", &mut out, &mut scratch).unwrap();
        assert_eq!(&out[..8], &[0, 2, 0, 0, 0, 3, b'a', b'\t']);
        assert!(format.row(b"a\t7\t8", &mut Vec::new(), &mut scratch).is_err());
        assert!(format.row(b"a", &mut Vec::new(), &mut scratch).is_err());
        assert!(format.row(b"a\\000\t7", &mut Vec::new(), &mut scratch).is_err());
        let mut out = Vec::new();
        format.row(b"\\N\t\\N", &mut out, &mut scratch).unwrap();
        assert_eq!(out, [0, 2, 255, 255, 255, 255, 255, 255, 255, 255]);
    }

    #[test]
    fn intervals_as_postgres_prints_them() {
        let v = |micros: i64, days: i32, months: i32| {
            let mut out = micros.to_be_bytes().to_vec();
            out.extend_from_slice(&days.to_be_bytes());
            out.extend_from_slice(&months.to_be_bytes());
            Some(out)
        };
        assert_eq!(one(Kind::Interval, "00:00:00"), v(0, 0, 0));
        assert_eq!(
            one(Kind::Interval, "1 year 2 mons 3 days 04:05:06.5"),
            v(14_706_500_000, 3, 14)
        );
        assert_eq!(
            one(Kind::Interval, "-1 years -2 mons +3 days -04:05:06"),
            v(-14_706_000_000, 3, -14)
        );
        assert_eq!(one(Kind::Interval, "-1 days"), v(0, -1, 0));
        assert!(one(Kind::Interval, "1 week").is_none());
    }
}

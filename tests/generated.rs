//! Random schemas against the reference: a seeded generator writes many
//! small cases of types, tables, constraints, views, functions, triggers and
//! policies with random dependencies across schemas and awkward names into
//! one database, and lifeboat must restore it as `pg_dump | psql` does.
//!
//! `LIFEBOAT_GENERATED_CASES=N` runs N cases (default 300, 25 to a
//! database), `LIFEBOAT_GENERATED_SEED=S` runs the one database of seed S. A
//! failure names its seed and keeps the database's source SQL on disk.

mod common;

use common::pg::{Cluster, cluster};
use common::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Cases packed into one database: many small cases share one round trip,
/// so a few hundred fit in a few minutes.
const CASES_PER_DB: usize = 25;
const DEFAULT_CASES: usize = 300;
const BASE_SEED: u64 = 0x11fe_b0a7;

// ---------------------------------------------------------------------------
// The PRNG: splitmix64, so a seed means the same schema on every machine.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

// ---------------------------------------------------------------------------
// Quoting.

fn qi(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn ql(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn json_str(text: &str) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text that COPY, psql and the SQL writers must all carry unchanged.
const JUNK: &[&str] = &[
    "plain",
    "it's",
    "say \"hi\"",
    "back\\slash",
    "\\.",
    "\\N",
    "tab\there",
    "new\nline",
    "cr\rlf",
    "ünïcødé 日本 🚀",
    "",
    "semi; colon -- dash",
    "$fn$ dollar",
];

// ---------------------------------------------------------------------------
// Types and values.

#[derive(Clone)]
enum Ty {
    Int,
    Big,
    Num(u32, u32),
    Text,
    Varchar(u32),
    Bool,
    Date,
    Tstz,
    Jsonb,
    Bytea,
    Uuid,
    IntArr,
    Enum(String, Vec<String>),
    Comp(String, Vec<Ty>),
    /// A domain over Int, Text or Num, whose checks every base value passes.
    Dom(String, Box<Ty>),
}

impl Ty {
    fn sql(&self) -> String {
        match self {
            Ty::Int => "integer".into(),
            Ty::Big => "bigint".into(),
            Ty::Num(p, s) => format!("numeric({p},{s})"),
            Ty::Text => "text".into(),
            Ty::Varchar(n) => format!("character varying({n})"),
            Ty::Bool => "boolean".into(),
            Ty::Date => "date".into(),
            Ty::Tstz => "timestamp with time zone".into(),
            Ty::Jsonb => "jsonb".into(),
            Ty::Bytea => "bytea".into(),
            Ty::Uuid => "uuid".into(),
            Ty::IntArr => "integer[]".into(),
            Ty::Enum(q, _) | Ty::Comp(q, _) | Ty::Dom(q, _) => q.clone(),
        }
    }

    fn is_int(&self) -> bool {
        matches!(self, Ty::Int)
    }

    fn is_text(&self) -> bool {
        matches!(self, Ty::Text | Ty::Varchar(_))
    }

    /// A literal of this type, never NULL; Int, Big and text values are
    /// distinct per row (unique constraints hold) and never negative (the
    /// checks hold).
    fn value(&self, rng: &mut Rng, row: usize) -> String {
        match self {
            Ty::Int => format!("{}", row as u64 * 1000 + rng.below(1000)),
            Ty::Big => format!("{}", row as u64 * 1_000_000_000_000 + rng.below(1_000_000_000_000)),
            Ty::Num(p, s) => {
                let int_digits = (p - s).min(6);
                let int = rng.below(10u64.pow(int_digits));
                if *s == 0 {
                    format!("{int}")
                } else {
                    format!("{int}.{:0w$}", rng.below(10u64.pow(*s)), w = *s as usize)
                }
            }
            Ty::Text => ql(&format!("r{row} {}", rng.pick(JUNK))),
            Ty::Varchar(n) => ql(&format!("r{row} {}", rng.pick(JUNK))
                .chars()
                .take(*n as usize)
                .collect::<String>()),
            Ty::Bool => if rng.chance(50) { "true" } else { "false" }.into(),
            Ty::Date => format!(
                "'20{:02}-{:02}-{:02}'",
                10 + rng.below(20),
                1 + rng.below(12),
                1 + rng.below(28)
            ),
            Ty::Tstz => format!(
                "'2021-{:02}-{:02} {:02}:{:02}:{:02}.{:03}+{:02}'",
                1 + rng.below(12),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.below(1000),
                rng.below(12)
            ),
            Ty::Jsonb => ql(&format!(
                "{{\"k\": {row}, \"s\": {}, \"a\": [1, null, true]}}",
                json_str(rng.pick::<&str>(JUNK))
            )),
            Ty::Bytea => {
                let n = rng.below(6);
                let hex: String = (0..n).map(|_| format!("{:02x}", rng.below(256))).collect();
                format!("'\\x{hex}'")
            }
            Ty::Uuid => {
                let h = format!("{:016x}{:016x}", rng.next(), rng.next());
                format!(
                    "'{}-{}-{}-{}-{}'",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                )
            }
            Ty::IntArr => format!("'{{{row},{},{}}}'", rng.below(100), rng.below(100)),
            Ty::Enum(q, labels) => format!("{}::{q}", ql(rng.pick(labels).as_str())),
            Ty::Comp(q, fields) => {
                let vals: Vec<String> = fields.iter().map(|f| f.value(rng, row)).collect();
                format!("ROW({})::{q}", vals.join(", "))
            }
            Ty::Dom(q, base) => format!("({})::{q}", base.value(rng, row)),
        }
    }
}

// ---------------------------------------------------------------------------
// The model of what a database holds so far.

#[derive(Clone)]
enum Kind {
    Plain,
    /// A primary key given explicit values.
    Key,
    Serial,
    Identity {
        always: bool,
        start: i64,
        inc: i64,
    },
    Generated(String),
    /// An int column holding values of another table's key.
    Ref(usize),
}

#[derive(Clone)]
struct Col {
    name: String,
    ty: Ty,
    kind: Kind,
    not_null: bool,
    default: Option<String>,
    /// Has a CHECK of its own (a NOT VALID check must pick another).
    checked: bool,
}

/// A table other tables may point at: its key and the values it holds.
#[derive(Clone)]
struct Target {
    q: String,
    key: String,
    values: Vec<i64>,
}

/// Something a view can select from.
#[derive(Clone)]
struct Rel {
    q: String,
    cols: Vec<(String, Ty)>,
    /// The primary-key column, when the relation is a table with a key
    /// constraint (a view may then group by it alone).
    pk: Option<String>,
    /// Depends on a materialized view WITH NO DATA: a populated matview
    /// cannot be built over it.
    nodata: bool,
}

struct Gen {
    rng: Rng,
    n: u64,
    version: u32,
    btree_gist: bool,
    sql: String,
    /// The same statements one by one, for reducing a failure.
    stmts: Vec<String>,
    /// What earlier cases left for later ones to depend on.
    types: Vec<Ty>,
    seqs: Vec<String>,
    targets: Vec<Target>,
    rels: Vec<Rel>,
    /// Functions `f(int) RETURNS int IMMUTABLE`, for defaults, checks,
    /// domains, generated columns and indexes.
    int_funcs: Vec<String>,
    /// (partitioned table, partition) of the current case.
    partitions: Vec<(String, String)>,
    /// Sequences a domain's default uses: owned by a table column of that
    /// domain they make a loop pg_dump itself cannot order.
    domain_seqs: Vec<String>,
}

/// Shapes the generator writes; each `false` names the round-trip failure
/// that keeps it out (reported under issue 8).
const NAMES_WITH_NEWLINES: bool = true;
/// A newline in the name of a schema, table or column that holds rows
/// failed every restore until main 934d8d2 ("the data member's first line
/// is not the COPY lifeboat writes ... (it spans lines)").
const NEWLINES_IN_NAMES_OF_COPIED_TABLES: bool = true;
/// Stems of the names a data member's COPY line holds.
const COPIED_STEMS: &[&str] = &[
    "sch", "tbl", "child", "part", "p", "pdef", "col", "id", "ref", "ser", "gen", "extra", "k", "pc", "cgen",
];
/// A function with an SQL-standard body (`BEGIN ATOMIC ... END`) made a set
/// that restore refused until main bef34a3 ("holds a statement lifeboat
/// never writes ... END statements: END;").
const SQL_STANDARD_BODIES: bool = true;
const PARTITIONS_ATTACHED_WITH_OTHER_COLUMN_ORDER: bool = true;
const TRIGGERS_ON_PARTITIONED_TABLES: bool = true;
/// A materialized view grouping by a primary key (made in post-data,
/// once the key is built).
const MATVIEWS_GROUPED_BY_A_KEY: bool = true;
/// `COMMENT ON SEQUENCE` of a standalone sequence.
const COMMENTS_ON_SEQUENCES: bool = true;

impl Gen {
    fn new(seed: u64, version: u32, btree_gist: bool) -> Gen {
        Gen {
            rng: Rng(seed),
            n: 0,
            version,
            btree_gist,
            sql: String::new(),
            stmts: Vec::new(),
            types: Vec::new(),
            seqs: Vec::new(),
            targets: Vec::new(),
            rels: Vec::new(),
            int_funcs: Vec::new(),
            partitions: Vec::new(),
            domain_seqs: Vec::new(),
        }
    }

    fn emit(&mut self, stmt: impl AsRef<str>) {
        self.sql.push_str(stmt.as_ref());
        self.sql.push_str(";\n");
        self.stmts.push(stmt.as_ref().to_string());
    }

    /// A fresh name, unique in the database, in one of the awkward styles.
    fn name(&mut self, stem: &str) -> String {
        self.n += 1;
        let n = self.n;
        let mut style = self.rng.below(17);
        if style == 11
            && (!NAMES_WITH_NEWLINES || (!NEWLINES_IN_NAMES_OF_COPIED_TABLES && COPIED_STEMS.contains(&stem)))
        {
            style = 0;
        }
        match style {
            0..=5 => format!("{stem}_{n}"),
            6 => format!("{}_{n}_Mixed", stem.to_uppercase()),
            7 => format!("{stem} {n} spaced"),
            8 => format!("{stem}\"{n}\"q"),
            9 => format!("{stem}\\{n}\\b"),
            10 => format!("{stem}\t{n}"),
            11 => format!("{stem}\n{n}"),
            12 => format!("ünï {stem} {n} 日本"),
            13 => format!("{stem}{n}'apos"),
            _ => {
                // Exactly 63 bytes, the longest name PostgreSQL keeps,
                // sometimes made of two-byte characters.
                let mut s = format!("{stem}_{n}_");
                let wide = self.rng.chance(50);
                while s.len() + if wide { 2 } else { 1 } <= 63 {
                    s.push(if wide { 'é' } else { 'x' });
                }
                while s.len() < 63 {
                    s.push('x');
                }
                s
            }
        }
    }

    fn comment(&mut self) -> String {
        let a = *self.rng.pick(JUNK);
        let b = *self.rng.pick(JUNK);
        ql(&format!("comment {} {a} {b}", self.n))
    }

    /// `COMMENT ON what IS ...`, more often than not.
    fn maybe_comment(&mut self, what: &str) {
        if self.rng.chance(60) {
            let c = self.comment();
            self.emit(format!("COMMENT ON {what} IS {c}"));
        }
    }

    fn cross(&mut self) -> bool {
        self.rng.chance(25)
    }

    fn base_type(&mut self) -> Ty {
        match self.rng.below(13) {
            0 | 1 => Ty::Int,
            2 => Ty::Big,
            3 => {
                let p = 4 + self.rng.below(9) as u32;
                Ty::Num(p, self.rng.below(p.min(5) as u64) as u32)
            }
            4 | 5 => Ty::Text,
            6 => Ty::Varchar(10 + self.rng.below(40) as u32),
            7 => Ty::Bool,
            8 => Ty::Date,
            9 => Ty::Tstz,
            10 => Ty::Jsonb,
            11 => {
                if self.rng.chance(50) {
                    Ty::Bytea
                } else {
                    Ty::Uuid
                }
            }
            _ => Ty::IntArr,
        }
    }

    /// A column type: a base type, or a type of this case or (sometimes) of
    /// an earlier one.
    fn col_type(&mut self, own: &[Ty]) -> Ty {
        let r = self.rng.below(100);
        if r < 25 && !own.is_empty() {
            self.rng.pick(own).clone()
        } else if r < 32 && !self.types.is_empty() {
            let i = self.rng.below(self.types.len() as u64) as usize;
            self.types[i].clone()
        } else {
            self.base_type()
        }
    }

    fn default_for(&mut self, ty: &Ty, seqs: &[String]) -> Option<String> {
        if !self.rng.chance(35) {
            return None;
        }
        Some(match ty {
            Ty::Int | Ty::Big => match self.rng.below(3) {
                0 => format!("{}", self.rng.below(100)),
                1 if !seqs.is_empty() || !self.seqs.is_empty() => {
                    let seq = self.any_seq(seqs);
                    format!("nextval({}::regclass)", ql(&seq))
                }
                _ if !self.int_funcs.is_empty() => {
                    let f = self.rng.pick(&self.int_funcs).clone();
                    format!("{f}({})", self.rng.below(10))
                }
                _ => "7".into(),
            },
            Ty::Text => self.comment(),
            Ty::Varchar(_) => ql("v"),
            Ty::Bool => "true".into(),
            Ty::Date => "CURRENT_DATE".into(),
            Ty::Tstz => {
                if self.rng.chance(50) {
                    "now()".into()
                } else {
                    "CURRENT_TIMESTAMP".into()
                }
            }
            Ty::Jsonb => "'{}'::jsonb".into(),
            Ty::Num(..) => "0.5".into(),
            Ty::Enum(q, labels) => format!("{}::{q}", ql(&labels[0])),
            _ => return None,
        })
    }

    fn any_seq(&mut self, own: &[String]) -> String {
        if !own.is_empty() && (self.seqs.is_empty() || self.rng.chance(60)) {
            self.rng.pick(own).clone()
        } else {
            self.rng.pick(&self.seqs).clone()
        }
    }

    /// One case: its own schemas and everything in them.
    fn case(&mut self) {
        let mut schemas = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            let s = qi(&self.name("sch"));
            self.emit(format!("CREATE SCHEMA {s}"));
            self.maybe_comment(&format!("SCHEMA {s}"));
            schemas.push(s);
        }
        let mut in_schema = |g: &mut Gen, stem: &str| -> (String, String) {
            let s = g.rng.pick(&schemas).clone();
            let raw = g.name(stem);
            (format!("{s}.{}", qi(&raw)), raw)
        };

        // Sequences, some advanced, some unlogged.
        let mut seqs = Vec::new();
        for _ in 0..self.rng.below(3) {
            let (q, _) = in_schema(self, "seq");
            let unlogged = self.version >= 150000 && self.rng.chance(20);
            let inc = *self.rng.pick(&[1i64, 1, 5, -1]);
            let (start, bounds) = if inc < 0 {
                (-1, " MINVALUE -1000000 MAXVALUE -1")
            } else {
                (1 + self.rng.below(50) as i64, "")
            };
            let as_type = *self.rng.pick(&["", " AS integer", " AS bigint"]);
            let cycle = if self.rng.chance(20) { " CYCLE" } else { "" };
            self.emit(format!(
                "CREATE {}SEQUENCE {q}{as_type} INCREMENT BY {inc}{bounds} START WITH {start}{cycle}",
                if unlogged { "UNLOGGED " } else { "" }
            ));
            for _ in 0..self.rng.below(3) {
                self.emit(format!("SELECT nextval({})", ql(&q)));
            }
            if COMMENTS_ON_SEQUENCES {
                self.maybe_comment(&format!("SEQUENCE {q}"));
            }
            seqs.push(q);
        }

        // Immutable helper functions, used by defaults, checks, domains,
        // generated columns and index expressions.
        let mut funcs = Vec::new();
        for _ in 0..self.rng.below(3) {
            let (q, _) = in_schema(self, "fn");
            if self.version >= 140000 && self.rng.chance(40) {
                let m = 1 + self.rng.below(3);
                self.emit(format!(
                    "CREATE FUNCTION {q}(x integer) RETURNS integer LANGUAGE sql IMMUTABLE RETURN x * {m} + 1"
                ));
            } else {
                let m = 1 + self.rng.below(3);
                self.emit(format!(
                    "CREATE FUNCTION {q}(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $fn$ SELECT $1 * {m} + 1 $fn$"
                ));
            }
            self.maybe_comment(&format!("FUNCTION {q}(integer)"));
            funcs.push(q.clone());
        }
        self.int_funcs.extend(funcs.iter().cloned());

        // Types: enums, composites (with column comments), domains.
        let mut own_types: Vec<Ty> = Vec::new();
        for _ in 0..self.rng.below(3) {
            let (q, _) = in_schema(self, "enum");
            let labels: Vec<String> = (0..1 + self.rng.below(4)).map(|_| self.name("lbl")).collect();
            let list: Vec<String> = labels.iter().map(|l| ql(l)).collect();
            self.emit(format!("CREATE TYPE {q} AS ENUM ({})", list.join(", ")));
            let mut labels = labels;
            if self.rng.chance(30) {
                let extra = self.name("added");
                self.emit(format!(
                    "ALTER TYPE {q} ADD VALUE {} BEFORE {}",
                    ql(&extra),
                    ql(&labels[0])
                ));
                labels.push(extra);
            }
            self.maybe_comment(&format!("TYPE {q}"));
            own_types.push(Ty::Enum(q, labels));
        }
        for _ in 0..self.rng.below(3) {
            let (q, _) = in_schema(self, "comp");
            let mut fields = Vec::new();
            let mut defs = Vec::new();
            for _ in 0..1 + self.rng.below(3) {
                let f = self.name("f");
                let ty = match self.rng.below(4) {
                    0 if !own_types.is_empty() => self.rng.pick(&own_types).clone(),
                    _ => self.base_type(),
                };
                defs.push(format!("{} {}", qi(&f), ty.sql()));
                fields.push((f, ty));
            }
            self.emit(format!("CREATE TYPE {q} AS ({})", defs.join(", ")));
            self.maybe_comment(&format!("TYPE {q}"));
            for (f, _) in &fields {
                self.maybe_comment(&format!("COLUMN {q}.{}", qi(f)));
            }
            own_types.push(Ty::Comp(q, fields.into_iter().map(|(_, t)| t).collect()));
        }
        for _ in 0..self.rng.below(3) {
            let (q, _) = in_schema(self, "dom");
            let base = match self.rng.below(3) {
                0 => Ty::Int,
                1 => Ty::Text,
                _ => Ty::Num(10, 2),
            };
            let cname = qi(&self.name("dchk"));
            let check = match &base {
                Ty::Int if !self.int_funcs.is_empty() && self.rng.chance(50) => {
                    format!("{}(VALUE) >= 0", self.rng.pick(&self.int_funcs).clone())
                }
                Ty::Int | Ty::Num(..) => "VALUE >= 0".into(),
                _ => "VALUE <> 'forbidden'".into(),
            };
            let default = match &base {
                // A default from a sequence, often another schema's.
                Ty::Int if (!seqs.is_empty() || !self.seqs.is_empty()) && self.rng.chance(60) => {
                    let seq = self.any_seq(&seqs);
                    self.domain_seqs.push(seq.clone());
                    format!(" DEFAULT nextval({}::regclass)", ql(&seq))
                }
                Ty::Text if self.rng.chance(40) => format!(" DEFAULT {}", ql("dflt")),
                _ => String::new(),
            };
            self.emit(format!(
                "CREATE DOMAIN {q} AS {}{default} CONSTRAINT {cname} CHECK ({check})",
                base.sql()
            ));
            self.maybe_comment(&format!("DOMAIN {q}"));
            self.maybe_comment(&format!("CONSTRAINT {cname} ON DOMAIN {q}"));
            own_types.push(Ty::Dom(q, Box::new(base)));
        }

        // Plain tables, planned together so that keys can point forwards
        // (cycles) as well as backwards and at themselves.
        struct Plan {
            q: String,
            cols: Vec<Col>,
            key: Option<usize>,
            key_name: Option<String>,
            rows: usize,
            unlogged: bool,
            checks: Vec<String>,
        }
        let first_target = self.targets.len();
        let ntables = 1 + self.rng.below(4) as usize;
        let mut plans: Vec<Plan> = Vec::new();
        for _ in 0..ntables {
            let (q, _) = in_schema(self, "tbl");
            let rows = self.rng.below(6) as usize;
            let unlogged = self.rng.chance(12);
            let mut cols = Vec::new();
            let mut key = None;
            if self.rng.chance(85) {
                let kind = match self.rng.below(4) {
                    0 => Kind::Key,
                    1 => Kind::Serial,
                    _ => Kind::Identity {
                        always: self.rng.chance(50),
                        start: *self.rng.pick(&[1i64, 1, 10, 100]),
                        inc: *self.rng.pick(&[1i64, 1, 3]),
                    },
                };
                let values: Vec<i64> = match &kind {
                    Kind::Identity { start, inc, .. } => (0..rows as i64).map(|i| start + i * inc).collect(),
                    _ => (1..=rows as i64).collect(),
                };
                let name = self.name("id");
                cols.push(Col {
                    name: name.clone(),
                    ty: Ty::Int,
                    kind,
                    not_null: true,
                    default: None,
                    checked: false,
                });
                key = Some(0);
                if !unlogged {
                    self.targets.push(Target {
                        q: q.clone(),
                        key: name,
                        values,
                    });
                }
            }
            let key_name = if key.is_some() && self.rng.chance(40) {
                Some(self.name("pk"))
            } else {
                None
            };
            plans.push(Plan {
                q,
                cols,
                key,
                key_name,
                rows,
                unlogged,
                checks: Vec::new(),
            });
        }
        let case_targets: Vec<usize> = (first_target..self.targets.len()).collect();
        for p in plans.iter_mut() {
            for _ in 0..1 + self.rng.below(6) {
                let ty = self.col_type(&own_types);
                let name = self.name("col");
                let not_null = self.rng.chance(25);
                let default = self.default_for(&ty, &seqs);
                let mut col = Col {
                    name,
                    ty,
                    kind: Kind::Plain,
                    not_null,
                    default,
                    checked: false,
                };
                if col.ty.is_int() && self.rng.chance(30) {
                    let cname = qi(&self.name("chk"));
                    let expr = if !self.int_funcs.is_empty() && self.rng.chance(40) {
                        format!("{}({}) >= 0", self.rng.pick(&self.int_funcs).clone(), qi(&col.name))
                    } else {
                        format!("{} >= 0", qi(&col.name))
                    };
                    p.checks.push(format!("CONSTRAINT {cname} CHECK ({expr})"));
                    col.checked = true;
                } else if col.ty.is_text() && self.rng.chance(20) {
                    let cname = qi(&self.name("chk"));
                    p.checks
                        .push(format!("CONSTRAINT {cname} CHECK (length({}) < 200)", qi(&col.name)));
                    col.checked = true;
                }
                p.cols.push(col);
            }
            if self.rng.chance(15) {
                let name = self.name("ser");
                let big = self.rng.chance(50);
                p.cols.push(Col {
                    name,
                    ty: if big { Ty::Big } else { Ty::Int },
                    kind: Kind::Serial,
                    not_null: true,
                    default: None,
                    checked: false,
                });
            }
            // References: at this case's tables (itself included, so
            // cycles) or at an earlier case's.
            for _ in 0..self.rng.below(3) {
                let t = if !case_targets.is_empty() && (first_target == 0 || self.rng.chance(75)) {
                    *self.rng.pick(&case_targets)
                } else if first_target > 0 {
                    self.rng.below(first_target as u64) as usize
                } else {
                    continue;
                };
                let name = self.name("ref");
                p.cols.push(Col {
                    name,
                    ty: Ty::Int,
                    kind: Kind::Ref(t),
                    not_null: false,
                    default: None,
                    checked: false,
                });
            }
            // Generated columns over an int or text column.
            if self.rng.chance(25) {
                if let Some(src) = p
                    .cols
                    .iter()
                    .find(|c| matches!(c.kind, Kind::Plain) && c.ty.is_int())
                    .cloned()
                {
                    let expr = if !self.int_funcs.is_empty() && self.rng.chance(40) {
                        format!("{}({})", self.rng.pick(&self.int_funcs).clone(), qi(&src.name))
                    } else {
                        format!("{} * 2", qi(&src.name))
                    };
                    let name = self.name("gen");
                    p.cols.push(Col {
                        name,
                        ty: Ty::Int,
                        kind: Kind::Generated(expr),
                        not_null: false,
                        default: None,
                        checked: false,
                    });
                } else if let Some(src) = p
                    .cols
                    .iter()
                    .find(|c| matches!(c.kind, Kind::Plain) && c.ty.is_text())
                    .cloned()
                {
                    let name = self.name("gen");
                    p.cols.push(Col {
                        name,
                        ty: Ty::Text,
                        kind: Kind::Generated(format!("lower({})", qi(&src.name))),
                        not_null: false,
                        default: None,
                        checked: false,
                    });
                }
            }
            // Shuffle the non-key columns a little.
            if p.cols.len() > 2 && self.rng.chance(50) {
                let last = p.cols.len() - 1;
                let i = 1 + self.rng.below(last as u64) as usize;
                p.cols.swap(i, last);
            }
        }

        // CREATE TABLE, then the rows, then the constraints that need rows
        // in place (foreign keys, NOT VALID checks).
        let mut fk_stmts = Vec::new();
        let mut tables: Vec<(String, Vec<Col>, Option<usize>, bool)> = Vec::new();
        for p in &plans {
            let mut defs = Vec::new();
            for (i, c) in p.cols.iter().enumerate() {
                let mut d = format!("{} ", qi(&c.name));
                match &c.kind {
                    Kind::Serial => d.push_str(if c.ty.is_int() { "serial" } else { "bigserial" }),
                    Kind::Identity { always, start, inc } => write!(
                        d,
                        "integer GENERATED {} AS IDENTITY (START WITH {start} INCREMENT BY {inc})",
                        if *always { "ALWAYS" } else { "BY DEFAULT" }
                    )
                    .unwrap(),
                    Kind::Generated(expr) => write!(d, "{} GENERATED ALWAYS AS ({expr}) STORED", c.ty.sql()).unwrap(),
                    _ => {
                        d.push_str(&c.ty.sql());
                        if let Some(def) = &c.default {
                            write!(d, " DEFAULT {def}").unwrap();
                        }
                        if c.not_null {
                            d.push_str(" NOT NULL");
                        }
                    }
                }
                if Some(i) == p.key && p.key_name.is_none() {
                    d.push_str(" PRIMARY KEY");
                }
                defs.push(d);
            }
            if let (Some(k), Some(n)) = (p.key, &p.key_name) {
                defs.push(format!("CONSTRAINT {} PRIMARY KEY ({})", qi(n), qi(&p.cols[k].name)));
            }
            defs.extend(p.checks.iter().cloned());
            self.emit(format!(
                "CREATE {}TABLE {} (\n    {}\n)",
                if p.unlogged { "UNLOGGED " } else { "" },
                p.q,
                defs.join(",\n    ")
            ));
            tables.push((p.q.clone(), p.cols.clone(), p.key, p.unlogged));
        }
        for p in &plans {
            self.insert_rows(&p.q, &p.cols, p.rows, 0);
            for c in &p.cols {
                if let Kind::Ref(t) = c.kind {
                    let target = self.targets[t].clone();
                    let fk = qi(&self.name("fk"));
                    let action =
                        *self
                            .rng
                            .pick(&["", " ON DELETE CASCADE", " ON DELETE SET NULL", " ON UPDATE CASCADE"]);
                    let defer = *self
                        .rng
                        .pick(&["", "", " DEFERRABLE", " DEFERRABLE INITIALLY DEFERRED"]);
                    // NOT VALID though every row holds: only the flag.
                    let not_valid = if self.rng.chance(15) { " NOT VALID" } else { "" };
                    fk_stmts.push(format!(
                        "ALTER TABLE {} ADD CONSTRAINT {fk} FOREIGN KEY ({}) REFERENCES {} ({}){action}{defer}{not_valid}",
                        p.q,
                        qi(&c.name),
                        target.q,
                        qi(&target.key)
                    ));
                    fk_stmts.push(format!("COMMENT ON CONSTRAINT {fk} ON {} IS {}", p.q, self.comment()));
                }
            }
        }

        // NOT VALID checks over a row that breaks them.
        for (q, cols, key, _) in &tables {
            if !self.rng.chance(20) {
                continue;
            }
            let Some(col) = cols
                .iter()
                .find(|c| matches!(c.kind, Kind::Plain) && c.ty.is_int() && !c.checked)
            else {
                continue;
            };
            let col = col.clone();
            let mut row_cols = cols.clone();
            for c in row_cols.iter_mut() {
                if c.name == col.name {
                    c.default = Some("-5".into());
                }
            }
            let _ = key;
            self.insert_violating(q, &row_cols, &col.name);
            let cname = qi(&self.name("notvalid"));
            self.emit(format!(
                "ALTER TABLE {q} ADD CONSTRAINT {cname} CHECK ({} >= 0) NOT VALID",
                qi(&col.name)
            ));
            self.maybe_comment(&format!("CONSTRAINT {cname} ON {q}"));
        }
        for s in fk_stmts {
            self.emit(s);
        }

        // Inheritance children of this case's logged tables.
        let mut children: Vec<(String, Vec<Col>)> = Vec::new();
        for (q, cols, _, unlogged) in tables.clone() {
            if unlogged || !self.rng.chance(15) {
                continue;
            }
            let (cq, _) = in_schema(self, "child");
            let extra = self.name("extra");
            // Sometimes with a generated column of its own.
            let own_gen = match cols.iter().find(|c| matches!(c.kind, Kind::Plain) && c.ty.is_int()) {
                Some(src) if self.rng.chance(40) => {
                    let g = self.name("cgen");
                    let src = qi(&src.name);
                    Some((
                        g.clone(),
                        format!(", {} integer GENERATED ALWAYS AS ({src} * 3) STORED", qi(&g)),
                    ))
                }
                _ => None,
            };
            self.emit(format!(
                "CREATE TABLE {cq} ({} text{}) INHERITS ({q})",
                qi(&extra),
                own_gen.as_ref().map(|g| g.1.as_str()).unwrap_or("")
            ));
            let mut ccols: Vec<Col> = cols
                .iter()
                .map(|c| {
                    let mut c = c.clone();
                    // Identity does not pass to children: give values.
                    match c.kind {
                        Kind::Identity { .. } | Kind::Key => c.kind = Kind::Plain,
                        Kind::Ref(_) => c.kind = Kind::Plain,
                        _ => {}
                    }
                    c
                })
                .collect();
            ccols.push(Col {
                name: extra,
                ty: Ty::Text,
                kind: Kind::Plain,
                not_null: false,
                default: None,
                checked: false,
            });
            let n = self.rng.below(4) as usize;
            self.insert_rows(&cq, &ccols, n, 50);
            self.maybe_comment(&format!("TABLE {cq}"));
            children.push((cq, ccols));
        }

        // Partitioned tables.
        let mut partitioned: Vec<(String, Vec<Col>)> = Vec::new();
        self.partitions.clear();
        for _ in 0..self.rng.below(2) {
            self.partitioned(&mut in_schema, &own_types, &mut partitioned);
        }

        // A standalone sequence owned by a column of its own schema.
        for seq in seqs.clone() {
            if !self.rng.chance(30) || self.domain_seqs.contains(&seq) {
                continue;
            }
            let owner = tables.iter().find_map(|(q, cols, _, _)| {
                let c = cols.iter().find(|c| matches!(c.kind, Kind::Plain) && c.ty.is_int())?;
                (schema_of(q) == schema_of(&seq)).then(|| format!("{q}.{}", qi(&c.name)))
            });
            if let Some(owner) = owner {
                self.emit(format!("ALTER SEQUENCE {seq} OWNED BY {owner}"));
            }
        }

        // Unique, exclusion, indexes, column attributes, comments.
        for (q, cols, key, _) in &tables {
            self.table_extras(q, cols, *key);
        }
        for p in &plans {
            if let (Some(k), Some(n)) = (p.key, &p.key_name) {
                // The key's index is named as the key is.
                let _ = k;
                match self.rng.below(6) {
                    0 => self.emit(format!("ALTER TABLE {} REPLICA IDENTITY USING INDEX {}", p.q, qi(n))),
                    1 => self.emit(format!("ALTER TABLE {} CLUSTER ON {}", p.q, qi(n))),
                    _ => {}
                }
            } else if self.rng.chance(10) {
                self.emit(format!("ALTER TABLE {} REPLICA IDENTITY FULL", p.q));
            }
        }
        for (q, cols) in &children {
            self.table_extras(q, cols, None);
        }

        // Functions over the tables' row types.
        let mut rels: Vec<Rel> = Vec::new();
        for (q, cols, key, _) in &tables {
            rels.push(Rel {
                q: q.clone(),
                cols: cols.iter().map(|c| (c.name.clone(), c.ty.clone())).collect(),
                pk: key.map(|k| cols[k].name.clone()),
                nodata: false,
            });
        }
        for (q, cols) in children.iter().chain(partitioned.iter()) {
            rels.push(Rel {
                q: q.clone(),
                cols: cols.iter().map(|c| (c.name.clone(), c.ty.clone())).collect(),
                pk: None,
                nodata: false,
            });
        }
        let mut row_funcs: Vec<(String, String)> = Vec::new();
        for (q, cols, key, _) in tables.clone() {
            if !self.rng.chance(40) {
                continue;
            }
            let (f, _) = in_schema(self, "rowfn");
            let body = match key {
                Some(k) => format!("SELECT ($1).{}", qi(&cols[k].name)),
                None => "SELECT 1".into(),
            };
            self.emit(format!(
                "CREATE FUNCTION {f}(r {q}) RETURNS integer LANGUAGE sql STABLE AS $fn$ {body} $fn$"
            ));
            self.maybe_comment(&format!("FUNCTION {f}({q})"));
            row_funcs.push((f, q));
        }
        for rel in rels.clone() {
            if !self.rng.chance(25) {
                continue;
            }
            let (f, _) = in_schema(self, "setof");
            match self.rng.below(3) {
                0 => self.emit(format!(
                    "CREATE FUNCTION {f}() RETURNS SETOF {} LANGUAGE sql STABLE AS $fn$ SELECT * FROM {} $fn$",
                    rel.q, rel.q
                )),
                1 => self.emit(format!(
                    "CREATE FUNCTION {f}() RETURNS bigint LANGUAGE plpgsql AS $fn$\nDECLARE n bigint;\nBEGIN\n  SELECT count(*) INTO n FROM {};\n  RETURN n;\nEND\n$fn$",
                    rel.q
                )),
                _ if SQL_STANDARD_BODIES && self.version >= 140000 => self.emit(format!(
                    "CREATE FUNCTION {f}() RETURNS bigint LANGUAGE sql STABLE BEGIN ATOMIC SELECT count(*) FROM {}; END",
                    rel.q
                )),
                _ => self.emit(format!(
                    "CREATE FUNCTION {f}(lim integer DEFAULT 3) RETURNS TABLE (n bigint) LANGUAGE sql AS $fn$ SELECT count(*) FROM {} LIMIT lim $fn$",
                    rel.q
                )),
            }
        }

        // Views and materialized views.
        for _ in 0..self.rng.below(5) {
            self.view(&mut in_schema, &mut rels, &tables, &row_funcs);
        }

        // Triggers.
        if self.rng.chance(60) {
            let (tf, _) = in_schema(self, "trgfn");
            self.emit(format!(
                "CREATE FUNCTION {tf}() RETURNS trigger LANGUAGE plpgsql AS $fn$\nBEGIN\n  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;\n  RETURN NEW;\nEND\n$fn$"
            ));
            self.maybe_comment(&format!("FUNCTION {tf}()"));
            let mut trig_tables: Vec<(String, bool)> = tables.iter().map(|t| (t.0.clone(), false)).collect();
            if TRIGGERS_ON_PARTITIONED_TABLES {
                trig_tables.extend(partitioned.iter().map(|t| (t.0.clone(), true)));
            }
            for (q, is_part) in trig_tables {
                for _ in 0..self.rng.below(3) {
                    let name = qi(&self.name("trg"));
                    let when = if is_part {
                        "AFTER"
                    } else {
                        *self.rng.pick(&["BEFORE", "AFTER"])
                    };
                    let event = *self
                        .rng
                        .pick(&["INSERT", "UPDATE", "DELETE", "INSERT OR UPDATE", "INSERT OR DELETE"]);
                    let each = if is_part || self.rng.chance(60) {
                        "ROW"
                    } else {
                        "STATEMENT"
                    };
                    let cond = if each == "ROW" && self.rng.chance(30) {
                        " WHEN (pg_trigger_depth() < 5)"
                    } else {
                        ""
                    };
                    if !is_part && when == "AFTER" && each == "ROW" && self.rng.chance(25) {
                        self.emit(format!(
                            "CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {q} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {tf}()"
                        ));
                    } else {
                        self.emit(format!(
                            "CREATE TRIGGER {name} {when} {event} ON {q} FOR EACH {each}{cond} EXECUTE FUNCTION {tf}()"
                        ));
                    }
                    match self.rng.below(6) {
                        0 => self.emit(format!("ALTER TABLE {q} DISABLE TRIGGER {name}")),
                        1 => self.emit(format!("ALTER TABLE {q} ENABLE ALWAYS TRIGGER {name}")),
                        2 => self.emit(format!("ALTER TABLE {q} ENABLE REPLICA TRIGGER {name}")),
                        _ => {}
                    }
                    // The clone of a partitioned table's trigger on one
                    // partition, set apart from its parent's.
                    if is_part && self.rng.chance(40) {
                        let parts: Vec<String> = self
                            .partitions
                            .iter()
                            .filter(|(p, _)| *p == q)
                            .map(|(_, c)| c.clone())
                            .collect();
                        if !parts.is_empty() {
                            let part = self.rng.pick(&parts).clone();
                            let how = *self.rng.pick(&["DISABLE", "ENABLE ALWAYS", "ENABLE REPLICA"]);
                            self.emit(format!("ALTER TABLE {part} {how} TRIGGER {name}"));
                        }
                    }
                    self.maybe_comment(&format!("TRIGGER {name} ON {q}"));
                }
            }
        }

        // Row-level security.
        for (q, cols, key, _) in &tables {
            if !self.rng.chance(25) {
                continue;
            }
            self.emit(format!("ALTER TABLE {q} ENABLE ROW LEVEL SECURITY"));
            if self.rng.chance(30) {
                self.emit(format!("ALTER TABLE {q} FORCE ROW LEVEL SECURITY"));
            }
            for _ in 0..1 + self.rng.below(2) {
                let name = qi(&self.name("pol"));
                let using = match key {
                    Some(k) => format!("{} > 0", qi(&cols[*k].name)),
                    None => "true".into(),
                };
                let how = *self.rng.pick(&["", " AS RESTRICTIVE", " AS PERMISSIVE"]);
                let cmd = *self.rng.pick(&["", " FOR SELECT", " FOR ALL", " FOR UPDATE"]);
                let check = if cmd != " FOR SELECT" && self.rng.chance(40) {
                    " WITH CHECK (true)"
                } else {
                    ""
                };
                self.emit(format!(
                    "CREATE POLICY {name} ON {q}{how}{cmd} TO PUBLIC USING ({using}){check}"
                ));
                self.maybe_comment(&format!("POLICY {name} ON {q}"));
            }
        }

        self.types.extend(own_types);
        self.seqs.extend(seqs);
        self.rels.extend(rels);
    }

    /// INSERTs of `rows` rows; `offset` keeps an inheritance child's
    /// explicit keys apart from its parent's.
    fn insert_rows(&mut self, q: &str, cols: &[Col], rows: usize, offset: usize) {
        if rows == 0 {
            return;
        }
        let listed: Vec<&Col> = cols
            .iter()
            .filter(|c| matches!(c.kind, Kind::Plain | Kind::Key | Kind::Ref(_)))
            .collect();
        if listed.is_empty() {
            for _ in 0..rows {
                self.emit(format!("INSERT INTO {q} DEFAULT VALUES"));
            }
            return;
        }
        let names: Vec<String> = listed.iter().map(|c| qi(&c.name)).collect();
        let mut tuples = Vec::new();
        for row in 0..rows {
            let vals: Vec<String> = listed.iter().map(|c| self.value_of(c, row + offset)).collect();
            tuples.push(format!("({})", vals.join(", ")));
        }
        self.emit(format!(
            "INSERT INTO {q} ({}) VALUES\n  {}",
            names.join(", "),
            tuples.join(",\n  ")
        ));
    }

    fn value_of(&mut self, c: &Col, row: usize) -> String {
        match c.kind {
            Kind::Key => format!("{}", row + 1),
            Kind::Ref(t) => {
                let values = &self.targets[t].values;
                if values.is_empty() || self.rng.chance(30) {
                    "NULL".into()
                } else {
                    let v = values[self.rng.below(values.len() as u64) as usize];
                    format!("{v}")
                }
            }
            _ => {
                if !c.not_null && self.rng.chance(12) {
                    "NULL".into()
                } else {
                    c.ty.value(&mut self.rng, row)
                }
            }
        }
    }

    /// One row whose `col` is -5, with its key after the other rows.
    fn insert_violating(&mut self, q: &str, cols: &[Col], col: &str) {
        let listed: Vec<&Col> = cols
            .iter()
            .filter(|c| matches!(c.kind, Kind::Plain | Kind::Key | Kind::Ref(_)))
            .collect();
        let names: Vec<String> = listed.iter().map(|c| qi(&c.name)).collect();
        let vals: Vec<String> = listed
            .iter()
            .map(|c| {
                if c.name == col {
                    "-5".into()
                } else if matches!(c.kind, Kind::Key) {
                    // Beyond any key a reference may hold.
                    "100000".into()
                } else if matches!(c.kind, Kind::Ref(_)) {
                    "NULL".into()
                } else {
                    c.ty.value(&mut self.rng, 99)
                }
            })
            .collect();
        self.emit(format!(
            "INSERT INTO {q} ({}) VALUES ({})",
            names.join(", "),
            vals.join(", ")
        ));
    }

    fn partitioned(
        &mut self,
        in_schema: &mut impl FnMut(&mut Gen, &str) -> (String, String),
        own_types: &[Ty],
        out: &mut Vec<(String, Vec<Col>)>,
    ) {
        let (q, _) = in_schema(self, "part");
        let key = self.name("k");
        let mut cols = vec![Col {
            name: key.clone(),
            ty: Ty::Int,
            kind: Kind::Plain,
            not_null: true,
            default: None,
            checked: false,
        }];
        for _ in 0..1 + self.rng.below(3) {
            let ty = self.col_type(own_types);
            let name = self.name("pc");
            cols.push(Col {
                name,
                ty,
                kind: Kind::Plain,
                not_null: false,
                default: None,
                checked: false,
            });
        }
        if self.rng.chance(50) {
            let i = self.rng.below(cols.len() as u64) as usize;
            cols.swap(0, i);
        }
        let strategy = self.rng.below(3);
        let nparts = 1 + self.rng.below(3) as usize;
        let defs: Vec<String> = cols
            .iter()
            .map(|c| {
                format!(
                    "{} {}{}",
                    qi(&c.name),
                    c.ty.sql(),
                    if c.not_null { " NOT NULL" } else { "" }
                )
            })
            .collect();
        let has_pk = self.rng.chance(50);
        let pk = if has_pk {
            format!(",\n    PRIMARY KEY ({})", qi(&key))
        } else {
            String::new()
        };
        let by = ["RANGE", "LIST", "HASH"][strategy as usize];
        self.emit(format!(
            "CREATE TABLE {q} (\n    {}{pk}\n) PARTITION BY {by} ({})",
            defs.join(",\n    "),
            qi(&key)
        ));
        self.maybe_comment(&format!("TABLE {q}"));
        let mut domain: Vec<i64> = Vec::new();
        let default_part = strategy != 2 && self.rng.chance(30);
        for i in 0..nparts {
            let bound = match strategy {
                0 => {
                    domain.extend((i as i64 * 100)..(i as i64 * 100 + 100));
                    format!("FROM ({}) TO ({})", i * 100, i * 100 + 100)
                }
                1 => {
                    let vals: Vec<i64> = (0..3).map(|j| (i * 10 + j) as i64).collect();
                    domain.extend(&vals);
                    format!(
                        "IN ({})",
                        vals.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
                    )
                }
                _ => format!("WITH (MODULUS {nparts}, REMAINDER {i})"),
            };
            let (pq, _) = in_schema(self, "p");
            if PARTITIONS_ATTACHED_WITH_OTHER_COLUMN_ORDER && self.rng.chance(35) {
                // Made alone with its columns in another order, then
                // attached.
                let mut order: Vec<&Col> = cols.iter().collect();
                order.reverse();
                let defs: Vec<String> = order
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {}{}",
                            qi(&c.name),
                            c.ty.sql(),
                            if c.not_null { " NOT NULL" } else { "" }
                        )
                    })
                    .collect();
                self.emit(format!("CREATE TABLE {pq} ({})", defs.join(", ")));
                self.emit(format!("ALTER TABLE {q} ATTACH PARTITION {pq} FOR VALUES {bound}"));
                self.partitions.push((q.clone(), pq.clone()));
            } else {
                self.emit(format!("CREATE TABLE {pq} PARTITION OF {q} FOR VALUES {bound}"));
                self.partitions.push((q.clone(), pq.clone()));
            }
            self.maybe_comment(&format!("TABLE {pq}"));
        }
        if strategy == 2 {
            domain = (0..1000).collect();
        }
        if default_part {
            let (pq, _) = in_schema(self, "pdef");
            self.emit(format!("CREATE TABLE {pq} PARTITION OF {q} DEFAULT"));
            domain.extend(5000..5010);
        }
        // Distinct keys from the domain.
        let rows = self.rng.below(6) as usize;
        let mut keys: Vec<i64> = Vec::new();
        for _ in 0..rows {
            let k = domain[self.rng.below(domain.len() as u64) as usize];
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        if !keys.is_empty() {
            let names: Vec<String> = cols.iter().map(|c| qi(&c.name)).collect();
            let mut tuples = Vec::new();
            for (row, k) in keys.iter().enumerate() {
                let vals: Vec<String> = cols
                    .iter()
                    .map(|c| {
                        if c.name == key {
                            k.to_string()
                        } else {
                            self.value_of(c, row)
                        }
                    })
                    .collect();
                tuples.push(format!("({})", vals.join(", ")));
            }
            self.emit(format!(
                "INSERT INTO {q} ({}) VALUES\n  {}",
                names.join(", "),
                tuples.join(",\n  ")
            ));
        }
        if self.rng.chance(50) {
            let idx = qi(&self.name("pidx"));
            let other = self.rng.pick(&cols).name.clone();
            self.emit(format!("CREATE INDEX {idx} ON {q} ({})", qi(&other)));
            self.maybe_comment(&format!(
                "INDEX {}",
                q.rsplit_once('.').map(|(s, _)| format!("{s}.{idx}")).unwrap()
            ));
        }
        out.push((q, cols));
    }

    /// Unique and exclusion constraints, indexes, column attributes and
    /// comments on one table.
    fn table_extras(&mut self, q: &str, cols: &[Col], key: Option<usize>) {
        let schema = schema_of(q);
        self.maybe_comment(&format!("TABLE {q}"));
        let ints: Vec<Col> = cols
            .iter()
            .filter(|c| matches!(c.kind, Kind::Plain) && c.ty.is_int())
            .cloned()
            .collect();
        let texts: Vec<Col> = cols
            .iter()
            .filter(|c| matches!(c.kind, Kind::Plain) && c.ty.is_text())
            .cloned()
            .collect();
        for c in cols {
            self.maybe_comment(&format!("COLUMN {q}.{}", qi(&c.name)));
            match self.rng.below(8) {
                0 => {
                    let n = 10 + self.rng.below(500);
                    self.emit(format!(
                        "ALTER TABLE {q} ALTER COLUMN {} SET STATISTICS {n}",
                        qi(&c.name)
                    ))
                }
                1 if matches!(c.ty, Ty::Text | Ty::Jsonb | Ty::Bytea) => {
                    let s = *self.rng.pick(&["EXTERNAL", "MAIN"]);
                    self.emit(format!("ALTER TABLE {q} ALTER COLUMN {} SET STORAGE {s}", qi(&c.name)))
                }
                2 => {
                    let n = self.rng.below(50) + 1;
                    self.emit(format!(
                        "ALTER TABLE {q} ALTER COLUMN {} SET (n_distinct = {n})",
                        qi(&c.name)
                    ))
                }
                _ => {}
            }
        }
        if let Some(k) = key {
            let _ = k;
        }
        if !ints.is_empty() && self.rng.chance(30) {
            let c = self.rng.pick(&ints).name.clone();
            let name = qi(&self.name("uq"));
            let defer = *self.rng.pick(&["", " DEFERRABLE", " DEFERRABLE INITIALLY DEFERRED"]);
            self.emit(format!(
                "ALTER TABLE {q} ADD CONSTRAINT {name} UNIQUE ({}){defer}",
                qi(&c)
            ));
            self.maybe_comment(&format!("CONSTRAINT {name} ON {q}"));
        }
        if !ints.is_empty() && self.rng.chance(15) {
            let c = qi(&self.rng.pick(&ints).name.clone());
            let name = qi(&self.name("excl"));
            let body = if self.btree_gist && self.rng.chance(50) {
                format!("{c} WITH =")
            } else {
                format!("int4range({c}, {c}, '[]') WITH &&")
            };
            // NULL makes an unbounded range, which overlaps every other.
            self.emit(format!(
                "ALTER TABLE {q} ADD CONSTRAINT {name} EXCLUDE USING gist ({body}) WHERE ({c} IS NOT NULL)"
            ));
            self.maybe_comment(&format!("CONSTRAINT {name} ON {q}"));
        }
        for _ in 0..self.rng.below(3) {
            let idx_raw = self.name("idx");
            let idx = qi(&idx_raw);
            let stmt = match self.rng.below(6) {
                0 if !ints.is_empty() => {
                    let c = qi(&self.rng.pick(&ints).name.clone());
                    format!("CREATE UNIQUE INDEX {idx} ON {q} ({c})")
                }
                1 if !ints.is_empty() => {
                    let c = qi(&self.rng.pick(&ints).name.clone());
                    format!("CREATE INDEX {idx} ON {q} ({c} DESC NULLS LAST) WHERE {c} IS NOT NULL")
                }
                2 if !texts.is_empty() => {
                    let c = qi(&self.rng.pick(&texts).name.clone());
                    format!("CREATE INDEX {idx} ON {q} ((lower({c}::text)))")
                }
                3 if !ints.is_empty() && !self.int_funcs.is_empty() => {
                    let c = qi(&self.rng.pick(&ints).name.clone());
                    let f = self.rng.pick(&self.int_funcs).clone();
                    format!("CREATE INDEX {idx} ON {q} (({f}({c})))")
                }
                4 if cols.len() >= 2 => {
                    let a = qi(&cols[0].name);
                    let b = qi(&cols[cols.len() - 1].name);
                    let include = if key.is_some() && cols.len() >= 3 {
                        format!(" INCLUDE ({})", qi(&cols[1].name))
                    } else {
                        String::new()
                    };
                    if is_btree_able(&cols[0].ty) && is_btree_able(&cols[cols.len() - 1].ty) {
                        format!("CREATE INDEX {idx} ON {q} ({a}, {b}){include}")
                    } else {
                        continue;
                    }
                }
                _ => continue,
            };
            self.emit(&stmt);
            if stmt.contains("((") {
                let n = 1 + self.rng.below(900);
                self.emit(format!("ALTER INDEX {schema}.{idx} ALTER COLUMN 1 SET STATISTICS {n}"));
            }
            self.maybe_comment(&format!("INDEX {schema}.{idx}"));
        }
    }

    fn view(
        &mut self,
        in_schema: &mut impl FnMut(&mut Gen, &str) -> (String, String),
        rels: &mut Vec<Rel>,
        tables: &[(String, Vec<Col>, Option<usize>, bool)],
        row_funcs: &[(String, String)],
    ) {
        // Sometimes over an earlier case's relations.
        let pool: Vec<Rel> = if !self.rels.is_empty() && self.cross() {
            let mut p = self.rels.clone();
            p.extend(rels.iter().cloned());
            p
        } else {
            rels.clone()
        };
        if pool.is_empty() {
            return;
        }
        let materialized = self.rng.chance(25);
        let (q, vname) = in_schema(self, if materialized { "mv" } else { "v" });
        let src = self.rng.pick(&pool).clone();
        let alias = |g: &mut Gen| g.name("a");
        let mut out_cols: Vec<(String, Ty)> = Vec::new();
        let mut pk = None;
        let mut nodata = src.nodata;
        let body = match self.rng.below(6) {
            // Grouped by the primary key alone.
            0 if (MATVIEWS_GROUPED_BY_A_KEY || !materialized) && src.pk.is_some() && src.cols.len() >= 2 => {
                let key = src.pk.clone().unwrap();
                let other = src.cols.iter().find(|c| c.0 != key).unwrap().clone();
                let (a, b, n) = (alias(self), alias(self), alias(self));
                out_cols.push((a.clone(), Ty::Int));
                out_cols.push((b.clone(), other.1.clone()));
                out_cols.push((n.clone(), Ty::Big));
                format!(
                    "SELECT t.{} AS {}, t.{} AS {}, count(*) AS {} FROM {} t GROUP BY t.{}",
                    qi(&key),
                    qi(&a),
                    qi(&other.0),
                    qi(&b),
                    qi(&n),
                    src.q,
                    qi(&key)
                )
            }
            // A UNION of two relations' columns as text.
            1 => {
                let other = self.rng.pick(&pool).clone();
                nodata |= other.nodata;
                let c1 = self.rng.pick(&src.cols).0.clone();
                let c2 = self.rng.pick(&other.cols).0.clone();
                let a = alias(self);
                out_cols.push((a.clone(), Ty::Text));
                format!(
                    "SELECT s.{}::text AS {} FROM {} s\nUNION\nSELECT o.{}::text FROM {} o",
                    qi(&c1),
                    qi(&a),
                    src.q,
                    qi(&c2),
                    other.q
                )
            }
            // Recursive.
            2 if !materialized => {
                let n = alias(self);
                let start = self.rng.below(3);
                out_cols.push((n.clone(), Ty::Int));
                let stmt = format!(
                    "CREATE RECURSIVE VIEW {q} ({}) AS SELECT {start} UNION ALL SELECT {} + 1 FROM {} WHERE {} < 5",
                    qi(&n),
                    qi(&n),
                    qi(&vname),
                    qi(&n)
                );
                self.emit(stmt);
                self.view_after(&q, &out_cols, false, false);
                rels.push(Rel {
                    q,
                    cols: out_cols,
                    pk: None,
                    nodata: false,
                });
                return;
            }
            // A join along a foreign key, across schemas or cases.
            3 => {
                let with_ref: Vec<(String, Vec<Col>)> = tables
                    .iter()
                    .filter(|t| t.1.iter().any(|c| matches!(c.kind, Kind::Ref(_))))
                    .map(|t| (t.0.clone(), t.1.clone()))
                    .collect();
                if with_ref.is_empty() {
                    return;
                }
                let (tq, tcols) = self.rng.pick(&with_ref).clone();
                let rc = tcols.iter().find(|c| matches!(c.kind, Kind::Ref(_))).unwrap().clone();
                let Kind::Ref(t) = rc.kind else { unreachable!() };
                let target = self.targets[t].clone();
                let (a, b) = (alias(self), alias(self));
                out_cols.push((a.clone(), Ty::Int));
                out_cols.push((b.clone(), Ty::Int));
                nodata = false;
                if self.rng.chance(30) && !materialized {
                    // Walk the references recursively.
                    let w = qi(&self.name("walk"));
                    format!(
                        "WITH RECURSIVE {w} (x, depth) AS (\n  SELECT t.{rcol}, 0 FROM {tq} t\n  UNION ALL\n  SELECT u.{rcol}, w.depth + 1 FROM {tq} u JOIN {w} w ON u.{rcol} = w.x WHERE w.depth < 3\n)\nSELECT x AS {}, depth AS {} FROM {w}",
                        qi(&a),
                        qi(&b),
                        rcol = qi(&rc.name)
                    )
                } else {
                    format!(
                        "SELECT l.{} AS {}, r.{} AS {} FROM {tq} l LEFT JOIN {} r ON l.{} = r.{}",
                        qi(&rc.name),
                        qi(&a),
                        qi(&target.key),
                        qi(&b),
                        target.q,
                        qi(&rc.name),
                        qi(&target.key)
                    )
                }
            }
            // A function over a row type.
            4 if !row_funcs.is_empty() => {
                let (f, tq) = self.rng.pick(row_funcs).clone();
                let a = alias(self);
                out_cols.push((a.clone(), Ty::Int));
                nodata = false;
                format!("SELECT {f}(t) AS {} FROM {tq} t", qi(&a))
            }
            // A projection.
            _ => {
                let n = 1 + self.rng.below(src.cols.len().min(3) as u64) as usize;
                let mut sel = Vec::new();
                for i in 0..n {
                    let (c, ty) = src.cols[i].clone();
                    let a = alias(self);
                    sel.push(format!("t.{} AS {}", qi(&c), qi(&a)));
                    out_cols.push((a, ty));
                }
                let filter = if self.rng.chance(40) {
                    format!(" WHERE t.{} IS NOT NULL", qi(&src.cols[0].0))
                } else {
                    String::new()
                };
                let order = if self.rng.chance(25) {
                    " ORDER BY 1 DESC LIMIT 3"
                } else {
                    ""
                };
                format!("SELECT {} FROM {} t{filter}{order}", sel.join(", "), src.q)
            }
        };
        if materialized && nodata {
            return;
        }
        let no_data = materialized && self.rng.chance(35);
        if materialized {
            self.emit(format!(
                "CREATE MATERIALIZED VIEW {q} AS\n{body}{}",
                if no_data { "\nWITH NO DATA" } else { "" }
            ));
        } else {
            self.emit(format!("CREATE VIEW {q} AS\n{body}"));
        }
        self.view_after(&q, &out_cols, materialized, no_data);
        let _ = &mut pk;
        rels.push(Rel {
            q,
            cols: out_cols,
            pk,
            nodata: nodata || no_data,
        });
    }

    fn view_after(&mut self, q: &str, cols: &[(String, Ty)], materialized: bool, _no_data: bool) {
        let kind = if materialized { "MATERIALIZED VIEW" } else { "VIEW" };
        self.maybe_comment(&format!("{kind} {q}"));
        for (c, ty) in cols {
            self.maybe_comment(&format!("COLUMN {q}.{}", qi(c)));
            if !materialized && ty.is_int() && self.rng.chance(15) {
                self.emit(format!("ALTER VIEW {q} ALTER COLUMN {} SET DEFAULT 0", qi(c)));
            }
        }
        if materialized && self.rng.chance(50) && is_btree_able(&cols[0].1) {
            let idx = qi(&self.name("mvidx"));
            self.emit(format!("CREATE INDEX {idx} ON {q} ({})", qi(&cols[0].0)));
        }
    }
}

fn is_btree_able(ty: &Ty) -> bool {
    !matches!(ty, Ty::Comp(..)) && !matches!(ty, Ty::Dom(..))
}

fn schema_of(q: &str) -> String {
    // Names are `"schema"."name"`; the schema part ends at the first `"."`
    // outside a doubled quote.
    let bytes = q.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            if bytes.get(i + 1) == Some(&b'"') {
                i += 2;
                continue;
            }
            return q[..=i].to_string();
        }
        i += 1;
    }
    panic!("not a qualified name: {q}")
}

/// The SQL of one database: `cases` cases from `seed`.
fn generate(seed: u64, cases: usize, version: u32, btree_gist: bool) -> (String, Vec<String>) {
    let mut g = Gen::new(seed, version, btree_gist);
    if btree_gist {
        g.emit("CREATE EXTENSION IF NOT EXISTS btree_gist");
    }
    for i in 0..cases {
        writeln!(g.sql, "\n-- case {i}").unwrap();
        g.stmts.push(format!("-- case {i}"));
        g.case();
    }
    (g.sql, g.stmts)
}

// ---------------------------------------------------------------------------
// The round trip.

/// Whether psql runs `sql` without error.
fn psql_ok(c: &Cluster, db: &str, sql: &str) -> bool {
    std::process::Command::new(c.tool("psql"))
        .env("PGHOST", &c.dir)
        .env("PGPORT", c.port.to_string())
        .env("PGUSER", "postgres")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql])
        .output()
        .unwrap()
        .status
        .success()
}

/// The lines of a `diff` between two schemas, kept on disk beside the
/// source.
fn schema_diff(dir: &Path, want: &str, got: &str, label: &str) -> String {
    let a = dir.join(format!("{label}.reference.schema.sql"));
    let b = dir.join(format!("{label}.lifeboat.schema.sql"));
    std::fs::write(&a, want).unwrap();
    std::fs::write(&b, got).unwrap();
    let out = std::process::Command::new("diff")
        .arg("-u")
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap();
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .take(80)
        .map(str::to_string)
        .collect();
    lines.join("\n")
}

/// Generates, loads and round-trips the database of one seed; panics with
/// what differed.
fn round_trip(c: &Cluster, keep: &Path, seed: u64, cases: usize, version: u32, btree_gist: bool) {
    let dir = keep.join(format!("seed-{seed}"));
    std::fs::create_dir_all(&dir).unwrap();
    let (sql, stmts) = generate(seed, cases, version, btree_gist);
    let file = keep.join(format!("seed-{seed}.sql"));
    std::fs::write(&file, &sql).unwrap();
    // One statement a line, as JSON strings, for a tool that reduces the
    // failure to the statements it needs.
    let json = keep.join(format!("seed-{seed}.statements.json"));
    std::fs::write(&json, serde_json::to_string(&stmts).unwrap()).unwrap();
    let src = format!("gen_{seed}");
    c.createdb(&src);
    // A statement the server refuses is a bug of the generator.
    c.psql_file(&src, &file, &[]);
    let reference_db = format!("{src}_ref");
    c.reference(&dir, &src, &reference_db, "");
    let schema = c.schema(&reference_db);
    let data = c.rows(&reference_db);
    let out = expect(&dir, &["backup", &c.url(&src), "--quiet", "--out", "bk"], 0);
    let set = dir.join(out.trim());
    let set_arg = set.to_str().unwrap();
    let check = |db: &str, how: &str| {
        let got = c.schema(db);
        if got != schema {
            let label = format!("seed-{seed}-{}", how.replace(' ', "_"));
            panic!(
                "{how}: the schema differs from pg_dump | psql:\n{}",
                schema_diff(keep, &schema, &got, &label)
            );
        }
        assert!(c.rows(db) == data, "{how}: the rows differ from pg_dump | psql");
        expect(&dir, &["compare", set_arg, &c.url(db)], 0);
    };

    let par = format!("{src}_par");
    c.psql("postgres", &format!("DROP DATABASE IF EXISTS \"{par}\""));
    expect(
        &dir,
        &["restore", set_arg, "--to", &c.url(&par), "--create-db", "--jobs", "4"],
        0,
    );
    check(&par, "--create-db --jobs 4");

    let one = format!("{src}_one");
    c.createdb(&one);
    expect(&dir, &["restore", set_arg, "--to", &c.url(&one), "--jobs", "1"], 0);
    check(&one, "pre-created --jobs 1");

    for db in [&src, &reference_db, &par, &one] {
        c.psql("postgres", &format!("DROP DATABASE IF EXISTS \"{db}\""));
    }
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_file(&file).ok();
    std::fs::remove_file(&json).ok();
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
    })
}

#[test]
fn generated_schemas_restore_as_pg_dump_restores_them() {
    let c = cluster();
    let total = env_number("LIFEBOAT_GENERATED_CASES")
        .map(|n| n as usize)
        .unwrap_or(DEFAULT_CASES);
    let seeds: Vec<(u64, usize)> = match env_number("LIFEBOAT_GENERATED_SEED") {
        Some(seed) => vec![(seed, total.min(CASES_PER_DB))],
        None => (0..total.div_ceil(CASES_PER_DB))
            .map(|i| (BASE_SEED + i as u64, CASES_PER_DB.min(total - i * CASES_PER_DB)))
            .collect(),
    };
    let keep: PathBuf = tempfile::Builder::new()
        .prefix("lifeboat-generated-")
        .tempdir()
        .unwrap()
        .keep();
    let version: u32 = c.psql("postgres", "SHOW server_version_num").parse().unwrap();
    c.createdb("gen_probe");
    let btree_gist = psql_ok(c, "gen_probe", "CREATE EXTENSION btree_gist");
    c.psql("postgres", "DROP DATABASE gen_probe");

    let mut failures = Vec::new();
    for (seed, cases) in seeds {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            round_trip(c, &keep, seed, cases, version, btree_gist)
        }));
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!(
                "seed {seed} ({cases} cases): source SQL in {}; run again with LIFEBOAT_GENERATED_SEED={seed} LIFEBOAT_GENERATED_CASES={cases}\n{msg}",
                keep.join(format!("seed-{seed}.sql")).display()
            ));
        }
    }
    if failures.is_empty() {
        std::fs::remove_dir_all(&keep).ok();
    }
    assert!(
        failures.is_empty(),
        "{} generated database(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

//! What only a superuser may do in a restore-level verification on a local
//! scratch cluster, done by the cluster's admin connection for the set.
//!
//! The set's SQL runs there as a role without superuser (issue 9), which
//! may create only trusted extensions: PostGIS, pgstattuple, file_fdw and
//! most others are not. So the admin creates the extensions the set names,
//! at the point of the restore where the set creates them (their schema
//! exists, what follows may use them). What the admin runs is lifeboat's
//! own rebuilding of a statement from the names in it, or (operator
//! classes and families, aggregates with an internal state, below) the
//! set's statement only where the tokenizer reads it as one statement of
//! names, numbers and punctuation, sent so that the server runs one
//! statement or none. For extensions:
//!
//! - only `CREATE EXTENSION IF NOT EXISTS name WITH SCHEMA schema`, as
//!   lifeboat writes it, rebuilt from the two names (no VERSION, no
//!   CASCADE), for an extension this machine has;
//! - `COMMENT ON EXTENSION` of such an extension, which needs its owner;
//! - and only while the scratch database holds no function, type, operator
//!   or relation the set made: an extension script runs as superuser with
//!   its schema on the search path, and must not find the set's code there.
//!
//! The restore role then gets what the set's later statements need of the
//! extension: rows into its configuration tables, and its foreign-data
//! wrappers for the servers the set defines.
//!
//! Publications of all tables or of a schema's tables are a superuser's to
//! make too; they run no code, and the admin makes them from their names
//! and options, rebuilt by lifeboat (and comments on those it made, and
//! owner changes, whose new owner would need CREATE on the database).
//!
//! Event triggers are a superuser's to make and own. The admin makes them
//! from their name, event, tags and function, parsed and quoted again by
//! lifeboat (with their enabled state and comment), and only once the
//! restore is over ([`ScratchAdmin::finish`]): an event trigger runs its
//! function, the set's code, as whoever runs DDL, and after it only the
//! restore role's catalog reads and `DROP DATABASE` (which fires none)
//! reach the scratch database. A `login` trigger, which would run on the
//! admin's own next connection, is not made.
//!
//! A `LEAKPROOF` function: the restore role creates it without the word
//! (the set's own statement, one keyword less, proven by the tokenizer),
//! and the admin marks the function it made `LEAKPROOF` by its catalog
//! identity. The mark runs nothing; it only lets the planner call the
//! function before row security filters, over the set's own rows.
//!
//! A `SUPPORT` function (planner support, always C code: no role but a
//! superuser can make one, so in the scratch cluster it is the server's
//! or an extension's): as for `LEAKPROOF`, the restore role creates the
//! function without the clause, and the admin sets it by the identity the
//! server gives both functions. Setting it runs nothing.
//!
//! An aggregate with an `internal` state passes a pointer between C
//! functions: only a superuser may choose them, since a mismatched pair
//! would read memory as what it is not. The admin runs the set's `CREATE
//! AGGREGATE` (names, numbers, punctuation and the initial condition's
//! string alone, through the extended protocol), which calls none of its
//! functions; the restore stops, not proven, unless an aggregate of the
//! server or of an extension already uses the same functions on the same
//! state; then the restore role gets it.
//!
//! Operator classes and families: the admin runs the set's `CREATE
//! OPERATOR CLASS|FAMILY` or `ALTER OPERATOR FAMILY ... ADD` only when
//! the tokenizer proves it one such statement of names, numbers and
//! punctuation alone (no string, so no body; with the admin's empty
//! search path every name is the schema-qualified one written), then
//! gives it to the restore role. Making one calls none of its functions;
//! they run when an index or a sort uses the class, as the role that
//! builds or queries, never the admin, who does no more than the steps
//! above on the scratch database.
//!
//! A function may carry a setting only a superuser may set
//! (`SET log_min_duration_statement = 0`, `SET temp_file_limit`): from
//! PostgreSQL 15 the admin lets the restore role set it, for the settings
//! in [`HARMLESS_SETTINGS`] only, which load no code and reach no file.

use super::connect::{self, Target};
use super::guard::{self, Statement, Token};
use super::rows::Value;
use anyhow::{Context, Result, bail};
use postgres::Client;
use std::collections::HashSet;
use std::sync::Mutex;

/// The scratch cluster's admin connection and what it made.
pub struct ScratchAdmin {
    target: Target,
    /// The role the set's SQL runs as.
    restore_role: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    client: Option<Client>,
    /// Extensions the admin created, by name.
    made: HashSet<String>,
    /// Settings the restore role was let set, or found it may not.
    settings: HashSet<String>,
    /// Publications the admin created (for all tables), by name.
    publications: HashSet<String>,
    /// Event triggers the admin makes once the restore is over, by name.
    event_triggers: HashSet<String>,
    /// What the admin runs then, in the set's order: event triggers,
    /// their state and comments.
    after_restore: Vec<String>,
}

/// The events an event trigger the admin makes may watch: those that fire
/// on DDL only (not `login`, which fires on connecting).
const DDL_EVENTS: &[&str] = &["ddl_command_start", "ddl_command_end", "sql_drop", "table_rewrite"];

/// A schema-qualified (or bare) name at `at`: its parts and the position
/// after it.
fn qualified_at(tokens: &[Token], at: usize) -> Option<(Vec<String>, usize)> {
    let mut parts = vec![guard::ident(tokens.get(at)?)?];
    let mut i = at + 1;
    if tokens.get(i) == Some(&Token::Punct('.')) {
        parts.push(guard::ident(tokens.get(i + 1)?)?);
        i += 2;
    }
    Some((parts, i))
}

fn quote_qualified(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| guard::quote_ident(p))
        .collect::<Vec<_>>()
        .join(".")
}

/// `CREATE EVENT TRIGGER name ON event [WHEN TAG IN ('tag', ...)] EXECUTE
/// FUNCTION|PROCEDURE schema.function()`, as lifeboat writes it: the name
/// and the statement rebuilt from its parts, or None.
fn create_event_trigger(tokens: &[Token]) -> Option<(String, String)> {
    if !words_at(tokens, 0, &["CREATE", "EVENT", "TRIGGER"]) || !words_at(tokens, 4, &["ON"]) {
        return None;
    }
    let name = guard::ident(tokens.get(3)?)?;
    let event = guard::ident(tokens.get(5)?)?;
    if !DDL_EVENTS.contains(&event.as_str()) {
        return None;
    }
    let mut i = 6;
    let mut tags = Vec::new();
    if words_at(tokens, i, &["WHEN", "TAG", "IN"]) && tokens.get(i + 3) == Some(&Token::Punct('(')) {
        i += 4;
        loop {
            let Some(Token::Str(tag)) = tokens.get(i) else {
                return None;
            };
            // A command tag is words; anything else is not lifeboat's.
            if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphabetic() || c == ' ') {
                return None;
            }
            tags.push(super::catalog::quote_literal(tag));
            match tokens.get(i + 1)? {
                Token::Punct(',') => i += 2,
                Token::Punct(')') => {
                    i += 2;
                    break;
                }
                _ => return None,
            }
        }
    }
    if !(words_at(tokens, i, &["EXECUTE", "FUNCTION"]) || words_at(tokens, i, &["EXECUTE", "PROCEDURE"])) {
        return None;
    }
    let (function, after) = qualified_at(tokens, i + 2)?;
    if tokens[after..] != [Token::Punct('('), Token::Punct(')')] {
        return None;
    }
    let when = if tags.is_empty() {
        String::new()
    } else {
        format!(" WHEN TAG IN ({})", tags.join(", "))
    };
    let sql = format!(
        "CREATE EVENT TRIGGER {} ON {}{when} EXECUTE FUNCTION {}()",
        guard::quote_ident(&name),
        guard::quote_ident(&event),
        quote_qualified(&function)
    );
    Some((name, sql))
}

/// `ALTER EVENT TRIGGER name DISABLE | ENABLE [REPLICA | ALWAYS]`, or
/// `COMMENT ON EVENT TRIGGER name IS 'text'`: the name and the statement
/// rebuilt.
fn event_trigger_follow_up(tokens: &[Token]) -> Option<(String, String)> {
    if words_at(tokens, 0, &["ALTER", "EVENT", "TRIGGER"]) {
        let name = guard::ident(tokens.get(3)?)?;
        let state = match &tokens[4..] {
            [Token::Word { upper, .. }] if upper == "DISABLE" => "DISABLE",
            [Token::Word { upper, .. }] if upper == "ENABLE" => "ENABLE",
            [Token::Word { upper: a, .. }, Token::Word { upper: b, .. }] if a == "ENABLE" && b == "REPLICA" => {
                "ENABLE REPLICA"
            }
            [Token::Word { upper: a, .. }, Token::Word { upper: b, .. }] if a == "ENABLE" && b == "ALWAYS" => {
                "ENABLE ALWAYS"
            }
            _ => return None,
        };
        let sql = format!("ALTER EVENT TRIGGER {} {state}", guard::quote_ident(&name));
        return Some((name, sql));
    }
    if tokens.len() == 7 && words_at(tokens, 0, &["COMMENT", "ON", "EVENT", "TRIGGER"]) && words_at(tokens, 5, &["IS"])
    {
        let name = guard::ident(tokens.get(4)?)?;
        let Some(Token::Str(text)) = tokens.get(6) else {
            return None;
        };
        let sql = format!(
            "COMMENT ON EVENT TRIGGER {} IS {}",
            guard::quote_ident(&name),
            super::catalog::quote_literal(text)
        );
        return Some((name, sql));
    }
    None
}

/// `CREATE OPERATOR CLASS|FAMILY` or `ALTER OPERATOR FAMILY ... ADD` of
/// names, numbers and punctuation alone: the kind, the qualified name and
/// the access method, for handing it to the restore role, or None.
fn operator_class_or_family(tokens: &[Token]) -> Option<(&'static str, String, String)> {
    let kind = if words_at(tokens, 0, &["CREATE", "OPERATOR", "CLASS"]) {
        "CLASS"
    } else if words_at(tokens, 0, &["CREATE", "OPERATOR", "FAMILY"])
        || words_at(tokens, 0, &["ALTER", "OPERATOR", "FAMILY"])
    {
        "FAMILY"
    } else {
        return None;
    };
    let plain = tokens.iter().all(|t| {
        matches!(
            t,
            Token::Word { .. } | Token::Quoted(_) | Token::Number(_) | Token::Punct(_)
        )
    });
    // One statement: the tokenizer ends it at a semicolon outside quotes.
    if !plain || tokens.contains(&Token::Punct(';')) {
        return None;
    }
    let (name, after) = qualified_at(tokens, 3)?;
    let using = (after..tokens.len()).find(|&i| tokens[i].is_word("USING"))?;
    let am = guard::ident(tokens.get(using + 1)?)?;
    if words_at(tokens, 0, &["ALTER"]) {
        // Only members added, as lifeboat writes loose members.
        if using != after || !words_at(tokens, using + 2, &["ADD"]) {
            return None;
        }
    } else if kind == "FAMILY" && (using != after || tokens.len() != using + 2) {
        return None;
    }
    Some((kind, quote_qualified(&name), guard::quote_ident(&am)))
}

/// What takes back the use of wrapper `name` that `hand_over` lends, one
/// spelling for both places that build it.
fn wrapper_taken_back(name: &str) -> String {
    format!(
        "REVOKE USAGE ON FOREIGN DATA WRAPPER {} FROM PUBLIC",
        guard::quote_ident(name)
    )
}

/// A GRANT or REVOKE lifeboat writes for an object of an extension or of
/// initdb: `GRANT priv[, ...] ON FUNCTION|PROCEDURE|TABLE|SEQUENCE|TYPE|
/// LANGUAGE|FOREIGN DATA WRAPPER|FOREIGN SERVER name TO grantee [WITH
/// GRANT OPTION]` (or `REVOKE ... FROM`).
#[derive(Debug, PartialEq)]
struct ObjectGrant {
    grant: bool,
    privileges: Vec<String>,
    kind: &'static str,
    /// The object's name (and a routine's argument types) as written, for
    /// the server to resolve as a name alone (`to_regprocedure`).
    object: String,
    grantee: String,
    grant_option: bool,
}

impl ObjectGrant {
    /// The grant, rebuilt by lifeboat for `object`, the name the server
    /// resolved, as SQL.
    fn on(&self, object: &str) -> String {
        format!(
            "{} {} ON {} {object} {} {}{}",
            if self.grant { "GRANT" } else { "REVOKE" },
            self.privileges.join(", "),
            self.kind,
            if self.grant { "TO" } else { "FROM" },
            self.grantee,
            if self.grant_option { " WITH GRANT OPTION" } else { "" }
        )
    }
}

const PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
    "USAGE",
    "EXECUTE",
    "MAINTAIN",
    "ALL",
];

fn object_grant(tokens: &[Token]) -> Option<ObjectGrant> {
    let grant = match tokens.first()? {
        t if t.is_word("GRANT") => true,
        t if t.is_word("REVOKE") => false,
        _ => return None,
    };
    let mut privileges = Vec::new();
    let mut i = 1;
    loop {
        let Some(Token::Word { upper, .. }) = tokens.get(i) else {
            return None;
        };
        let known = PRIVILEGES.iter().find(|p| **p == upper)?;
        privileges.push(known.to_string());
        match tokens.get(i + 1)? {
            Token::Punct(',') => i += 2,
            t if t.is_word("ON") => break,
            _ => return None,
        }
    }
    let (kind, words) = [
        ("FUNCTION", 1),
        ("PROCEDURE", 1),
        ("TABLE", 1),
        ("SEQUENCE", 1),
        ("TYPE", 1),
        ("LANGUAGE", 1),
        ("FOREIGN DATA WRAPPER", 3),
        ("FOREIGN SERVER", 2),
    ]
    .into_iter()
    .find(|(kind, _)| {
        kind.split(' ')
            .enumerate()
            .all(|(n, w)| tokens.get(i + 2 + n).is_some_and(|t| t.is_word(w)))
    })?;
    let to = if grant { "TO" } else { "FROM" };
    let start = i + 2 + words;
    let end = (start..tokens.len()).rev().find(|&j| tokens[j].is_word(to))?;
    let grantee = match tokens.get(end + 1)? {
        t if t.is_word("PUBLIC") => "PUBLIC".to_string(),
        t => guard::quote_ident(&guard::ident(t)?),
    };
    let grant_option = match &tokens[end + 2..] {
        [] => false,
        [a, b, c] if grant && a.is_word("WITH") && b.is_word("GRANT") && c.is_word("OPTION") => true,
        _ => return None,
    };
    let mut object = String::new();
    for t in &tokens[start..end] {
        match t {
            Token::Word { text, .. } => {
                if object.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '"') {
                    object.push(' ');
                }
                object.push_str(text);
            }
            Token::Quoted(name) => object.push_str(&guard::quote_ident(name)),
            Token::Number(n) => object.push_str(n),
            Token::Punct(c) if "().,[]".contains(*c) => object.push(*c),
            _ => return None,
        }
    }
    Some(ObjectGrant {
        grant,
        privileges,
        kind,
        object,
        grantee,
        grant_option,
    })
}

/// What of a `CREATE FUNCTION` only a superuser may write, taken out.
#[derive(Debug)]
pub struct RoutineForAdmin {
    /// The statement without `LEAKPROOF` and `SUPPORT name`, proven by
    /// the tokenizer to be the set's, those words less.
    pub without: Statement,
    schema: String,
    name: String,
    leakproof: bool,
    /// The support function's name, as written.
    support: Option<Vec<String>>,
}

/// The positions of `words` in `tokens`: outside any parentheses, which
/// hold the arguments (a parameter may be called `leakproof`).
fn top_level(tokens: &[Token], word: &str) -> Option<usize> {
    let mut depth = 0i32;
    tokens.iter().enumerate().find_map(|(i, t)| {
        match t {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            _ => {}
        }
        (depth == 0 && t.is_word(word)).then_some(i)
    })
}

/// `text` less the first place, from a match of `word` on, whose removal
/// leaves exactly `expected`: `span(rest)` says how long the removed text
/// is from the word's start.
fn remove_text(text: &str, word: &str, expected: &[Token], span: impl Fn(&str) -> usize) -> Option<Statement> {
    text.match_indices(word).find_map(|(i, _)| {
        let end = i + span(&text[i..]);
        let rest = format!("{}{}", &text[..i], &text[end..]);
        let mut again = guard::split(&rest).ok()?;
        (again.len() == 1 && again[0].tokens == expected).then(|| again.remove(0))
    })
}

/// The length of `SUPPORT name` (or `SUPPORT schema.name`, names plain or
/// quoted) at the start of `text`.
fn support_span(text: &str) -> usize {
    let b = text.as_bytes();
    let mut i = "SUPPORT".len();
    let mut parts = 0;
    loop {
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        if b.get(i) == Some(&b'"') {
            i += 1;
            while i < b.len() && !(b[i] == b'"' && b.get(i + 1) != Some(&b'"')) {
                i += if b[i] == b'"' { 2 } else { 1 };
            }
            i += 1;
        } else {
            while b
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$' || *c >= 0x80)
            {
                i += 1;
            }
        }
        parts += 1;
        let mut j = i;
        while b.get(j).is_some_and(|c| c.is_ascii_whitespace()) {
            j += 1;
        }
        if parts < 2 && b.get(j) == Some(&b'.') {
            i = j + 1;
        } else {
            return i.min(text.len());
        }
    }
}

/// The set's `CREATE FUNCTION ... LEAKPROOF ... SUPPORT name ...` split
/// into what the restore role runs and what the admin sets afterwards.
/// None for a statement without either.
pub fn routine_for_admin(statement: &Statement) -> Option<RoutineForAdmin> {
    let tokens = &statement.tokens;
    let create = usize::from(words_at(tokens, 0, &["CREATE", "OR", "REPLACE"])) * 2;
    if !words_at(tokens, 0, &["CREATE"]) || !words_at(tokens, 1 + create, &["FUNCTION"]) {
        return None;
    }
    let (name, _) = qualified_at(tokens, 2 + create)?;
    let [schema, name] = <[String; 2]>::try_from(name).ok()?;
    let mut current = statement.clone();
    let mut leakproof = false;
    if let Some(at) = top_level(&current.tokens, "LEAKPROOF") {
        let mut expected = current.tokens.clone();
        expected.remove(at);
        current = remove_text(&current.text, "LEAKPROOF", &expected, |_| "LEAKPROOF".len())?;
        leakproof = true;
    }
    let mut support = None;
    if let Some(at) = top_level(&current.tokens, "SUPPORT") {
        let (parts, after) = qualified_at(&current.tokens, at + 1)?;
        let mut expected = current.tokens.clone();
        expected.drain(at..after);
        current = remove_text(&current.text, "SUPPORT", &expected, support_span)?;
        support = Some(parts);
    }
    (leakproof || support.is_some()).then_some(RoutineForAdmin {
        without: current,
        schema,
        name,
        leakproof,
        support,
    })
}

/// `CREATE AGGREGATE` with an `internal` state (or moving state), of
/// names, numbers, punctuation and an initial condition's string alone:
/// its schema and name, or None.
fn internal_state_aggregate(tokens: &[Token]) -> Option<(String, String)> {
    if !words_at(tokens, 0, &["CREATE", "AGGREGATE"]) {
        return None;
    }
    let (name, _) = qualified_at(tokens, 2)?;
    let [schema, name] = <[String; 2]>::try_from(name).ok()?;
    let plain = tokens.iter().enumerate().all(|(i, t)| match t {
        Token::Word { .. } | Token::Quoted(_) | Token::Number(_) => true,
        Token::Punct(c) => *c != ';',
        Token::Str(_) => {
            i >= 2
                && tokens[i - 1] == Token::Punct('=')
                && (tokens[i - 2].is_word("INITCOND") || tokens[i - 2].is_word("MINITCOND"))
        }
        Token::Param => false,
    });
    let internal = tokens.windows(3).any(|w| {
        (w[0].is_word("STYPE") || w[0].is_word("MSTYPE"))
            && w[1] == Token::Punct('=')
            && guard::ident(&w[2]).as_deref() == Some("internal")
    }) || tokens.windows(5).any(|w| {
        (w[0].is_word("STYPE") || w[0].is_word("MSTYPE"))
            && w[1] == Token::Punct('=')
            && guard::ident(&w[2]).as_deref() == Some("pg_catalog")
            && w[3] == Token::Punct('.')
            && guard::ident(&w[4]).as_deref() == Some("internal")
    });
    (plain && internal).then_some((schema, name))
}

/// An aggregate of the server or of an extension (owned by the admin, as
/// only they are before the set's are handed over) with the same
/// functions on the same states as the aggregate `$1`.
const SAME_FUNCTIONS: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_aggregate a JOIN pg_catalog.pg_aggregate b \
     ON b.aggfnoid <> a.aggfnoid AND b.aggtransfn = a.aggtransfn AND b.aggfinalfn = a.aggfinalfn AND b.aggcombinefn = a.aggcombinefn \
     AND b.aggserialfn = a.aggserialfn AND b.aggdeserialfn = a.aggdeserialfn AND b.aggfinalextra = a.aggfinalextra \
     AND b.aggtranstype = a.aggtranstype AND b.aggmtransfn = a.aggmtransfn AND b.aggminvtransfn = a.aggminvtransfn \
     AND b.aggmfinalfn = a.aggmfinalfn AND b.aggmfinalextra = a.aggmfinalextra AND b.aggmtranstype = a.aggmtranstype \
     JOIN pg_catalog.pg_proc p ON p.oid = b.aggfnoid \
     WHERE a.aggfnoid = $1 AND p.proowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user))";

/// The functions of a schema and name, by oid.
const SAME_NAME: &str = "SELECT p.oid FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
     WHERE n.nspname = $1 AND p.proname = $2";

fn oids_of(client: &mut Client, schema: &str, name: &str) -> Result<HashSet<u32>> {
    client
        .query(SAME_NAME, &[&schema, &name])
        .context("reading the functions of a name")?
        .iter()
        .map(|r| r.value(0))
        .collect()
}

/// The one oid in `after` that is not in `before`.
fn the_new_one(before: &HashSet<u32>, after: &HashSet<u32>) -> Option<u32> {
    let made: Vec<u32> = after.difference(before).copied().collect();
    match made[..] {
        [oid] => Some(oid),
        _ => None,
    }
}

/// Settings only a superuser may set that a function of the set may carry
/// in a scratch restore (`log_` is every logging setting): they change
/// what the server logs or how much temporary space a query may take,
/// and load no library and reach no file, unlike
/// `session_preload_libraries` or `dynamic_library_path`.
pub const HARMLESS_SETTINGS: &[&str] = &[
    "log_",
    "temp_file_limit",
    "lc_messages",
    "track_activities",
    "track_counts",
    "track_functions",
    "track_io_timing",
    "track_wal_io_timing",
    "deadlock_timeout",
    "commit_delay",
    "compute_query_id",
    "update_process_title",
];

fn harmless(setting: &str) -> bool {
    HARMLESS_SETTINGS
        .iter()
        .any(|h| setting == *h || (h.ends_with('_') && setting.starts_with(h)))
}

/// The settings a `CREATE [OR REPLACE] FUNCTION|PROCEDURE` sets (`SET name
/// TO value`), or none for any other statement.
fn routine_settings(tokens: &[Token]) -> Vec<String> {
    let words: Vec<&str> = tokens
        .iter()
        .take(4)
        .map(|t| match t {
            Token::Word { upper, .. } => upper.as_str(),
            _ => "",
        })
        .collect();
    let routine = matches!(
        words.as_slice(),
        ["CREATE", "FUNCTION" | "PROCEDURE", ..] | ["CREATE", "OR", "REPLACE", "FUNCTION" | "PROCEDURE"]
    );
    if !routine {
        return Vec::new();
    }
    let mut depth = 0i32;
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            Token::Word { upper, .. } if depth == 0 && upper == "SET" => {
                // A dotted (custom) name is no server setting.
                if let Some(name) = tokens.get(i + 1).and_then(guard::ident)
                    && tokens.get(i + 2) != Some(&Token::Punct('.'))
                {
                    out.push(name);
                }
            }
            _ => {}
        }
    }
    out
}

/// `CREATE EXTENSION IF NOT EXISTS <name> WITH SCHEMA <schema>`, as
/// lifeboat writes it: the two names, or None for anything else.
fn create_extension(tokens: &[Token]) -> Option<(String, String)> {
    let word = |i: usize, w: &str| matches!(tokens.get(i), Some(Token::Word { upper, .. }) if upper == w);
    let opening = ["CREATE", "EXTENSION", "IF", "NOT", "EXISTS"];
    if !opening.iter().enumerate().all(|(i, w)| word(i, w)) || !word(6, "WITH") || !word(7, "SCHEMA") {
        return None;
    }
    let name = guard::ident(tokens.get(5)?)?;
    let schema = guard::ident(tokens.get(8)?)?;
    (tokens.len() == 9).then_some((name, schema))
}

/// `COMMENT ON EXTENSION <name> IS '<text>'`: the name and the text.
fn comment_on_extension(tokens: &[Token]) -> Option<(String, String)> {
    let word = |i: usize, w: &str| matches!(tokens.get(i), Some(Token::Word { upper, .. }) if upper == w);
    if !(word(0, "COMMENT") && word(1, "ON") && word(2, "EXTENSION") && word(4, "IS")) || tokens.len() != 6 {
        return None;
    }
    let name = guard::ident(tokens.get(3)?)?;
    match tokens.get(5)? {
        Token::Str(text) => Some((name, text.clone())),
        _ => None,
    }
}

/// The words of `tokens` from `at` on match `words` (upper case).
fn words_at(tokens: &[Token], at: usize, words: &[&str]) -> bool {
    words
        .iter()
        .enumerate()
        .all(|(i, w)| matches!(tokens.get(at + i), Some(Token::Word { upper, .. }) if upper == w))
}

/// `CREATE PUBLICATION <name> FOR ALL TABLES WITH (publish = '<ops>'[,
/// publish_via_partition_root = true])`, as lifeboat writes it: the
/// statement rebuilt from its name and options, or None.
fn publication_for_all_tables(tokens: &[Token]) -> Option<(String, String)> {
    if !words_at(tokens, 0, &["CREATE", "PUBLICATION"])
        || !words_at(tokens, 3, &["FOR", "ALL", "TABLES", "WITH"])
        || tokens.get(7) != Some(&Token::Punct('('))
        || !words_at(tokens, 8, &["PUBLISH"])
        || tokens.get(9) != Some(&Token::Punct('='))
    {
        return None;
    }
    let name = guard::ident(tokens.get(2)?)?;
    let Some(Token::Str(publish)) = tokens.get(10) else {
        return None;
    };
    let ops: Vec<&str> = publish.split(',').map(str::trim).collect();
    if !ops
        .iter()
        .all(|o| matches!(*o, "insert" | "update" | "delete" | "truncate"))
    {
        return None;
    }
    let via_root = match &tokens[11..] {
        [Token::Punct(')')] => false,
        [
            Token::Punct(','),
            Token::Word { upper: key, .. },
            Token::Punct('='),
            Token::Word { upper: value, .. },
            Token::Punct(')'),
        ] if key == "PUBLISH_VIA_PARTITION_ROOT" && value == "TRUE" => true,
        _ => return None,
    };
    let sql = format!(
        "CREATE PUBLICATION {} FOR ALL TABLES WITH (publish = {}{})",
        guard::quote_ident(&name),
        super::catalog::quote_literal(&ops.join(", ")),
        if via_root {
            ", publish_via_partition_root = true"
        } else {
            ""
        }
    );
    Some((name, sql))
}

/// `ALTER PUBLICATION <name> ADD TABLES IN SCHEMA <schema>`: rebuilt.
fn publication_schema(tokens: &[Token]) -> Option<String> {
    if tokens.len() != 8
        || !words_at(tokens, 0, &["ALTER", "PUBLICATION"])
        || !words_at(tokens, 3, &["ADD", "TABLES", "IN", "SCHEMA"])
    {
        return None;
    }
    let name = guard::ident(tokens.get(2)?)?;
    let schema = guard::ident(tokens.get(7)?)?;
    Some(format!(
        "ALTER PUBLICATION {} ADD TABLES IN SCHEMA {}",
        guard::quote_ident(&name),
        guard::quote_ident(&schema)
    ))
}

/// `ALTER PUBLICATION <name> OWNER TO <role>`: rebuilt. Its new owner
/// would need CREATE on the database, which none of the set's roles has
/// in the scratch cluster (a superuser's restore needs none).
fn publication_owner(tokens: &[Token]) -> Option<String> {
    if tokens.len() != 6 || !words_at(tokens, 0, &["ALTER", "PUBLICATION"]) || !words_at(tokens, 3, &["OWNER", "TO"]) {
        return None;
    }
    let name = guard::ident(tokens.get(2)?)?;
    let role = guard::ident(tokens.get(5)?)?;
    Some(format!(
        "ALTER PUBLICATION {} OWNER TO {}",
        guard::quote_ident(&name),
        guard::quote_ident(&role)
    ))
}

/// `COMMENT ON PUBLICATION <name> IS '<text>'`: the name and the text.
fn comment_on_publication(tokens: &[Token]) -> Option<(String, String)> {
    if tokens.len() != 6 || !words_at(tokens, 0, &["COMMENT", "ON", "PUBLICATION"]) || !words_at(tokens, 4, &["IS"]) {
        return None;
    }
    let name = guard::ident(tokens.get(3)?)?;
    match tokens.get(5)? {
        Token::Str(text) => Some((name, text.clone())),
        _ => None,
    }
}

/// Objects the set made that an extension script could reach: anything
/// owned by a role other than the admin, in the catalogs whose objects
/// are found by name (a cast or transform needs a type of its owner's).
const PLANTED: &str = "SELECT pg_catalog.format('%s %s', kind, name) FROM ( \
    SELECT 'function' AS kind, oid::pg_catalog.regprocedure::text AS name, proowner AS owner FROM pg_catalog.pg_proc \
    UNION ALL SELECT 'type', oid::pg_catalog.regtype::text, typowner FROM pg_catalog.pg_type \
    UNION ALL SELECT 'operator', oid::pg_catalog.regoperator::text, oprowner FROM pg_catalog.pg_operator \
    UNION ALL SELECT 'relation', oid::pg_catalog.regclass::text, relowner FROM pg_catalog.pg_class \
    UNION ALL SELECT 'collation', collname::text, collowner FROM pg_catalog.pg_collation \
    UNION ALL SELECT 'conversion', conname::text, conowner FROM pg_catalog.pg_conversion \
    UNION ALL SELECT 'operator family', opfname::text, opfowner FROM pg_catalog.pg_opfamily \
    UNION ALL SELECT 'operator class', opcname::text, opcowner FROM pg_catalog.pg_opclass \
    UNION ALL SELECT 'text search configuration', cfgname::text, cfgowner FROM pg_catalog.pg_ts_config \
    UNION ALL SELECT 'text search dictionary', dictname::text, dictowner FROM pg_catalog.pg_ts_dict \
    UNION ALL SELECT 'language', lanname::text, lanowner FROM pg_catalog.pg_language \
    ) o WHERE o.owner <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) ORDER BY 1 LIMIT 5";

/// A statement for a message: its last line, without the set's comments.
fn shown(statement: &Statement) -> String {
    guard::shown(statement.text.lines().last().unwrap_or(&statement.text))
}

impl ScratchAdmin {
    /// `target`: the scratch database, as the cluster's superuser.
    pub fn new(target: Target, restore_role: &str) -> ScratchAdmin {
        ScratchAdmin {
            target,
            restore_role: restore_role.to_string(),
            state: Mutex::new(State::default()),
        }
    }

    /// Runs `statement` on the admin connection when it is one of the two
    /// the admin takes (see the module's notes); false leaves it to the
    /// restore role. Called with the restore role's work so far committed,
    /// so the extension's schema is there to be seen.
    pub fn run(&self, statement: &Statement) -> Result<bool> {
        // What the admin runs as written runs with the cluster superuser's
        // rights: its text must be its tokens and nothing the tokenizer
        // skipped, whatever the server would make of a comment.
        if statement.comment_inside
            && (internal_state_aggregate(&statement.tokens).is_some()
                || operator_class_or_family(&statement.tokens).is_some())
        {
            bail!(
                "{}: a comment inside a statement the scratch cluster's superuser would run, which lifeboat never writes: \
                 the set was altered, so it was not run",
                shown(statement)
            );
        }
        let mut state = self.state.lock().expect("extension admin");
        if let Some((name, schema)) = create_extension(&statement.tokens) {
            let client = self.client(&mut state)?;
            let available: bool = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = $1)",
                    &[&name],
                )?
                .value(0)?;
            if !available {
                // The restore role runs it, and the server says what is missing.
                return Ok(false);
            }
            let planted: Vec<String> = client
                .query(PLANTED, &[])
                .context("looking for objects of the set before creating an extension")?
                .iter()
                .map(|r| r.value(0))
                .collect::<Result<_>>()?;
            if !planted.is_empty() {
                bail!(
                    "the set makes {} before CREATE EXTENSION {}: the scratch cluster's superuser creates extensions \
                     only in a database that holds none of the set's code yet, which lifeboat's own sets never do; \
                     the set was altered, or verify it with --scratch server or a URL",
                    planted
                        .iter()
                        .map(|p| crate::github::workflow::neutralize(p))
                        .collect::<Vec<_>>()
                        .join(", "),
                    crate::github::workflow::neutralize(&name)
                );
            }
            let create = format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {}",
                guard::quote_ident(&name),
                guard::quote_ident(&schema)
            );
            client
                .batch_execute(&create)
                .map_err(|e| anyhow::anyhow!("{}: {}", shown(statement), connect::server_message(&e)))?;
            let undo = self.hand_over(client, &name)?;
            state.after_restore.extend(undo);
            state.made.insert(name);
            return Ok(true);
        }
        if let Some((name, sql)) = create_event_trigger(&statement.tokens) {
            state.event_triggers.insert(name);
            state.after_restore.push(sql);
            return Ok(true);
        }
        if let Some((name, sql)) = event_trigger_follow_up(&statement.tokens)
            && state.event_triggers.contains(&name)
        {
            state.after_restore.push(sql);
            return Ok(true);
        }
        // Grants on an extension's objects: the extension's script made
        // them the admin's, so only the admin may grant on them, as their
        // owner did at the source. The object is found by the server from
        // its name alone, and must be one of an extension the admin made.
        // Grants on a language, a wrapper or a server: initdb's plpgsql is
        // the cluster superuser's, as are an extension's wrappers.
        if let Some(grant) = object_grant(&statement.tokens)
            && matches!(grant.kind, "LANGUAGE" | "FOREIGN DATA WRAPPER" | "FOREIGN SERVER")
        {
            return self.grant_beyond_the_restore_role(&mut state, statement, &grant);
        }
        if let Some(grant) = object_grant(&statement.tokens)
            && !state.made.is_empty()
            && let Some(sql) = self.extension_object_grant(&mut state, &grant)?
        {
            self.admin_runs(&mut state, statement, &sql)?;
            return Ok(true);
        }
        if let Some((schema, name)) = internal_state_aggregate(&statement.tokens) {
            self.internal_aggregate(&mut state, statement, &schema, &name)?;
            return Ok(true);
        }
        if let Some((kind, name, am)) = operator_class_or_family(&statement.tokens) {
            // Through the extended protocol, which runs one statement or
            // none: what runs is what the tokenizer read.
            self.client(&mut state)?
                .execute(statement.text.as_str(), &[])
                .map_err(|e| anyhow::anyhow!("{}: {}", shown(statement), connect::server_message(&e)))?;
            let owner = format!(
                "ALTER OPERATOR {kind} {name} USING {am} OWNER TO {}",
                guard::quote_ident(&self.restore_role)
            );
            self.admin_runs(&mut state, statement, &owner)?;
            return Ok(true);
        }
        // A publication of every table, or of a schema's tables, is a
        // superuser's to make; it runs no code.
        if let Some((name, sql)) = publication_for_all_tables(&statement.tokens) {
            self.admin_runs(&mut state, statement, &sql)?;
            state.publications.insert(name);
            return Ok(true);
        }
        if let Some(sql) = publication_schema(&statement.tokens).or_else(|| publication_owner(&statement.tokens)) {
            self.admin_runs(&mut state, statement, &sql)?;
            return Ok(true);
        }
        if let Some((name, text)) = comment_on_publication(&statement.tokens)
            && state.publications.contains(&name)
        {
            let sql = format!(
                "COMMENT ON PUBLICATION {} IS {}",
                guard::quote_ident(&name),
                super::catalog::quote_literal(&text)
            );
            self.admin_runs(&mut state, statement, &sql)?;
            return Ok(true);
        }
        let settings = routine_settings(&statement.tokens);
        if !settings.is_empty() {
            // The restore role runs the statement itself, once it may.
            self.allow_settings(&mut state, settings)?;
            return Ok(false);
        }
        if let Some((name, text)) = comment_on_extension(&statement.tokens)
            && state.made.contains(&name)
        {
            let comment = format!(
                "COMMENT ON EXTENSION {} IS {}",
                guard::quote_ident(&name),
                super::catalog::quote_literal(&text)
            );
            self.client(&mut state)?
                .batch_execute(&comment)
                .map_err(|e| anyhow::anyhow!("{}: {}", shown(statement), connect::server_message(&e)))?;
            return Ok(true);
        }
        Ok(false)
    }

    /// `grant` rebuilt around the server's own name for its object, when
    /// that object belongs to an extension the admin made; else None.
    fn extension_object_grant(&self, state: &mut State, grant: &ObjectGrant) -> Result<Option<String>> {
        // A cast of the text, which parses names and types only (the
        // to_reg* functions take cstring before PostgreSQL 14).
        let (catalog, resolve) = match grant.kind {
            "FUNCTION" | "PROCEDURE" => (
                "pg_proc",
                "$1::pg_catalog.text::pg_catalog.regprocedure::pg_catalog.oid",
            ),
            "TYPE" => ("pg_type", "$1::pg_catalog.text::pg_catalog.regtype::pg_catalog.oid"),
            _ => ("pg_class", "$1::pg_catalog.text::pg_catalog.regclass::pg_catalog.oid"),
        };
        let name = match grant.kind {
            "FUNCTION" | "PROCEDURE" => "x::pg_catalog.regprocedure::text",
            "TYPE" => "x::pg_catalog.regtype::text",
            _ => "x::pg_catalog.regclass::text",
        };
        let made: Vec<String> = state.made.iter().cloned().collect();
        let sql = format!(
            "SELECT {name} FROM (SELECT {resolve} AS x) o WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
             JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass \
             WHERE d.classid = 'pg_catalog.{catalog}'::pg_catalog.regclass AND d.objid = o.x AND d.deptype = 'e' AND e.extname = ANY($2))"
        );
        // No such object (the server says so) is none of an extension's:
        // the restore role runs the statement, and the server answers it.
        let Ok(Some(row)) = self.client(state)?.query_opt(sql.as_str(), &[&grant.object, &made]) else {
            return Ok(None);
        };
        let object: String = row.value(0)?;
        Ok(Some(grant.on(&object)))
    }

    /// A grant on a language, a foreign-data wrapper or a server that the
    /// restore role does not own. The admin makes it on a trusted language
    /// (plpgsql), which lets no one run anything a role could not already
    /// write, and on a wrapper of an extension it made, which every role
    /// may use here already (see `hand_over`); on anything else it is left
    /// unproven. False: the restore role runs it (its own object, or none
    /// the server knows).
    fn grant_beyond_the_restore_role(
        &self,
        state: &mut State,
        statement: &Statement,
        grant: &ObjectGrant,
    ) -> Result<bool> {
        let (catalog, name_column, owner_column, trusted) = match grant.kind {
            "LANGUAGE" => ("pg_language", "lanname", "lanowner", "lanpltrusted"),
            "FOREIGN DATA WRAPPER" => (
                "pg_foreign_data_wrapper",
                "fdwname",
                "fdwowner",
                "EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass \
                 AND d.objid = oid AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e')",
            ),
            _ => ("pg_foreign_server", "srvname", "srvowner", "false"),
        };
        let Ok(name) = guard::parse_qualified(&grant.object) else {
            return Ok(false);
        };
        let [name] = name.as_slice() else {
            return Ok(false);
        };
        let sql = format!(
            "SELECT {trusted}, pg_catalog.pg_get_userbyid({owner_column}) = $2 FROM pg_catalog.{catalog} WHERE {name_column} = $1"
        );
        let Some(row) = self
            .client(state)?
            .query_opt(sql.as_str(), &[name, &self.restore_role])?
        else {
            return Ok(false);
        };
        let (trusted, own): (bool, bool) = (row.value(0)?, row.value(1)?);
        if own {
            return Ok(false);
        }
        if !trusted {
            bail!(
                "{}: must be superuser to change privileges on {} {} in a local scratch cluster, whose restore role is not one",
                shown(statement),
                grant.kind.to_ascii_lowercase(),
                crate::github::workflow::neutralize(name)
            );
        }
        let sql = grant.on(&guard::quote_ident(name));
        // The set's own grant to PUBLIC on a wrapper the restore was lent:
        // taken back first, so it stands where the set's order puts it in
        // the wrapper's privileges, and stays when the loan is taken back.
        let undo = wrapper_taken_back(name);
        if grant.grant && grant.grantee == "PUBLIC" && state.after_restore.contains(&undo) {
            state.after_restore.retain(|s| *s != undo);
            self.admin_runs(state, statement, &format!("{undo}; {sql}"))?;
        } else {
            self.admin_runs(state, statement, &sql)?;
        }
        Ok(true)
    }

    /// Runs the set's `LEAKPROOF` or `SUPPORT` function `statement` as the
    /// restore role on `client` without those words (through `run`), then
    /// sets them on the function it made (see the module's notes). False
    /// for any other statement.
    pub fn routine(
        &self,
        client: &mut Client,
        statement: &Statement,
        run: impl FnOnce(&mut Client, &Statement) -> Result<()>,
    ) -> Result<bool> {
        let Some(routine) = routine_for_admin(statement) else {
            return Ok(false);
        };
        let before = oids_of(client, &routine.schema, &routine.name)?;
        run(client, &routine.without)?;
        let after = oids_of(client, &routine.schema, &routine.name)?;
        let Some(oid) = the_new_one(&before, &after) else {
            bail!(
                "{}: the restore role's function of that name could not be told apart, so only a superuser could set what it carries",
                shown(statement)
            );
        };
        let mut state = self.state.lock().expect("extension admin");
        let admin = self.client(&mut state)?;
        let identity: String = admin
            .query_one("SELECT $1::pg_catalog.oid::pg_catalog.regprocedure::text", &[&oid])?
            .value(0)?;
        let mut alter = Vec::new();
        if routine.leakproof {
            alter.push("LEAKPROOF".to_string());
        }
        if let Some(parts) = &routine.support {
            let (schema, name) = match &parts[..] {
                [schema, name] => (schema.clone(), name.clone()),
                _ => ("pg_catalog".to_string(), parts[0].clone()),
            };
            // A planner support function: C code of the server or of an
            // extension, which only a superuser can have made.
            let found = admin
                .query_opt(
                    "SELECT pg_catalog.format('%I.%I', n.nspname, p.proname) FROM pg_catalog.pg_proc p \
                     JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace JOIN pg_catalog.pg_language l ON l.oid = p.prolang \
                     WHERE n.nspname = $1 AND p.proname = $2 AND l.lanname IN ('internal', 'c') \
                     AND p.prorettype = 'pg_catalog.internal'::pg_catalog.regtype AND p.proargtypes = '2281'::pg_catalog.oidvector",
                    &[&schema, &name],
                )?
                .map(|r| r.value::<String>(0))
                .transpose()?;
            let Some(support) = found else {
                bail!(
                    "{}: its SUPPORT function is none of the server's or an extension's, which only a superuser may name",
                    shown(statement)
                );
            };
            alter.push(format!("SUPPORT {support}"));
        }
        admin
            .batch_execute(&format!("ALTER FUNCTION {identity} {}", alter.join(" ")))
            .map_err(|e| anyhow::anyhow!("{}: {}", shown(statement), connect::server_message(&e)))?;
        Ok(true)
    }

    /// Makes the set's aggregate with an internal state (see the module's
    /// notes) and hands it to the restore role.
    fn internal_aggregate(&self, state: &mut State, statement: &Statement, schema: &str, name: &str) -> Result<()> {
        let role = guard::quote_ident(&self.restore_role);
        let admin = self.client(state)?;
        let before = oids_of(admin, schema, name)?;
        // Through the extended protocol: one statement or none.
        admin
            .execute(statement.text.as_str(), &[])
            .map_err(|e| anyhow::anyhow!("{}: {}", shown(statement), connect::server_message(&e)))?;
        let after = oids_of(admin, schema, name)?;
        let Some(oid) = the_new_one(&before, &after) else {
            bail!("{}: the aggregate made could not be told apart", shown(statement));
        };
        let known: bool = admin.query_one(SAME_FUNCTIONS, &[&oid])?.value(0)?;
        if !known {
            bail!(
                "{}: only superuser may make an aggregate with an internal state, and its functions are not ones the server or an extension uses together on that state",
                shown(statement)
            );
        }
        let identity: String = admin
            .query_one("SELECT $1::pg_catalog.oid::pg_catalog.regprocedure::text", &[&oid])?
            .value(0)?;
        admin
            .batch_execute(&format!("ALTER ROUTINE {identity} OWNER TO {role}"))
            .map_err(|e| anyhow::anyhow!("{}: {}", shown(statement), connect::server_message(&e)))
    }

    /// Makes what waits for the end of the restore (event triggers, see
    /// the module's notes). Called once the restore and every step of the
    /// scratch cluster's superuser on the database are done.
    pub fn finish(&self) -> Result<()> {
        let mut state = self.state.lock().expect("extension admin");
        let pending = std::mem::take(&mut state.after_restore);
        for sql in pending {
            self.client(&mut state)?
                .batch_execute(&sql)
                .map_err(|e| anyhow::anyhow!("{}: {}", guard::shown(&sql), connect::server_message(&e)))?;
        }
        Ok(())
    }

    /// Lets the restore role set each of `settings` that only a superuser
    /// may set and that is harmless, from PostgreSQL 15 (`GRANT SET ON
    /// PARAMETER`); before, and for any other setting, the function's
    /// statement fails as it would for any role that is no superuser.
    fn allow_settings(&self, state: &mut State, settings: Vec<String>) -> Result<()> {
        let wanted: Vec<String> = settings
            .into_iter()
            .filter(|s| harmless(s) && !state.settings.contains(s))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let role = guard::quote_ident(&self.restore_role);
        let client = self.client(state)?;
        let version: i32 = client
            .query_one(
                "SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4",
                &[],
            )?
            .value(0)?;
        let mut done = Vec::new();
        for setting in wanted {
            let superuser_only = version >= 150000
                && client
                    .query_opt(
                        "SELECT 1 FROM pg_catalog.pg_settings WHERE name = $1 AND context = 'superuser'",
                        &[&setting],
                    )?
                    .is_some();
            if superuser_only {
                client
                    .batch_execute(&format!(
                        "GRANT SET ON PARAMETER {} TO {role}",
                        guard::quote_ident(&setting)
                    ))
                    .with_context(|| format!("letting the restore role set {setting}"))?;
            }
            done.push(setting);
        }
        state.settings.extend(done);
        Ok(())
    }

    /// Runs `sql`, lifeboat's own rebuilding of the set's `statement`.
    fn admin_runs(&self, state: &mut State, statement: &Statement, sql: &str) -> Result<()> {
        self.client(state)?
            .batch_execute(sql)
            .map_err(|e| anyhow::anyhow!("{}: {}", shown(statement), connect::server_message(&e)))
    }

    fn client<'a>(&self, state: &'a mut State) -> Result<&'a mut Client> {
        if state.client.is_none() {
            let mut client = self
                .target
                .connect()
                .context("connecting to the scratch database as its cluster's admin")?;
            // The admin runs lifeboat's statements only, with nothing of
            // the set on its path.
            client.batch_execute("SELECT pg_catalog.set_config('search_path', '', false)")?;
            state.client = Some(client);
        }
        Ok(state.client.as_mut().expect("connected"))
    }

    /// What the set's later statements need of the extension `name` made
    /// by the admin: rows into its configuration tables (the set's own
    /// rows, read back to be checked), and its foreign-data wrappers for
    /// the set's servers, whoever of the set's roles comes to own them
    /// (a wrapper's connections still need a password, which no role of
    /// the scratch cluster has). No TRIGGER, no ownership: nothing the
    /// restore role gets lets it run code as the admin.
    ///
    /// Returns the statements that take the wrappers' back once the
    /// restore is done: the restored database is then inspected, and must
    /// hold the privileges the set gave, not these. The configuration
    /// tables' stay, as the restore role reads them to be inspected.
    fn hand_over(&self, client: &mut Client, name: &str) -> Result<Vec<String>> {
        let role = guard::quote_ident(&self.restore_role);
        let rows = client
            .query(
                "SELECT pg_catalog.format('GRANT SELECT, INSERT ON TABLE %s TO ', c.oid::pg_catalog.regclass), NULL \
                 FROM pg_catalog.pg_extension e, pg_catalog.unnest(e.extconfig) AS x(config) \
                 JOIN pg_catalog.pg_class c ON c.oid = x.config WHERE e.extname = $1 AND c.relkind = 'r' \
                 UNION ALL SELECT pg_catalog.format('GRANT USAGE ON FOREIGN DATA WRAPPER %I TO PUBLIC', w.fdwname), w.fdwname::pg_catalog.text \
                 FROM pg_catalog.pg_foreign_data_wrapper w JOIN pg_catalog.pg_depend d \
                   ON d.classid = 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass AND d.objid = w.oid AND d.deptype = 'e' \
                 JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass \
                 WHERE e.extname = $1",
                &[&name],
            )
            .context("reading what an extension gives the restore")?;
        let mut undo = Vec::new();
        for r in rows {
            let (grant, wrapper): (String, Option<String>) = (r.value(0)?, r.value(1)?);
            let grant = if grant.ends_with(" TO ") {
                format!("{grant}{role}")
            } else {
                grant
            };
            client
                .batch_execute(&grant)
                .with_context(|| format!("letting the restore role use extension {name}"))?;
            undo.extend(wrapper.map(|w| wrapper_taken_back(&w)));
        }
        Ok(undo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(sql: &str) -> Vec<Token> {
        guard::split(sql).unwrap().remove(0).tokens
    }

    #[test]
    fn only_the_create_extension_lifeboat_writes_is_the_admins() {
        assert_eq!(
            create_extension(&tokens("CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA public;")),
            Some(("postgis".into(), "public".into()))
        );
        assert_eq!(
            create_extension(&tokens(
                "CREATE EXTENSION IF NOT EXISTS \"Odd\"\"x\" WITH SCHEMA \"my schema\";"
            )),
            Some(("Odd\"x".into(), "my schema".into()))
        );
        for other in [
            "CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA public CASCADE;",
            "CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA public VERSION '1.0';",
            "CREATE EXTENSION IF NOT EXISTS postgis;",
            "CREATE EXTENSION postgis WITH SCHEMA public;",
        ] {
            assert_eq!(create_extension(&tokens(other)), None, "{other}");
        }
        assert_eq!(
            comment_on_extension(&tokens("COMMENT ON EXTENSION postgis IS 'it''s geometry';")),
            Some(("postgis".into(), "it's geometry".into()))
        );
        assert_eq!(
            comment_on_extension(&tokens("COMMENT ON EXTENSION postgis IS NULL;")),
            None
        );
    }

    #[test]
    fn publications_only_a_superuser_may_make_are_rebuilt() {
        assert_eq!(
            publication_for_all_tables(&tokens(
                "CREATE PUBLICATION all_pub FOR ALL TABLES WITH (publish = 'insert, update, delete, truncate');"
            )),
            Some((
                "all_pub".into(),
                "CREATE PUBLICATION \"all_pub\" FOR ALL TABLES WITH (publish = 'insert, update, delete, truncate')"
                    .into()
            ))
        );
        assert!(
            publication_for_all_tables(&tokens(
                "CREATE PUBLICATION p FOR ALL TABLES WITH (publish = 'insert', publish_via_partition_root = true);"
            ))
            .is_some_and(|(_, sql)| sql.ends_with(", publish_via_partition_root = true)"))
        );
        for other in [
            "CREATE PUBLICATION p FOR ALL TABLES WITH (publish = 'insert; drop');",
            "CREATE PUBLICATION p FOR ALL TABLES WITH (publish = 'insert', slot_name = 'x');",
            "CREATE PUBLICATION p FOR TABLE t WITH (publish = 'insert');",
        ] {
            assert_eq!(publication_for_all_tables(&tokens(other)), None, "{other}");
        }
        assert_eq!(
            publication_schema(&tokens("ALTER PUBLICATION p ADD TABLES IN SCHEMA \"Odd\";")).as_deref(),
            Some("ALTER PUBLICATION \"p\" ADD TABLES IN SCHEMA \"Odd\"")
        );
        assert_eq!(
            publication_schema(&tokens("ALTER PUBLICATION p ADD TABLES IN SCHEMA a, b;")),
            None
        );
        assert_eq!(
            publication_owner(&tokens("ALTER PUBLICATION pub OWNER TO app_owner;")).as_deref(),
            Some("ALTER PUBLICATION \"pub\" OWNER TO \"app_owner\"")
        );
        assert_eq!(publication_owner(&tokens("ALTER PUBLICATION pub RENAME TO x;")), None);
    }

    #[test]
    fn event_triggers_are_rebuilt_from_their_parts_or_left_alone() {
        assert_eq!(
            create_event_trigger(&tokens(
                "CREATE EVENT TRIGGER \"Log it\" ON ddl_command_end\n    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')\n    EXECUTE FUNCTION sec.log_ddl();"
            )),
            Some((
                "Log it".into(),
                "CREATE EVENT TRIGGER \"Log it\" ON \"ddl_command_end\" WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE') EXECUTE FUNCTION \"sec\".\"log_ddl\"()"
                    .into()
            ))
        );
        for other in [
            // An event that fires on the admin's own connection.
            "CREATE EVENT TRIGGER t ON login EXECUTE FUNCTION sec.f();",
            // Arguments, a body, anything after the call.
            "CREATE EVENT TRIGGER t ON sql_drop EXECUTE FUNCTION sec.f((SELECT 1));",
            "CREATE EVENT TRIGGER t ON sql_drop EXECUTE FUNCTION sec.f() $$ DROP TABLE x $$;",
            "CREATE EVENT TRIGGER t ON sql_drop EXECUTE FUNCTION sec.f() AND 1;",
            // A tag that is no command tag.
            "CREATE EVENT TRIGGER t ON ddl_command_end WHEN TAG IN ('x''); DROP') EXECUTE FUNCTION sec.f();",
            "CREATE EVENT TRIGGER t ON ddl_command_end WHEN TAG IN (1) EXECUTE FUNCTION sec.f();",
        ] {
            assert_eq!(create_event_trigger(&tokens(other)), None, "{other}");
        }
        // A second statement is a statement of its own, never part of this.
        let two = guard::split("CREATE EVENT TRIGGER t ON sql_drop EXECUTE FUNCTION sec.f(); ALTER ROLE r SUPERUSER;")
            .unwrap();
        assert_eq!(two.len(), 2);
        assert!(create_event_trigger(&two[0].tokens).is_some() && create_event_trigger(&two[1].tokens).is_none());
        assert_eq!(
            event_trigger_follow_up(&tokens("ALTER EVENT TRIGGER t ENABLE ALWAYS;")),
            Some(("t".into(), "ALTER EVENT TRIGGER \"t\" ENABLE ALWAYS".into()))
        );
        assert_eq!(
            event_trigger_follow_up(&tokens("COMMENT ON EVENT TRIGGER t IS 'it''s';")),
            Some(("t".into(), "COMMENT ON EVENT TRIGGER \"t\" IS 'it''s'".into()))
        );
        assert_eq!(
            event_trigger_follow_up(&tokens("ALTER EVENT TRIGGER t RENAME TO u;")),
            None
        );
    }

    #[test]
    fn operator_classes_are_the_admins_only_as_names_and_punctuation() {
        assert_eq!(
            operator_class_or_family(&tokens(
                "CREATE OPERATOR CLASS sec.int_rev_ops\n    FOR TYPE integer USING btree FAMILY sec.rev AS\n    OPERATOR 1 pg_catalog.>(integer,integer),\n    FUNCTION 1 (integer, integer) sec.rev_cmp(integer,integer);"
            )),
            Some(("CLASS", "\"sec\".\"int_rev_ops\"".into(), "\"btree\"".into()))
        );
        assert_eq!(
            operator_class_or_family(&tokens("CREATE OPERATOR FAMILY sec.f USING hash;")),
            Some(("FAMILY", "\"sec\".\"f\"".into(), "\"hash\"".into()))
        );
        assert!(
            operator_class_or_family(&tokens(
                "ALTER OPERATOR FAMILY sec.f USING hash ADD FUNCTION 1 (integer, integer) pg_catalog.hashint4(integer);"
            ))
            .is_some()
        );
        for other in [
            "CREATE OPERATOR CLASS sec.c FOR TYPE integer USING btree AS FUNCTION 1 sec.f(integer,integer) $$x$$;",
            "CREATE OPERATOR CLASS sec.c FOR TYPE integer USING btree AS STORAGE 'text';",
            "CREATE OPERATOR FAMILY sec.f USING hash OWNER;",
            "ALTER OPERATOR FAMILY sec.f USING hash DROP FUNCTION 1 (integer, integer);",
            "ALTER OPERATOR FAMILY sec.f USING hash RENAME TO g;",
            "CREATE OPERATOR sec.=== (FUNCTION = sec.f, LEFTARG = integer);",
        ] {
            assert_eq!(operator_class_or_family(&tokens(other)), None, "{other}");
        }
    }

    #[test]
    fn grants_on_objects_are_read_to_be_rebuilt() {
        assert_eq!(
            object_grant(&tokens(
                "GRANT ALL ON FUNCTION ext.armor(bytea, text[], \"Odd\") TO dashboard_user WITH GRANT OPTION;"
            )),
            Some(ObjectGrant {
                grant: true,
                privileges: vec!["ALL".into()],
                kind: "FUNCTION",
                object: "ext.armor(bytea,text[],\"Odd\")".into(),
                grantee: "\"dashboard_user\"".into(),
                grant_option: true,
            })
        );
        assert_eq!(
            object_grant(&tokens(
                "REVOKE EXECUTE ON FUNCTION ext.crypt(text, character varying) FROM PUBLIC;"
            ))
            .map(|g| (g.grant, g.object, g.grantee)),
            Some((false, "ext.crypt(text,character varying)".into(), "PUBLIC".into()))
        );
        for other in [
            "GRANT ALL ON FUNCTION ext.f('x') TO r;",
            "GRANT ALL ON ALL FUNCTIONS IN SCHEMA ext TO r;",
            "GRANT r TO s;",
            "GRANT ALL ON FUNCTION ext.f() TO r GRANTED BY s;",
        ] {
            assert_eq!(object_grant(&tokens(other)), None, "{other}");
        }
    }

    #[test]
    fn leakproof_and_support_are_taken_out_of_the_statement_and_nothing_else() {
        let split = |sql: &str| guard::split(sql).unwrap().remove(0);
        let sql = "CREATE FUNCTION sec.\"LEAKPROOF\"(t text) RETURNS boolean\n    LANGUAGE plpgsql STABLE LEAKPROOF PARALLEL SAFE\n    AS $$BEGIN RETURN t <> 'LEAKPROOF'; END$$;";
        let r = routine_for_admin(&split(sql)).unwrap();
        assert_eq!(
            (r.schema.as_str(), r.name.as_str(), r.leakproof),
            ("sec", "LEAKPROOF", true)
        );
        assert!(r.without.text.contains("STABLE  PARALLEL SAFE"), "{}", r.without.text);
        assert!(r.without.text.contains("t <> 'LEAKPROOF'"), "{}", r.without.text);
        assert_eq!(r.without.tokens.len() + 1, tokens(sql).len());
        let sql = "CREATE FUNCTION sec.f(a text) RETURNS boolean\n    LANGUAGE sql IMMUTABLE LEAKPROOF SUPPORT pg_catalog.textlike_support\n    AS $$SELECT a LIKE 'x%'$$;";
        let r = routine_for_admin(&split(sql)).unwrap();
        assert!(r.leakproof);
        assert_eq!(
            r.support,
            Some(vec!["pg_catalog".to_string(), "textlike_support".to_string()])
        );
        assert!(
            !r.without.text.contains("SUPPORT") && !r.without.text.contains("LEAKPROOF"),
            "{}",
            r.without.text
        );
        assert_eq!(r.without.tokens.len() + 5, tokens(sql).len());
        // Not a keyword of the function: none.
        assert!(
            routine_for_admin(&split(
                "CREATE FUNCTION sec.f(leakproof integer) RETURNS integer AS $$SELECT 1$$;"
            ))
            .is_none()
        );
        assert!(routine_for_admin(&split("CREATE TABLE sec.leakproof (a int);")).is_none());
    }

    #[test]
    fn aggregates_with_an_internal_state_are_the_admins_only_as_names() {
        let sql = "CREATE AGGREGATE sec.pct(double precision ORDER BY anyelement) (\n    SFUNC = pg_catalog.ordered_set_transition,\n    STYPE = internal,\n    FINALFUNC = pg_catalog.percentile_disc_final,\n    FINALFUNC_EXTRA\n);";
        assert_eq!(
            internal_state_aggregate(&tokens(sql)),
            Some(("sec".into(), "pct".into()))
        );
        assert!(
            internal_state_aggregate(&tokens(
                "CREATE AGGREGATE sec.a(int) (SFUNC = f, STYPE = pg_catalog.internal, INITCOND = '0');"
            ))
            .is_some()
        );
        for other in [
            "CREATE AGGREGATE sec.s(int) (SFUNC = pg_catalog.int4pl, STYPE = integer);",
            "CREATE AGGREGATE sec.a(int) (SFUNC = f, STYPE = internal, FINALFUNC = $$x$$);",
            "CREATE AGGREGATE sec.a(int) (SFUNC = f, STYPE = internal, SSPACE = $1);",
        ] {
            assert_eq!(internal_state_aggregate(&tokens(other)), None, "{other}");
        }
    }

    #[test]
    fn a_routines_settings_are_read_and_only_harmless_ones_let() {
        let sql = "CREATE FUNCTION public.f(a integer DEFAULT 1) RETURNS integer\n    LANGUAGE sql\n    SET temp_file_limit TO '1GB' SET \"log_min_duration_statement\" TO '0' SET search_path TO 'public'\n    AS $$SELECT 1$$;";
        assert_eq!(
            routine_settings(&tokens(sql)),
            ["temp_file_limit", "log_min_duration_statement", "search_path"]
        );
        assert!(routine_settings(&tokens("CREATE TABLE t (a int);")).is_empty());
        assert!(
            routine_settings(&tokens(
                "CREATE FUNCTION f() RETURNS int SET auto_explain.log_min_duration TO '0' AS 'SELECT 1';"
            ))
            .is_empty()
        );
        assert!(harmless("log_min_duration_statement") && harmless("temp_file_limit"));
        assert!(!harmless("session_preload_libraries") && !harmless("dynamic_library_path") && !harmless("logx"));
    }
}

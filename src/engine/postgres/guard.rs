//! The SQL a set may run: only the kinds of statement lifeboat writes.
//!
//! A set is input from a stranger, so its scripts are split into
//! statements by a tokenizer that knows PostgreSQL's quoting (standard and
//! `E''` strings, quoted identifiers, dollar quotes, nested comments),
//! every statement is held against [`ALLOWED`] before anything runs, and
//! each runs on its own through the extended protocol, which refuses a
//! string holding two statements: whatever the server parses is what was
//! checked. Data members never run as SQL at all: lifeboat builds their
//! `COPY` itself ([`copy_statement`]) and streams the rows as COPY data.

use anyhow::{Result, bail};

/// A lexical token of a statement; comments and whitespace are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A keyword or unquoted identifier: `upper` for matching, `text` as
    /// written.
    Word {
        upper: String,
        text: String,
    },
    /// A `"quoted"` identifier, unescaped.
    Quoted(String),
    /// A string constant of any kind (`'..'`, `E'..'`, `$$..$$`), unescaped
    /// where that is simple; only its kind matters to the checks.
    Str(String),
    Number(String),
    /// `$1`: a positional parameter, never in what lifeboat writes.
    Param,
    Punct(char),
}

impl Token {
    pub fn is_word(&self, w: &str) -> bool {
        matches!(self, Token::Word { upper, .. } if upper == w)
    }

    fn upper(&self) -> Option<&str> {
        match self {
            Token::Word { upper, .. } => Some(upper),
            _ => None,
        }
    }
}

/// One statement of a script: its text and its tokens.
#[derive(Debug, Clone)]
pub struct Statement {
    pub text: String,
    pub tokens: Vec<Token>,
    /// A comment stands between its tokens, which lifeboat never writes:
    /// text that runs with more than the restoring role's rights must not
    /// hold any.
    pub comment_inside: bool,
}

/// Whitespace as PostgreSQL's lexer knows it: ASCII only. Anything else
/// outside ASCII (a no-break space) is part of an identifier to the
/// server, so it must be to the guard too.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || !c.is_ascii()
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

/// Whether the statement so far is a CREATE [OR REPLACE] FUNCTION or
/// PROCEDURE, whose body may be BEGIN ATOMIC ... END.
fn routine_body_starts(tokens: &[Token]) -> bool {
    let words: Vec<&str> = tokens.iter().take(4).filter_map(Token::upper).collect();
    matches!(
        words.as_slice(),
        ["CREATE", "FUNCTION" | "PROCEDURE", ..] | ["CREATE", "OR", "REPLACE", "FUNCTION" | "PROCEDURE", ..]
    )
}

/// Whether the statement so far is a CREATE [OR REPLACE] RULE.
fn rule_starts(tokens: &[Token]) -> bool {
    let words: Vec<&str> = tokens.iter().take(4).filter_map(Token::upper).collect();
    matches!(
        words.as_slice(),
        ["CREATE", "RULE", ..] | ["CREATE", "OR", "REPLACE", "RULE", ..]
    )
}

/// Splits a script into statements at semicolons outside quotes and
/// comments, tokenizing as it goes. Unterminated quotes or comments are an
/// error: the server would read them differently from us.
pub fn split(sql: &str) -> Result<Vec<Statement>> {
    let chars: Vec<(usize, char)> = sql.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|c| c.1);
    let mut out = Vec::new();
    let mut tokens = Vec::new();
    let mut start = 0usize;
    let mut i = 0usize;
    let mut begin_depth = 0usize;
    // Parentheses open inside a CREATE RULE: its action list, `DO ALSO
    // (INSERT ...; INSERT ...)`, holds semicolons of its own.
    let mut rule_parens = 0usize;
    let mut comment_inside = false;
    while i < chars.len() {
        let (offset, c) = chars[i];
        if is_space(c) {
            i += 1;
        } else if c == '-' && at(i + 1) == Some('-') {
            comment_inside |= !tokens.is_empty();
            // The server ends a -- comment at a carriage return as at a
            // newline: what follows either is SQL it runs.
            while i < chars.len() && !matches!(chars[i].1, '\n' | '\r') {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == Some('*') {
            comment_inside |= !tokens.is_empty();
            let mut depth = 0usize;
            loop {
                match (at(i), at(i + 1)) {
                    (Some('/'), Some('*')) => {
                        depth += 1;
                        i += 2;
                    }
                    (Some('*'), Some('/')) => {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    }
                    (Some(_), _) => i += 1,
                    (None, _) => bail!("a /* comment is never closed"),
                }
            }
        } else if c == '\'' || ((c == 'E' || c == 'e') && at(i + 1) == Some('\'')) {
            let backslashes = c != '\'';
            if backslashes {
                i += 1;
            }
            i += 1;
            let mut value = String::new();
            loop {
                match at(i) {
                    None => bail!("a string constant is never closed"),
                    Some('\\') if backslashes => {
                        if let Some(n) = at(i + 1) {
                            value.push(n);
                        }
                        i += 2;
                    }
                    Some('\'') if at(i + 1) == Some('\'') => {
                        value.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Str(value));
        } else if c == '"' {
            i += 1;
            let mut value = String::new();
            loop {
                match at(i) {
                    None => bail!("a quoted identifier is never closed"),
                    Some('"') if at(i + 1) == Some('"') => {
                        value.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Quoted(value));
        } else if c == '$' && at(i + 1).is_some_and(|n| n.is_ascii_digit()) {
            i += 1;
            while at(i).is_some_and(|n| n.is_ascii_digit()) {
                i += 1;
            }
            tokens.push(Token::Param);
        } else if c == '$' {
            // A dollar quote: $$ or $tag$, the tag an identifier.
            let mut j = i + 1;
            while at(j).is_some_and(|n| n != '$' && is_ident_char(n)) {
                j += 1;
            }
            let tag_ok = at(j) == Some('$') && (j == i + 1 || at(i + 1).is_some_and(is_ident_start));
            if !tag_ok {
                bail!("a stray $ that starts no dollar quote");
            }
            let tag: String = chars[i..=j].iter().map(|c| c.1).collect();
            let body_start = chars.get(j + 1).map(|c| c.0).unwrap_or(sql.len());
            let Some(len) = sql[body_start..].find(&tag) else {
                bail!("a dollar quote {tag} is never closed");
            };
            tokens.push(Token::Str(sql[body_start..body_start + len].to_string()));
            let end = body_start + len + tag.len();
            while i < chars.len() && chars[i].0 < end {
                i += 1;
            }
        } else if is_ident_start(c) {
            let mut j = i;
            while at(j).is_some_and(is_ident_char) {
                j += 1;
            }
            let text: String = chars[i..j].iter().map(|c| c.1).collect();
            let upper = text.to_ascii_uppercase();
            // A SQL-standard body (BEGIN ATOMIC ... END) holds semicolons
            // of its own: as psql does, count BEGIN and CASE against END
            // inside CREATE FUNCTION and CREATE PROCEDURE.
            if routine_body_starts(&tokens) {
                match upper.as_str() {
                    "BEGIN" => begin_depth += 1,
                    "CASE" if begin_depth > 0 => begin_depth += 1,
                    "END" if begin_depth > 0 => begin_depth -= 1,
                    _ => {}
                }
            }
            tokens.push(Token::Word { upper, text });
            i = j;
        } else if c.is_ascii_digit() || (c == '.' && at(i + 1).is_some_and(|n| n.is_ascii_digit())) {
            let mut j = i;
            while at(j).is_some_and(|n| n.is_ascii_alphanumeric() || n == '.' || n == '_') {
                j += 1;
            }
            tokens.push(Token::Number(chars[i..j].iter().map(|c| c.1).collect()));
            i = j;
        } else if c == ';' && (begin_depth > 0 || rule_parens > 0) {
            tokens.push(Token::Punct(c));
            i += 1;
        } else if (c == '(' || c == ')') && rule_starts(&tokens) {
            if c == '(' {
                rule_parens += 1;
            } else {
                rule_parens = rule_parens.saturating_sub(1);
            }
            tokens.push(Token::Punct(c));
            i += 1;
        } else if c == ';' {
            let text = sql[start..offset + 1].trim();
            if !tokens.is_empty() {
                out.push(Statement {
                    text: text.to_string(),
                    tokens: std::mem::take(&mut tokens),
                    comment_inside: std::mem::take(&mut comment_inside),
                });
            }
            start = offset + 1;
            i += 1;
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    if rule_parens > 0 {
        bail!("a parenthesis of a CREATE RULE is never closed");
    }
    if !tokens.is_empty() {
        out.push(Statement {
            text: sql[start..].trim().to_string(),
            tokens,
            comment_inside,
        });
    }
    Ok(out)
}

/// Whether a GRANT or REVOKE changes privileges on an object of
/// `pg_catalog` (or on the schema itself): initdb's, whose owner is the
/// cluster's bootstrap superuser, so only a superuser may.
pub fn grant_on_pg_catalog(statement: &Statement) -> bool {
    let t = &statement.tokens;
    if !t.first().is_some_and(|w| w.is_word("GRANT") || w.is_word("REVOKE")) {
        return false;
    }
    let Some(on) = t.iter().position(|w| w.is_word("ON")) else {
        return false;
    };
    // The object's name starts after its kind's words.
    const KIND_WORDS: &[&str] = &[
        "FUNCTION",
        "PROCEDURE",
        "ROUTINE",
        "TABLE",
        "SEQUENCE",
        "TYPE",
        "DOMAIN",
        "SCHEMA",
        "LANGUAGE",
        "FOREIGN",
        "DATA",
        "WRAPPER",
        "SERVER",
        "LARGE",
        "OBJECT",
        "ALL",
        "TABLES",
        "SEQUENCES",
        "FUNCTIONS",
        "PROCEDURES",
        "ROUTINES",
        "IN",
    ];
    let is_pg_catalog = |x: &Token| ident(x).is_some_and(|n| n == "pg_catalog");
    let kind_words = t[on + 1..]
        .iter()
        .take_while(|w| KIND_WORDS.iter().any(|k| w.is_word(k)))
        .count();
    let name = &t[on + 1 + kind_words..];
    let kind = if kind_words > 0 {
        t[on + kind_words].upper()
    } else {
        Some("TABLE")
    };
    if kind == Some("SCHEMA") {
        return name.first().is_some_and(is_pg_catalog);
    }
    if name.get(1) == Some(&Token::Punct('.')) {
        return name.first().is_some_and(is_pg_catalog);
    }
    // Lifeboat names every other schema's object with its schema; an
    // object of a schema named alone is found, on the empty search_path
    // a restore runs with, in pg_catalog.
    matches!(
        kind,
        Some("FUNCTION" | "PROCEDURE" | "ROUTINE" | "TABLE" | "SEQUENCE" | "TYPE" | "DOMAIN")
    ) && !name.is_empty()
}

/// Object kinds lifeboat creates, alters and comments on, as keyword
/// sequences. A new kind of object the engine learns to carry is one line.
const OBJECT_KINDS: &[&str] = &[
    "SCHEMA",
    "EXTENSION",
    "COLLATION",
    "TYPE",
    "DOMAIN",
    "FUNCTION",
    "PROCEDURE",
    "ROUTINE",
    "AGGREGATE",
    "SEQUENCE",
    "UNLOGGED SEQUENCE",
    "TABLE",
    "UNLOGGED TABLE",
    "VIEW",
    "RECURSIVE VIEW",
    "MATERIALIZED VIEW",
    "INDEX",
    "UNIQUE INDEX",
    "TRIGGER",
    "CONSTRAINT TRIGGER",
    "CONSTRAINT",
    "COLUMN",
    "POLICY",
    "RULE",
    "OPERATOR",
    "OPERATOR CLASS",
    "OPERATOR FAMILY",
    "CAST",
    "TEXT SEARCH CONFIGURATION",
    "TEXT SEARCH DICTIONARY",
    "TEXT SEARCH PARSER",
    "TEXT SEARCH TEMPLATE",
    "FOREIGN DATA WRAPPER",
    "SERVER",
    "USER MAPPING",
    "FOREIGN TABLE",
    "PUBLICATION",
    "EVENT TRIGGER",
    "STATISTICS",
    "CONVERSION",
    "DEFAULT CONVERSION",
    "TRANSFORM",
    "ACCESS METHOD",
    "LANGUAGE",
    "TRUSTED LANGUAGE",
    "PROCEDURAL LANGUAGE",
    "TRUSTED PROCEDURAL LANGUAGE",
    "LARGE OBJECT",
];

/// Statement openings allowed besides `CREATE|ALTER|COMMENT ON <kind>`.
const OTHER_OPENINGS: &[&str] = &[
    "SECURITY LABEL",
    "ALTER DEFAULT PRIVILEGES",
    "REFRESH MATERIALIZED VIEW",
    "GRANT",
    "REVOKE",
];

/// Session settings lifeboat's script header writes, and the values it
/// writes where a value would change how the rest is read.
const SETTINGS: &[(&str, Option<&str>)] = &[
    ("statement_timeout", None),
    ("lock_timeout", None),
    ("idle_in_transaction_session_timeout", None),
    // Another encoding would have the server read the bytes the guard
    // read as UTF-8 as other characters.
    ("client_encoding", Some("utf8")),
    ("standard_conforming_strings", Some("on")),
    ("check_function_bodies", None),
    ("client_min_messages", None),
    ("row_security", None),
    ("xmloption", None),
    ("default_table_access_method", None),
    ("default_tablespace", None),
];

/// The whole allowlist, readable: every opening a statement may have.
pub const ALLOWED: &str = "CREATE [OR REPLACE] / ALTER / COMMENT ON of the object kinds lifeboat writes; \
SECURITY LABEL; GRANT/REVOKE of privileges; ALTER DEFAULT PRIVILEGES; REFRESH MATERIALIZED VIEW; \
SELECT pg_catalog.setval/set_config('search_path', '', false)/lo_create; SET of the header's session settings";

fn starts_with_words(tokens: &[Token], words: &str) -> Option<usize> {
    let mut n = 0;
    for w in words.split(' ') {
        if !tokens.get(n)?.is_word(w) {
            return None;
        }
        n += 1;
    }
    Some(n)
}

fn ends_with_words(tokens: &[Token], words: &str) -> bool {
    let words: Vec<&str> = words.split(' ').collect();
    tokens.len() >= words.len()
        && tokens[tokens.len() - words.len()..]
            .iter()
            .zip(&words)
            .all(|(t, w)| t.is_word(w))
}

fn starts_with_kind(tokens: &[Token]) -> Option<usize> {
    OBJECT_KINDS.iter().filter_map(|k| starts_with_words(tokens, k)).max()
}

/// Why a statement is not one lifeboat writes, if it is not.
pub fn refusal(statement: &Statement) -> Option<String> {
    let t = &statement.tokens;
    let Some(first) = t.first().and_then(Token::upper) else {
        return Some("it does not start with a keyword".into());
    };
    if t.contains(&Token::Param) {
        return Some("it holds a $n parameter".into());
    }
    // C and internal functions are code loaded into the server itself.
    for w in t.windows(2) {
        if w[0].is_word("LANGUAGE") {
            let lang = match &w[1] {
                Token::Word { upper, .. } => upper.to_ascii_lowercase(),
                Token::Quoted(s) | Token::Str(s) => s.to_ascii_lowercase(),
                _ => String::new(),
            };
            if lang == "c" {
                return Some(format!("it uses LANGUAGE {lang}, code loaded into the server"));
            }
            // An internal function names a C function built into the
            // server; lifeboat writes them for base types' I/O functions,
            // always `AS 'symbol'` with a plain symbol name.
            if lang == "internal" && !internal_symbol_only(t) {
                return Some("it uses LANGUAGE internal with something other than a built-in symbol".into());
            }
        }
    }
    match first {
        "CREATE" => {
            let mut n = 1;
            if let Some(m) = starts_with_words(&t[1..], "OR REPLACE") {
                n += m;
            }
            let Some(k) = starts_with_kind(&t[n..]) else {
                return Some("it creates a kind of object lifeboat never writes".into());
            };
            let kind: Vec<&str> = t[n..n + k].iter().filter_map(Token::upper).collect();
            if kind == ["EXTENSION"] && starts_with_words(&t[n + 1..], "IF NOT EXISTS").is_none() {
                return Some("lifeboat writes CREATE EXTENSION IF NOT EXISTS".into());
            }
            // CREATE TABLE ... AS runs a query; lifeboat lists columns.
            if kind.last() == Some(&"TABLE") && depth_zero_words(t).any(|w| w == "AS") {
                return Some("CREATE TABLE ... AS runs a query".into());
            }
            // A materialized view made WITH DATA runs its query then, as the
            // restoring role; lifeboat makes them empty and refreshes them
            // once they have their owner, whose rights the query runs with.
            if kind == ["MATERIALIZED", "VIEW"] && !ends_with_words(t, "WITH NO DATA") {
                return Some("lifeboat makes materialized views WITH NO DATA".into());
            }
            None
        }
        "ALTER" => {
            if starts_with_words(t, "ALTER DEFAULT PRIVILEGES").is_some() || starts_with_kind(&t[1..]).is_some() {
                None
            } else {
                Some("it alters something lifeboat never alters (a role, the system, a database...)".into())
            }
        }
        "COMMENT" => {
            if starts_with_words(t, "COMMENT ON").is_some() && starts_with_kind(&t[2..]).is_some() {
                None
            } else {
                Some("it comments on something lifeboat never comments on".into())
            }
        }
        "GRANT" | "REVOKE" => {
            // Privileges are granted ON an object; `GRANT role TO role`
            // (membership) has no ON before TO/FROM.
            let mut words = depth_zero_words(t);
            if words.find(|w| matches!(*w, "ON" | "TO" | "FROM")) != Some("ON") {
                return Some("it grants or revokes role membership".into());
            }
            // Databases, tablespaces and parameters belong to the whole
            // server, not to the database being restored; lifeboat writes
            // privileges on none of them.
            match words.next() {
                Some(kind @ ("DATABASE" | "TABLESPACE" | "PARAMETER")) => Some(format!(
                    "it changes privileges on a {}, which belongs to the whole server",
                    kind.to_ascii_lowercase()
                )),
                _ => None,
            }
        }
        "SELECT" => select_refusal(t),
        "SET" => set_refusal(t),
        _ if OTHER_OPENINGS.iter().any(|o| starts_with_words(t, o).is_some()) => None,
        _ => Some(format!("lifeboat never writes {first} statements")),
    }
}

/// Whether every `AS` of a statement is one string naming a symbol.
fn internal_symbol_only(t: &[Token]) -> bool {
    let symbol = |x: Option<&Token>| matches!(x, Some(Token::Str(sym)) if !sym.is_empty() && sym.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    let mut any = false;
    for (i, x) in t.iter().enumerate() {
        if x.is_word("AS") {
            any = true;
            if !symbol(t.get(i + 1)) || t.get(i + 2) == Some(&Token::Punct(',')) {
                return false;
            }
        }
    }
    any
}

/// Words outside parentheses, upper-cased.
fn depth_zero_words(tokens: &[Token]) -> impl Iterator<Item = &str> {
    let mut depth = 0i32;
    tokens.iter().filter_map(move |t| {
        match t {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            Token::Word { upper, .. } if depth == 0 => return Some(upper.as_str()),
            _ => {}
        }
        None
    })
}

/// The three SELECTs lifeboat writes, with constants only as arguments.
fn select_refusal(t: &[Token]) -> Option<String> {
    let call = |name: &str| -> Option<&[Token]> {
        let ok = t.len() >= 6
            && t[1].is_word("PG_CATALOG")
            && t[2] == Token::Punct('.')
            && t[3].is_word(name)
            && t[4] == Token::Punct('(')
            && t.last() == Some(&Token::Punct(')'));
        ok.then(|| &t[5..t.len() - 1])
    };
    let number = |ts: &[Token]| matches!(ts, [Token::Number(_)] | [Token::Punct('-'), Token::Number(_)]);
    let args =
        |ts: &[Token]| -> Vec<Vec<Token>> { ts.split(|x| *x == Token::Punct(',')).map(|a| a.to_vec()).collect() };
    if let Some(a) = call("SETVAL") {
        let a = args(a);
        let ok = a.len() == 3
            && matches!(a[0].as_slice(), [Token::Str(_)])
            && number(&a[1])
            && (a[2].len() == 1 && (a[2][0].is_word("TRUE") || a[2][0].is_word("FALSE")));
        return (!ok).then(|| "setval with anything but constants".into());
    }
    if let Some(a) = call("SET_CONFIG") {
        let ok = a.len() == 5
            && a[..4]
                == [
                    Token::Str("search_path".into()),
                    Token::Punct(','),
                    Token::Str(String::new()),
                    Token::Punct(','),
                ]
            && a[4].is_word("FALSE");
        return (!ok).then(|| "lifeboat only ever empties search_path with set_config".into());
    }
    if let Some(a) = call("LO_CREATE") {
        return (!number(a)).then(|| "lo_create with anything but a number".into());
    }
    if t.len() > 3 && t[3].upper().is_some_and(|n| n.starts_with("BINARY_UPGRADE")) {
        return Some("binary_upgrade functions are for pg_upgrade only".into());
    }
    Some("lifeboat writes no SELECT but setval, set_config and lo_create".into())
}

/// `SET name = value` / `SET name TO value` of the header's settings.
fn set_refusal(t: &[Token]) -> Option<String> {
    let name = match t.get(1) {
        Some(Token::Word { upper, .. }) => upper.to_ascii_lowercase(),
        _ => return Some("SET of something other than a session setting".into()),
    };
    let Some((_, required)) = SETTINGS.iter().find(|(s, _)| *s == name) else {
        return Some(format!("lifeboat's scripts never set {name}"));
    };
    let value_ok = t.len() == 4
        && (t[2] == Token::Punct('=') || t[2].is_word("TO"))
        && matches!(
            t[3],
            Token::Word { .. } | Token::Str(_) | Token::Number(_) | Token::Quoted(_)
        );
    if !value_ok {
        return Some(format!("SET {name} to something other than one constant"));
    }
    if let Some(want) = required {
        let v = match &t[3] {
            Token::Word { upper, .. } => upper.to_ascii_lowercase(),
            Token::Str(s) | Token::Quoted(s) | Token::Number(s) => s.to_ascii_lowercase(),
            _ => String::new(),
        };
        if v != *want {
            return Some(format!("lifeboat always sets {name} to {want}"));
        }
    }
    None
}

/// The statement as a message may show it: at most 120 characters, on
/// one line, neutralised.
pub fn shown(statement: &str) -> String {
    let one_line: String = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut: String = one_line.chars().take(120).collect();
    if cut.len() < one_line.len() {
        cut.push_str("...");
    }
    crate::github::workflow::neutralize(&cut)
}

/// Splits and checks a script member; nothing of it may run unless every
/// statement passes.
pub fn checked_script(member: &str, sql: &str) -> Result<Vec<Statement>> {
    let statements = split(sql).map_err(|e| {
        anyhow::anyhow!(
            "{} cannot be read as SQL ({e}); the set was altered or not made by lifeboat, so nothing of it was run",
            crate::github::workflow::neutralize(member)
        )
    })?;
    for (n, s) in statements.iter().enumerate() {
        if let Some(why) = refusal(s) {
            bail!(
                "{} holds a statement lifeboat never writes, so nothing of it was run (statement {}, {why}): {}. \
                 The set was altered or not made by lifeboat: restore another set (lifeboat list)",
                crate::github::workflow::neutralize(member),
                n + 1,
                shown(&s.text)
            );
        }
    }
    Ok(statements)
}

/// Quotes an identifier for SQL, always.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Reads `schema.table` (or `table`) as written in SQL into its
/// identifiers: unquoted ones folded to lower case as the server does.
/// Anything else (a second statement, an expression) is an error.
pub fn parse_qualified(sql_name: &str) -> Result<Vec<String>> {
    let statements = split(sql_name)?;
    let tokens = match statements.as_slice() {
        [one] if !one.text.ends_with(';') => &one.tokens,
        _ => bail!("{} is not a table name", shown(sql_name)),
    };
    let (parts, rest) =
        identifiers(tokens, 2).ok_or_else(|| anyhow::anyhow!("{} is not a table name", shown(sql_name)))?;
    if !rest.is_empty() {
        bail!("{} is not a table name", shown(sql_name));
    }
    Ok(parts)
}

/// Up to `max` identifiers joined by dots at the start of `tokens`.
fn identifiers(tokens: &[Token], max: usize) -> Option<(Vec<String>, &[Token])> {
    let mut parts = Vec::new();
    let mut i = 0;
    loop {
        parts.push(ident(tokens.get(i)?)?);
        i += 1;
        if parts.len() < max && tokens.get(i) == Some(&Token::Punct('.')) {
            i += 1;
            continue;
        }
        return Some((parts, &tokens[i..]));
    }
}

/// One identifier as the server reads it: unquoted ones folded to lower
/// case.
pub fn ident(token: &Token) -> Option<String> {
    match token {
        Token::Word { text, .. } => Some(text.to_lowercase()),
        Token::Quoted(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A table name from the manifest, quoted again by lifeboat.
pub fn requote(sql_name: &str) -> Result<String> {
    Ok(parse_qualified(sql_name)?
        .iter()
        .map(|p| quote_ident(p))
        .collect::<Vec<_>>()
        .join("."))
}

/// The `COPY ... FROM STDIN` lifeboat runs for a data member: built from
/// the manifest's table name (and column list, where the manifest records
/// one) after checking that the member's first line is what lifeboat
/// writes for that table, `COPY <table> [(<columns>)] FROM stdin;`.
pub fn copy_statement(header: &str, table_sql: &str, manifest_columns: &[String]) -> Result<String> {
    let refuse = |why: &str| {
        anyhow::anyhow!(
            "the data member's first line is not the COPY lifeboat writes for {} ({why}): {}; the set was altered, so its rows were not loaded",
            shown(table_sql),
            shown(header)
        )
    };
    // A quoted name may hold a newline; the tokens say what the line is.
    let header = header.trim_end_matches(['\n', '\r']);
    let statements = split(header).map_err(|e| refuse(&e.to_string()))?;
    let [statement] = statements.as_slice() else {
        return Err(refuse("it is not one statement"));
    };
    if !statement.text.ends_with(';') {
        return Err(refuse("it does not end with a semicolon"));
    }
    let t = &statement.tokens;
    if !t.first().is_some_and(|w| w.is_word("COPY")) {
        return Err(refuse("it does not start with COPY"));
    }
    let (table, mut rest) = identifiers(&t[1..], 2).ok_or_else(|| refuse("no table name"))?;
    let mut columns = Vec::new();
    if rest.first() == Some(&Token::Punct('(')) {
        rest = &rest[1..];
        loop {
            let c = rest
                .first()
                .and_then(ident)
                .ok_or_else(|| refuse("a column is not a name"))?;
            columns.push(c);
            match rest.get(1) {
                Some(Token::Punct(',')) => rest = &rest[2..],
                Some(Token::Punct(')')) => {
                    rest = &rest[2..];
                    break;
                }
                _ => return Err(refuse("the column list is not names")),
            }
        }
    }
    if !(rest.len() == 2 && rest[0].is_word("FROM") && rest[1].is_word("STDIN")) {
        return Err(refuse("it does not read FROM stdin"));
    }
    let expected_table = parse_qualified(table_sql)?;
    if table != expected_table {
        return Err(refuse("it names another table"));
    }
    if !manifest_columns.is_empty() {
        let expected: Vec<String> = manifest_columns
            .iter()
            .map(|c| match parse_qualified(c)?.as_slice() {
                [one] => Ok(one.clone()),
                _ => bail!("{} is not a column name", shown(c)),
            })
            .collect::<Result<_>>()?;
        if columns != expected {
            return Err(refuse("its columns differ from the manifest's"));
        }
    }
    let mut sql = format!(
        "COPY {}",
        table.iter().map(|p| quote_ident(p)).collect::<Vec<_>>().join(".")
    );
    if !columns.is_empty() {
        sql.push_str(&format!(
            " ({})",
            columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
        ));
    }
    sql.push_str(" FROM STDIN");
    Ok(sql)
}

/// An `ALTER <kind> <schema>.<name>[(<arguments>)] OWNER TO <role>;` as
/// lifeboat writes it with `--with-privileges`, for an object that lives
/// in a schema: the new owner needs CREATE on that schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerChange {
    pub schema: String,
    pub role: String,
}

/// The kinds of object in a schema whose owner lifeboat sets.
const OWNED_KINDS: &[&str] = &[
    "TABLE",
    "VIEW",
    "MATERIALIZED VIEW",
    "SEQUENCE",
    "FOREIGN TABLE",
    "FUNCTION",
    "PROCEDURE",
    "AGGREGATE",
    "DOMAIN",
    "TYPE",
];

/// Reads a statement as an [`OwnerChange`], if it is exactly one.
pub fn owner_change(statement: &Statement) -> Option<OwnerChange> {
    let t = &statement.tokens;
    if !t.first()?.is_word("ALTER") {
        return None;
    }
    let kind = OWNED_KINDS.iter().filter_map(|k| starts_with_words(&t[1..], k)).max()?;
    let (name, mut rest) = identifiers(&t[1 + kind..], 2)?;
    let [schema, _] = name.as_slice() else {
        return None;
    };
    // A routine's argument types: names, dots, commas, array brackets
    // and `*`, never an expression.
    if rest.first() == Some(&Token::Punct('(')) {
        let close = rest.iter().position(|x| *x == Token::Punct(')'))?;
        let plain = rest[1..close].iter().all(|x| match x {
            Token::Word { .. } | Token::Quoted(_) => true,
            Token::Punct(c) => matches!(c, '.' | ',' | '[' | ']' | '*'),
            _ => false,
        });
        if !plain {
            return None;
        }
        rest = &rest[close + 1..];
    }
    match rest {
        [owner, to, role] if owner.is_word("OWNER") && to.is_word("TO") => Some(OwnerChange {
            schema: schema.clone(),
            role: ident(role)?,
        }),
        _ => None,
    }
}

/// `COMMENT ON EXTENSION <name> IS '<text>';`, written again by lifeboat:
/// on an extension a scratch cluster's superuser made, only it may comment.
pub fn extension_comment(statement: &Statement) -> Option<String> {
    let t = &statement.tokens;
    let n = starts_with_words(t, "COMMENT ON EXTENSION")?;
    match &t[n..] {
        [name, is, Token::Str(text)] if is.is_word("IS") => Some(format!(
            "COMMENT ON EXTENSION {} IS {}",
            quote_ident(&ident(name)?),
            super::catalog::quote_literal(text)
        )),
        _ => None,
    }
}

/// A statement that switches one trigger of one table, `ALTER TABLE
/// [ONLY] <schema>.<table> ENABLE [ALWAYS | REPLICA] | DISABLE TRIGGER
/// <name>;`, written again by lifeboat from its names alone: what a
/// scratch cluster's superuser may run for a set (see
/// `PostgresEngine::with_superuser`).
pub fn trigger_switch(statement: &Statement) -> Option<String> {
    let t = &statement.tokens;
    let mut i = starts_with_words(t, "ALTER TABLE")?;
    let only = t.get(i)?.is_word("ONLY");
    if only {
        i += 1;
    }
    let (table, rest) = identifiers(&t[i..], 2)?;
    if table.len() != 2 {
        return None;
    }
    let (how, rest) = match rest {
        [w, ..] if w.is_word("DISABLE") => ("DISABLE", &rest[1..]),
        [w, m, ..] if w.is_word("ENABLE") && m.is_word("ALWAYS") => ("ENABLE ALWAYS", &rest[2..]),
        [w, m, ..] if w.is_word("ENABLE") && m.is_word("REPLICA") => ("ENABLE REPLICA", &rest[2..]),
        [w, ..] if w.is_word("ENABLE") => ("ENABLE", &rest[1..]),
        _ => return None,
    };
    let [trigger_word, name] = rest else {
        return None;
    };
    // ALL and USER are keywords for every trigger; a quoted name is one.
    if !trigger_word.is_word("TRIGGER") || name.is_word("ALL") || name.is_word("USER") {
        return None;
    }
    Some(format!(
        "ALTER TABLE {}{} {how} TRIGGER {}",
        if only { "ONLY " } else { "" },
        table.iter().map(|p| quote_ident(p)).collect::<Vec<_>>().join("."),
        quote_ident(&ident(name)?)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sql: &str) -> Option<String> {
        let s = split(sql).unwrap();
        assert_eq!(s.len(), 1, "{sql}: {s:?}");
        refusal(&s[0])
    }

    #[test]
    fn splits_outside_quotes() {
        let sql = "SET x = 1;\n-- a; comment\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nCOMMENT ON TABLE t IS 'a;b';\nCREATE INDEX \"i;x\" ON t (a);";
        let s: Vec<String> = split(sql).unwrap().into_iter().map(|s| s.text).collect();
        assert_eq!(s.len(), 4, "{s:?}");
        assert!(s[1].contains("SELECT 1; $$"));
        assert!(s[2].ends_with("'a;b';"));
    }

    #[test]
    fn what_lifeboat_writes_passes() {
        let header = crate::engine::postgres::catalog::SQL_HEADER;
        // Every statement of the header passes (the header grows with the engine).
        assert!(checked_script("h", header).unwrap().len() >= 7);
        let atomic = "CREATE FUNCTION public.next_n() RETURNS integer\n LANGUAGE sql\nBEGIN ATOMIC\n SELECT (COALESCE(max(counters.n), 0) + 1)\n    FROM public.counters;\n SELECT CASE WHEN true THEN 1 ELSE 2 END;\nEND;\nCOMMENT ON FUNCTION public.next_n() IS 'x';";
        assert_eq!(
            checked_script("a", atomic).unwrap().len(),
            2,
            "a BEGIN ATOMIC body is one statement"
        );
        for ok in [
            "CREATE SCHEMA app;",
            "CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;",
            "CREATE OR REPLACE FUNCTION public.f() RETURNS int LANGUAGE sql AS $f$ SELECT 1; $f$;",
            "CREATE FUNCTION public.g() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN COPY x TO PROGRAM 'y'; END $$;",
            "CREATE UNLOGGED TABLE public.t (a int DEFAULT nextval('s'), \"B\" text);",
            "CREATE TABLE public.p (a int) PARTITION BY RANGE (a);",
            "CREATE UNIQUE INDEX i ON public.t USING btree (a);",
            "CREATE MATERIALIZED VIEW public.mv AS SELECT 1 WITH NO DATA;",
            "CREATE CONSTRAINT TRIGGER t AFTER INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.g();",
            "CREATE TEXT SEARCH CONFIGURATION public.c (COPY = pg_catalog.english);",
            "ALTER TABLE ONLY public.t ADD CONSTRAINT c CHECK (a > 0);",
            "ALTER SEQUENCE public.s OWNED BY public.t.a;",
            "ALTER FUNCTION public.f() SET search_path = public;",
            "ALTER USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (SET user 'x');",
            "COMMENT ON COLUMN public.t.a IS E'it''s \\\\ here';",
            "COMMENT ON TABLE public.t IS 'a;b';",
            "SECURITY LABEL FOR dummy ON TABLE public.t IS 'classified';",
            "GRANT SELECT ON TABLE public.t TO app;",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC;",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO app;",
            "REFRESH MATERIALIZED VIEW public.mv;",
            "SELECT pg_catalog.setval('public.s', 42, true);",
            "SELECT pg_catalog.setval(E'public.\"s\\\\x\"', -1, false);",
            "SELECT pg_catalog.lo_create(16400);",
            "SET default_tablespace = '';",
            "SET xmloption TO content;",
            "CREATE OR REPLACE FUNCTION geo.label_in(cstring) RETURNS geo.label LANGUAGE internal IMMUTABLE STRICT AS $function$textin$function$;",
            "CREATE FUNCTION public.next_n() RETURNS integer LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END;",
        ] {
            assert_eq!(check(ok), None, "{ok}");
        }
    }

    #[test]
    fn what_lifeboat_never_writes_is_refused() {
        for bad in [
            "COPY (SELECT 1) TO PROGRAM 'id > /tmp/x';",
            "COPY t FROM '/etc/passwd';",
            "copy t to stdout;",
            "ALTER SYSTEM SET archive_command = 'sh -c x';",
            "CREATE ROLE evil SUPERUSER;",
            "ALTER ROLE postgres PASSWORD 'x';",
            "ALTER USER postgres PASSWORD 'x';",
            "ALTER DATABASE d SET search_path = evil;",
            "DO $$ BEGIN PERFORM 1; END $$;",
            "LOAD 'evil.so';",
            "CREATE FUNCTION f() RETURNS int AS 'evil.so', 'f' LANGUAGE C;",
            "CREATE FUNCTION f() RETURNS int LANGUAGE \"internal\" AS 'evil.so', 'x';",
            "CREATE FUNCTION f() RETURNS int LANGUAGE internal AS 'pg_read_file(1)';",
            "SET ROLE postgres;",
            "SET SESSION AUTHORIZATION postgres;",
            "SET search_path = evil;",
            "SET standard_conforming_strings = off;",
            "SET client_encoding = 'SJIS';",
            "GRANT pg_execute_server_program TO app;",
            "REVOKE pg_read_server_files FROM app;",
            "CREATE TABLE t AS SELECT pg_read_file('/etc/passwd');",
            "CREATE EXTENSION plpython3u;",
            "SELECT pg_catalog.setval('s', (SELECT 1), true);",
            "SELECT pg_catalog.set_config('search_path', 'evil', false);",
            "SELECT pg_catalog.binary_upgrade_set_next_pg_type_oid(1);",
            "SELECT pg_read_file('/etc/passwd');",
            "INSERT INTO t VALUES (1);",
            "TRUNCATE t;",
            "DROP TABLE t;",
            "CREATE TRIGGER t AFTER INSERT ON t EXECUTE FUNCTION f($1);",
            "CREATE DATABASE x;",
            "GRANT CREATE ON DATABASE postgres TO PUBLIC;",
            "REVOKE CONNECT, TEMPORARY ON DATABASE other FROM PUBLIC;",
            "GRANT ALTER SYSTEM ON PARAMETER archive_command TO PUBLIC;",
            "grant set on parameter work_mem to app;",
            "GRANT CREATE ON TABLESPACE pg_default TO PUBLIC;",
            "CREATE MATERIALIZED VIEW public.mv AS SELECT pg_catalog.pg_read_file('/etc/hostname');",
            "CREATE MATERIALIZED VIEW public.mv AS SELECT 1 WITH DATA;",
        ] {
            assert!(check(bad).is_some(), "{bad}");
        }
        for good in [
            "GRANT SELECT ON TABLE public.t TO app;",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC;",
            "GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO app;",
            "REVOKE ALL ON LANGUAGE plpgsql FROM PUBLIC;",
            "GRANT SELECT (a, b) ON TABLE public.t TO app;",
        ] {
            assert_eq!(check(good), None, "{good}");
        }
    }

    #[test]
    fn comments_and_spaces_end_where_the_server_ends_them() {
        // A carriage return ends a -- comment for the server: what follows
        // it is a statement the guard must see and refuse.
        let hidden = "-- innocuous\rDO $$BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''id'''; END$$ /*\nCOMMENT ON SCHEMA public IS 'x' */;";
        let s = split(hidden).unwrap();
        assert!(s.iter().any(|s| refusal(s).is_some()), "{s:?}");
        let opclass = "-- operator class\rCOPY (SELECT 1) TO PROGRAM 'id' /*\nCREATE OPERATOR CLASS public.c FOR TYPE integer USING btree AS OPERATOR 1 < */;";
        let s = split(opclass).unwrap();
        assert!(s[0].tokens.first().is_some_and(|t| t.is_word("COPY")), "{s:?}");
        assert!(refusal(&s[0]).is_some());
        // A no-break space is part of an identifier to the server, so the
        // $$ after it starts no string there, nor here.
        let nbsp = "COMMENT ON TABLE t IS x\u{a0}$$ ; COPY x TO PROGRAM 'y'; x\u{a0}$$;";
        let s = split(nbsp).unwrap();
        assert!(
            s.iter().any(|s| s.tokens.first().is_some_and(|t| t.is_word("COPY"))),
            "{s:?}"
        );
        // The `-- kind: name` line before an object is no comment inside
        // its statement; one between its words is.
        let s = split("-- operator class: public.c\nCREATE OPERATOR CLASS public.c FOR TYPE integer USING btree AS OPERATOR 1 <;\nCREATE OPERATOR CLASS public.d /* x */ FOR TYPE integer USING btree AS OPERATOR 1 < -- y\n;").unwrap();
        assert!(!s[0].comment_inside);
        assert!(s[1].comment_inside);
    }

    #[test]
    fn grants_on_pg_catalog_are_told_apart() {
        let one = |sql: &str| split(sql).unwrap().remove(0);
        for yes in [
            "GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text) TO app;",
            "GRANT EXECUTE ON FUNCTION pg_ls_dir(text) TO app;",
            "REVOKE USAGE ON TYPE bigint FROM PUBLIC;",
            "REVOKE EXECUTE ON FUNCTION pg_catalog.now() FROM PUBLIC;",
            "GRANT SELECT (starelid) ON TABLE pg_catalog.pg_statistic TO app;",
            "GRANT CREATE ON SCHEMA pg_catalog TO app;",
            "REVOKE USAGE ON TYPE \"pg_catalog\".int8 FROM PUBLIC;",
        ] {
            assert!(grant_on_pg_catalog(&one(yes)), "{yes}");
        }
        for no in [
            "GRANT SELECT ON TABLE public.pg_catalog TO app;",
            "GRANT USAGE ON SCHEMA public TO app;",
            "GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO app;",
            "GRANT SELECT ON TABLE public.t TO app;",
            "GRANT EXECUTE ON FUNCTION \"My Schema\".f(integer) TO app;",
            "REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC;",
            "GRANT EXECUTE ON FUNCTION public.f(pg_catalog.text) TO app;",
            "COMMENT ON SCHEMA pg_catalog IS 'x';",
        ] {
            assert!(!grant_on_pg_catalog(&one(no)), "{no}");
        }
    }

    #[test]
    fn a_rule_with_several_actions_is_one_statement() {
        let rule = "CREATE RULE r AS ON DELETE TO public.t DO ALSO (INSERT INTO public.log VALUES (old.id, 'a'::text); INSERT INTO public.log VALUES (old.id, 'b'::text));\nCOMMENT ON RULE r ON public.t IS 'x';";
        let s = split(rule).unwrap();
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(refusal(&s[0]), None);
        assert!(s[0].text.ends_with("'b'::text));"), "{}", s[0].text);
        // Anywhere else a parenthesis keeps no semicolon from ending a
        // statement, and an unclosed one in a rule is refused.
        let s = split("COMMENT ON TABLE t IS 'x' (; COPY x TO PROGRAM 'y');").unwrap();
        assert_eq!(s.len(), 2);
        assert!(
            split("CREATE RULE r AS ON DELETE TO t DO ALSO (INSERT INTO log VALUES (1); COPY x TO PROGRAM 'y';")
                .is_err()
        );
    }

    #[test]
    fn quoting_cannot_hide_a_second_statement() {
        // Whatever the splitter makes of these, the hidden COPY is a
        // statement of its own and refused, or the quote never closes.
        for sql in [
            "COMMENT ON TABLE t IS E'\\''; COPY (SELECT 1) TO PROGRAM 'x'; --';",
            "/* ' */ COMMENT ON TABLE t IS 'a'; COPY (SELECT 1) TO PROGRAM 'x'; /* ' */",
            "/* /* nested */ ; */ COMMENT ON TABLE t IS 'a'; COPY x TO PROGRAM 'y';",
            "COMMENT ON TABLE t IS $a$ $b$ $a$; COPY x TO PROGRAM 'y';",
        ] {
            assert!(checked_script("m", sql).is_err(), "{sql}");
        }
        assert!(split("COMMENT ON TABLE t IS 'open").is_err());
        assert!(split("/* open").is_err());
        assert!(split("CREATE FUNCTION f() AS $x$ open").is_err());
        // BEGIN ATOMIC bodies hold semicolons; only a CREATE opens one.
        let s =
            split("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END; COPY x TO PROGRAM 'y';")
                .unwrap();
        assert_eq!(s.len(), 2, "{s:?}");
        let s = split("COMMENT ON TABLE t IS 'x'; BEGIN ATOMIC; COPY x TO PROGRAM 'y';").unwrap();
        assert_eq!(s.len(), 3, "{s:?}");
        let s = split("COMMENT ON TABLE t IS 'a'';b'; /* ; */ CREATE SCHEMA \"x;y\";").unwrap();
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn refusals_name_the_statement_shortened_and_escaped() {
        let sql = format!("COPY (SELECT 1) TO PROGRAM '\u{1b}[31m{}';", "x".repeat(500));
        let err = format!("{:#}", checked_script("db/0-pre-data.sql.gz", &sql).unwrap_err());
        assert!(err.contains("COPY (SELECT 1) TO PROGRAM"), "{err}");
        assert!(!err.contains('\u{1b}') && err.len() < 600, "{err}");
    }

    #[test]
    fn copy_headers_are_rebuilt_by_lifeboat() {
        let cols = vec!["id".to_string(), "\"Name\"".to_string()];
        assert_eq!(
            copy_statement("COPY public.users (id, \"Name\") FROM stdin;\n", "public.users", &cols).unwrap(),
            "COPY \"public\".\"users\" (\"id\", \"Name\") FROM STDIN"
        );
        assert_eq!(
            copy_statement("COPY \"S\".\"t\"\"x\" FROM stdin;", "\"S\".\"t\"\"x\"", &[]).unwrap(),
            "COPY \"S\".\"t\"\"x\" FROM STDIN"
        );
        for bad in [
            "COPY t FROM PROGRAM 'id' -- FROM stdin;",
            "COPY t FROM stdin; COPY u TO PROGRAM 'x'; -- FROM stdin;",
            "COPY t FROM '/etc/passwd' -- FROM stdin;",
            "COPY other FROM stdin;",
            "COPY t (a) FROM stdin WITH (FORMAT binary);",
            "COPY (SELECT 1) TO stdout;",
            "SELECT 1; COPY t FROM stdin;",
        ] {
            assert!(copy_statement(bad, "t", &[]).is_err(), "{bad}");
        }
        assert!(copy_statement("COPY t (b) FROM stdin;", "t", &["a".into()]).is_err());
        // A manifest's table name is parsed too: it cannot smuggle SQL.
        assert!(copy_statement("COPY t FROM stdin;", "t FROM PROGRAM 'x' --", &[]).is_err());
        assert!(requote("public.t; DROP TABLE x").is_err());
        assert_eq!(requote("Public.\"T\"").unwrap(), "\"public\".\"T\"");
    }

    #[test]
    fn owner_changes_and_trigger_switches_are_read_by_their_shape() {
        let one = |sql: &str| split(sql).unwrap().remove(0);
        assert_eq!(
            owner_change(&one("ALTER TABLE \"we\"\"ird\".t OWNER TO app_reader;")),
            Some(OwnerChange {
                schema: "we\"ird".into(),
                role: "app_reader".into()
            })
        );
        assert_eq!(
            owner_change(&one(
                "ALTER FUNCTION public.f(integer, text[], \"char\") OWNER TO \"Odd Role\";"
            )),
            Some(OwnerChange {
                schema: "public".into(),
                role: "Odd Role".into()
            })
        );
        assert!(owner_change(&one("ALTER AGGREGATE public.n(*) OWNER TO r;")).is_some());
        assert!(owner_change(&one("ALTER MATERIALIZED VIEW s.m OWNER TO r;")).is_some());
        // Not an owner change alone, or not of an object in a schema.
        assert_eq!(owner_change(&one("ALTER SCHEMA s OWNER TO r;")), None);
        assert_eq!(owner_change(&one("ALTER TABLE t OWNER TO r;")), None);
        assert_eq!(
            owner_change(&one("ALTER TABLE s.t ALTER COLUMN c TYPE int USING f(c), OWNER TO r;")),
            None
        );
        assert_eq!(
            owner_change(&one("ALTER FUNCTION s.f(int DEFAULT 1) OWNER TO r;")),
            None
        );

        assert_eq!(
            trigger_switch(&one("ALTER TABLE public.\"line\nbreak\" DISABLE TRIGGER events_touch;")).as_deref(),
            Some("ALTER TABLE \"public\".\"line\nbreak\" DISABLE TRIGGER \"events_touch\"")
        );
        assert_eq!(
            trigger_switch(&one("ALTER TABLE ONLY s.t ENABLE ALWAYS TRIGGER \"T\";")).as_deref(),
            Some("ALTER TABLE ONLY \"s\".\"t\" ENABLE ALWAYS TRIGGER \"T\"")
        );
        assert_eq!(trigger_switch(&one("ALTER TABLE s.t DISABLE TRIGGER ALL;")), None);
        assert_eq!(
            trigger_switch(&one("ALTER TABLE s.t DISABLE TRIGGER x, OWNER TO r;")),
            None
        );
        assert_eq!(trigger_switch(&one("ALTER TABLE s.t OWNER TO r;")), None);

        assert_eq!(
            extension_comment(&one("COMMENT ON EXTENSION pg_stat_statements IS E'it''s \\\\ here';")).as_deref(),
            Some("COMMENT ON EXTENSION \"pg_stat_statements\" IS E'it''s \\\\ here'")
        );
        assert_eq!(extension_comment(&one("COMMENT ON EXTENSION x IS NULL;")), None);
    }
}

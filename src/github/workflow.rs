//! Workflow commands: masks, annotations, step outputs through
//! GITHUB_OUTPUT with a random heredoc delimiter, and the job summary.

use anyhow::{Context, Result};
use std::io::{Read, Write};

/// Whether this runs as a GitHub Actions step.
pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
}

/// Makes text that came from a set or a database safe to print in a log,
/// a terminal, an annotation or a summary: control characters (escape
/// sequences, carriage returns, newlines that would start a new log line)
/// and bidirectional overrides become visible `\u{..}` escapes, and the
/// sequences the Actions runner reads as workflow commands (`::`, `##[`)
/// are broken up, so a name can never print `::error::` or
/// `::add-mask::` into a run's log. Everything lifeboat prints that it did
/// not write itself goes through here.
pub fn neutralize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous = '\0';
    for c in text.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
            previous = '}';
            continue;
        }
        if (c == ':' && previous == ':') || (c == '[' && out.ends_with("##")) {
            out.push('\\');
        }
        out.push(c);
        previous = c;
    }
    out
}

/// [`neutralize`] line by line, keeping the line breaks of text lifeboat
/// composed itself.
pub fn neutralize_lines(text: &str) -> String {
    text.split('\n').map(neutralize).collect::<Vec<_>>().join("\n")
}

/// Escapes the message part of a workflow command.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a property (title=, file=) of a workflow command.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Tells the runner to hide `secret` from every log line after this one.
pub fn add_mask(secret: &str) {
    if in_actions() && !secret.trim().is_empty() {
        println!("::add-mask::{}", escape_data(secret));
    }
}

/// An error annotation on the run.
pub fn error(title: &str, message: &str) {
    if in_actions() {
        println!(
            "::error title={}::{}",
            escape_property(&neutralize(title)),
            escape_data(&neutralize_lines(message))
        );
    }
}

pub fn warning(title: &str, message: &str) {
    if in_actions() {
        println!(
            "::warning title={}::{}",
            escape_property(&neutralize(title)),
            escape_data(&neutralize_lines(message))
        );
    }
}

fn random_delimiter() -> String {
    let mut bytes = [0u8; 16];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !filled {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = (nanos ^ (std::process::id() as u128) << 64).to_le_bytes();
    }
    format!("ghadelimiter_{}", hex::encode(bytes))
}

/// Writes `name=value` pairs to GITHUB_OUTPUT; a value can hold anything,
/// newlines included, because the delimiter is random.
pub fn set_outputs(pairs: &[(&str, String)]) -> Result<()> {
    let Ok(path) = std::env::var("GITHUB_OUTPUT") else {
        return Ok(());
    };
    let mut text = String::new();
    for (name, value) in pairs {
        let mut delimiter = random_delimiter();
        while value.contains(&delimiter) {
            delimiter = random_delimiter();
        }
        text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    append(&path, &text).context("writing step outputs to GITHUB_OUTPUT")
}

/// Appends Markdown to the job summary.
pub fn summary(markdown: &str) -> Result<()> {
    let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY") else {
        return Ok(());
    };
    append(&path, &format!("{}\n", neutralize_lines(markdown))).context("writing the job summary")
}

fn append(path: &str, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralized_names_cannot_print_workflow_commands_or_escapes() {
        assert_eq!(neutralize("public.users"), "public.users");
        assert_eq!(neutralize("x\n::error::owned"), "x\\u{a}:\\:error:\\:owned");
        assert_eq!(neutralize(":::"), ":\\:\\:");
        assert_eq!(neutralize("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(neutralize("a\rb\u{9b}c\u{202e}"), "a\\u{d}b\\u{9b}c\\u{202e}");
        assert!(!neutralize("##[error]x").contains("##["));
        assert_eq!(neutralize("### heading"), "### heading");
        for hostile in [
            "::add-mask::x",
            "\n::set-output name=a::b",
            "%0A::error::x",
            "\u{7}\u{8}",
        ] {
            let n = neutralize(hostile);
            assert!(!n.contains("::") && !n.chars().any(|c| c.is_control()), "{n}");
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn delimiters_are_random_and_long() {
        let a = random_delimiter();
        assert_ne!(a, random_delimiter());
        assert!(a.len() > 40);
    }
}

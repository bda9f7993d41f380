//! What a command hands back to the CLI: its exit code, what to print, its
//! step outputs and how it ended for GitHub and alerts. Commands build one;
//! `app` renders it, so no command writes outputs, summaries or issues.

use crate::exit_codes::ExitCode;
use anyhow::Result;
use serde::Serialize;

/// How a command ended, for the job summary, the annotation, the failure
/// issue and webhook alerts.
#[derive(Debug, Clone)]
pub struct Ending {
    /// backup, verify, restore, prune, action.
    pub class: String,
    pub set: Option<String>,
    pub failed: bool,
    /// Markdown for the summary and the issue.
    pub details: String,
    /// The reason in one line, for the annotation, when the details do not
    /// start with it (a backup whose verification failed).
    pub headline: Option<String>,
}

impl Ending {
    pub fn new(class: &str, set: Option<String>, failed: bool, details: String) -> Ending {
        Ending {
            class: class.into(),
            set,
            failed,
            details,
            headline: None,
        }
    }

    /// A command that stopped on an error: the error and its causes.
    pub fn from_error(class: &str, set: Option<String>, err: &anyhow::Error) -> Ending {
        Ending::new(class, set, true, error_details(class, err))
    }
}

/// One command's result as the CLI shows it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: ExitCode,
    /// Standard output: the text for people, or the JSON form with --json.
    pub stdout: String,
    /// Printed on standard error before standard output (a backup's
    /// verification report).
    pub stderr: String,
    /// `GITHUB_OUTPUT` step outputs.
    pub outputs: Vec<(&'static str, String)>,
    /// How it ended, for the commands GitHub and alerts hear about.
    pub ending: Option<Ending>,
    /// Whether the ending goes to the webhook too (`report` speaks for
    /// the action's own steps only to GitHub).
    pub alert: bool,
}

impl Outcome {
    /// A successful run that prints `stdout` and nothing else.
    pub fn printed(stdout: String) -> Outcome {
        Outcome {
            code: ExitCode::Success,
            stdout,
            stderr: String::new(),
            outputs: Vec::new(),
            ending: None,
            alert: true,
        }
    }

    pub fn with_code(mut self, code: ExitCode) -> Outcome {
        self.code = code;
        self
    }

    pub fn with_outputs(mut self, outputs: Vec<(&'static str, String)>) -> Outcome {
        self.outputs = outputs;
        self
    }

    pub fn with_ending(mut self, ending: Ending) -> Outcome {
        self.ending = Some(ending);
        self
    }
}

/// Standard output for a value: its JSON form with --json, else the text
/// `text` renders.
pub fn stdout<T: Serialize>(json: bool, value: &T, text: impl FnOnce() -> String) -> Result<String> {
    if json {
        Ok(format!("{}\n", serde_json::to_string_pretty(value)?))
    } else {
        Ok(text())
    }
}

/// Adds one line of text to `out`, neutralised: it may quote names from
/// sets and databases, which must not become workflow commands or
/// terminal escapes.
pub fn say(out: &mut String, line: &str) {
    out.push_str(&crate::github::workflow::neutralize_lines(line));
    out.push('\n');
}

/// `say` with format arguments.
#[macro_export]
macro_rules! sayln {
    ($out:expr, $($arg:tt)*) => {
        $crate::app::outcome::say($out, &format!($($arg)*))
    };
}

/// The Markdown for a failure: the error and its causes.
pub fn error_details(class: &str, err: &anyhow::Error) -> String {
    let mut out = format!("### lifeboat {class} failed\n\n");
    for (i, cause) in err.chain().enumerate() {
        let text = cause.to_string();
        if i == 0 {
            out.push_str(&format!("**{text}**\n"));
        } else {
            out.push_str(&format!("- {text}\n"));
        }
    }
    out
}

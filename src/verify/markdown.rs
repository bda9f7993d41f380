//! A verification report as Markdown: the job summary, the failure issue
//! and what `lifeboat verify` prints.

use super::{Report, Severity};

impl Report {
    /// The human summary, also used as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "### lifeboat verify ({} level): {}\n\n`{}`: {}, {}, {} checked in {} ms; {}, {}.\n",
            self.level,
            if self.passed { "passed" } else { "FAILED" },
            self.set.display(),
            crate::progress::count(self.members_checked as u64, "member"),
            crate::progress::count(self.tables as u64, "table"),
            crate::progress::count(self.rows, "row"),
            self.duration_ms,
            crate::progress::count(self.errors as u64, "error"),
            crate::progress::count(self.warnings as u64, "warning"),
        );
        if !self.findings.is_empty() {
            out.push_str("\n| level | check | object | finding | what to do |\n|---|---|---|---|---|\n");
            for f in &self.findings {
                let mut finding = f.message.clone();
                if let (Some(e), Some(a)) = (&f.expected, &f.actual) {
                    finding.push_str(&format!(" (expected {e}, found {a})"));
                }
                out.push_str(&format!(
                    "| {} | {} | `{}` | {} | {} |\n",
                    match f.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    },
                    f.check,
                    f.object.replace('|', "\\|"),
                    finding.replace('|', "\\|"),
                    f.fix.replace('|', "\\|")
                ));
            }
        }
        if !self.checked_tables.is_empty() {
            out.push_str(
                "\n| database | table | rows (manifest) | rows (restored) | digest |\n|---|---|---:|---:|---|\n",
            );
            for t in &self.checked_tables {
                out.push_str(&format!(
                    "| {} | `{}` | {} | {} | {} |\n",
                    t.database,
                    t.table.replace('|', "\\|"),
                    t.rows_expected,
                    t.rows_found.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                    match t.digest_matches {
                        Some(true) => "matches",
                        Some(false) => "DIFFERS",
                        None => "-",
                    }
                ));
            }
        }
        if !self.durations_ms.is_empty() {
            let phases: Vec<String> = self
                .durations_ms
                .iter()
                .map(|(k, v)| format!("{k} {:.1}s", *v as f64 / 1000.0))
                .collect();
            out.push_str(&format!("\nTime: {}.\n", phases.join(", ")));
        }
        out
    }
}

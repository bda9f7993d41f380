//! `lifeboat verify`: run every check, record the report beside the set,
//! and fail at the end if any check found an error.

use super::restore::resolve_set;
use crate::config::Config;
use crate::fsutil;
use crate::progress::Reporter;
use crate::store::local::verified_path;
use crate::verify::{self, Report};
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct VerifyRequest {
    pub set: Option<PathBuf>,
    pub latest: bool,
    /// Where to write the JSON report, besides the record beside the set.
    pub report: Option<PathBuf>,
}

/// Verifies a set at the quick level. The report says whether it passed;
/// the CLI turns a failure into exit code 3.
pub fn verify(config: &Config, request: &VerifyRequest, reporter: &Reporter) -> Result<Report> {
    let started = std::time::Instant::now();
    let path = resolve_set(config, request.set.as_ref(), request.latest)?;
    if !path.is_file() {
        anyhow::bail!(
            "no backup set at {}: check the path, or use --latest DIR",
            path.display()
        );
    }
    let (findings, scan, source) = verify::quick(&path, true, reporter)?;
    let report = verify::report(
        &path,
        "quick",
        findings,
        &scan,
        source.as_ref().map(|s| &s.manifest),
        started,
    );
    let json = serde_json::to_vec_pretty(&report)?;
    fsutil::write_private(&verified_path(&path), &json)
        .with_context(|| format!("recording the verification beside {}", path.display()))?;
    if let Some(out) = &request.report {
        std::fs::write(out, &json).with_context(|| format!("writing report {}", out.display()))?;
    }
    reporter.log(&format!(
        "verify {} {}: {} errors, {} warnings",
        path.display(),
        if report.passed { "passed" } else { "failed" },
        report.errors,
        report.warnings
    ));
    Ok(report)
}

pub fn print(report: &Report, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", report.to_markdown());
    }
    Ok(())
}

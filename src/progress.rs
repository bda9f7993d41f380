//! What a run tells the person watching: a bar on a terminal, a line every
//! few seconds in CI logs, nothing with `--quiet`; and the append-only log
//! file some teams keep beside their backups.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const LOG_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Bar,
    Lines,
    Quiet,
}

/// Shared by every part of a run; cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    mode: Mode,
    log_file: Option<Arc<Mutex<std::fs::File>>>,
}

impl Reporter {
    pub fn new(quiet: bool, log_file: Option<PathBuf>) -> anyhow::Result<Reporter> {
        use anyhow::Context;
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        let log_file = match log_file {
            Some(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating log directory {}", parent.display()))?;
                }
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .with_context(|| format!("opening log file {}", path.display()))?;
                Some(Arc::new(Mutex::new(f)))
            }
            None => None,
        };
        Ok(Reporter { mode, log_file })
    }

    /// A reporter that prints nothing, for library callers and tests.
    pub fn silent() -> Reporter {
        Reporter {
            mode: Mode::Quiet,
            log_file: None,
        }
    }

    /// A message for the person watching, and for the log file.
    pub fn info(&self, message: &str) {
        if self.mode != Mode::Quiet {
            eprintln!("{}", crate::github::workflow::neutralize_lines(message));
        }
        self.log(message);
    }

    /// A warning: printed even with `--quiet`, as warnings are worth a line.
    pub fn warn(&self, message: &str) {
        eprintln!("warning: {}", crate::github::workflow::neutralize_lines(message));
        self.log(&format!("warning: {message}"));
    }

    /// Appends a timestamped line to the log file, if there is one.
    pub fn log(&self, message: &str) {
        if let Some(f) = &self.log_file {
            let line = format!(
                "{} {}\n",
                chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
                crate::github::workflow::neutralize_lines(message)
            );
            if let Ok(mut f) = f.lock() {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }

    /// Starts a task measured in bytes (or items when `total` is `None`).
    pub fn task(&self, what: &str, total: Option<u64>) -> Task {
        let bar = (self.mode == Mode::Bar).then(|| {
            let bar = match total {
                Some(t) => ProgressBar::new(t).with_style(
                    ProgressStyle::with_template("{msg:30!} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                        .expect("valid template"),
                ),
                None => ProgressBar::new_spinner()
                    .with_style(ProgressStyle::with_template("{spinner} {msg} {bytes}").expect("valid template")),
            };
            bar.set_message(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Task {
            what: what.to_string(),
            mode: self.mode,
            bar,
            total,
            done: Arc::new(Mutex::new((0, Instant::now()))),
        }
    }
}

/// One measured step: a bar on a terminal, a line every few seconds else.
#[derive(Clone)]
pub struct Task {
    what: String,
    mode: Mode,
    bar: Option<ProgressBar>,
    total: Option<u64>,
    done: Arc<Mutex<(u64, Instant)>>,
}

impl Task {
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
            return;
        }
        if self.mode != Mode::Lines {
            return;
        }
        let Ok(mut state) = self.done.lock() else {
            return;
        };
        state.0 += n;
        if state.1.elapsed() >= LOG_EVERY {
            state.1 = Instant::now();
            match self.total {
                Some(t) if t > 0 => eprintln!(
                    "{}: {}% ({} of {})",
                    self.what,
                    state.0 * 100 / t,
                    human_bytes(state.0),
                    human_bytes(t)
                ),
                _ => eprintln!("{}: {}", self.what, human_bytes(state.0)),
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar
            && Arc::strong_count(&self.done) == 1
        {
            bar.finish_and_clear();
        }
    }
}

/// A writer that reports the bytes passing through it to a task.
pub struct ProgressWriter<'a, W> {
    pub inner: W,
    pub task: &'a Task,
}

impl<W: Write> Write for ProgressWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::cancel::check_io()?;
        let n = self.inner.write(buf)?;
        self.task.inc(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Sizes as people read them: 1.5 MB, 700 kB.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(super::human_bytes(999), "999 B");
        assert_eq!(super::human_bytes(1_500_000), "1.5 MB");
    }
}

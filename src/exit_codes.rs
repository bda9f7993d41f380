//! The process exit codes lifeboat documents, one meaning each.

use crate::error::{UsageError, VerificationFailed};

/// What a run of lifeboat ended with, as scripts and CI see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for was done.
    Success,
    /// Something went wrong: a database, a file, the network, the disk.
    GeneralError,
    /// The command line or configuration was wrong, or a change was refused
    /// without `--force`; nothing was changed.
    UsageError,
    /// A backup set or a database was checked and a check failed.
    VerificationFailed,
    /// Stopped by SIGINT (Ctrl-C); what the run had started was removed.
    Interrupted,
    /// Stopped by SIGTERM (a cancelled CI job); what the run had started
    /// was removed.
    Terminated,
}

impl ExitCode {
    /// The number the process exits with.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::GeneralError => 1,
            ExitCode::UsageError => 2,
            ExitCode::VerificationFailed => 3,
            // 128 + the signal number, as shells report a process a signal
            // ended.
            ExitCode::Interrupted => 130,
            ExitCode::Terminated => 143,
        }
    }

    /// The exit code for an error that ended a run, found by the concrete
    /// error types callers are meant to match on.
    pub fn for_error(err: &anyhow::Error) -> ExitCode {
        if let Some(cancelled) = crate::cancel::is_cancelled(err) {
            return ExitCode::for_signal(cancelled.signal);
        }
        // A member found damaged while it was read fails a verification,
        // as it does when found before.
        if crate::archive::reader::is_member_damaged(err) {
            return ExitCode::VerificationFailed;
        }
        for cause in err.chain() {
            // An encrypted set and no key: give one and run again.
            if cause.is::<UsageError>() || cause.is::<crate::archive::crypt::KeyMissing>() {
                return ExitCode::UsageError;
            }
            if cause.is::<VerificationFailed>() {
                return ExitCode::VerificationFailed;
            }
        }
        ExitCode::GeneralError
    }
}

impl ExitCode {
    /// The exit code for a run a signal stopped.
    pub fn for_signal(signal: i32) -> ExitCode {
        if signal == libc::SIGTERM {
            ExitCode::Terminated
        } else {
            ExitCode::Interrupted
        }
    }

    /// Whether the run was stopped rather than failed: CI reports it as
    /// cancelled, and no failure issue is opened.
    pub fn is_cancelled(self) -> bool {
        matches!(self, ExitCode::Interrupted | ExitCode::Terminated)
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code() as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn codes_are_distinct_and_documented_values() {
        let all = [
            ExitCode::Success,
            ExitCode::GeneralError,
            ExitCode::UsageError,
            ExitCode::VerificationFailed,
            ExitCode::Interrupted,
            ExitCode::Terminated,
        ];
        let codes: Vec<i32> = all.iter().map(|c| c.code()).collect();
        assert_eq!(codes, vec![0, 1, 2, 3, 130, 143]);
    }

    #[test]
    fn error_kinds_map_through_context() {
        let usage = Err::<(), _>(anyhow::Error::new(UsageError("bad flag".into())))
            .context("while parsing")
            .unwrap_err();
        assert_eq!(ExitCode::for_error(&usage), ExitCode::UsageError);

        let failed = anyhow::Error::new(VerificationFailed { errors: 2 });
        assert_eq!(ExitCode::for_error(&failed), ExitCode::VerificationFailed);

        let stopped = Err::<(), _>(anyhow::Error::new(crate::cancel::Cancelled { signal: libc::SIGTERM }))
            .context("dumping")
            .unwrap_err();
        assert_eq!(ExitCode::for_error(&stopped), ExitCode::Terminated);
        let interrupted = anyhow::Error::new(std::io::Error::other(crate::cancel::Cancelled { signal: libc::SIGINT }));
        assert_eq!(ExitCode::for_error(&interrupted), ExitCode::Interrupted);

        let other = anyhow::anyhow!("disk full");
        assert_eq!(ExitCode::for_error(&other), ExitCode::GeneralError);
    }
}

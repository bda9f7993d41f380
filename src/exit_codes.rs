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
}

impl ExitCode {
    /// The number the process exits with.
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::GeneralError => 1,
            ExitCode::UsageError => 2,
            ExitCode::VerificationFailed => 3,
        }
    }

    /// The exit code for an error that ended a run, found by the concrete
    /// error types callers are meant to match on.
    pub fn for_error(err: &anyhow::Error) -> ExitCode {
        for cause in err.chain() {
            if cause.is::<UsageError>() {
                return ExitCode::UsageError;
            }
            if cause.is::<VerificationFailed>() {
                return ExitCode::VerificationFailed;
            }
        }
        ExitCode::GeneralError
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
        ];
        let codes: Vec<i32> = all.iter().map(|c| c.code()).collect();
        assert_eq!(codes, vec![0, 1, 2, 3]);
    }

    #[test]
    fn error_kinds_map_through_context() {
        let usage = Err::<(), _>(anyhow::Error::new(UsageError("bad flag".into())))
            .context("while parsing")
            .unwrap_err();
        assert_eq!(ExitCode::for_error(&usage), ExitCode::UsageError);

        let failed = anyhow::Error::new(VerificationFailed { errors: 2 });
        assert_eq!(ExitCode::for_error(&failed), ExitCode::VerificationFailed);

        let other = anyhow::anyhow!("disk full");
        assert_eq!(ExitCode::for_error(&other), ExitCode::GeneralError);
    }
}

//! The few error types a caller matches on; everything else is `anyhow`.

use std::fmt;

/// The user asked for something that cannot be done as asked (a bad flag,
/// a missing `--force`); nothing was changed.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A check ran to the end and found errors; the findings were already
/// reported.
#[derive(Debug)]
pub struct VerificationFailed {
    pub errors: usize,
}

impl fmt::Display for VerificationFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "verification failed with {} error{}",
            self.errors,
            if self.errors == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for VerificationFailed {}

/// Shorthand for returning a [`UsageError`] with a formatted message.
#[macro_export]
macro_rules! usage_bail {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::error::UsageError(format!($($arg)*))))
    };
}

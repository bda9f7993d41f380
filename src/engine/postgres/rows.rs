//! Reading the server's rows: a value the code cannot take (a NULL where
//! it expects one, another type) is an error that names the column and the
//! columns of its query, never a panic.

use anyhow::Result;
use postgres::Row;
use postgres::types::FromSql;

/// Column values of a row, as errors rather than panics.
pub trait Value {
    /// Column `idx` as `T`; a NULL needs an `Option<T>`.
    fn value<'a, T: FromSql<'a>>(&'a self, idx: usize) -> Result<T>;
}

impl Value for Row {
    fn value<'a, T: FromSql<'a>>(&'a self, idx: usize) -> Result<T> {
        self.try_get(idx).map_err(|e| {
            let names: Vec<&str> = self.columns().iter().map(|c| c.name()).collect();
            unreadable(&names, idx, &e)
        })
    }
}

/// The error for column `idx` of a row with columns `names`.
fn unreadable(names: &[&str], idx: usize, e: &postgres::Error) -> anyhow::Error {
    let why = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_else(|| e.to_string());
    anyhow::anyhow!(
        "the server answered what lifeboat cannot read: column {} ({}) of a row of ({}): {why}",
        idx + 1,
        names.get(idx).copied().unwrap_or("none"),
        names.join(", ")
    )
}

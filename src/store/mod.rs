//! Where sets live. Today a local directory; GitHub artifacts and object
//! stores plug in beside it.

pub mod local;

pub use local::{LocalStore, SetEntry, SetName};

//! The web UI's files, from the binary or from a directory, sent through one path: names
//! checked, files typed, revalidated or (the build's) cached for good.

mod bundle;
mod path;
mod source;
mod spa;

pub use source::UiSource;
pub use spa::Spa;

//! Where the web UI's files are read from: the copy built into the binary, or a directory.

use std::borrow::Cow;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rust_embed::RustEmbed;

use super::path::UiPath;

/// Which web UI a server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiSource {
    /// The copy of `static/` built into the binary: one file to deploy. Release builds
    /// compile the files in; debug builds read `static/` at run time, so a rebuilt UI is
    /// seen without rebuilding the server.
    Embedded,
    /// A directory laid out like `static/` (`--static-dir`): for UI development.
    Dir(PathBuf),
}

/// `static/` as it was when the binary was built. backend/build.rs makes release builds
/// notice files added there (rust-embed notices only changes to files it already has).
#[derive(RustEmbed)]
#[folder = "../static"]
struct Embedded;

/// One file: its content and an entity tag that changes when the content does.
pub struct UiFile {
    pub bytes: Cow<'static, [u8]>,
    pub etag: String,
}

/// A file that exists but could not be read. Logged with its name; never sent to the client.
#[derive(Debug, thiserror::Error)]
#[error("reading the web UI file {name}")]
pub struct ReadError {
    name: String,
    #[source]
    source: std::io::Error,
}

/// The files of a [`UiSource`], ready to read.
pub enum Files {
    Embedded,
    /// An absolute directory (canonical when it existed at start); nothing outside it is read,
    /// not even through a symbolic link.
    Dir(PathBuf),
}

impl Files {
    pub fn new(source: &UiSource) -> Files {
        match source {
            UiSource::Embedded => Files::Embedded,
            UiSource::Dir(dir) => Files::Dir(
                std::fs::canonicalize(dir).or_else(|_| std::path::absolute(dir)).unwrap_or_else(|_| dir.clone()),
            ),
        }
    }

    /// The file named `path`; `None` when there is no such regular file.
    pub async fn read(&self, path: &UiPath) -> Result<Option<UiFile>, ReadError> {
        if path.is_root() {
            return Ok(None);
        }
        match self {
            // In memory in a release build. A debug build reads the file here, blocking
            // briefly: that build is for development only.
            Files::Embedded => Ok(Embedded::get(path.as_str()).map(|f| UiFile {
                etag: format!("\"{}\"", hex::encode(&f.metadata.sha256_hash()[..16])),
                bytes: f.data,
            })),
            Files::Dir(root) => {
                read_in(root, path).await.map_err(|source| ReadError { name: path.as_str().into(), source })
            }
        }
    }

    /// Whether a file named `name` (a constant such as `index.html`) is there, checked
    /// without async for the messages at start.
    pub fn has(&self, name: &str) -> bool {
        match self {
            Files::Embedded => Embedded::get(name).is_some(),
            Files::Dir(root) => root.join(name).is_file(),
        }
    }
}

/// Reads `path` under `root`, refusing anything that resolves outside it.
async fn read_in(root: &Path, path: &UiPath) -> std::io::Result<Option<UiFile>> {
    // A name the file system cannot hold (over 255 bytes) names no file either.
    let absent = |e: &std::io::Error| {
        matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::InvalidFilename)
    };
    let file = match tokio::fs::canonicalize(root.join(path.as_str())).await {
        Ok(file) if file.starts_with(root) => file,
        Ok(_) => return Ok(None),
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = match tokio::fs::metadata(&file).await {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return Ok(None),
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let bytes = match tokio::fs::read(&file).await {
        Ok(bytes) => bytes,
        Err(e) if absent(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    // Modification time and length: no hashing of every file on every request.
    let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
    let etag = format!("\"{:x}-{:x}\"", modified.map_or(0, |d| d.as_nanos()), bytes.len());
    Ok(Some(UiFile { bytes: Cow::Owned(bytes), etag }))
}

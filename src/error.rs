//! One error type for the crate: every message is meant to be shown to a student as is.

use crate::data::DataError;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A configuration value out of range (the message names the field and the allowed range).
    Config(String),
    /// A data file that could not be used.
    Data(DataError),
    /// A checkpoint that is corrupt, truncated or made for another model.
    Checkpoint(String),
    /// Training produced NaN or Inf; the last good weights were kept.
    Diverged { step: u64, message: String },
    /// The compute backend failed (device lost, readback error...).
    Backend(String),
    /// A file could not be read or written (the message names the path).
    Io(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(m) => write!(f, "invalid configuration: {m}"),
            Error::Data(e) => write!(f, "bad data file: {e}"),
            Error::Checkpoint(m) => write!(f, "bad checkpoint: {m}"),
            Error::Diverged { step, message } => write!(
                f,
                "training diverged at step {step}: {message}; the weights went back to the last ones known good"
            ),
            Error::Backend(m) => write!(f, "compute backend error: {m}"),
            Error::Io(m) => write!(f, "file error: {m}"),
        }
    }
}

impl Error {
    /// A failure of the compute backend (a readback, a lost device) as `Error::Backend`, with the
    /// backend's own description: `.map_err(Error::backend)`.
    pub fn backend(e: impl std::fmt::Debug) -> Self {
        Error::Backend(format!("{e:?}"))
    }

    /// The kind of error as a short, stable name, for code that must react to it (the page's
    /// worker switches on it; the message is for people and may be reworded freely).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Data(_) => "data",
            Error::Checkpoint(_) => "checkpoint",
            Error::Diverged { .. } => "diverged",
            Error::Backend(_) => "backend",
            Error::Io(_) => "io",
        }
    }
}

impl std::error::Error for Error {}

impl From<DataError> for Error {
    fn from(e: DataError) -> Self {
        Error::Data(e)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A whole file, or an `Error::Io` naming it (native only: the browser has no file system).
#[cfg(not(target_arch = "wasm32"))]
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))
}

/// Write a whole file atomically (see `write_atomic_with`), or an `Error::Io` naming it.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file| std::io::Write::write_all(file, bytes))
}

/// Write a file so that `path` holds either its old content or the whole new one, never a part:
/// `write` fills a temporary file in the same directory, which is flushed to disk (fsync) and
/// then renamed over `path` (a rename within one file system is atomic). If `write` fails, or
/// the process dies before the rename, `path` is untouched; a failed write removes the
/// temporary file.
///
/// The temporary file has a name no one can guess (the process id, a counter and a random
/// number) and is created with `create_new` (O_CREAT | O_EXCL): in a folder shared with others,
/// a file or a symbolic link planted under that name makes the creation fail (and another name
/// is tried) instead of redirecting the write.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_atomic_with(
    path: &std::path::Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let io = |e: std::io::Error| Error::Io(format!("cannot write {}: {e}", path.display()));
    let name = path.file_name().ok_or_else(|| io(std::io::Error::other("not a file name")))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let (tmp, mut file) = create_temporary(dir, name).map_err(io)?;
    let result = (|| {
        write(&mut file)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable once the directory is synced (best effort: not every
        // platform can open a directory).
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// A new file `.NAME.tmp-PID-COUNTER-RANDOM` in `dir`, created exclusively; another name is
/// tried while one exists.
#[cfg(not(target_arch = "wasm32"))]
fn create_temporary(
    dir: &std::path::Path,
    name: &std::ffi::OsStr,
) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ATTEMPTS: usize = 100;
    let clock =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    for _ in 0..ATTEMPTS {
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut rng = crate::rng::SplitMix64::new(
            clock ^ (u64::from(std::process::id()) << 32) ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}-{count}-{:016x}", std::process::id(), rng.next_u64()));
        let tmp = dir.join(tmp_name);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("no free temporary name after {ATTEMPTS} attempts"),
    ))
}

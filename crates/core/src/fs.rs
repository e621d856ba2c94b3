//! The project's one way to write a file: atomically and durably.
//!
//! [`write_atomic`] writes into a temporary file beside the target, flushes and fsyncs it, renames
//! it over the target, then fsyncs the folder, so a process killed at any moment leaves either
//! the old file or the complete new one, never a half-written file under the requested name.
//! Every writer of a result uses it: model bundles, training checkpoints and reports, the ranked
//! CSV, audit reports. Native targets only (in a browser there is no file system to write to).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The temporary file [`write_atomic`] writes before renaming: `.<name>.tmp` in the same folder
/// (hidden, and on the same file system, so the rename is atomic).
pub fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `path` atomically: `write` fills a buffered temporary file ([`temporary_path`]),
/// which is then flushed, fsynced and renamed over `path`; last the folder is fsynced (best
/// effort: not every platform lets a folder be opened). On any error the temporary file is
/// removed and `path` is left as it was.
///
/// `write`'s own error type is kept; failures of the file operations themselves become
/// [`Error::Write`] naming the file, converted with `E: From<Error>`.
pub fn write_atomic<T, E>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<Error>,
{
    let tmp = temporary_path(path);
    let failed = |at: &Path| {
        let at = at.to_path_buf();
        move |source| Error::Write { path: at, source }
    };
    let result = (|| {
        let file = File::create(&tmp).map_err(failed(&tmp))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let value = write(&mut w)?;
        w.flush().map_err(failed(&tmp))?;
        w.get_ref().sync_all().map_err(failed(&tmp))?;
        drop(w);
        std::fs::rename(&tmp, path).map_err(failed(path))?;
        Ok(value)
    })();
    match result {
        Ok(value) => {
            if let Some(dir) = path.parent() {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(value)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// [`write_atomic`] for bytes already in memory.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    write_atomic(path, |w| {
        w.write_all(bytes).map_err(|source| Error::Write {
            path: temporary_path(path),
            source,
        })
    })
}

/// A scratch file for a run's own use, created new beside the file the run writes (on its file
/// system, where the user made room for the output) and gone when the run ends, even when it is
/// killed: on Unix its name is removed as soon as it is open; elsewhere when it is dropped.
#[derive(Debug)]
pub struct ScratchFile {
    file: File,
    path: PathBuf,
    removed: bool,
}

impl ScratchFile {
    /// Creates `.<name>.<pid>.<tag>.tmp` beside `near`, for reading and writing.
    ///
    /// # Errors
    ///
    /// [`Error::Write`] naming the file when it cannot be created.
    pub fn beside(near: &Path, tag: &str) -> crate::Result<Self> {
        let name = near
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".to_string());
        let path = near.with_file_name(format!(".{name}.{}.{tag}.tmp", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
        let removed = cfg!(unix) && std::fs::remove_file(&path).is_ok();
        Ok(Self {
            file,
            path,
            removed,
        })
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Where the file was created (on Unix its name is already gone).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        if !self.removed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("leadladder-fs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let d = dir("ok");
        let path = d.join("out.csv");
        std::fs::write(&path, "old").unwrap();
        write_file_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert!(!temporary_path(&path).exists());
        let n: crate::Result<usize> = write_atomic(&path, |w| {
            w.write_all(b"streamed").unwrap();
            Ok(8)
        });
        assert_eq!(n.unwrap(), 8);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "streamed");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_scratch_file_is_gone_when_dropped() {
        use std::io::{Read, Seek, SeekFrom};
        let d = dir("scratch");
        let out = d.join("ranked.csv");
        let scratch = ScratchFile::beside(&out, "rows").unwrap();
        let mut f = scratch.file();
        f.write_all(b"cells").unwrap();
        f.seek(SeekFrom::Start(1)).unwrap();
        let mut back = String::new();
        f.read_to_string(&mut back).unwrap();
        assert_eq!(back, "ells");
        assert!(scratch.path().starts_with(&d));
        drop(scratch);
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let d = dir("fail");
        let path = d.join("out.csv");
        std::fs::write(&path, "old").unwrap();
        let r: crate::Result<()> = write_atomic(&path, |w| {
            w.write_all(b"half").unwrap();
            Err(Error::InvalidArgument("stop".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert!(!temporary_path(&path).exists());
        let missing = d.join("no-such-folder").join("x");
        let err = write_file_atomic(&missing, b"x").unwrap_err().to_string();
        assert!(err.contains("no-such-folder"), "{err}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}

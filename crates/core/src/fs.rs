//! The project's one way to write a file: atomically and durably.
//!
//! [`write_atomic`] writes into a temporary file of its own beside the target, flushes and fsyncs
//! it, renames it over the target, then fsyncs the folder, so a process killed at any moment
//! leaves either the old file or the complete new one, never a half-written file under the
//! requested name, and writers of the same file at once never mix their bytes.
//! Every writer of a result uses it: model bundles, training checkpoints and reports, the ranked
//! CSV, audit reports. Native targets only (in a browser there is no file system to write to).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;

/// Temporary files made by this process so far (with the process id, a name never used twice).
static TEMPORARIES: AtomicU64 = AtomicU64::new(0);

/// `.<name>.` and `.tmp`: what every temporary file of a write of `path` starts and ends with.
fn temporary_affixes(path: &Path) -> (String, &'static str) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    (format!(".{name}."), ".tmp")
}

/// A new name for the temporary file [`write_atomic`] writes before renaming:
/// `.<name>.<pid>-<n>.tmp` in the same folder (hidden, and on the same file system, so the
/// rename is atomic), where `n` counts this process's temporary files. Each call gives another
/// name, so writers of the same file, in one process or several, never share one.
pub fn temporary_path(path: &Path) -> PathBuf {
    let n = TEMPORARIES.fetch_add(1, Ordering::Relaxed);
    let (prefix, suffix) = temporary_affixes(path);
    path.with_file_name(format!("{prefix}{}-{n}{suffix}", std::process::id()))
}

/// The temporary files of writes of `path` present in its folder: those of writes in progress
/// and those a killed process left behind ([`write_atomic`] removes its own on any error it can
/// see). Empty when the folder cannot be read.
pub fn temporaries(path: &Path) -> Vec<PathBuf> {
    let (prefix, suffix) = temporary_affixes(path);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(suffix))
                .and_then(|id| id.split_once('-'))
                .is_some_and(|(pid, n)| {
                    !pid.is_empty()
                        && !n.is_empty()
                        && pid.bytes().all(|b| b.is_ascii_digit())
                        && n.bytes().all(|b| b.is_ascii_digit())
                })
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// Creates a new temporary file for a write of `path` ([`temporary_path`]); a name that exists
/// already (left by an earlier process with the same id) is skipped, never opened.
fn create_temporary(path: &Path) -> Result<(File, PathBuf), Error> {
    loop {
        let tmp = temporary_path(path);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(file) => return Ok((file, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(Error::Write { path: tmp, source }),
        }
    }
}

/// Writes `path` atomically: `write` fills a buffered temporary file of its own
/// ([`temporary_path`]: a new name for every write, so concurrent writers of `path` never
/// write into each other's file), which is then flushed, fsynced and renamed over `path`; last
/// the folder is fsynced (best effort: not every platform lets a folder be opened). On any error
/// the temporary file is removed and `path` is left as it was. With several writers at once,
/// `path` ends as one of them wrote it, whole.
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
    let (file, tmp) = create_temporary(path)?;
    let failed = |at: &Path| {
        let at = at.to_path_buf();
        move |source| Error::Write { path: at, source }
    };
    let result = (|| {
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
            path: path.to_path_buf(),
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
        assert!(temporaries(&path).is_empty());
        let n: crate::Result<usize> = write_atomic(&path, |w| {
            w.write_all(b"streamed").unwrap();
            Ok(8)
        });
        assert_eq!(n.unwrap(), 8);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "streamed");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn every_write_has_a_temporary_of_its_own_and_leftovers_are_listed() {
        let d = dir("names");
        let path = d.join("model.safetensors");
        let (a, b) = (temporary_path(&path), temporary_path(&path));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(d.as_path()));
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".model.safetensors.") && name.ends_with(".tmp"),
            "{name}"
        );
        // What a killed writer leaves: listed, and no obstacle to the next write.
        std::fs::write(&a, "torn").unwrap();
        let scratch = ScratchFile::beside(&path, "rows").unwrap();
        std::fs::write(d.join("other.csv"), "x").unwrap();
        assert_eq!(temporaries(&path), vec![a.clone()]);
        write_file_atomic(&path, b"whole").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "whole");
        assert_eq!(temporaries(&path), vec![a]);
        drop(scratch);
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
        assert!(temporaries(&path).is_empty());
        let missing = d.join("no-such-folder").join("x");
        let err = write_file_atomic(&missing, b"x").unwrap_err().to_string();
        assert!(err.contains("no-such-folder"), "{err}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}

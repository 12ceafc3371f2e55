//! Output files, written whole or not at all: every path is checked before anything runs
//! ([`check_all`]), then every file goes to a temporary sibling first ([`Staged`]: streamed
//! while a run goes, or written whole) and is renamed into place only when all of them were
//! written, so a failing run leaves existing files untouched and no partial file behind.

use std::path::{Path, PathBuf};

/// `dir/stem.TAG.ext` for `dir/stem.ext` (unchanged without a tag).
pub fn with_tag(p: &Path, tag: Option<&str>) -> PathBuf {
    let Some(tag) = tag else {
        return p.to_path_buf();
    };
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match p.extension() {
        Some(ext) => format!("{stem}.{tag}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{tag}"),
    };
    p.with_file_name(name)
}

/// An output error naming the file.
#[derive(Debug)]
pub struct OutputError(pub String);

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The temporary sibling a file is written to before it is renamed into place.
fn tmp(p: &Path) -> PathBuf {
    let mut name = p.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".twsim-tmp");
    p.with_file_name(name)
}

/// Checks every output path before a run: each names a file (not a directory or anything but a
/// regular file) in an existing folder where a file can be created, and no two are the same.
///
/// # Errors
///
/// An [`OutputError`] naming the first bad path.
pub fn check_all(paths: &[PathBuf]) -> Result<(), OutputError> {
    let bad = |p: &Path, why: String| OutputError(format!("{}: cannot write: {why}", p.display()));
    let mut seen = std::collections::BTreeSet::new();
    for p in paths {
        if !seen.insert(p) {
            return Err(bad(p, "named for two outputs".into()));
        }
        if p.file_name().is_none() {
            return Err(bad(p, "not a file name".into()));
        }
        let folder = match p.parent() {
            Some(f) if !f.as_os_str().is_empty() => f,
            _ => Path::new("."),
        };
        match std::fs::metadata(folder) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(bad(p, format!("{} is not a folder", folder.display()))),
            Err(e) => return Err(bad(p, format!("folder {}: {e}", folder.display()))),
        }
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => return Err(bad(p, "it is a directory".into())),
            Ok(m) if !m.is_file() => return Err(bad(p, "it is not a regular file".into())),
            _ => {}
        }
        // Creating the temporary sibling shows the folder is writable.
        let t = tmp(p);
        std::fs::File::create(&t).map_err(|e| bad(p, e.to_string()))?;
        let _ = std::fs::remove_file(&t);
    }
    Ok(())
}

/// The output files of one command, each a temporary sibling of its target until
/// [`Staged::commit`] renames them all into place. Dropped without a commit (an error, a
/// panic), it removes every temporary file it made.
#[derive(Debug, Default)]
pub struct Staged {
    /// (target, temporary sibling), in the order they were added.
    files: Vec<(PathBuf, PathBuf)>,
}

impl Staged {
    /// Nothing staged yet.
    pub fn new() -> Staged {
        Staged::default()
    }

    /// Creates (truncates) the temporary sibling of `target` and returns it, for the caller to
    /// stream the file's bytes into.
    ///
    /// # Errors
    ///
    /// An [`OutputError`] naming `target` when the temporary file cannot be created.
    pub fn create(&mut self, target: &Path) -> Result<std::fs::File, OutputError> {
        let t = tmp(target);
        let f = std::fs::File::create(&t)
            .map_err(|e| OutputError(format!("{}: cannot write: {e}", target.display())))?;
        self.files.push((target.to_path_buf(), t));
        Ok(f)
    }

    /// Writes `bytes` as the whole of `target`'s temporary sibling.
    ///
    /// # Errors
    ///
    /// An [`OutputError`] naming `target`.
    pub fn write(&mut self, target: &Path, bytes: &[u8]) -> Result<(), OutputError> {
        use std::io::Write;
        let mut f = self.create(target)?;
        f.write_all(bytes)
            .map_err(|e| OutputError(format!("{}: cannot write: {e}", target.display())))
    }

    /// The temporary sibling `target` is being written to (to read a streamed file back).
    pub fn temporary(target: &Path) -> PathBuf {
        tmp(target)
    }

    /// Renames every temporary file onto its target, in the order they were added; returns
    /// the targets. On a failure the temporary files left are removed.
    ///
    /// # Errors
    ///
    /// An [`OutputError`] naming the target that could not be replaced.
    pub fn commit(mut self) -> Result<Vec<PathBuf>, OutputError> {
        let files = std::mem::take(&mut self.files);
        for (i, (p, t)) in files.iter().enumerate() {
            if let Err(e) = std::fs::rename(t, p) {
                for (_, rest) in &files[i..] {
                    let _ = std::fs::remove_file(rest);
                }
                return Err(OutputError(format!("{}: cannot write: {e}", p.display())));
            }
        }
        Ok(files.into_iter().map(|(p, _)| p).collect())
    }
}

impl Drop for Staged {
    /// Removes the temporary files of an uncommitted set.
    fn drop(&mut self) {
        for (_, t) in &self.files {
            let _ = std::fs::remove_file(t);
        }
    }
}

/// Writes every `(path, bytes)`; on any failure removes the temporaries and leaves no
/// output file behind.
///
/// # Errors
///
/// An [`OutputError`] naming the file that could not be written.
pub fn write_all(files: &[(PathBuf, Vec<u8>)]) -> Result<(), OutputError> {
    let mut staged = Staged::new();
    for (p, bytes) in files {
        staged.write(p, bytes)?;
    }
    staged.commit().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_go_before_the_extension() {
        assert_eq!(
            with_tag(Path::new("out/t.pcap"), Some("linux")),
            PathBuf::from("out/t.linux.pcap")
        );
        assert_eq!(with_tag(Path::new("t"), Some("x")), PathBuf::from("t.x"));
        assert_eq!(
            with_tag(Path::new("t.jsonl"), None),
            PathBuf::from("t.jsonl")
        );
    }

    #[test]
    fn bad_paths_are_found_before_anything_is_written() {
        let dir = std::env::temp_dir().join(format!("twsim-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("a.bin");
        assert!(check_all(std::slice::from_ref(&good)).is_ok());
        for (paths, why) in [
            (vec![dir.clone()], "it is a directory"),
            (vec![dir.join("missing").join("b.bin")], "folder "),
            (vec![good.clone(), good.clone()], "named for two outputs"),
        ] {
            let e = check_all(&paths).unwrap_err().0;
            assert!(e.contains(why), "{e}");
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nothing_is_left_when_a_directory_is_missing() {
        let dir = std::env::temp_dir().join(format!("twsim-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("a.bin");
        let bad = dir.join("missing").join("b.bin");
        assert!(write_all(&[(good.clone(), vec![1]), (bad, vec![2])]).is_err());
        assert!(!good.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn streamed_files_appear_only_on_commit() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("twsim-staged-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.jsonl");
        std::fs::write(&a, b"old").unwrap();
        // Dropped uncommitted: the target keeps its bytes, the temporary file is gone.
        {
            let mut s = Staged::new();
            s.create(&a).unwrap().write_all(b"half").unwrap();
            assert!(Staged::temporary(&a).exists());
        }
        assert_eq!(std::fs::read(&a).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        // Committed: every target replaced, no temporary file left.
        let mut s = Staged::new();
        s.create(&a).unwrap().write_all(b"new").unwrap();
        s.write(&dir.join("b.svg"), b"<svg/>").unwrap();
        let done = s.commit().unwrap();
        assert_eq!(done, vec![a.clone(), dir.join("b.svg")]);
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

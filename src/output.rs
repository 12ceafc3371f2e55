//! Output files, written whole or not at all: every path is checked before anything runs
//! ([`check_all`]), then every file goes to a temporary sibling first and is renamed into place
//! only when all of them were written, so a failing run leaves existing files untouched.

use std::io;
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

/// Writes every `(path, bytes)`; on any failure removes the temporaries and leaves no
/// output file behind.
pub fn write_all(files: &[(PathBuf, Vec<u8>)]) -> Result<(), OutputError> {
    let mut written: Vec<PathBuf> = Vec::new();
    let fail = |written: &[PathBuf], p: &Path, e: io::Error| {
        for w in written {
            let _ = std::fs::remove_file(w);
        }
        OutputError(format!("{}: cannot write: {e}", p.display()))
    };
    for (p, bytes) in files {
        let t = tmp(p);
        if let Err(e) = std::fs::write(&t, bytes) {
            return Err(fail(&written, p, e));
        }
        written.push(t);
    }
    for (p, _) in files {
        if let Err(e) = std::fs::rename(tmp(p), p) {
            return Err(fail(&written, p, e));
        }
    }
    Ok(())
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
}

//! Output files, written whole or not at all: every file goes to a temporary sibling first and
//! is renamed into place only when all of them were written.

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

/// Writes every `(path, bytes)`; on any failure removes the temporaries and leaves no
/// output file behind.
pub fn write_all(files: &[(PathBuf, Vec<u8>)]) -> Result<(), OutputError> {
    let tmp = |p: &Path| {
        let mut name = p.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".twsim-tmp");
        p.with_file_name(name)
    };
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

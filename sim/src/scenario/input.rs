//! Reading an input file: a scenario or an empirical-delay file. Only a regular file of at
//! most [`MAX_INPUT_BYTES`] is read (never a FIFO, a device or a directory, which could block
//! or never end), and its text must be UTF-8; an encoding error is positioned by line, column
//! and byte offset.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// The largest input file read, in bytes (16 MiB). Larger files are refused before reading.
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Why an input file could not be read.
#[derive(Debug)]
pub enum InputError {
    /// The file could not be opened or read.
    Io(std::io::Error),
    /// The path names something other than a regular file (what it is).
    NotRegular(&'static str),
    /// The file is larger than [`MAX_INPUT_BYTES`].
    TooLarge,
    /// The bytes are not UTF-8 from `offset` on (1-based line and column of the first bad byte;
    /// the column counts characters).
    Utf8 {
        /// Byte offset of the first byte that is not UTF-8.
        offset: usize,
        /// Its line.
        line: usize,
        /// Its column.
        column: usize,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Io(e) => write!(f, "cannot read: {e}"),
            InputError::NotRegular(what) => {
                write!(f, "cannot read: {what}, not a regular file")
            }
            InputError::TooLarge => write!(
                f,
                "cannot read: larger than {} MiB, the limit for an input file",
                MAX_INPUT_BYTES / (1024 * 1024)
            ),
            InputError::Utf8 {
                offset,
                line,
                column,
            } => write!(
                f,
                "{line}:{column}: invalid UTF-8 at byte offset {offset}: input files are UTF-8 text"
            ),
        }
    }
}

impl std::error::Error for InputError {}

/// What a path that is not a regular file names.
fn kind(t: std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO");
        }
        if t.is_char_device() || t.is_block_device() {
            return Some("a device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a file")
}

/// The text of the regular file at `path` (symbolic links followed).
///
/// # Errors
///
/// [`InputError`]: the path is not a regular file (checked before opening, so a FIFO is never
/// opened), the file is larger than [`MAX_INPUT_BYTES`], cannot be read, or is not UTF-8.
pub fn read_input(path: &Path) -> Result<String, InputError> {
    let meta = std::fs::metadata(path).map_err(InputError::Io)?;
    if let Some(what) = kind(meta.file_type()) {
        return Err(InputError::NotRegular(what));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge);
    }
    let file = std::fs::File::open(path).map_err(InputError::Io)?;
    // The path may have changed between the two looks; check what was opened.
    let meta = file.metadata().map_err(InputError::Io)?;
    if let Some(what) = kind(meta.file_type()) {
        return Err(InputError::NotRegular(what));
    }
    // Sized to the file (and the one byte that tells it has not grown), so that a large
    // script is held once rather than in a buffer grown by doubling.
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_INPUT_BYTES) as usize + 1);
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(InputError::Io)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(InputError::TooLarge);
    }
    text(bytes)
}

/// `bytes` as UTF-8 text, or where the first invalid byte is.
///
/// # Errors
///
/// [`InputError::Utf8`] with the line, column and byte offset of the first invalid byte.
pub fn text(bytes: Vec<u8>) -> Result<String, InputError> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let good = std::str::from_utf8(&e.as_bytes()[..offset]).unwrap_or_default();
        let line = good.matches('\n').count() + 1;
        let column = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        InputError::Utf8 {
            offset,
            line,
            column,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_utf8_is_positioned() {
        let e = text(b"{\n  \"n\": \"\xc3\xa9\xff\"}".to_vec()).unwrap_err();
        assert!(
            matches!(
                e,
                InputError::Utf8 {
                    offset: 12,
                    line: 2,
                    column: 10
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "2:10: invalid UTF-8 at byte offset 12: input files are UTF-8 text"
        );
        assert_eq!(text(b"ok".to_vec()).unwrap(), "ok");
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_read() {
        let e = read_input(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, InputError::NotRegular("a device")), "{e:?}");
        let e = read_input(Path::new("/")).unwrap_err();
        assert!(matches!(e, InputError::NotRegular("a directory")), "{e:?}");
    }
}

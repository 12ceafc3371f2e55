//! The kernel's errno numbers as twsim [`Errno`] names, and how a step fails.

use super::KernelError;
use crate::sys::Sys;
use twsim_model::Errno;

/// Maps a Linux errno number to its [`Errno`] (EWOULDBLOCK is EAGAIN, the same number on
/// Linux); `None` for numbers without a twsim name.
pub fn errno_from_linux(code: i32) -> Option<Errno> {
    Errno::ALL.into_iter().find(|e| e.linux_code() == code)
}

/// How a step failed: with an errno the script can see, or fatally for the whole replay.
pub(super) enum Fail {
    Errno(Errno, String),
    Fatal(KernelError),
}

impl From<Sys> for Fail {
    fn from(s: Sys) -> Fail {
        match errno_from_linux(s.0) {
            Some(e) => Fail::Errno(e, String::new()),
            None => Fail::Fatal(KernelError::Io(format!(
                "the kernel returned {}, which has no twsim errno name",
                s.describe()
            ))),
        }
    }
}

pub(super) fn fail(e: Errno, detail: impl Into<String>) -> Fail {
    Fail::Errno(e, detail.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_errno_numbers_map_to_twsim_names() {
        for e in Errno::ALL {
            assert_eq!(errno_from_linux(e.linux_code()), Some(e));
        }
        assert_eq!(errno_from_linux(libc::EWOULDBLOCK), Some(Errno::EAGAIN));
        assert_eq!(errno_from_linux(libc::EINPROGRESS), None);
        assert!(matches!(
            Fail::from(Sys(libc::EALREADY)),
            Fail::Fatal(KernelError::Io(_))
        ));
    }
}

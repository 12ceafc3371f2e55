//! The Windows bind tables (bind-rules.md, "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE"):
//! what a second `bind()` returns given the first socket's option and address.

/// A cell of a Windows bind table: what `bind()` of a second socket returns, given the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WinBind {
    /// The bind succeeds.
    Ok,
    /// WSAEADDRINUSE (10048).
    InUse,
    /// WSAEACCES (10013).
    Access,
}

/// Rows and columns of the Windows bind tables, in the order of bind-rules.md: option
/// (D = none, RA = SO_REUSEADDR, EX = SO_EXCLUSIVEADDRUSE) × address (W = wildcard,
/// S = specific).
pub const WINDOWS_CATEGORIES: [&str; 6] = ["D-W", "D-S", "RA-W", "RA-S", "EX-W", "EX-S"];

/// The index of a socket's row/column in the Windows tables. A socket with both
/// SO_REUSEADDR and SO_EXCLUSIVEADDRUSE counts as EX (Windows refuses to set the second of the
/// two with WSAEINVAL; the table does not enforce that, see [`crate::AddressTable::set_options`]).
pub fn windows_category(reuseaddr: bool, exclusive: bool, wildcard: bool) -> usize {
    let opt = if exclusive {
        2
    } else if reuseaddr {
        1
    } else {
        0
    };
    opt * 2 + usize::from(!wildcard)
}

use WinBind::{Access as AC, InUse as IU, Ok as OK};

/// Windows XP and earlier: first bind = row, second bind = column ("Using SO_REUSEADDR and
/// SO_EXCLUSIVEADDRUSE"; bind-rules.md). D or RA first: only a SO_REUSEADDR second socket
/// may bind; EX first: SO_REUSEADDR gets WSAEACCES, the others WSAEADDRINUSE.
pub const WINDOWS_CLASSIC: [[WinBind; 6]; 6] = [
    // D-W   D-S   RA-W  RA-S  EX-W  EX-S
    [IU, IU, OK, OK, IU, IU], // D-W
    [IU, IU, OK, OK, IU, IU], // D-S
    [IU, IU, OK, OK, IU, IU], // RA-W
    [IU, IU, OK, OK, IU, IU], // RA-S
    [IU, IU, AC, AC, IU, IU], // EX-W
    [IU, IU, AC, AC, IU, IU], // EX-S
];

/// Windows Server 2003 and later, both sockets of the same user (bind-rules.md).
pub const WINDOWS_2003_SAME_USER: [[WinBind; 6]; 6] = [
    // D-W   D-S   RA-W  RA-S  EX-W  EX-S
    [IU, OK, AC, OK, IU, OK], // D-W
    [OK, IU, OK, AC, IU, IU], // D-S
    [IU, OK, OK, OK, IU, OK], // RA-W
    [OK, IU, OK, OK, IU, IU], // RA-S
    [IU, AC, AC, AC, IU, AC], // EX-W
    [OK, IU, OK, AC, IU, IU], // EX-S
];

/// Windows Server 2003 and later, sockets of different users: as
/// [`WINDOWS_2003_SAME_USER`] except row D-W columns D-S, RA-S, EX-S and row RA-W columns
/// D-S, EX-S, which are WSAEACCES.
pub const WINDOWS_2003_OTHER_USER: [[WinBind; 6]; 6] = [
    // D-W   D-S   RA-W  RA-S  EX-W  EX-S
    [IU, AC, AC, AC, IU, AC], // D-W
    [OK, IU, OK, AC, IU, IU], // D-S
    [IU, AC, OK, OK, IU, AC], // RA-W
    [OK, IU, OK, OK, IU, IU], // RA-S
    [IU, AC, AC, AC, IU, AC], // EX-W
    [OK, IU, OK, AC, IU, IU], // EX-S
];

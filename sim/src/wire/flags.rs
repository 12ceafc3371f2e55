//! TCP control flags as a value type.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// A set of the TCP control flags SYN, FIN, RST and ACK (RFC 9293 §3.1). PSH and URG are not
/// part of the set: no rule of twsim depends on them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No flag.
    pub const NONE: TcpFlags = TcpFlags(0);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(1);
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(2);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(4);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(8);

    const NAMES: [(TcpFlags, &'static str); 4] = [
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::ACK, "ACK"),
    ];

    /// The SYN, FIN, RST and ACK bits of a TCP header's flags byte (byte 13: FIN 0x01,
    /// SYN 0x02, RST 0x04, ACK 0x10; RFC 9293 §3.1); the other bits are ignored.
    pub fn from_header_byte(b: u8) -> TcpFlags {
        // Indexed by the byte's bits ACK, (PSH), RST, SYN, FIN (0x1f): read per segment.
        const FLAGS: [u8; 32] = {
            let mut t = [0; 32];
            let mut b = 0;
            while b < 32 {
                t[b] = (((b >> 1) & 1) | ((b & 1) << 1) | (b & 4) | ((b >> 1) & 8)) as u8;
                b += 1;
            }
            t
        };
        TcpFlags(FLAGS[usize::from(b & 0x1f)])
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags with those of `other` cleared.
    pub fn without(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses `"FIN|ACK"` (names joined by `|`, `,` or `+`, any case).
    ///
    /// # Errors
    /// A message naming the unknown part.
    pub fn parse(s: &str) -> Result<TcpFlags, String> {
        let mut f = TcpFlags::NONE;
        for part in s.split(['|', ',', '+']).map(str::trim) {
            let upper = part.to_ascii_uppercase();
            match Self::NAMES.iter().find(|(_, n)| *n == upper) {
                Some((bit, _)) => f |= *bit,
                None => {
                    return Err(format!(
                        "unknown TCP flag {part:?} (use SYN, FIN, RST, ACK joined by |)"
                    ))
                }
            }
        }
        Ok(f)
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

/// `FIN|ACK`, or `none` for the empty set.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut first = true;
        for (bit, name) in Self::NAMES {
            if self.contains(bit) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::TcpFlags;

    #[test]
    fn parse_and_display_round_trip() {
        let f = TcpFlags::parse("fin|ack").unwrap();
        assert_eq!(f, TcpFlags::FIN | TcpFlags::ACK);
        assert_eq!(f.to_string(), "FIN|ACK");
        assert_eq!(TcpFlags::parse("SYN+ACK").unwrap().to_string(), "SYN|ACK");
        assert_eq!(TcpFlags::NONE.to_string(), "none");
        assert!(TcpFlags::parse("PSH").unwrap_err().contains("PSH"));
        assert!(f.contains(TcpFlags::ACK) && !f.contains(TcpFlags::SYN | TcpFlags::ACK));
    }

    #[test]
    fn header_bits_map_to_the_flags() {
        for b in 0..=u8::MAX {
            let mut f = TcpFlags::NONE;
            for (bit, flag) in [
                (0x01, TcpFlags::FIN),
                (0x02, TcpFlags::SYN),
                (0x04, TcpFlags::RST),
                (0x10, TcpFlags::ACK),
            ] {
                if b & bit != 0 {
                    f |= flag;
                }
            }
            assert_eq!(TcpFlags::from_header_byte(b), f, "{b:#04x}");
        }
    }
}

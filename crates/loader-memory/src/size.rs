use crate::{Error, Result};
use std::fmt;

/// A number of bytes that displays itself in binary units (`64.0 MiB`).
///
/// # Example
///
/// ```
/// use loader_memory::ByteSize;
/// assert_eq!(ByteSize(64 * 1024 * 1024).to_string(), "64.0 MiB");
/// assert_eq!(ByteSize(512).to_string(), "512 B");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        write!(f, "{value:.1} {}", UNITS[unit])
    }
}

/// Parses a size such as `64MiB`, `1.5GB`, `512k` or `1048576`.
///
/// Binary suffixes (`KiB`, `MiB`, `GiB`, `TiB`) are powers of 1024; decimal ones (`KB`, `MB`,
/// `GB`, `TB`) powers of 1000; single letters (`k`, `m`, `g`, `t`) are binary, as in most
/// operators' habits (`ulimit`, `docker --memory`). Case does not matter.
///
/// # Errors
///
/// [`Error::InvalidSize`] for an empty, negative, unknown-unit or overflowing size.
///
/// # Example
///
/// ```
/// use loader_memory::parse_byte_size;
/// assert_eq!(parse_byte_size("64MiB").unwrap(), 64 << 20);
/// assert_eq!(parse_byte_size("2GB").unwrap(), 2_000_000_000);
/// assert_eq!(parse_byte_size("512k").unwrap(), 512 << 10);
/// assert!(parse_byte_size("ten").is_err());
/// ```
pub fn parse_byte_size(input: &str) -> Result<u64> {
    let invalid = |reason| Error::InvalidSize {
        input: input.to_owned(),
        reason,
    };
    let text = input.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(invalid("expected a number"));
    }
    let value: f64 = number.parse().map_err(|_| invalid("expected a number"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(invalid(
                "unknown unit (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)",
            ));
        }
    };
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(invalid("too large"));
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_rejects_garbage() {
        assert_eq!(parse_byte_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_byte_size("1.5 GiB").unwrap(), 3 << 29);
        assert_eq!(parse_byte_size("64mib").unwrap(), 64 << 20);
        assert_eq!(parse_byte_size("10MB").unwrap(), 10_000_000);
        for bad in ["", "MiB", "12 parsecs", "-5", "1e999"] {
            assert!(parse_byte_size(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn displays_binary_units() {
        assert_eq!(ByteSize(1536).to_string(), "1.5 KiB");
        assert_eq!(ByteSize(3 << 30).to_string(), "3.0 GiB");
    }
}

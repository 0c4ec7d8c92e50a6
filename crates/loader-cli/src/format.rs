//! Number formatting for people: thousands separators, binary sizes, rates.

use loader_memory::ByteSize;
use std::time::Duration;

/// `1234567` as `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` things, counted: `1 row`, `2,000 rows`.
pub fn counted(n: u64, thing: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} {thing}{s}", count(n))
}

pub fn bytes(n: u64) -> String {
    ByteSize(n).to_string()
}

pub fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

pub fn rate(n: u64, d: Duration) -> String {
    let secs = d.as_secs_f64().max(1e-9);
    count((n as f64 / secs) as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::count(0), "0");
        assert_eq!(super::count(999), "999");
        assert_eq!(super::count(1_000_000), "1,000,000");
    }

    #[test]
    fn one_is_singular_every_other_count_plural() {
        assert_eq!(super::counted(1, "row"), "1 row");
        assert_eq!(super::counted(0, "file"), "0 files");
        assert_eq!(super::counted(1_000, "row"), "1,000 rows");
    }
}

//! Deterministic, seeded generator of realistic CSV data for loader's tests and benchmarks.
//!
//! The data looks like an orders export: ten columns of every type loader infers (integer,
//! real, boolean, date, timestamp, text), with the awkward parts real exports have: quoted
//! fields holding commas, quotes and newlines, empty fields, and UTF-8 text in several
//! scripts. The same seed always gives the same bytes, so a benchmark or a failing test can be
//! reproduced exactly, and ids are consecutive so a test can check every row arrived once.
//!
//! The generator has no dependencies, so `xtask` and the test crate can use it cheaply.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The header of generated files.
pub const HEADER: &str =
    "id,customer,email,amount,quantity,paid,order_date,created_at,country,note";

/// Number of columns of generated files.
pub const COLUMNS: usize = 10;

/// A small, fast, seeded pseudo-random generator (SplitMix64). Not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "Anna", "Björn", "Chloé", "Dmitri", "Émile", "Fatima", "Günther", "Hana", "Ivan", "José",
    "Kenji", "Léa", "Mateus", "Nadia", "Øystein", "Priya", "Quentin", "Rosa", "Søren", "Tomás",
    "Юлия", "王芳", "محمد", "Zoë",
];
const LAST: &[&str] = &[
    "Smith",
    "O'Brien",
    "Müller",
    "García",
    "Nguyen",
    "Kowalski",
    "Rossi",
    "Dubois",
    "Tanaka",
    "Silva",
    "Johansson",
    "Петров",
    "李",
    "van der Berg",
];
const COUNTRIES: &[&str] = &[
    "DE",
    "FR",
    "US",
    "GB",
    "JP",
    "BR",
    "IN",
    "SE",
    "PL",
    "Côte d'Ivoire",
    "España",
    "日本",
];
const NOTES: &[&str] = &[
    "leave at door",
    "call before delivery, please",
    "gift wrap \"premium\"",
    "fragile:\nhandle with care",
    "ring twice; then wait",
    "письмо внутри",
    "配達前に電話してください",
    "a, b, and c",
    "line one\r\nline two",
];

/// Writes `field` as a CSV field, quoting it when it holds a delimiter, quote or line end.
pub fn write_field(out: &mut impl Write, field: &str) -> io::Result<()> {
    if field.contains([',', '"', '\n', '\r']) {
        out.write_all(b"\"")?;
        out.write_all(field.replace('"', "\"\"").as_bytes())?;
        out.write_all(b"\"")
    } else {
        out.write_all(field.as_bytes())
    }
}

/// One generated row, as field texts (empty text is an empty field).
pub fn row(rng: &mut Rng, id: u64) -> [String; COLUMNS] {
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    let customer = if rng.chance(10) {
        format!("{last}, {first}")
    } else if rng.chance(3) {
        format!("{first} \"{}\" {last}", rng.pick(FIRST))
    } else {
        format!("{first} {last}")
    };
    let email = if rng.chance(5) {
        String::new()
    } else {
        format!(
            "user{}@example.{}",
            rng.below(1_000_000),
            rng.pick(&["com", "org", "de"])
        )
    };
    let amount = if rng.chance(4) {
        String::new()
    } else {
        format!("{}.{:02}", rng.below(10_000), rng.below(100))
    };
    let quantity = (1 + rng.below(20)).to_string();
    let paid = rng.pick(&["true", "false"]).to_owned();
    let (year, month, day) = (2015 + rng.below(10), 1 + rng.below(12), 1 + rng.below(28));
    let order_date = format!("{year:04}-{month:02}-{day:02}");
    let created_at = if rng.chance(20) {
        format!(
            "{order_date} {:02}:{:02}:{:02}.{:03}",
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(1000)
        )
    } else {
        format!(
            "{order_date} {:02}:{:02}:{:02}",
            rng.below(24),
            rng.below(60),
            rng.below(60)
        )
    };
    let country = rng.pick(COUNTRIES).to_owned();
    let note = if rng.chance(70) {
        String::new()
    } else {
        rng.pick(NOTES).to_owned()
    };
    [
        id.to_string(),
        customer,
        email,
        amount,
        quantity,
        paid,
        order_date,
        created_at,
        country,
        note,
    ]
}

/// Writes a header and `rows` rows with ids from `first_id`, seeded by `seed`.
/// Returns the bytes written.
///
/// # Errors
///
/// Whatever writing to `out` returns.
///
/// # Example
///
/// ```
/// let mut a = Vec::new();
/// let mut b = Vec::new();
/// loader_gen::write_csv(&mut a, 100, 7, 1).unwrap();
/// loader_gen::write_csv(&mut b, 100, 7, 1).unwrap();
/// assert_eq!(a, b, "same seed, same bytes");
/// assert!(a.starts_with(loader_gen::HEADER.as_bytes()));
/// ```
pub fn write_csv(out: &mut impl Write, rows: u64, seed: u64, first_id: u64) -> io::Result<u64> {
    write_csv_with_ids(out, rows, seed, first_id, |id| id)
}

/// [`write_csv`], with each row's id written as `id_of` maps it.
fn write_csv_with_ids(
    out: &mut impl Write,
    rows: u64,
    seed: u64,
    first_id: u64,
    id_of: impl Fn(u64) -> u64,
) -> io::Result<u64> {
    let mut out = CountingWriter {
        inner: out,
        count: 0,
    };
    out.write_all(HEADER.as_bytes())?;
    out.write_all(b"\n")?;
    let mut rng = Rng::new(seed);
    for id in first_id..first_id + rows {
        for (i, field) in row(&mut rng, id_of(id)).iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write_field(&mut out, field)?;
        }
        out.write_all(b"\n")?;
    }
    Ok(out.count)
}

/// Writes one file of `rows` rows.
///
/// # Errors
///
/// When the file cannot be created or written.
pub fn write_file(path: &Path, rows: u64, seed: u64, first_id: u64) -> io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let bytes = write_csv(&mut out, rows, seed, first_id)?;
    out.flush()?;
    Ok(bytes)
}

/// Writes one file of `rows` rows, ids from 1, like [`write_file`], except that every
/// `every`th row repeats the id of the row before it: a table whose id is unique refuses
/// exactly `rows / every` of them (ids `every`, `2 * every`, ... are missing).
///
/// # Errors
///
/// When the file cannot be created or written.
pub fn write_file_repeating_ids(path: &Path, rows: u64, seed: u64, every: u64) -> io::Result<u64> {
    let every = every.max(2);
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let repeat = |id: u64| if id.is_multiple_of(every) { id - 1 } else { id };
    let bytes = write_csv_with_ids(&mut out, rows, seed, 1, repeat)?;
    out.flush()?;
    Ok(bytes)
}

/// Writes `files` files (`part-000.csv`, ...) into `dir` holding `rows` rows in all, of
/// uneven sizes (each file gets a random share), with ids consecutive across files.
///
/// # Errors
///
/// When a file cannot be created or written.
pub fn write_files(dir: &Path, rows: u64, files: usize, seed: u64) -> io::Result<Vec<PathBuf>> {
    let files = files.max(1);
    let mut rng = Rng::new(seed ^ 0x5EED);
    let weights: Vec<u64> = (0..files).map(|_| 1 + rng.below(10)).collect();
    let total: u64 = weights.iter().sum();
    let mut paths = Vec::with_capacity(files);
    let mut first_id = 1;
    for (i, weight) in weights.iter().enumerate() {
        let share = if i + 1 == files {
            rows + 1 - first_id
        } else {
            rows * weight / total
        };
        let path = dir.join(format!("part-{i:03}.csv"));
        write_file(&path, share, seed.wrapping_add(i as u64), first_id)?;
        first_id += share;
        paths.push(path);
    }
    Ok(paths)
}

struct CountingWriter<'a, W: Write> {
    inner: &'a mut W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_hold_consecutive_ids_in_uneven_parts() {
        let dir = std::env::temp_dir().join(format!("loader-gen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let paths = write_files(&dir, 1000, 3, 42).unwrap();
        let sizes: Vec<u64> = paths
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .collect();
        assert_eq!(paths.len(), 3);
        assert!(sizes.windows(2).any(|w| w[0] != w[1]));
        let text: String = paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert!(
            text.contains('\u{201c}') || text.contains("\"\""),
            "quotes appear"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! A fuzz target for the reader and the inference, as a property test over arbitrary bytes:
//! whatever the input, sampling and reading end in batches or a typed error, never a panic.
//! CI runs a few hundred cases; `cargo xtask fuzz --seconds N` runs it for N seconds
//! (`LOADER_FUZZ_SECONDS`) in a release build and prints the figures.

use crate::{BatchReader, CsvOptions, Error, sample_file};
use loader_memory::MemoryBudget;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes that exercise CSV's corners more often than uniform bytes would.
fn csv_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop_oneof![
        4 => prop::sample::select(b",;\t|\"\\\r\n#".to_vec()),
        3 => prop::sample::select(b"0123456789-.+eE".to_vec()),
        2 => prop::sample::select(b"abcxyzTZ: ()$".to_vec()),
        // NUL, gzip's and zstd's magic, a BOM, bytes of `é` and of `€`.
        1 => prop::sample::select(vec![0u8, 0x1f, 0x8b, 0x28, 0xb5, 0x2f, 0xfd, 0xef, 0xbb, 0xbf, 0xff, 0xc3, 0xa9, 0xe2, 0x82, 0xac]),
        1 => any::<u8>(),
    ];
    prop::collection::vec(interesting, 0..1500)
}

/// Well-formed CSV of typed-looking fields, then a few bytes overwritten at random: reaches
/// inference, typing and batching, not just the first ragged row.
fn structured_bytes() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        Just(String::new()),
        (-99_999i64..99_999).prop_map(|n| n.to_string()),
        (-999.0f64..999.0).prop_map(|f| format!("{f:.3}")),
        Just("true".to_owned()),
        Just("NA".to_owned()),
        // Amounts in euros, negative in parentheses, as `--currency €` reads them.
        (0u32..99_999, any::<bool>()).prop_map(|(n, negative)| if negative {
            format!("({n} €)")
        } else {
            format!("€{n}")
        }),
        (1990u32..2030, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        (1u32..29, 0u32..24).prop_map(|(d, h)| format!("2024-01-{d:02}T{h:02}:00:00Z")),
        "[a-z ,\"\n]{0,8}".prop_map(|t| format!("\"{}\"", t.replace('"', "\"\""))),
    ];
    (1usize..6)
        .prop_flat_map(move |width| {
            prop::collection::vec(prop::collection::vec(field.clone(), width), 0..80)
        })
        .prop_flat_map(|rows| {
            let mut text = String::new();
            for row in rows {
                text.push_str(&row.join(","));
                text.push('\n');
            }
            let len = text.len().max(1);
            (
                Just(text.into_bytes()),
                prop::collection::vec((0..len, any::<u8>()), 0..4),
            )
        })
        .prop_map(|(mut bytes, edits)| {
            for (at, byte) in edits {
                if at < bytes.len() {
                    bytes[at] = byte;
                }
            }
            bytes
        })
}

fn options() -> impl Strategy<Value = CsvOptions> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop::sample::select(b",;\t|".to_vec())),
        1usize..50,
        (0u8..3, any::<bool>(), 16usize..4096),
        (any::<bool>(), any::<bool>(), any::<bool>(), 0u64..3),
    )
        .prop_map(
            |(
                headers,
                backslash,
                delimiter,
                rows,
                (policy, nul, row_bytes),
                (comma, dates, currency, footer),
            )| {
                let policy = match policy {
                    0 => crate::BadRowPolicy::fail(),
                    1 => crate::BadRowPolicy::skip(),
                    _ => crate::BadRowPolicy::skip().max_errors(3),
                };
                let options = CsvOptions::default()
                    .has_headers(headers)
                    .backslash_escape(backslash)
                    .null_markers(["NA"])
                    .batch_rows(rows)
                    .batch_bytes(1 << 10)
                    .bad_rows(policy)
                    .allow_nul(nul)
                    .max_row_bytes(row_bytes)
                    // Fields rewritten as written otherwise: decimal commas, amounts in
                    // euros, local dates.
                    .decimal_comma(comma)
                    .currency(currency.then(|| crate::Currency::new("€").expect("a sign")))
                    .date_format(dates.then(|| "%d.%m.%Y".to_owned()))
                    .timestamp_format(dates.then(|| "%d.%m.%Y %H:%M".to_owned()))
                    // Lines held back as a footer: what is read is never what is dropped.
                    .skip_footer(footer);
                match delimiter {
                    Some(d) => options.delimiter(d),
                    None => options,
                }
            },
        )
}

/// What one input came to.
fn exercise(path: &std::path::Path, bytes: &[u8], options: &CsvOptions) -> String {
    std::fs::write(path, bytes).expect("scratch file writable");
    let sample = match sample_file(path, options) {
        Ok(sample) => sample,
        Err(e) => return kind(&e),
    };
    let options = options.clone().delimiter(sample.delimiter);
    let budget = MemoryBudget::new(2 << 20);
    let reader = match BatchReader::open(
        path,
        &options,
        Arc::new(sample.schema),
        sample.mean_field_bytes,
        budget.clone(),
        None,
    ) {
        Ok(reader) => reader,
        Err(e) => return kind(&e),
    };
    // A file whose lines end in bare CRs is read with them as LFs, its rejects' text too.
    let mut text = bytes.to_vec();
    if crate::input::cr_line_ends(bytes) {
        crate::input::cr_to_lf(&mut text);
    }
    let (mut rows, mut rejects) = (0, 0);
    for batch in reader {
        match batch {
            Ok(b) => {
                rows += b.batch.len();
                rejects += b.batch.rejects().len();
                for reject in b.batch.rejects() {
                    // The raw text is the input's bytes at the reject's offset.
                    let at = usize::try_from(reject.byte).expect("small input");
                    assert_eq!(text.get(at..at + reject.raw.len()), Some(&reject.raw[..]));
                    assert!(b.batch.byte_range(0..b.batch.len()).contains(&reject.byte));
                }
            }
            Err(e) => return kind(&e),
        }
    }
    assert_eq!(budget.reserved(), 0, "every reservation is released");
    match (rows, rejects) {
        (0, 0) => "no rows".into(),
        (_, 0) => "rows".into(),
        _ => "rows and rejects".into(),
    }
}

fn kind(error: &Error) -> String {
    let text = format!("{error:?}");
    text.split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Runs the target for `duration` (at least `min_cases` cases) and returns outcome counts.
pub fn run(duration: Duration, min_cases: u32) -> BTreeMap<String, u64> {
    let dir = std::env::temp_dir().join(format!("loader-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("input.csv");
    let outcomes = std::cell::RefCell::new(BTreeMap::new());
    let started = Instant::now();
    let mut cases = 0u32;
    let inputs = prop_oneof![csv_like_bytes(), structured_bytes()];
    while cases < min_cases || started.elapsed() < duration {
        // A runner stops after its case count: a fresh one (fresh seed) per round.
        let mut runner = TestRunner::new(Config {
            cases: 64,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&(inputs.clone(), options()), |(bytes, options)| {
            let outcome = exercise(&path, &bytes, &options);
            *outcomes.borrow_mut().entry(outcome).or_insert(0u64) += 1;
            Ok(())
        });
        if let Err(failure) = result {
            panic!("fuzz failure: {failure}");
        }
        cases += 64;
    }
    let _ = std::fs::remove_dir_all(&dir);
    outcomes.into_inner()
}

#[cfg(test)]
mod tests {
    #[test]
    fn fuzz_reader_and_inference_never_panic() {
        let seconds: u64 = std::env::var("LOADER_FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let started = std::time::Instant::now();
        let outcomes = super::run(std::time::Duration::from_secs(seconds), 512);
        let total: u64 = outcomes.values().sum();
        #[allow(clippy::print_stdout)]
        {
            println!(
                "fuzz: {total} inputs in {:.0?}, no panic; outcomes {outcomes:?}",
                started.elapsed()
            );
        }
        assert!(total >= 512);
    }
}

use crate::{Error, LoadSettings, Result};
use loader_batch::{ColumnType, POSTGRES_NAME_BYTES};
use loader_file::{BatchReader, CsvOptions, FileSample, Parallelism, discover, sample_file};
use loader_memory::{EffectiveLimit, MemoryProbe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod columns;

/// Batches of one file that can be alive at once: one being filled by the reader, one
/// queued between reader and writer, one being written.
pub(crate) const BATCHES_IN_FLIGHT: u64 = 3;
/// Most threads chosen by default to read one file: past it the reading outruns any sink.
const MAX_READ_THREADS: usize = 8;

/// The smallest batch the planner cuts, whatever the budget: below this, per-batch costs
/// dominate and the budget is better met by waiting.
const MIN_BATCH_BYTES: usize = 64 << 10;

/// What a file is expected to need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Heap of one batch at its largest.
    pub batch_heap: u64,
    /// Batches alive at once.
    pub batches_in_flight: u64,
    /// The file's expected peak: its read buffer and decoder plus its batches in flight.
    pub peak: u64,
}

/// One file of a plan.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// The file.
    pub path: PathBuf,
    /// Its size on disk.
    pub size: u64,
    /// The table it goes to.
    pub table: String,
    /// What its sample said (columns, types, row width).
    pub sample: FileSample,
    /// Reading options, with batch bytes cut to the budget.
    pub csv: CsvOptions,
    /// Expected memory.
    pub estimate: MemoryEstimate,
    /// Threads that may read the file in parts (see [`loader_file::ParallelReader`] and
    /// [`LoadSettings::read_threads`]). Parts ahead of the one being written take memory
    /// only while the budget has as much again to spare, so the estimate is that of one
    /// reader.
    pub parallelism: Parallelism,
    /// For an upsert, the indices of the key's columns in `sample.schema` (see
    /// [`LoadTarget::upsert_key`](loader_batch::LoadTarget::upsert_key)).
    pub upsert_key: Option<Arc<[usize]>>,
}

impl PlannedFile {
    /// What the sample says the operator may have meant otherwise: the file's header line
    /// reads as a row (see [`FileSample::header_like_data`]), so it was taken as the header
    /// and its values are in no table; a sampled line is not UTF-8 (see
    /// [`FileSample::not_utf8_line`]), so the file is likely in another encoding.
    pub fn sample_notes(&self) -> Vec<String> {
        [self.title_note(), self.header_note(), self.encoding_note()]
            .into_iter()
            .flatten()
            .chain(self.written_notes())
            .collect()
    }

    /// The first of [`sample_notes`](Self::sample_notes): lines above the table (see
    /// [`FileSample::title_lines`]).
    pub fn title_note(&self) -> Option<String> {
        self.sample.title_lines.map(|lines| {
            let these = if lines == 1 {
                "the first line does".to_owned()
            } else {
                format!("the first {lines} lines do")
            };
            format!(
                "{these} not look like the table below (a title?): --skip-lines {lines} passes \
                 over {}",
                if lines == 1 { "it" } else { "them" }
            )
        })
    }

    /// The first of [`sample_notes`](Self::sample_notes): the header line reads as a row.
    pub fn header_note(&self) -> Option<String> {
        self.sample.header_like_data.then(|| {
            format!(
                "the first line ({}) reads as a row, not as column names: it was taken as the \
                 header and is not loaded; --no-header loads it as a row",
                self.sample.headers.join(",")
            )
        })
    }

    /// The second of [`sample_notes`](Self::sample_notes): a sampled line is not UTF-8.
    pub fn encoding_note(&self) -> Option<String> {
        self.sample.not_utf8_line.map(|line| {
            format!(
                "line {line} is not UTF-8: if the file is Windows-1252 (Excel on Windows) or \
                 Latin-1, --encoding windows-1252 or --encoding latin1 reads it"
            )
        })
    }

    /// The last of [`sample_notes`](Self::sample_notes): text columns whose values read as
    /// numbers or dates under an option the load was not given (see
    /// [`FileSample::written_hints`]), and, in a file that has decimal commas, real columns
    /// whose points the flag reads as thousands.
    pub fn written_notes(&self) -> Vec<String> {
        // Hints count the file's columns; headers leave the skipped ones out.
        let skipped = &self.sample.skipped;
        let hints: Vec<_> = self
            .sample
            .written_hints
            .iter()
            .filter(|h| !skipped.iter().any(|(number, _)| *number == h.column + 1))
            .collect();
        let name = |column: usize| {
            let before = skipped
                .iter()
                .filter(|(number, _)| *number <= column)
                .count();
            self.sample
                .headers
                .get(column - before)
                .map_or("", String::as_str)
        };
        let commas = hints
            .iter()
            .find(|h| h.ty == ColumnType::Text && h.options.iter().any(|o| o == "--decimal-comma"));
        let skips = skipped.iter().map(|(number, name)| {
            format!("column {number} ({name:?}) is not loaded (--skip-column)")
        });
        skips
            .chain(hints.iter().filter_map(|hint| {
                if hint.ty != ColumnType::Text {
                    // Only worth saying where the flag is likely: `1.000` is one as well.
                    let commas = commas?;
                    return Some(format!(
                        "column {:?} is real as written, but with --decimal-comma, which column \
                         {:?} needs, {:?} is {}: its points group thousands",
                        name(hint.column),
                        name(commas.column),
                        hint.example,
                        hint.example.replace('.', "").replace(',', ".")
                    ));
                }
                let number = |o: &String| {
                    o == "--decimal-comma"
                        || o.starts_with("--thousands")
                        || o.starts_with("--currency")
                };
                let what = if hint.options.iter().all(number) {
                    "numbers"
                } else if hint.options.iter().any(|o| o.starts_with("--timestamp")) {
                    "timestamps"
                } else {
                    "dates"
                };
                let (first, others) = match hint.options.split_first() {
                    Some((first, [])) => (first.as_str(), String::new()),
                    Some((first, others)) => (
                        first.as_str(),
                        format!(
                            " (or {}: the file's other values tell which)",
                            others.join(", or ")
                        ),
                    ),
                    None => return None,
                };
                Some(format!(
                    "column {:?} is text as written, but values such as {:?} read as {what} \
                     with {first}{others}",
                    name(hint.column),
                    hint.example,
                ))
            }))
            .collect()
    }
}

/// A file with nothing in it to load: no header and no rows (see
/// [`FileState::Empty`](crate::FileState::Empty)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptyFile {
    /// The file.
    pub path: PathBuf,
    /// Its size on disk (a blank line, or a compressed file of nothing, is not 0 bytes).
    pub size: u64,
    /// The table it would have gone to.
    pub table: String,
}

/// A file the plan could not sample (a truncated gzip stream, malformed CSV or a header past
/// the row limit in its head, a file that cannot be read): it fails alone, with its error,
/// and the other files load (see [`FileState::Failed`](crate::FileState::Failed)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadFile {
    /// The file.
    pub path: PathBuf,
    /// Its size on disk.
    pub size: u64,
    /// The table it would have gone to.
    pub table: String,
    /// Why it could not be sampled, naming the file (and line, where there is one).
    pub error: String,
    /// The flags that would get past it, when some would.
    pub remedy: Option<String>,
}

/// Files in load order with their estimates, and the memory figures they were planned for.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Files in the order they will start.
    pub files: Vec<PlannedFile>,
    /// Files found with nothing to load, in the order found: reported, never loaded. One
    /// empty export in a directory does not stop the others.
    pub empty_files: Vec<EmptyFile>,
    /// Files that could not be sampled, in the order found: reported failed, never loaded.
    /// One truncated download in a directory does not stop the others.
    pub unread_files: Vec<UnreadFile>,
    /// The effective memory limit when planned.
    pub limit: EffectiveLimit,
    /// Bytes of the row budget.
    pub budget: u64,
    /// The least budget any file can be read within (its read buffers, its decoder, one
    /// smallest batch): pressure reactions never cut the budget below it, or every reader
    /// would wait for room that never comes.
    pub least_budget: u64,
    /// Files loaded at once.
    pub workers: usize,
    /// Sub-batches of one file written at once (see [`LoadSettings::streams`]).
    pub streams_per_file: usize,
    /// The settings planned with.
    pub settings: LoadSettings,
}

/// The table a file loads into by default: its name without directory and without the
/// data and compression extensions (`2024/orders.csv.gz` gives `orders`).
///
/// A name longer than the 63 bytes PostgreSQL keeps is cut and ends in a tag of the whole
/// name: the server would cut it anyway, and two exports alike in their first 63 bytes
/// (`..._2024-01-31.csv`, `..._2024-02-29.csv`) must not land in one table, nor in two
/// tables in SQLite and one in PostgreSQL. The tag depends on the name alone, so every run
/// of the same file finds the same table.
///
/// # Example
///
/// ```
/// use loader_strategy::table_name_for;
/// assert_eq!(table_name_for("data/orders.csv.gz".as_ref()), "orders");
/// assert_eq!(table_name_for("my.data.tsv".as_ref()), "my.data");
/// let long = format!("{}_january.csv", "x".repeat(60));
/// assert_eq!(table_name_for(long.as_ref()).len(), 63);
/// ```
pub fn table_name_for(path: &Path) -> String {
    let mut name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for extensions in [COMPRESSED_EXTENSIONS, &[".csv", ".tsv", ".txt"]] {
        let lower = name.to_ascii_lowercase();
        if let Some(ext) = extensions.iter().find(|e| lower.ends_with(*e)) {
            name.truncate(name.len() - ext.len());
        }
    }
    if name.is_empty() {
        "data".to_owned()
    } else if name.len() > POSTGRES_NAME_BYTES {
        let tag = format!("_{:08x}", name_tag(name.as_bytes()));
        let end = name.floor_char_boundary(POSTGRES_NAME_BYTES - tag.len());
        format!("{}{tag}", &name[..end])
    } else {
        name
    }
}

/// Extensions of compressed files, which a table name leaves out with the data extension.
pub(crate) const COMPRESSED_EXTENSIONS: &[&str] = &[".gz", ".zst", ".zstd"];

/// 32 bits of FNV-1a over `bytes`: fixed by its definition, so a name's tag never changes
/// between builds or versions, as a table a ledger refers to must not.
fn name_tag(bytes: &[u8]) -> u32 {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (hash ^ (hash >> 32)) as u32
}

pub(crate) fn make_plan(
    inputs: &[PathBuf],
    settings: &LoadSettings,
    probe: &dyn MemoryProbe,
) -> Result<LoadPlan> {
    if let Some(problem) = crate::upsert_key_problem(settings.mode, &settings.upsert_key) {
        return Err(Error::UpsertKey(problem));
    }
    let reading = probe.read()?;
    let limit = reading.effective_limit(settings.memory_limit);
    let budget = budget_for(&limit, settings.budget_share);
    let table_for = |path: &Path| match &settings.table {
        Some(table) => table.clone(),
        // `Sales Report 2024.csv` goes to `sales_report_2024`, as its columns are named.
        None if settings.csv.get_snake_case_names() => {
            match loader_batch::snake_case(&table_name_for(path)) {
                snake if snake.is_empty() => "data".to_owned(),
                snake => snake,
            }
        }
        None => table_name_for(path),
    };
    // Every file is sampled first: the ones with nothing in them take no worker and no
    // share of the budget.
    let mut sampled = Vec::new();
    let mut empty_files = Vec::new();
    let mut unread_files = Vec::new();
    // The sample holds no row longer than the reader would: a quote that never closes
    // makes the rest of a file one row, and the plan would hold all of it.
    let row_limit = BatchReader::row_limit(&settings.csv, budget);
    let sampling = settings
        .csv
        .clone()
        .max_row_bytes(usize::try_from(row_limit).unwrap_or(usize::MAX));
    for input in discover(inputs, settings.order)? {
        // A zstd file's decoder holds its window (up to 2 GiB, written with `zstd
        // --long=31`) from the first byte read, the sample's too: a window past the
        // standard levels' that the budget cannot hold stops the plan before the sample
        // allocates it. (With room for a smallest batch or so; `least_to_read` checks every
        // file's own need once sampled.)
        let decoder = loader_file::decoder_bytes(&input.path)?;
        let reading = BatchReader::BUFFER_BYTES + decoder + 4 * MIN_BATCH_BYTES as u64;
        if decoder > loader_file::Compression::Zstd.decoder_bytes() && reading > budget {
            return Err(budget_too_small(
                &limit,
                budget,
                settings.budget_share,
                &input.path,
                reading,
            ));
        }
        match sample_file(&input.path, &sampling) {
            Err(loader_file::Error::Empty { .. }) => empty_files.push(EmptyFile {
                table: table_for(&input.path),
                path: input.path,
                size: input.size,
            }),
            // A replace would empty the file's table and fill it from the other files
            // only: the run stops before any table is emptied, as it always did.
            Err(error) if settings.mode == crate::LoadMode::Replace => return Err(error.into()),
            Err(error) => {
                let error = Error::File(error);
                unread_files.push(UnreadFile {
                    table: table_for(&input.path),
                    path: input.path,
                    size: input.size,
                    remedy: crate::remedy::remedy(&error),
                    error: error.to_string(),
                });
            }
            Ok(sample) => sampled.push((input, sample)),
        }
    }
    let workers = settings.workers.clamp(1, sampled.len().max(1));
    let per_worker = budget / workers as u64;
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let read_threads = settings.read_threads.unwrap_or_else(|| {
        (cpus / workers)
            .saturating_sub(settings.sink_cpus)
            .clamp(1, MAX_READ_THREADS)
    });
    let per_batch = per_worker.saturating_sub(BatchReader::BUFFER_BYTES) / BATCHES_IN_FLIGHT;
    let mut files = Vec::with_capacity(sampled.len());
    let mut asked = columns::NamesAsked::new(settings);
    for (index, (input, mut sample)) in sampled.into_iter().enumerate() {
        // Columns the user gave no type for: a later value their inferred type would not
        // store as written is a bad row, not a silent change.
        let (inferred, skipped) = asked.apply(&input.path, &mut sample)?;
        let upsert_key = asked.upsert_key(&input.path, &sample)?;
        let columns = sample.schema.len();
        let batch_bytes =
            batch_bytes_for(&settings.csv, columns, sample.mean_field_bytes, per_batch);
        // Files start in this order. The first one on each worker ramps its batches up, as
        // the writer waits for it; a later one starts while other workers' files keep the
        // writer busy, and full batches from the start spare it small transactions. One
        // worker leaves the writer idle at every file, so there every file ramps.
        let ramp_up = workers == 1 || index < workers;
        let csv = settings
            .csv
            .clone()
            .delimiter(sample.delimiter)
            .batch_bytes(batch_bytes)
            .ramp_up(ramp_up && settings.csv.get_ramp_up())
            .inferred_columns(inferred)
            .skipped_columns(skipped)
            .decoded_size(sample.decoded_size);
        let batch_heap = largest_batch_heap(&csv, &sample);
        let in_flight = batches_in_flight(&sample, &csv);
        let decoder = sample.decoder_bytes;
        let table = table_for(&input.path);
        files.push(PlannedFile {
            path: input.path,
            size: input.size,
            table,
            sample,
            csv,
            estimate: MemoryEstimate {
                batch_heap,
                batches_in_flight: in_flight,
                peak: BatchReader::BUFFER_BYTES + decoder + in_flight * batch_heap,
            },
            parallelism: Parallelism::new(read_threads)
                .min_file_bytes(settings.parallel_min_file_bytes),
            upsert_key,
        });
    }
    asked.check()?;
    unify_table_types(&mut files);
    // Each file being read holds its least at all times: the budget must hold that for every
    // worker, or readers wait on each other for ever; fewer workers when it cannot.
    let least = least_to_read(&files, &limit, budget, settings.budget_share)?;
    let fitting = usize::try_from(budget / least.max(1)).unwrap_or(usize::MAX);
    if fitting < workers {
        tracing::warn!(
            workers,
            fitting,
            budget,
            "the row budget holds {fitting} files being read at once, not {workers}: \
             {fitting} workers"
        );
    }
    let workers = workers.min(fitting.max(1));
    let least_budget = least * workers as u64;
    let streams_per_file = settings.streams.for_load(settings.workers, files.len());
    Ok(LoadPlan {
        files,
        empty_files,
        unread_files,
        limit,
        budget,
        least_budget,
        workers,
        streams_per_file,
        settings: settings.clone(),
    })
}

/// The least budget any one file can be read within (its read buffers, its decoder, one
/// smallest batch), that of the file needing the most; fails the plan when the row budget
/// cannot hold it, as that file would fail at its first reservation. The error names the
/// limit that would do.
fn least_to_read(
    files: &[PlannedFile],
    limit: &EffectiveLimit,
    budget: u64,
    share: f64,
) -> Result<u64> {
    let least = |file: &PlannedFile| {
        let smallest = file.csv.clone().batch_bytes(MIN_BATCH_BYTES);
        let heap = largest_batch_heap(&smallest, &file.sample);
        BatchReader::BUFFER_BYTES + file.sample.decoder_bytes + heap
    };
    let Some((needed, file)) = files.iter().map(|f| (least(f), f)).max_by_key(|(n, _)| *n) else {
        return Ok(0);
    };
    if budget >= needed {
        return Ok(needed);
    }
    Err(budget_too_small(limit, budget, share, &file.path, needed))
}

/// The error for a file that needs `needed` bytes of a row budget of `budget`: it names the
/// smallest limit, in whole MiB, whose budget holds it with the same usage.
fn budget_too_small(
    limit: &EffectiveLimit,
    budget: u64,
    share: f64,
    path: &Path,
    needed: u64,
) -> Error {
    let mut enough = EffectiveLimit {
        bytes: limit.bytes.div_ceil(1 << 20) << 20,
        ..*limit
    };
    while budget_for(&enough, share) < needed {
        enough.bytes += 1 << 20;
    }
    Error::BudgetTooSmall {
        limit: limit.bytes,
        limit_source: limit.source.as_str(),
        used: limit.used,
        budget,
        path: path.display().to_string(),
        needed,
        enough: enough.bytes,
    }
}

/// Gives the files loaded into one table the same column types: for each column, the
/// narrowest type that takes the values of every file whose sample had rows. Before, each
/// file created the table with its own types if it got there first, so a header-only file
/// (every column text, for want of values) or a file of whole numbers among files of
/// decimals decided the table's types by a race between workers. Files whose columns are
/// named differently keep their own types; the sink reports the mismatch.
fn unify_table_types(files: &mut [PlannedFile]) {
    let names = |file: &PlannedFile| -> Vec<String> {
        file.sample
            .schema
            .columns()
            .iter()
            .map(|c| c.name.clone())
            .collect()
    };
    let mut unified: std::collections::HashMap<(String, Vec<String>), Vec<ColumnType>> =
        std::collections::HashMap::new();
    for file in files.iter().filter(|f| f.sample.rows_sampled > 0) {
        let types: Vec<ColumnType> = file.sample.schema.columns().iter().map(|c| c.ty).collect();
        unified
            .entry((file.table.clone(), names(file)))
            .and_modify(|known| {
                for (known, ty) in known.iter_mut().zip(&types) {
                    *known = wider(*known, *ty);
                }
            })
            .or_insert(types);
    }
    for file in files.iter_mut() {
        if let Some(types) = unified.get(&(file.table.clone(), names(file))) {
            for (column, ty) in names(file).iter().zip(types) {
                file.sample.schema.set_type(column, *ty);
            }
        }
    }
}

/// The narrowest type that takes every value of both: whole numbers are reals and dates are
/// timestamps (at midnight); any other pair only meets in text.
fn wider(a: ColumnType, b: ColumnType) -> ColumnType {
    use ColumnType::{Date, Integer, Real, Text, Timestamp};
    match (a, b) {
        _ if a == b => a,
        (Integer, Real) | (Real, Integer) => Real,
        (Date, Timestamp) | (Timestamp, Date) => Timestamp,
        _ => Text,
    }
}

/// Memory the run needs outside the row budget once it is going: the database engine's page
/// and statement caches, the async runtime and the allocator's arenas. Plan-time usage
/// does not include it yet, so it is set aside before the budget is taken.
const ENGINE_ALLOWANCE: u64 = 8 << 20;

/// The row budget: a share of the room left under the limit, not of the whole limit. What
/// the process (or its cgroup) already uses, and the engine allowance (at most a quarter of
/// the limit), are not available for rows; counting them would let a tight limit be overrun
/// and the process killed. Never less than a share of a tenth of the limit, so a busy machine
/// still gets a budget that can hold a batch, and pressure reactions take it from there.
fn budget_for(limit: &EffectiveLimit, share: f64) -> u64 {
    let share = share.clamp(0.01, 1.0);
    let allowance = ENGINE_ALLOWANCE.min(limit.bytes / 4);
    let room = limit
        .bytes
        .saturating_sub(limit.used)
        .saturating_sub(allowance)
        .max(limit.bytes / 10);
    (room as f64 * share) as u64
}

/// Heap bytes of the largest batch a reader with `csv` makes of the sampled file: a batch
/// at the byte limit, or a row wider than that, which makes a batch of its own as wide.
fn largest_batch_heap(csv: &CsvOptions, sample: &FileSample) -> u64 {
    let columns = sample.schema.len();
    let widest = usize::try_from(sample.widest_field_bytes).unwrap_or(usize::MAX);
    BatchReader::batch_heap(csv, columns, sample.mean_field_bytes, csv_bytes(sample))
        .max(loader_batch::RowBatch::heap_size_for(columns, 1, widest) as u64)
}

/// Bytes of CSV a file holds: its size, times the sampled compression ratio when compressed.
fn csv_bytes(sample: &FileSample) -> u64 {
    sample
        .decoded_size
        .unwrap_or((sample.file_size as f64 * sample.compression_ratio.max(1.0)) as u64)
}

/// Batches of a file alive at once: three at most, and no more than the file will produce.
/// When the sample read the whole file the count is exact; otherwise it comes from the size
/// and the sampled row width, with one batch to spare for the sample's error.
fn batches_in_flight(sample: &FileSample, csv: &CsvOptions) -> u64 {
    let rows = sample.estimated_rows().max(1) as f64;
    let by_rows = rows / csv.get_batch_rows() as f64;
    let by_bytes = rows * sample.mean_field_bytes / csv.get_batch_bytes() as f64;
    let batches = by_rows.max(by_bytes).ceil().max(1.0) as u64;
    let margin = u64::from(!sample.whole_file);
    (batches + margin).min(BATCHES_IN_FLIGHT)
}

/// The largest batch byte limit, up to the one asked for, whose batch heap (field bytes plus
/// per-row offsets and positions) fits in `heap`.
fn batch_bytes_for(csv: &CsvOptions, columns: usize, mean_field_bytes: f64, heap: u64) -> usize {
    let mut bytes = csv.get_batch_bytes();
    loop {
        let options = csv.clone().batch_bytes(bytes);
        let needed = BatchReader::batch_heap(&options, columns, mean_field_bytes, u64::MAX);
        if needed <= heap || bytes <= MIN_BATCH_BYTES {
            return bytes.max(MIN_BATCH_BYTES);
        }
        // Shrink in proportion, a little more to converge quickly.
        bytes = ((bytes as f64) * (heap as f64 / needed as f64) * 0.95) as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loader_memory::{FixedProbe, MemoryReading};

    #[test]
    fn budget_is_a_share_of_the_room_left() {
        let limit = |bytes: u64, used: u64| EffectiveLimit {
            bytes,
            used,
            source: loader_memory::LimitSource::Cgroup,
        };
        // (100 - 20 used - 8 allowance) / 2
        assert_eq!(budget_for(&limit(100 << 20, 20 << 20), 0.5), 36 << 20);
        assert_eq!(
            budget_for(&limit(100 << 20, 99 << 20), 0.5),
            5 << 20,
            "floor of a tenth"
        );
        assert_eq!(
            budget_for(&limit(100 << 20, 0), 2.0),
            92 << 20,
            "share capped at 1"
        );
        assert_eq!(
            budget_for(&limit(16 << 20, 0), 1.0),
            12 << 20,
            "allowance at most a quarter"
        );
    }

    #[test]
    fn long_file_names_give_tables_postgresql_keeps_apart() {
        let stem = "monthly_settlement_report_for_all_regions_and_all_currencies_";
        let january = table_name_for(format!("in/{stem}2024_01.csv").as_ref());
        let february = table_name_for(format!("in/{stem}2024_02.csv.gz").as_ref());
        assert_ne!(january, february);
        for name in [&january, &february] {
            assert_eq!(name.len(), POSTGRES_NAME_BYTES, "{name}");
            assert!(name.starts_with(&stem[..50]), "{name}");
        }
        // The same name always gives the same table, whatever directory or compression.
        assert_eq!(
            january,
            table_name_for(format!("elsewhere/{stem}2024_01.csv.zst").as_ref())
        );
        // FNV-1a of the name (checked against a Python rendering of the definition), fixed: a
        // table a ledger names must not move between versions.
        assert_eq!(
            january,
            "monthly_settlement_report_for_all_regions_and_all_curr_40fee7dd"
        );
        // Cut at a character boundary, never inside one.
        let accented = table_name_for(format!("{}.csv", "é".repeat(40)).as_ref());
        assert!(accented.len() <= POSTGRES_NAME_BYTES, "{accented}");
        let exactly = "t".repeat(POSTGRES_NAME_BYTES);
        assert_eq!(table_name_for(format!("{exactly}.csv").as_ref()), exactly);
    }
    pub(super) fn probe() -> FixedProbe {
        FixedProbe(MemoryReading {
            total: 16 << 30,
            available: 8 << 30,
            process_rss: 1 << 20,
            cgroup: None,
            psi: None,
        })
    }

    #[test]
    fn files_of_one_table_get_the_types_that_take_all_their_values() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("a.csv", "id,amount,day,flag\n"),
            ("b.csv", "id,amount,day,flag\n1,2,2024-01-01,true\n"),
            ("c.csv", "id,amount,day,flag\n2,2.5,2024-01-02 10:00:00,7\n"),
            ("d.csv", "other\nx\n"),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let settings = LoadSettings {
            table: Some("t".into()),
            ..LoadSettings::default()
        };
        let plan = make_plan(&[dir.path().to_path_buf()], &settings, &probe()).unwrap();
        let types = |name: &str| -> Vec<ColumnType> {
            let file = plan.files.iter().find(|f| f.path.ends_with(name)).unwrap();
            file.sample.schema.columns().iter().map(|c| c.ty).collect()
        };
        use ColumnType::{Integer, Real, Text, Timestamp};
        // The header-only file takes the types of the files with values.
        for name in ["a.csv", "b.csv", "c.csv"] {
            assert_eq!(types(name), [Integer, Real, Timestamp, Text], "{name}");
        }
        assert_eq!(types("d.csv"), [Text], "other columns: its own");
    }

    #[test]
    fn batches_are_cut_to_fit_the_budget_per_worker() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("id,name,amount\n");
        for i in 0..20_000 {
            text.push_str(&format!("{i},name number {i},{}.25\n", i * 3));
        }
        std::fs::write(dir.path().join("a.csv"), &text).unwrap();
        std::fs::write(dir.path().join("b.csv"), &text[..text.len() / 2]).unwrap();
        let probe = probe();
        let settings = LoadSettings {
            workers: 2,
            memory_limit: Some(8 << 20),
            ..LoadSettings::default()
        };
        let plan = make_plan(&[dir.path().to_path_buf()], &settings, &probe).unwrap();
        // Half of the room left: an 8 MiB explicit limit, 1 MiB already resident, 2 MiB set
        // aside for the engine (a quarter of the limit).
        assert_eq!(plan.budget, (5 << 20) / 2);
        assert_eq!(plan.limit.source, loader_memory::LimitSource::Explicit);
        assert_eq!(plan.files[0].table, "a", "largest first");
        let peaks: u64 = plan.files.iter().map(|f| f.estimate.peak).sum();
        assert!(
            peaks <= plan.budget,
            "two workers' peaks {peaks} fit the budget {}",
            plan.budget
        );
        assert!(plan.files[0].csv.get_batch_bytes() < (8 << 20));
    }

    /// A zstd file written with `--long` declares a window its decoder holds from its first
    /// byte: the plan counts it, and refuses a budget that cannot hold it before sampling.
    #[test]
    fn a_zstd_files_long_window_is_counted_and_refused_before_it_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..5_000).map(|i| format!("{i},name {i}\n")).collect();
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
        encoder.long_distance_matching(true).unwrap();
        encoder.window_log(27).unwrap();
        std::io::Write::write_all(&mut encoder, format!("id,name\n{text}").as_bytes()).unwrap();
        std::fs::write(dir.path().join("a.csv.zst"), encoder.finish().unwrap()).unwrap();
        let plan_under = |limit: u64| {
            let settings = LoadSettings {
                memory_limit: Some(limit),
                ..LoadSettings::default()
            };
            make_plan(&[dir.path().to_path_buf()], &settings, &probe())
        };
        let error = plan_under(64 << 20).unwrap_err();
        let Error::BudgetTooSmall { needed, enough, .. } = &error else {
            panic!("{error}");
        };
        assert!(*needed > 128 << 20, "{error}");
        let plan = plan_under(*enough).unwrap();
        assert!(plan.files[0].estimate.peak > 128 << 20);
        assert_eq!(plan.files[0].sample.rows_sampled, 1000);
        // Refused before a byte is decoded: a frame header declaring the window, and nothing
        // decodable after it, would fail the sample with a decoding error.
        let mut header_only = 0xFD2F_B528u32.to_le_bytes().to_vec();
        header_only.extend_from_slice(&[0x00, 17 << 3, 0xff, 0xff, 0xff]);
        std::fs::write(dir.path().join("a.csv.zst"), header_only).unwrap();
        let error = plan_under(64 << 20).unwrap_err();
        assert!(matches!(error, Error::BudgetTooSmall { .. }), "{error}");
        let unread = plan_under(*enough).unwrap().unread_files;
        assert_eq!(unread.len(), 1, "the header alone decodes nothing");
        // A replace stops before emptying a table it could fill only in part.
        let settings = LoadSettings {
            memory_limit: Some(*enough),
            mode: crate::LoadMode::Replace,
            ..LoadSettings::default()
        };
        let error = make_plan(&[dir.path().to_path_buf()], &settings, &probe()).unwrap_err();
        assert!(matches!(error, Error::File(_)), "{error}");
    }

    #[test]
    fn a_budget_too_small_to_read_a_file_fails_the_plan_naming_a_limit_that_would_do() {
        let dir = tempfile::tempdir().unwrap();
        let text: String = (0..5_000).map(|i| format!("{i},name {i}\n")).collect();
        for name in ["a.csv", "b.csv", "c.csv", "d.csv"] {
            std::fs::write(dir.path().join(name), format!("id,name\n{text}")).unwrap();
        }
        let plan_under = |limit: u64| {
            let settings = LoadSettings {
                workers: 4,
                memory_limit: Some(limit),
                ..LoadSettings::default()
            };
            make_plan(&[dir.path().to_path_buf()], &settings, &probe())
        };
        // 3 MiB, 1 resident, 768 KiB for the engine: a budget of 640 KiB, under one reader's
        // buffers and a batch.
        let error = plan_under(3 << 20).unwrap_err();
        let Error::BudgetTooSmall {
            budget,
            needed,
            enough,
            ..
        } = &error
        else {
            panic!("{error}");
        };
        assert!(budget < needed, "{error}");
        assert!(error.to_string().contains("give --memory-limit"), "{error}");
        // The limit it names plans, and its budget holds the file.
        let plan = plan_under(*enough).unwrap();
        assert!(plan.budget >= *needed);
        assert!(
            plan_under(*enough - (1 << 20)).is_err(),
            "the least whole MiB that does"
        );
        // A budget that holds two files being read, not four: two workers, and pressure never
        // cuts the budget below what those two hold.
        let two = plan_under(*enough + (2 << 20)).unwrap();
        assert!(two.workers < 4, "{} workers", two.workers);
        assert!(two.least_budget <= two.budget);
        assert_eq!(two.least_budget % two.workers as u64, 0);
        assert!(two.least_budget / two.workers as u64 >= *needed);
    }

    #[test]
    fn only_the_files_that_start_a_worker_ramp_up_unless_there_is_one_worker() {
        let dir = tempfile::tempdir().unwrap();
        for (name, rows) in [("a.csv", 300), ("b.csv", 200), ("c.csv", 100)] {
            let text: String = std::iter::once("id\n".to_string())
                .chain((0..rows).map(|i| format!("{i}\n")))
                .collect();
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let ramps = |workers: usize| -> Vec<bool> {
            let settings = LoadSettings {
                workers,
                table: Some("t".into()),
                ..LoadSettings::default()
            };
            let plan = make_plan(&[dir.path().to_path_buf()], &settings, &probe()).unwrap();
            plan.files.iter().map(|f| f.csv.get_ramp_up()).collect()
        };
        assert_eq!(
            ramps(2),
            [true, true, false],
            "largest first, two start at once"
        );
        assert_eq!(ramps(1), [true, true, true]);
    }
}

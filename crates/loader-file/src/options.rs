/// How to read CSV files and how big to make batches.
///
/// # Example
///
/// ```
/// use loader_file::CsvOptions;
/// let options = CsvOptions::default().delimiter(b';').batch_rows(50_000).batch_bytes(4 << 20);
/// assert_eq!(options.get_delimiter(), b';');
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    delimiter: u8,
    quote: u8,
    has_headers: bool,
    batch_rows: usize,
    batch_bytes: usize,
    sample_rows: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            quote: b'"',
            has_headers: true,
            batch_rows: 100_000,
            batch_bytes: 8 << 20,
            sample_rows: 1000,
        }
    }
}

impl CsvOptions {
    /// Field delimiter (default `,`).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// Quote character (default `"`; a doubled quote inside quotes is a literal quote).
    pub fn quote(mut self, quote: u8) -> Self {
        self.quote = quote;
        self
    }

    /// Whether the first record is a header (default true). Without one, columns are named
    /// `column_1`, `column_2`, ...
    pub fn has_headers(mut self, yes: bool) -> Self {
        self.has_headers = yes;
        self
    }

    /// Most rows in a batch (default 100,000; at least 1).
    pub fn batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows.max(1);
        self
    }

    /// Most field bytes in a batch (default 8 MiB; at least 1 KiB, at most 1 GiB).
    pub fn batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes.clamp(1 << 10, 1 << 30);
        self
    }

    /// Rows read to infer a schema (default 1,000).
    pub fn sample_rows(mut self, rows: usize) -> Self {
        self.sample_rows = rows.max(1);
        self
    }

    /// The delimiter.
    pub fn get_delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Whether the first record is a header.
    pub fn get_has_headers(&self) -> bool {
        self.has_headers
    }

    /// Most rows in a batch.
    pub fn get_batch_rows(&self) -> usize {
        self.batch_rows
    }

    /// Most field bytes in a batch.
    pub fn get_batch_bytes(&self) -> usize {
        self.batch_bytes
    }

    /// Rows sampled for inference.
    pub fn get_sample_rows(&self) -> usize {
        self.sample_rows
    }

    pub(crate) fn csv_reader<R: std::io::Read>(&self, input: R) -> csv::Reader<R> {
        csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .quote(self.quote)
            .has_headers(self.has_headers)
            // Field counts are checked by loader so that the error names file and line.
            .flexible(true)
            .buffer_capacity(256 << 10)
            .from_reader(input)
    }
}

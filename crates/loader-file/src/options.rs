/// A text encoding for input files; everything is converted to UTF-8 as it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// UTF-8 (default); invalid sequences are bad values.
    #[default]
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same number.
    Latin1,
    /// Windows-1252: Latin-1 with printable characters (€, smart quotes, ...) in 0x80-0x9F.
    Windows1252,
}

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
    delimiter: Option<u8>,
    quote: u8,
    escape: Option<u8>,
    comment: Option<u8>,
    null_markers: Vec<Vec<u8>>,
    encoding: Encoding,
    has_headers: bool,
    batch_rows: usize,
    batch_bytes: usize,
    sample_rows: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: None,
            quote: b'"',
            escape: None,
            comment: None,
            null_markers: Vec::new(),
            encoding: Encoding::Utf8,
            has_headers: true,
            batch_rows: 100_000,
            batch_bytes: 8 << 20,
            sample_rows: 1000,
        }
    }
}

impl CsvOptions {
    /// Field delimiter. When not set, it is sniffed from the start of each file among
    /// comma, semicolon, tab and pipe (comma when nothing is conclusive).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = Some(delimiter);
        self
    }

    /// Inside quotes, `\"` is a quote (instead of the default doubled `""`).
    pub fn backslash_escape(mut self, yes: bool) -> Self {
        self.escape = yes.then_some(b'\\');
        self
    }

    /// Lines starting with `comment` are skipped.
    pub fn comment(mut self, comment: Option<u8>) -> Self {
        self.comment = comment;
        self
    }

    /// Fields equal to one of `markers` (such as `NA`, `NULL`, `\N`) are NULL, like empty ones.
    pub fn null_markers(mut self, markers: impl IntoIterator<Item = impl Into<Vec<u8>>>) -> Self {
        self.null_markers = markers.into_iter().map(Into::into).collect();
        self
    }

    /// The files' text encoding (default UTF-8).
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
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

    /// The delimiter (comma until sniffed or set).
    pub fn get_delimiter(&self) -> u8 {
        self.delimiter.unwrap_or(b',')
    }

    /// Whether the delimiter was given (rather than to be sniffed).
    pub fn has_delimiter(&self) -> bool {
        self.delimiter.is_some()
    }

    /// The encoding.
    pub fn get_encoding(&self) -> Encoding {
        self.encoding
    }

    /// Whether `field` is a NULL marker (an empty field always is NULL).
    #[inline]
    pub fn is_null(&self, field: &[u8]) -> bool {
        field.is_empty()
            || (!self.null_markers.is_empty() && self.null_markers.iter().any(|m| m == field))
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
            .delimiter(self.get_delimiter())
            .quote(self.quote)
            .escape(self.escape)
            .double_quote(self.escape.is_none())
            .comment(self.comment)
            .has_headers(self.has_headers)
            // Field counts are checked by loader so that the error names file and line.
            .flexible(true)
            .buffer_capacity(256 << 10)
            .from_reader(input)
    }
}

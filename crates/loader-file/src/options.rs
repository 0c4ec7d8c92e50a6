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

/// What to do with a row that does not fit its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OnError {
    /// Stop the file at the first bad row, with its file, line, column and reason (default).
    #[default]
    Fail,
    /// Set the row aside (quarantine it) and go on, within the error limits.
    Skip,
}

/// The bad-row policy of a file: [`OnError`] and, when skipping, the limits past which the
/// file stops anyway.
///
/// Limits are checked per file. `max_errors` N lets N rows be rejected; the N+1th stops the
/// file like [`OnError::Fail`] (rows before it are loaded). `max_error_ratio` R is checked
/// as each batch closes, over every row read from the file so far: a batch that takes the
/// ratio of rejected rows above R is not loaded, and the file stops there.
///
/// # Example
///
/// ```
/// use loader_file::{BadRowPolicy, OnError};
/// let policy = BadRowPolicy::skip().max_errors(100).max_error_ratio(0.01).unwrap();
/// assert_eq!(policy.on_error(), OnError::Skip);
/// assert!(!policy.ratio_exceeded(10, 1000));
/// assert!(policy.ratio_exceeded(11, 1000));
/// assert!(BadRowPolicy::skip().max_error_ratio(1.5).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BadRowPolicy {
    on_error: OnError,
    max_errors: Option<u64>,
    max_error_ratio: Option<f64>,
}

// The ratio is never NaN (see `max_error_ratio`).
impl Eq for BadRowPolicy {}

impl BadRowPolicy {
    /// Skip bad rows, without limits.
    pub fn skip() -> Self {
        BadRowPolicy {
            on_error: OnError::Skip,
            ..BadRowPolicy::default()
        }
    }

    /// Fail at the first bad row (the default).
    pub fn fail() -> Self {
        BadRowPolicy::default()
    }

    /// At most `n` rejected rows per file.
    pub fn max_errors(mut self, n: u64) -> Self {
        self.max_errors = Some(n);
        self
    }

    /// At most `ratio` (0 to 1) of a file's rows rejected.
    ///
    /// # Errors
    ///
    /// A message when `ratio` is not between 0 and 1.
    pub fn max_error_ratio(mut self, ratio: f64) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(format!(
                "the error ratio must be between 0 and 1, not {ratio}"
            ));
        }
        self.max_error_ratio = Some(ratio);
        Ok(self)
    }

    /// What happens to a bad row.
    pub fn on_error(&self) -> OnError {
        self.on_error
    }

    /// The per-file limit on rejected rows, if any.
    pub fn get_max_errors(&self) -> Option<u64> {
        self.max_errors
    }

    /// The per-file limit on the share of rejected rows, if any.
    pub fn get_max_error_ratio(&self) -> Option<f64> {
        self.max_error_ratio
    }

    /// Whether one more reject, after `rejected` already, would cross `max_errors` (always,
    /// when failing).
    pub fn count_exceeded(&self, rejected: u64) -> bool {
        match self.on_error {
            OnError::Fail => true,
            OnError::Skip => self.max_errors.is_some_and(|max| rejected >= max),
        }
    }

    /// How many more rows may be rejected after `rejected` of `read` rows were: `None` when
    /// failing (no reject at all), `u64::MAX` without limits, else what is left under both
    /// `max_errors` and `max_error_ratio` (0 when either is already crossed).
    ///
    /// ```
    /// use loader_file::BadRowPolicy;
    /// assert_eq!(BadRowPolicy::fail().room_left(0, 10), None);
    /// assert_eq!(BadRowPolicy::skip().room_left(5, 10), Some(u64::MAX));
    /// let limited = BadRowPolicy::skip().max_errors(4).max_error_ratio(0.5).unwrap();
    /// assert_eq!(limited.room_left(1, 100), Some(3));
    /// assert_eq!(limited.room_left(1, 4), Some(1));
    /// assert_eq!(limited.room_left(9, 10), Some(0));
    /// ```
    pub fn room_left(&self, rejected: u64, read: u64) -> Option<u64> {
        if self.on_error == OnError::Fail {
            return None;
        }
        let by_count = self
            .max_errors
            .map_or(u64::MAX, |max| max.saturating_sub(rejected));
        let by_ratio = self.max_error_ratio.map_or(u64::MAX, |ratio| {
            ((ratio * read as f64).floor() as u64).saturating_sub(rejected)
        });
        Some(by_count.min(by_ratio))
    }

    /// Whether `rejected` of `read` rows is more than `max_error_ratio` allows.
    pub fn ratio_exceeded(&self, rejected: u64, read: u64) -> bool {
        self.max_error_ratio
            .is_some_and(|ratio| read > 0 && rejected as f64 > ratio * read as f64)
    }
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
    bad_rows: BadRowPolicy,
    allow_nul: bool,
    ramp_up: bool,
    decoded_size: Option<u64>,
    content_bytes: Option<u64>,
    max_row_bytes: usize,
    inferred_columns: Vec<bool>,
    quoted_empty_is_null: bool,
    ragged_rows: bool,
    skip_lines: u64,
    skip_footer: u64,
    snake_case_names: bool,
    decimal_comma: bool,
    decimal_text_columns: Vec<bool>,
    date_format: Option<String>,
    timestamp_format: Option<String>,
    skipped_columns: Vec<bool>,
    thousands: Option<u8>,
    currency: Option<crate::Currency>,
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
            bad_rows: BadRowPolicy::default(),
            allow_nul: true,
            ramp_up: true,
            decoded_size: None,
            content_bytes: None,
            max_row_bytes: 64 << 20,
            inferred_columns: Vec::new(),
            quoted_empty_is_null: false,
            ragged_rows: false,
            skip_lines: 0,
            skip_footer: 0,
            snake_case_names: false,
            decimal_comma: false,
            decimal_text_columns: Vec::new(),
            date_format: None,
            timestamp_format: None,
            skipped_columns: Vec::new(),
            thousands: None,
            currency: None,
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

    /// Column names from the header in snake case (`Order ID` is `order_id`, see
    /// [`loader_batch::snake_case`]), so queries need no quotes (default false: the names
    /// as written, spaces around them trimmed).
    pub fn snake_case_names(mut self, yes: bool) -> Self {
        self.snake_case_names = yes;
        self
    }

    /// Whether header names are snake_cased ([`snake_case_names`](Self::snake_case_names)).
    pub fn get_snake_case_names(&self) -> bool {
        self.snake_case_names
    }

    /// Numbers are written with a decimal comma, as spreadsheets in most of Europe export
    /// them (default false): in integer and real columns, and when types are inferred,
    /// `1.234,5` is 1234.5, a point only groups thousands, and a point that groups none
    /// (`1.5`) makes the field a bad row rather than a number read another way.
    pub fn decimal_comma(mut self, yes: bool) -> Self {
        self.decimal_comma = yes;
        self
    }

    /// Whether numbers have a decimal comma ([`decimal_comma`](Self::decimal_comma)).
    pub fn get_decimal_comma(&self) -> bool {
        self.decimal_comma
    }

    /// The byte that groups the digits of numbers in thousands (`,` in `1,234.5`; a space
    /// in `1 234,5` with [`decimal_comma`](Self::decimal_comma), whose default is a
    /// point), read as [`decimal_comma`](Self::decimal_comma) says: in integer and real
    /// columns and in inference; a group mark that groups no thousands makes a bad row.
    pub fn thousands(mut self, group: Option<u8>) -> Self {
        self.thousands = group;
        self
    }

    /// The thousands mark given ([`thousands`](Self::thousands)).
    pub fn get_thousands(&self) -> Option<u8> {
        self.thousands
    }

    /// The currency sign amounts may carry (`$1,234.50`, `12,50 €`, `($5.00)` for -5; see
    /// [`Currency`](crate::Currency)), read in the notation
    /// [`decimal_comma`](Self::decimal_comma) and [`thousands`](Self::thousands) say: in
    /// integer and real columns and when types are inferred (default none).
    pub fn currency(mut self, currency: Option<crate::Currency>) -> Self {
        self.currency = currency;
        self
    }

    /// The currency sign given ([`currency`](Self::currency)).
    pub fn get_currency(&self) -> Option<crate::Currency> {
        self.currency
    }

    /// How numbers are written, when not as every type reads them: with a decimal comma,
    /// grouped in thousands, or with a currency sign; `None` for plain numbers.
    pub fn number_notation(&self) -> Option<crate::Notation> {
        let notation = match (self.decimal_comma, self.thousands) {
            (false, None) if self.currency.is_none() => return None,
            (true, group) => crate::Notation {
                decimal: b',',
                group: group.or(Some(b'.')),
                currency: None,
            },
            (false, group) => crate::Notation {
                decimal: b'.',
                group,
                currency: None,
            },
        };
        Some(crate::Notation {
            currency: self.currency,
            ..notation
        })
    }

    /// The format dates are written in, in chrono's strftime terms (`%d.%m.%Y`,
    /// `%m/%d/%Y`), when not as `2024-01-31` (default none): such values are dates in
    /// inference and in date columns, read as such; ISO dates are read as well. Check a
    /// user's format with [`check_format`](crate::check_format) first.
    pub fn date_format(mut self, format: Option<String>) -> Self {
        self.date_format = format;
        self
    }

    /// The format dates are written in ([`date_format`](Self::date_format)).
    pub fn get_date_format(&self) -> Option<&str> {
        self.date_format.as_deref()
    }

    /// The format timestamps are written in (`%d.%m.%Y %H:%M`, `%m/%d/%Y %I:%M %p`; with
    /// `%z`, an offset), as [`date_format`](Self::date_format) for dates.
    pub fn timestamp_format(mut self, format: Option<String>) -> Self {
        self.timestamp_format = format;
        self
    }

    /// The format timestamps are written in ([`timestamp_format`](Self::timestamp_format)).
    pub fn get_timestamp_format(&self) -> Option<&str> {
        self.timestamp_format.as_deref()
    }

    /// The file's columns, by position, that are not loaded (`--skip-column`): a reader
    /// checks a record's field count against the file's width and leaves these fields out
    /// of its rows; the schema it is given holds the other columns, in order. Columns past
    /// the list are loaded.
    pub fn skipped_columns(mut self, skipped: Vec<bool>) -> Self {
        self.skipped_columns = skipped;
        self
    }

    /// The file's columns left out of its rows ([`skipped_columns`](Self::skipped_columns)).
    pub fn get_skipped_columns(&self) -> &[bool] {
        &self.skipped_columns
    }

    /// The text columns whose table keeps exact decimals read from text, by position
    /// (PostgreSQL's `numeric`, see `loader_batch::TableColumn::decimal_text`): with
    /// [`decimal_comma`](Self::decimal_comma) their numbers are converted as an integer or
    /// real column's are. Columns past the list are not.
    pub fn decimal_text_columns(mut self, columns: Vec<bool>) -> Self {
        self.decimal_text_columns = columns;
        self
    }

    /// Whether column `index` holds decimals read from text
    /// ([`decimal_text_columns`](Self::decimal_text_columns)).
    pub fn is_decimal_text(&self, index: usize) -> bool {
        self.decimal_text_columns
            .get(index)
            .copied()
            .unwrap_or(false)
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

    /// The bad-row policy (default: fail at the first bad row).
    pub fn bad_rows(mut self, policy: BadRowPolicy) -> Self {
        self.bad_rows = policy;
        self
    }

    /// Whether text may hold NUL bytes (default true). PostgreSQL text cannot, so a loader
    /// writing there turns them into bad rows, named by line and column before any write.
    pub fn allow_nul(mut self, yes: bool) -> Self {
        self.allow_nul = yes;
        self
    }

    /// Whether a reader's first batches start small (256 KiB of fields) and double up to the
    /// batch size (default true). The writer then starts within milliseconds instead of
    /// idling while a full batch is read. When other files keep the writer busy meanwhile,
    /// there is nothing to gain and the small batches cost: each is a transaction, and
    /// PostgreSQL 15 pays one to two milliseconds of CPU for every `COPY`.
    pub fn ramp_up(mut self, yes: bool) -> Self {
        self.ramp_up = yes;
        self
    }

    /// A compressed file's decoded size, when known (the plan decodes small files whole; see
    /// [`FileSample::decoded_size`](crate::FileSample::decoded_size)). It bounds the room
    /// batches reserve as a plain file's size does: without it a reader sizes its first
    /// batch for a file of unknown length, which for a tiny file of narrow rows was five
    /// times what the file needed. Only a bound on room: a file longer than said is still
    /// read whole, in smaller batches.
    pub fn decoded_size(mut self, bytes: Option<u64>) -> Self {
        self.decoded_size = bytes;
        self
    }

    /// The bytes of a plain file to read, at most (default: all): a load reads the content
    /// whose hash the ledger keeps it under, the file's size when it was hashed, and not rows
    /// appended since, which are a grown file's for the next run. Without it a file appended
    /// to while it was read had those rows loaded twice: read under the old content's hash,
    /// then again as the grown file's rows past the old content. Compressed and transcoded
    /// files are read whole.
    pub fn content_bytes(mut self, bytes: Option<u64>) -> Self {
        self.content_bytes = bytes;
        self
    }

    /// Longest row, in bytes as read (default 64 MiB). A longer one stops the file with
    /// [`Error::RowTooLarge`](crate::Error::RowTooLarge) before it is held in memory; the
    /// memory budget may lower it further (a row must fit in the budget).
    pub fn max_row_bytes(mut self, bytes: usize) -> Self {
        self.max_row_bytes = bytes.max(1);
        self
    }

    /// Which columns (by position) have a type inferred from a sample rather than declared
    /// (default: none). In those, a number that would not be stored as written is a bad row:
    /// one with a leading zero (`02134` would become 2134) or, in a real column, a whole
    /// number too large for an integer (it would be rounded). A sample holding such a value
    /// keeps the column text; one that missed it must not let the rest of the file lose
    /// digits without a word.
    pub fn inferred_columns(mut self, inferred: Vec<bool>) -> Self {
        self.inferred_columns = inferred;
        self
    }

    /// Whether a quoted empty field (`""`) is NULL like an unquoted one (default false: in a
    /// text column it is an empty string, as PostgreSQL's `COPY` reads it and writes it).
    /// For files that quote every field, NULLs included.
    pub fn quoted_empty_is_null(mut self, yes: bool) -> Self {
        self.quoted_empty_is_null = yes;
        self
    }

    /// Whether rows ragged the way exports make them are read (default false: a bad row): a
    /// row with fewer fields than the header has the missing ones NULL, and empty fields
    /// past the header's count (a trailing delimiter) are dropped. A row with more fields
    /// that are not all empty is still a bad row.
    pub fn ragged_rows(mut self, yes: bool) -> Self {
        self.ragged_rows = yes;
        self
    }

    /// Whether ragged rows are read ([`ragged_rows`](Self::ragged_rows)).
    pub fn get_ragged_rows(&self) -> bool {
        self.ragged_rows
    }

    /// Passes over the first `lines` lines of each file, whatever they hold, before its
    /// header (or first row): the title and blank lines a report puts above its table. They
    /// count as lines, so line numbers stay the file's. Default 0.
    pub fn skip_lines(mut self, lines: u64) -> Self {
        self.skip_lines = lines;
        self
    }

    /// Lines passed over before the header ([`skip_lines`](Self::skip_lines)).
    pub fn get_skip_lines(&self) -> u64 {
        self.skip_lines
    }

    /// Lines at the end of each file that are not rows (default 0): the totals and notes a
    /// report puts below its table, counted as lines holding anything, blank lines after
    /// them left out with them. They are never read, in the sample either, so they neither
    /// type a column nor count as rows. Such a file is read as a stream: a load that died
    /// reads it again from the start up to where it resumes, and one reader reads it.
    pub fn skip_footer(mut self, lines: u64) -> Self {
        self.skip_footer = lines;
        self
    }

    /// Lines left out at the end ([`skip_footer`](Self::skip_footer)).
    pub fn get_skip_footer(&self) -> u64 {
        self.skip_footer
    }

    /// The comment character, if lines starting with one are skipped.
    pub fn get_comment(&self) -> Option<u8> {
        self.comment
    }

    /// The quote character.
    pub fn get_quote(&self) -> u8 {
        self.quote
    }

    /// Whether a quoted empty field is NULL ([`quoted_empty_is_null`](Self::quoted_empty_is_null)).
    pub fn get_quoted_empty_is_null(&self) -> bool {
        self.quoted_empty_is_null
    }

    /// The bytes that decide where a record's fields start.
    pub(crate) fn dialect(&self) -> crate::quoted::Dialect {
        crate::quoted::Dialect {
            delimiter: self.get_delimiter(),
            quote: self.quote,
            escape: self.escape,
            comment: self.comment,
        }
    }

    /// Whether column `index` has an inferred type ([`inferred_columns`](Self::inferred_columns)).
    pub fn is_inferred(&self, index: usize) -> bool {
        self.inferred_columns.get(index).copied().unwrap_or(false)
    }

    /// The bad-row policy.
    pub fn get_bad_rows(&self) -> BadRowPolicy {
        self.bad_rows
    }

    /// Whether text may hold NUL bytes.
    pub fn get_allow_nul(&self) -> bool {
        self.allow_nul
    }

    /// Whether the first batches ramp up.
    pub fn get_ramp_up(&self) -> bool {
        self.ramp_up
    }

    /// A compressed file's decoded size, when given.
    pub fn get_decoded_size(&self) -> Option<u64> {
        self.decoded_size
    }

    /// See [`content_bytes`](Self::content_bytes).
    pub fn get_content_bytes(&self) -> Option<u64> {
        self.content_bytes
    }

    /// Longest row in bytes.
    pub fn get_max_row_bytes(&self) -> usize {
        self.max_row_bytes
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

    /// Whether NULL markers besides the empty field were set.
    pub fn has_null_markers(&self) -> bool {
        !self.null_markers.is_empty()
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

    /// The record reader under [`BatchReader`](crate::BatchReader), parsing as
    /// [`csv_reader`](Self::csv_reader) does, with a read buffer of `capacity` bytes.
    pub(crate) fn records<R: std::io::Read>(
        &self,
        input: R,
        capacity: usize,
        max_row_bytes: u64,
    ) -> crate::records::Records<R> {
        let mut builder = csv_core::ReaderBuilder::new();
        builder
            .delimiter(self.get_delimiter())
            .quote(self.quote)
            .escape(self.escape)
            .double_quote(self.escape.is_none())
            .comment(self.comment);
        let dialect = (self.get_delimiter(), self.quote, self.escape, self.comment);
        crate::records::Records::new(input, builder, dialect, capacity, max_row_bytes)
            .searching_nul(!self.allow_nul)
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

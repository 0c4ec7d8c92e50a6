//! Encoding rows for `COPY FROM STDIN`: binary, in each column's actual type, when every
//! column of the table has a type loader can encode; CSV otherwise (the server then converts
//! the text, for types such as numeric, uuid or json).

use loader_batch::{ColumnType, LoadTarget, RowBatch, Value, real_f32, unix_days, unix_micros};
use std::collections::HashMap;
use std::fmt::Write as _;

/// The binary COPY header: signature, flags, header extension length.
pub(crate) const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch for dates and timestamps.
const PG_EPOCH_DAYS: i64 = 10_957;

/// How one column travels in binary COPY: the table's type decides, not the file's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bool,
    Date,
    Timestamp,
    Text,
}

impl Wire {
    fn from_pg(type_name: &str) -> Option<Wire> {
        Some(match type_name {
            "int2" => Wire::Int2,
            "int4" => Wire::Int4,
            "int8" => Wire::Int8,
            "float4" => Wire::Float4,
            "float8" => Wire::Float8,
            "bool" => Wire::Bool,
            "date" => Wire::Date,
            "timestamp" | "timestamptz" => Wire::Timestamp,
            "text" | "varchar" | "bpchar" | "name" => Wire::Text,
            _ => return None,
        })
    }

    /// How the field is read to produce this column's value.
    fn reads_as(self) -> ColumnType {
        match self {
            Wire::Int2 | Wire::Int4 | Wire::Int8 => ColumnType::Integer,
            Wire::Float4 | Wire::Float8 => ColumnType::Real,
            Wire::Bool => ColumnType::Boolean,
            Wire::Date => ColumnType::Date,
            Wire::Timestamp => ColumnType::Timestamp,
            Wire::Text => ColumnType::Text,
        }
    }
}

/// How a table's rows are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CopyFormat {
    /// Binary, one wire type per column of the load, in order.
    Binary(Vec<Wire>),
    /// CSV text, for tables with a column type the binary encoder does not cover.
    Csv,
}

/// How one table's rows are sent: the table's names for the load's columns, in the load's
/// order, and the format.
#[derive(Debug)]
pub(crate) struct TableCopy {
    pub columns: Vec<String>,
    pub format: CopyFormat,
}

impl TableCopy {
    /// For loading `target`'s columns into a table whose columns have the given PostgreSQL
    /// type names (none when loader makes the table).
    pub(crate) fn for_table(
        target: &LoadTarget,
        table_types: &HashMap<String, String>,
    ) -> TableCopy {
        let columns: Vec<String> = target
            .schema
            .columns()
            .iter()
            .map(|c| table_column(&c.name, table_types))
            .collect();
        let wires: Option<Vec<Wire>> = columns
            .iter()
            .map(|name| table_types.get(name).and_then(|t| Wire::from_pg(t)))
            .collect();
        TableCopy {
            columns,
            format: wires.map_or(CopyFormat::Csv, CopyFormat::Binary),
        }
    }
}

/// A table's columns as the catalog lists them: in order, and by name with their type names.
#[derive(Debug, Default)]
pub(crate) struct TableTypes {
    pub ordered: Vec<(String, String)>,
    pub by_name: HashMap<String, String>,
}

impl TableTypes {
    pub(crate) fn new(ordered: Vec<(String, String)>) -> Self {
        let by_name = ordered.iter().cloned().collect();
        TableTypes { ordered, by_name }
    }

    /// The columns as [`BatchSink::table_columns`](loader_batch::BatchSink::table_columns)
    /// gives them: each with the type a binary COPY sends it as, and text for types the
    /// server converts from text itself (numeric, uuid, json, ...), which only it can judge.
    pub(crate) fn columns(&self) -> Vec<loader_batch::TableColumn> {
        self.ordered
            .iter()
            .map(|(name, type_name)| loader_batch::TableColumn {
                name: name.clone(),
                ty: Some(Wire::from_pg(type_name).map_or(ColumnType::Text, Wire::reads_as)),
                decimal_text: type_name == "numeric",
            })
            .collect()
    }
}

/// The table's name for a file's column: the same name, or else the one column whose name
/// differs from it only in letter case (a header `ID` for a column made as `id`, which
/// PostgreSQL folds unquoted names to), or else the name as it is, for the server to refuse
/// with its own message.
fn table_column(name: &str, table_types: &HashMap<String, String>) -> String {
    // The server cuts a longer name, and its catalog lists the cut one.
    let name = loader_batch::postgres_name(name);
    if table_types.contains_key(name) {
        return name.to_owned();
    }
    let mut folded = table_types
        .keys()
        .filter(|column| column.to_lowercase() == name.to_lowercase());
    match (folded.next(), folded.next()) {
        (Some(column), None) => column.clone(),
        _ => name.to_owned(),
    }
}

impl CopyFormat {
    pub(crate) fn sql(&self) -> &'static str {
        match self {
            CopyFormat::Binary(_) => "binary",
            CopyFormat::Csv => "csv",
        }
    }
}

/// A field the binary encoder refuses: its column (from 0) and why.
#[derive(Debug)]
pub(crate) struct FieldError {
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column {}: {}", self.column + 1, self.message)
    }
}

/// One row in binary COPY format: a field count, then per field its length (-1 for NULL)
/// and its value in the column's binary form. The server takes these as they are, with no
/// text parsing, which on these machines is where a load spends its time. `may_hold_nul`
/// is whether the rows being sent hold a NUL byte anywhere (see [`holds_nul`]): text fields
/// are searched for one only then.
pub(crate) fn write_binary_row(
    out: &mut Vec<u8>,
    wires: &[Wire],
    batch: &RowBatch,
    row: usize,
    may_hold_nul: bool,
) -> Result<(), FieldError> {
    out.extend_from_slice(&(wires.len() as i16).to_be_bytes());
    for ((column, &wire), field) in wires.iter().enumerate().zip(batch.row(row).fields()) {
        if field.is_empty() && !(wire == Wire::Text && batch.is_empty_text(row, column)) {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            continue;
        }
        if wire == Wire::Text {
            // Validated UTF-8, whatever type the file's column was: sent as read. PostgreSQL
            // text cannot hold NUL, which SQLite and the CSV allow.
            if may_hold_nul && field.contains(&0) {
                return Err(FieldError {
                    column,
                    message: "a NUL byte, which PostgreSQL text cannot hold".into(),
                });
            }
            put(out, field);
            continue;
        }
        let not_a_value = || FieldError {
            column,
            message: wire
                .reads_as()
                .check(field)
                .err()
                .map_or_else(String::new, |e| e.to_string()),
        };
        let out_of_range = || FieldError {
            column,
            message: format!(
                "{} is out of range for the table's column",
                String::from_utf8_lossy(field)
            ),
        };
        // Dates and timestamps by arithmetic on their digits: building chrono values to take
        // them apart again was a tenth of the encoder's time.
        match wire {
            Wire::Date => {
                let days = unix_days(field).ok_or_else(not_a_value)? - PG_EPOCH_DAYS;
                put_fixed(
                    out,
                    i32::try_from(days)
                        .map_err(|_| out_of_range())?
                        .to_be_bytes(),
                );
                continue;
            }
            Wire::Timestamp => {
                let micros =
                    unix_micros(field).ok_or_else(not_a_value)? - PG_EPOCH_DAYS * 86_400_000_000;
                put_fixed(out, micros.to_be_bytes());
                continue;
            }
            // Read as PostgreSQL reads a `real`: a double narrowed to f32 made 1e39
            // infinity and 1e-50 zero, which the server stored where its own input refuses.
            Wire::Float4 => {
                wire.reads_as().check(field).map_err(|_| not_a_value())?;
                put_fixed(
                    out,
                    real_f32(field)
                        .ok_or_else(out_of_range)?
                        .to_bits()
                        .to_be_bytes(),
                );
                continue;
            }
            _ => {}
        }
        let value = wire.reads_as().parse(field).map_err(|_| not_a_value())?;
        match (wire, value) {
            (Wire::Int8, Value::Integer(v)) => put_fixed(out, v.to_be_bytes()),
            (Wire::Int4, Value::Integer(v)) => put_fixed(
                out,
                i32::try_from(v).map_err(|_| out_of_range())?.to_be_bytes(),
            ),
            (Wire::Int2, Value::Integer(v)) => put_fixed(
                out,
                i16::try_from(v).map_err(|_| out_of_range())?.to_be_bytes(),
            ),
            (Wire::Float8, Value::Real(v)) => put_fixed(out, v.to_bits().to_be_bytes()),
            (Wire::Bool, Value::Boolean(v)) => put_fixed(out, [u8::from(v)]),
            _ => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    Ok(())
}

/// Whether `rows` of `batch` hold a NUL byte in any field: one search of the whole range,
/// instead of one per text field (a twentieth of the encoder's time on the bench file), by
/// memchr's vector search (the standard library's, a word at a time, was still a fiftieth of
/// a load's CPU time).
pub(crate) fn holds_nul(batch: &RowBatch, rows: std::ops::Range<usize>) -> bool {
    memchr::memchr(0, batch.row_data(rows)).is_some()
}

/// Encodes rows `rows` of `batch` as a whole binary `COPY` stream (header, rows, trailer) for
/// a table loader created from `schema` (BIGINT, DOUBLE PRECISION, BOOLEAN, DATE, TIMESTAMP,
/// TEXT): what [`PgSink`](crate::PgSink) sends for such a table, for a caller that streams
/// COPY itself (and for the COPY encoding benchmark).
///
/// # Errors
///
/// The line and column of a field the encoding refuses (a NUL byte in text, a value not of
/// its column's type).
///
/// # Example
///
/// ```
/// use loader_batch::{ColumnType, RowBatch, Schema};
/// let schema = Schema::from_pairs([("id", ColumnType::Integer), ("name", ColumnType::Text)]);
/// let mut batch = RowBatch::new(2, 0);
/// batch.push_row(2, 8, [&b"7"[..], b"ann"]).unwrap();
/// let stream = loader_sink::encode_binary_copy(&schema, &batch, 0..1).unwrap();
/// assert!(stream.starts_with(b"PGCOPY\n\xff\r\n\0"));
/// assert!(stream.ends_with(&(-1i16).to_be_bytes()));
/// ```
pub fn encode_binary_copy(
    schema: &loader_batch::Schema,
    batch: &RowBatch,
    rows: std::ops::Range<usize>,
) -> Result<Vec<u8>, String> {
    let wires: Vec<Wire> = schema
        .columns()
        .iter()
        .map(|c| match c.ty {
            ColumnType::Integer => Wire::Int8,
            ColumnType::Real => Wire::Float8,
            ColumnType::Boolean => Wire::Bool,
            ColumnType::Date => Wire::Date,
            ColumnType::Timestamp => Wire::Timestamp,
            ColumnType::Text => Wire::Text,
        })
        .collect();
    let mut out = Vec::with_capacity(batch.data_bytes(rows.clone()) * 2 + 64);
    out.extend_from_slice(BINARY_HEADER);
    let nul = holds_nul(batch, rows.clone());
    for row in rows {
        write_binary_row(&mut out, &wires, batch, row, nul)
            .map_err(|e| format!("line {}: {e}", batch.line(row)))?;
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    Ok(out)
}

fn put(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&(value.len() as i32).to_be_bytes());
    out.extend_from_slice(value);
}

/// [`put`] for a value of at most 8 bytes, known at compile time: length and value go in
/// with one append instead of two.
fn put_fixed<const N: usize>(out: &mut Vec<u8>, value: [u8; N]) {
    const { assert!(N <= 8) };
    let mut cell = [0u8; 12];
    cell[..4].copy_from_slice(&(N as i32).to_be_bytes());
    cell[4..4 + N].copy_from_slice(&value);
    out.extend_from_slice(&cell[..4 + N]);
}

/// One row as CSV. A field is quoted only when it must be (a delimiter, quote or line end
/// inside, or the end-of-data marker `\.`): the server parses bare fields faster and there
/// are fewer bytes to send. An empty field is left bare, which COPY reads as NULL.
pub(crate) fn write_csv_row(out: &mut Vec<u8>, target: &LoadTarget, batch: &RowBatch, row: usize) {
    let mut text = String::new();
    let columns = target.schema.columns().iter();
    for (column, (spec, field)) in columns.zip(batch.row(row).fields()).enumerate() {
        if column > 0 {
            out.push(b',');
        }
        if field.is_empty() {
            // Nothing is NULL; `""` an empty string, as PostgreSQL's CSV reads them.
            if spec.ty == ColumnType::Text && batch.is_empty_text(row, column) {
                out.extend_from_slice(b"\"\"");
            }
            continue;
        }
        // Timestamps with a zone were parsed to UTC; send that value, not the text.
        let field = match (spec.ty, spec.ty.parse(field)) {
            (ColumnType::Timestamp, Ok(Value::Timestamp(t)))
                if field.len() != 19 && !is_plain(field) =>
            {
                text.clear();
                let _ = write!(text, "{}", t.format("%Y-%m-%d %H:%M:%S%.f"));
                text.as_bytes()
            }
            _ => field,
        };
        // `\.` alone would end the COPY data: quoted, it is a value.
        loader_batch::push_csv_field(out, field, field == b"\\.");
    }
    out.push(b'\n');
}

/// `YYYY-MM-DD HH:MM:SS.fraction` with no zone: already what PostgreSQL reads as intended.
fn is_plain(field: &[u8]) -> bool {
    field.len() > 19
        && field[10] == b' '
        && field[19] == b'.'
        && field[20..].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loader_batch::Schema;
    use std::sync::Arc;

    fn types(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(c, t)| (c.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn binary_rows_follow_the_table_types() {
        let schema = Schema::from_pairs([
            ("i", ColumnType::Integer),
            ("b", ColumnType::Boolean),
            ("d", ColumnType::Date),
            ("t", ColumnType::Timestamp),
            ("s", ColumnType::Text),
            ("n", ColumnType::Real),
            ("small", ColumnType::Text),
        ]);
        let target = LoadTarget::new("t", Arc::new(schema), "t.csv");
        let table = types(&[
            ("i", "int8"),
            ("b", "bool"),
            ("d", "date"),
            ("t", "timestamptz"),
            ("s", "text"),
            ("n", "float8"),
            ("small", "int2"),
        ]);
        let CopyFormat::Binary(wires) = TableCopy::for_table(&target, &table).format else {
            panic!("all types are encodable");
        };
        let mut batch = RowBatch::new(7, 0);
        batch
            .push_row(
                2,
                0,
                [
                    &b"-2"[..],
                    b"yes",
                    b"2000-01-02",
                    b"2000-01-01T01:00:00.0000015+01:00",
                    b"h\xc3\xa9",
                    b"",
                    b"7",
                ],
            )
            .unwrap();
        batch
            .push_row(3, 0, [&b"1"[..], b"no", b"", b"", b"", b"", b"70000"])
            .unwrap();
        let mut out = Vec::new();
        write_binary_row(&mut out, &wires, &batch, 0, holds_nul(&batch, 0..1)).unwrap();
        let mut expected = 7i16.to_be_bytes().to_vec();
        for field in [
            &(-2i64).to_be_bytes()[..],
            &[1u8],
            &1i32.to_be_bytes(),
            &2i64.to_be_bytes(), // 1.5 microseconds after the epoch rounds to 2
            "hé".as_bytes(),
        ] {
            expected.extend_from_slice(&(field.len() as i32).to_be_bytes());
            expected.extend_from_slice(field);
        }
        expected.extend_from_slice(&(-1i32).to_be_bytes());
        expected.extend_from_slice(&2i32.to_be_bytes());
        expected.extend_from_slice(&7i16.to_be_bytes());
        assert_eq!(out, expected);
        let err = write_binary_row(&mut Vec::new(), &wires, &batch, 1, true).unwrap_err();
        assert_eq!(err.column, 6);
        assert!(err.message.contains("70000 is out of range"), "{err}");
    }

    #[test]
    fn a_real_column_takes_floats_as_postgresql_reads_them_and_refuses_what_it_refuses() {
        let wires = [Wire::Float4, Wire::Float8];
        let mut batch = RowBatch::new(2, 0);
        for (line, fields) in [
            [&b"3.4e38"[..], b"1e308"],
            [b"1e-40", b"1e-310"],
            [b"1e39", b"1"],
            [b"1e-50", b"1"],
        ]
        .into_iter()
        .enumerate()
        {
            batch.push_row(line as u64 + 2, 0, fields).unwrap();
        }
        let mut out = Vec::new();
        write_binary_row(&mut out, &wires, &batch, 0, false).unwrap();
        let mut expected = 2i16.to_be_bytes().to_vec();
        expected.extend_from_slice(&4i32.to_be_bytes());
        expected.extend_from_slice(&3.4e38_f32.to_bits().to_be_bytes());
        expected.extend_from_slice(&8i32.to_be_bytes());
        expected.extend_from_slice(&1e308_f64.to_bits().to_be_bytes());
        assert_eq!(out, expected);
        // A subnormal float is a value to PostgreSQL too.
        write_binary_row(&mut Vec::new(), &wires, &batch, 1, false).unwrap();
        // Narrowed from a double these were infinity and 0, and the server stored them.
        for (row, text) in [(2, "1e39"), (3, "1e-50")] {
            let err = write_binary_row(&mut Vec::new(), &wires, &batch, row, false).unwrap_err();
            assert_eq!(err.column, 0);
            assert!(
                err.message.contains(&format!("{text} is out of range")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_nul_in_text_is_refused_with_its_line_and_column() {
        let schema = Schema::from_pairs([("id", ColumnType::Integer), ("name", ColumnType::Text)]);
        let mut batch = RowBatch::new(2, 0);
        batch.push_row(2, 0, [&b"1"[..], b"ann"]).unwrap();
        batch.push_row(3, 6, [&b"2"[..], b"b\0b"]).unwrap();
        assert!(!holds_nul(&batch, 0..1));
        assert!(holds_nul(&batch, 0..2));
        assert!(encode_binary_copy(&schema, &batch, 0..1).is_ok());
        let err = encode_binary_copy(&schema, &batch, 0..2).unwrap_err();
        assert!(
            err.contains("line 3") && err.contains("column 2: a NUL byte"),
            "{err}"
        );
    }

    #[test]
    fn unknown_column_types_fall_back_to_csv() {
        let schema = Schema::from_pairs([("a", ColumnType::Real), ("b", ColumnType::Text)]);
        let target = LoadTarget::new("t", Arc::new(schema), "t.csv");
        assert_eq!(
            TableCopy::for_table(&target, &types(&[("a", "numeric"), ("b", "text")])).format,
            CopyFormat::Csv
        );
    }

    #[test]
    fn file_columns_take_the_table_column_that_differs_only_in_case() {
        let schema = Schema::from_pairs([
            ("ID", ColumnType::Integer),
            ("Name", ColumnType::Text),
            ("note", ColumnType::Text),
            ("Missing", ColumnType::Text),
        ]);
        let target = LoadTarget::new("t", Arc::new(schema), "t.csv");
        let table = types(&[
            ("id", "int8"),
            ("name", "text"),
            ("NAME2", "text"),
            ("note", "text"),
            ("Note", "text"),
        ]);
        let copy = TableCopy::for_table(&target, &table);
        // Exact names win (note, not Note); one case-folded match is taken; none leaves the
        // name for the server to refuse.
        assert_eq!(copy.columns, ["id", "name", "note", "Missing"]);
        // A column the table lacks has no type: the rows go as CSV, and COPY names it.
        assert_eq!(copy.format, CopyFormat::Csv);
        // Two table columns that differ only in case: the file's name stays as it is.
        let schema = Schema::from_pairs([("NOTE", ColumnType::Text)]);
        let target = LoadTarget::new("t", Arc::new(schema), "t.csv");
        assert_eq!(TableCopy::for_table(&target, &table).columns, ["NOTE"]);
    }

    #[test]
    fn csv_rows_quote_only_what_needs_it_and_leave_nulls_bare() {
        let schema = Schema::from_pairs([
            ("a", ColumnType::Text),
            ("b", ColumnType::Text),
            ("c", ColumnType::Text),
            ("d", ColumnType::Integer),
            ("e", ColumnType::Timestamp),
            ("f", ColumnType::Text),
        ]);
        let target = LoadTarget::new("t", Arc::new(schema), "t.csv");
        let mut batch = RowBatch::new(6, 0);
        batch
            .push_row(
                2,
                0,
                [
                    &b"x,y"[..],
                    b"\\.",
                    b"say \"hi\"\nbye",
                    b"",
                    b"2024-01-01T10:00:00+02:00",
                    b"plain",
                ],
            )
            .unwrap();
        let mut out = Vec::new();
        write_csv_row(&mut out, &target, &batch, 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"x,y\",\"\\.\",\"say \"\"hi\"\"\nbye\",,2024-01-01 08:00:00,plain\n"
        );
    }
}

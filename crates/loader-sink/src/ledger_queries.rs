//! Ledger queries whose text both databases share, given their table names and parameter
//! markers.

/// The newest record of a path in a table that left its content complete (loaded, or found
/// loaded and skipped) and whose generation has committed batches, with where its last batch
/// ended: `run_id, file_hash, size, rows_read, byte_end, end_line` (see
/// `Ledger::last_complete_at`). Run ids sort by start time, so the first is the newest.
pub(crate) fn last_complete_at(files: &str, batches: &str, [table, path]: [&str; 2]) -> String {
    format!(
        "SELECT f.run_id, f.file_hash, f.size, f.rows_read, b.byte_end, b.end_line \
         FROM {files} f JOIN {batches} b ON b.table_name = f.table_name \
         AND b.file_hash = f.file_hash AND b.generation = f.generation \
         WHERE f.table_name = {table} AND f.path = {path} AND f.state IN ('complete', 'skipped') \
         ORDER BY f.run_id DESC, b.byte_end DESC LIMIT 1"
    )
}

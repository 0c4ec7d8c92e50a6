//! The yardstick of `cargo xtask bench --section validate`: the fastest plain parse the csv
//! crate offers (`read_byte_record` into one reused record), counting records and fields and
//! doing nothing else. loader's validate-only path (`loader load --dry-run`) is measured
//! against it.

#![allow(clippy::print_stdout)]

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: csv_baseline FILE")?;
    let mut reader = csv::ReaderBuilder::new()
        .buffer_capacity(256 << 10)
        .from_path(path)?;
    let mut record = csv::ByteRecord::new();
    let (mut records, mut fields) = (0u64, 0u64);
    while reader.read_byte_record(&mut record)? {
        records += 1;
        fields += record.len() as u64;
    }
    println!("{records} records, {fields} fields");
    Ok(())
}

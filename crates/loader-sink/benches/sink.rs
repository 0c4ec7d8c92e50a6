//! The sinks' hot paths: SQLite statement execution (a 10,000-row sub-batch of the generated
//! orders shape in one transaction) and PostgreSQL binary COPY encoding of the same rows.
//! `cargo bench -p loader-sink --all-features`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loader_batch::{BatchSink, ColumnType, LoadTarget, RowBatch, Schema};
use loader_sink::{SqliteSink, encode_binary_copy};
use std::sync::Arc;

const ROWS: usize = 10_000;

fn orders() -> (Arc<Schema>, RowBatch) {
    use ColumnType::*;
    let schema = Schema::from_pairs([
        ("id", Integer),
        ("customer", Text),
        ("amount", Real),
        ("quantity", Integer),
        ("paid", Boolean),
        ("order_date", Date),
        ("created_at", Timestamp),
        ("note", Text),
    ]);
    let mut batch = RowBatch::new(schema.len(), 0);
    for row in 0..ROWS {
        let (id, quantity) = (row.to_string(), (row % 17).to_string());
        let fields: [&[u8]; 8] = [
            id.as_bytes(),
            b"Ada Lovelace",
            b"1234.56",
            quantity.as_bytes(),
            if row % 2 == 0 { b"true" } else { b"false" },
            b"2024-03-15",
            b"2024-03-15T10:20:30.123456",
            if row % 5 == 0 {
                b""
            } else {
                b"a note, with a comma"
            },
        ];
        batch
            .push_row(row as u64 + 2, row as u64 * 100, fields)
            .expect("row");
    }
    batch.set_end(ROWS as u64 + 2, ROWS as u64 * 100);
    (Arc::new(schema), batch)
}

fn sqlite_statements(c: &mut Criterion) {
    let (schema, batch) = orders();
    let dir = tempfile::tempdir().expect("scratch dir");
    let sink = SqliteSink::open(dir.path().join("bench.db")).expect("database");
    let target = LoadTarget::new("orders", schema, "orders.csv");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(sink.prepare(&target)).expect("table");
    let mut group = c.benchmark_group("sqlite");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(20);
    group.bench_function("write_10k_rows_one_transaction", |b| {
        b.iter(|| {
            runtime
                .block_on(sink.write(&target, &batch, 0..ROWS))
                .expect("write")
        });
    });
    group.finish();
}

fn copy_encoding(c: &mut Criterion) {
    let (schema, batch) = orders();
    let mut group = c.benchmark_group("postgres");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("binary_copy_encode_10k_rows", |b| {
        b.iter(|| {
            encode_binary_copy(&schema, &batch, 0..ROWS)
                .expect("encoded")
                .len()
        });
    });
    group.finish();
}

criterion_group!(benches, sqlite_statements, copy_encoding);
criterion_main!(benches);

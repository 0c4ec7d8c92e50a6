//! CSV to `RowBatch`: parsing, type checks and batch filling, the reader's whole hot path.
//! `cargo bench -p loader-file`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loader_file::{BatchReader, CsvOptions, sample_file};
use loader_memory::MemoryBudget;
use std::sync::Arc;

fn csv_to_row_batch(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("scratch dir");
    let path = dir.path().join("orders.csv");
    loader_gen::write_file(&path, 50_000, 42, 1).expect("generated file");
    let size = std::fs::metadata(&path).expect("file").len();
    let options = CsvOptions::default();
    let sample = sample_file(&path, &options).expect("sample");
    let schema = Arc::new(sample.schema.clone());
    let budget = MemoryBudget::new(256 << 20);
    let mut group = c.benchmark_group("reader");
    group.throughput(Throughput::Bytes(size));
    group.sample_size(20);
    group.bench_function("csv_to_row_batch_50k_rows", |b| {
        b.iter(|| {
            let reader = BatchReader::open(
                &path,
                &options,
                Arc::clone(&schema),
                sample.mean_field_bytes,
                budget.clone(),
                None,
            )
            .expect("reader");
            reader
                .map(|batch| batch.expect("batch").batch.len())
                .sum::<usize>()
        });
    });
    group.finish();
}

criterion_group!(benches, csv_to_row_batch);
criterion_main!(benches);

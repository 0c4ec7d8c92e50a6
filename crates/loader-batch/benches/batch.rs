//! Value conversion (`ColumnType::parse`) per type, and cutting a batch into sub-batches.
//! `cargo bench -p loader-batch`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loader_batch::{ColumnType, RowBatch, split_rows};
use std::hint::black_box;

fn value_conversion(c: &mut Criterion) {
    let cases: [(ColumnType, &[&[u8]]); 5] = [
        (
            ColumnType::Integer,
            &[b"0", b"42", b"-9223372036854775808", b"123456789"],
        ),
        (
            ColumnType::Real,
            &[b"2.5", b"-0.001", b"1e10", b"12345.678"],
        ),
        (ColumnType::Boolean, &[b"true", b"f", b"yes", b"0"]),
        (
            ColumnType::Date,
            &[b"2024-01-02", b"1999-12-31", b"2026-11-28", b"2000-02-29"],
        ),
        (
            ColumnType::Timestamp,
            &[
                b"2024-01-02T03:04:05",
                b"2024-01-02 03:04:05.123456",
                b"2026-11-28T16:00:00Z",
                b"1999-12-31T23:59:59+02:00",
            ],
        ),
    ];
    let mut group = c.benchmark_group("value");
    for (ty, fields) in cases {
        group.throughput(Throughput::Elements(fields.len() as u64));
        group.bench_function(ty.as_str(), |b| {
            b.iter(|| {
                for field in fields {
                    black_box(ty.parse(black_box(field)).expect("valid"));
                }
            });
        });
    }
    group.finish();
}

fn sub_batch_split(c: &mut Criterion) {
    let mut batch = RowBatch::new(3, 0);
    for row in 0..100_000u64 {
        let id = row.to_string();
        batch
            .push_row(row + 2, row * 30, [id.as_bytes(), b"some text", b"2.5"])
            .expect("row");
    }
    let mut group = c.benchmark_group("split");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("split_rows_100k_by_1000", |b| {
        b.iter(|| black_box(split_rows(&batch, 1000, 4 << 20)).len());
    });
    group.finish();
}

criterion_group!(benches, value_conversion, sub_batch_split);
criterion_main!(benches);

//! `loader schema FILE...`: what loader makes of a file before loading it: its dialect and the
//! schema inferred from a sample (with `--column` and `--schema-file` applied).

use crate::args::{Ddl, SchemaArgs};
use crate::format::{bytes, count};
use anyhow::Result;
use loader_strategy::{LoadSettings, PlannedFile};
use std::process::ExitCode;

pub fn run(args: &SchemaArgs, settings: LoadSettings) -> Result<ExitCode> {
    let csv = settings.csv.clone();
    let plan = crate::load::planner(settings)?.plan(&args.common.paths)?;
    if let Some(database) = args.ddl {
        // A table several files go to is shown from the first file planned for it.
        let mut shown = std::collections::HashSet::new();
        for file in plan.files.iter().filter(|f| shown.insert(f.table.clone())) {
            let statement = match database {
                Ddl::Sqlite => loader_sink::sqlite_create_table(&file.table, &file.sample.schema),
                Ddl::Postgres => {
                    loader_sink::postgres_create_table(&file.table, &file.sample.schema)
                }
            };
            crate::outln!("{statement};");
        }
        // No statement for a file that cannot be read; said on stderr, as the SQL may be
        // piped into a database.
        for file in &plan.unread_files {
            eprintln!(
                "error: {}: cannot be loaded: {}",
                file.path.display(),
                file.error
            );
        }
        return Ok(crate::load::plan_exit(&plan));
    }
    if args.common.json {
        let files: Vec<_> = plan
            .files
            .iter()
            .map(|f| json(f, &csv))
            .chain(plan.empty_files.iter().map(|f| {
                serde_json::json!({
                    "path": f.path, "size": f.size, "table": f.table, "empty": true,
                    "columns": [],
                })
            }))
            .chain(plan.unread_files.iter().map(|f| {
                serde_json::json!({
                    "path": f.path, "size": f.size, "table": f.table, "error": f.error,
                    "columns": [],
                })
            }))
            .collect();
        crate::outln!("{}", serde_json::to_string_pretty(&files)?);
        return Ok(crate::load::plan_exit(&plan));
    }
    for file in &plan.files {
        print(file, &csv);
    }
    for file in &plan.empty_files {
        crate::outln!(
            "{} ({}): empty, no header and no rows: nothing to load",
            file.path.display(),
            bytes(file.size)
        );
    }
    crate::load::print_unread(&plan);
    Ok(crate::load::plan_exit(&plan))
}

fn delimiter_name(delimiter: u8) -> String {
    match delimiter {
        b',' => "comma".into(),
        b';' => "semicolon".into(),
        b'\t' => "tab".into(),
        b'|' => "pipe".into(),
        other => format!("{:?}", char::from(other)),
    }
}

fn print(file: &PlannedFile, csv: &loader_file::CsvOptions) {
    let sample = &file.sample;
    let compression = match sample.compression {
        loader_file::Compression::None => String::new(),
        other => format!(
            ", {} (about {:.1}x)",
            other.as_str(),
            sample.compression_ratio
        ),
    };
    crate::outln!(
        "{} ({}{compression}): {}-delimited{}, {}, {}, ~{} rows (from {} sampled{}) -> table {:?}",
        file.path.display(),
        bytes(file.size),
        delimiter_name(sample.delimiter),
        match (csv.has_delimiter(), sample.separator_line) {
            (true, _) => "",
            (false, true) => " (its sep= line)",
            (false, false) => " (sniffed)",
        },
        if csv.get_has_headers() {
            "header"
        } else {
            "no header"
        },
        encoding(sample, csv)
            + if sample.cr_line_ends {
                ", lines ending in CR"
            } else {
                ""
            }
            + &match csv.get_skip_footer() {
                0 => String::new(),
                1 => ", last line left out".to_owned(),
                lines => format!(", last {lines} lines left out"),
            }
            + if csv.get_decimal_comma() {
                ", decimal comma"
            } else {
                ""
            }
            + &csv
                .get_thousands()
                .map(|mark| format!(", thousands grouped by {:?}", char::from(mark)))
                .unwrap_or_default()
            + &csv
                .get_currency()
                .map(|sign| format!(", amounts in {}", sign.as_str()))
                .unwrap_or_default()
            + &csv
                .get_date_format()
                .map(|f| format!(", dates as {f}"))
                .unwrap_or_default()
            + &csv
                .get_timestamp_format()
                .map(|f| format!(", timestamps as {f}"))
                .unwrap_or_default(),
        count(sample.estimated_rows()),
        count(sample.rows_sampled as u64),
        if sample.rows_probed > 0 {
            format!(
                ", types from {} more further on",
                count(sample.rows_probed as u64)
            )
        } else {
            String::new()
        },
        file.table,
    );
    for (index, column) in sample.schema.columns().iter().enumerate() {
        crate::outln!("  {:>3}  {:<32} {}", index + 1, column.name, column.ty);
    }
    for (column, from, to) in &sample.renamed {
        crate::outln!("  column {column}: header {from:?} renamed to {to:?}");
    }
    for note in file.sample_notes() {
        crate::outln!("  {note}");
    }
}

fn json(file: &PlannedFile, csv: &loader_file::CsvOptions) -> serde_json::Value {
    let sample = &file.sample;
    serde_json::json!({
        "path": file.path,
        "size": file.size,
        "table": file.table,
        "empty": false,
        "delimiter": char::from(sample.delimiter).to_string(),
        "delimiter_sniffed": !csv.has_delimiter(),
        "separator_line": sample.separator_line,
        "header": csv.get_has_headers(),
        "header_like_data": sample.header_like_data,
        "not_utf8_line": sample.not_utf8_line,
        "title_lines": sample.title_lines,
        "encoding": encoding(sample, csv),
        "cr_line_ends": sample.cr_line_ends,
        // How values are written, as the options say (null when as every type reads them).
        "decimal_comma": csv.get_decimal_comma(),
        "thousands": csv.get_thousands().map(|mark| char::from(mark).to_string()),
        "currency": csv.get_currency().map(|sign| sign.as_str().to_owned()),
        "date_format": csv.get_date_format(),
        "timestamp_format": csv.get_timestamp_format(),
        "skipped": sample.skipped.iter().map(|(column, name)| serde_json::json!({
            "column": column, "name": name,
        })).collect::<Vec<_>>(),
        "compression": sample.compression.as_str(),
        "compression_ratio": sample.compression_ratio,
        "rows_sampled": sample.rows_sampled,
        "rows_probed": sample.rows_probed,
        "estimated_rows": sample.estimated_rows(),
        "columns": sample.schema.columns().iter().map(|c| serde_json::json!({
            "name": c.name, "type": c.ty.as_str(),
        })).collect::<Vec<_>>(),
        "renamed": sample.renamed.iter().map(|(column, from, to)| serde_json::json!({
            "column": column, "header": from, "name": to,
        })).collect::<Vec<_>>(),
        // Columns written as a locale writes them, with the options that read them.
        "written_hints": sample.written_hints.iter().map(|hint| serde_json::json!({
            "column": hint.column + 1, "type": hint.ty.as_str(), "options": hint.options,
            "example": hint.example,
        })).collect::<Vec<_>>(),
        "notes": file.sample_notes(),
    })
}

/// The text's encoding: the one its UTF-16 byte order mark says, else the one asked for.
fn encoding(sample: &loader_file::FileSample, csv: &loader_file::CsvOptions) -> String {
    match sample.converted_from {
        Some(utf16) => format!("{utf16} (byte order mark)"),
        None => format!("{:?}", csv.get_encoding()).to_lowercase(),
    }
}

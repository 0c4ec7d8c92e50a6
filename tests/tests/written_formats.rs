//! Values written as locales write them, through the binary into a real SQLite file and
//! the real PostgreSQL: `--decimal-comma` loads a European spreadsheet's numbers as numbers,
//! `--date-format` and `--timestamp-format` an American export's dates as dates; without the
//! flags the stopped file's advice names them.

use loader_tests::pg::{ScratchSchema, pg_url};
use loader_tests::{Rows, assert_stopped_advising, assert_succeeded, run_loader, sqlite_rows};
use std::path::Path;

/// Excel's "CSV (semicolon)" from a German locale: decimal commas, points grouping thousands.
const EXPORT: &str = "Artikel;Preis;Menge;Notiz\n\
                      1;1.234,50;1.000;groß, rot\n\
                      2;0,99;12;\n\
                      3;-12,5;2.500;1.5 m\n";

fn write_export(dir: &Path) {
    std::fs::write(dir.join("preise.csv"), EXPORT).unwrap();
}

/// The export's rows as loaded, and the sum of its prices and quantities.
fn check_loaded(rows: &dyn Fn(&str) -> Rows) {
    let text = |v: &str| Some(v.to_owned());
    assert_eq!(
        rows("SELECT CAST(round(sum(\"Preis\") * 100) AS INTEGER), sum(\"Menge\") FROM preise"),
        [[text("122299"), text("3512")]]
    );
    assert_eq!(
        rows("SELECT \"Notiz\" FROM preise ORDER BY \"Artikel\""),
        [[text("groß, rot")], [None], [text("1.5 m")]]
    );
}

#[test]
fn a_decimal_comma_export_loads_into_sqlite_with_numbers_as_numbers() {
    let dir = tempfile::tempdir().unwrap();
    write_export(dir.path());
    // Without the flag: the columns are text, as written, and `schema` names the flag.
    assert_succeeded(&run_loader(
        dir.path(),
        &["load", "preise.csv", "--into", "plain.db"],
    ));
    let schema = run_loader(dir.path(), &["schema", "preise.csv"]);
    let said = String::from_utf8_lossy(&schema.stdout);
    for note in [
        "column \"Preis\" is text as written, but values such as \"1.234,50\" read as numbers \
         with --decimal-comma",
        "column \"Menge\" is real as written, but with --decimal-comma, which column \"Preis\" \
         needs, \"1.000\" is 1000",
    ] {
        assert!(said.contains(note), "{said}");
    }
    let json = run_loader(dir.path(), &["schema", "preise.csv", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json[0]["decimal_comma"], false);
    assert_eq!(
        json[0]["written_hints"][0],
        serde_json::json!({"column": 2, "type": "text", "options": ["--decimal-comma"], "example": "1.234,50"})
    );
    let json = run_loader(
        dir.path(),
        &[
            "schema",
            "preise.csv",
            "--json",
            "--decimal-comma",
            "--thousands",
            " ",
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (&json[0]["decimal_comma"], &json[0]["thousands"]),
        (&serde_json::json!(true), &serde_json::json!(" "))
    );
    let output = run_loader(
        dir.path(),
        &["load", "preise.csv", "--into", "out.db", "--decimal-comma"],
    );
    assert_succeeded(&output);
    let db = dir.path().join("out.db");
    let types = sqlite_rows(
        &db,
        "SELECT type FROM pragma_table_info('preise') ORDER BY cid",
    );
    let types: Vec<&str> = types.iter().flat_map(|r| r[0].as_deref()).collect();
    assert_eq!(types, ["INTEGER", "REAL", "INTEGER", "TEXT"]);
    check_loaded(&|sql| sqlite_rows(&db, sql));
}

#[test]
fn a_decimal_comma_export_loads_into_an_existing_postgres_table_or_names_the_flag() {
    let Some(url) = pg_url() else {
        return;
    };
    let schema = ScratchSchema::created(&url, "decimal_comma");
    schema.create_table(
        "preise",
        "\"Artikel\" int8, \"Preis\" numeric(10,2), \"Menge\" int4, \"Notiz\" text",
    );
    let dir = tempfile::tempdir().unwrap();
    write_export(dir.path());
    let load = |extra: &[&str]| schema.load(dir.path(), "preise.csv", extra);
    assert_stopped_advising(&load(&[]), "--decimal-comma reads \"1.000\" as \"1000\"");
    assert_succeeded(&load(&["--decimal-comma"]));
    check_loaded(&|sql| schema.query(sql));
}

/// Excel's CSV from a United States locale: month first, 12-hour clock.
const US_EXPORT: &str = "id,paid,at\n1,1/31/2024,1/31/2024 1:45 PM\n2,2/1/2024,2/1/2024 9:05 AM\n";

const US_FORMATS: [&str; 4] = [
    "--date-format",
    "%m/%d/%Y",
    "--timestamp-format",
    "%m/%d/%Y %I:%M %p",
];

fn check_us_dates(rows: &dyn Fn(&str) -> Rows) {
    let text = |v: &str| Some(v.to_owned());
    assert_eq!(
        rows("SELECT CAST(paid AS TEXT), CAST(at AS TEXT) FROM us ORDER BY id"),
        [
            [text("2024-01-31"), text("2024-01-31 13:45:00")],
            [text("2024-02-01"), text("2024-02-01 09:05:00")]
        ]
    );
}

#[test]
fn dates_in_a_format_of_their_own_load_as_dates_into_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("us.csv"), US_EXPORT).unwrap();
    let plan = run_loader(dir.path(), &["plan", "us.csv"]);
    let said = String::from_utf8_lossy(&plan.stdout);
    assert!(
        said.contains(
            "column \"at\" is text as written, but values such as \"1/31/2024 1:45 PM\" \
             read as timestamps with --timestamp-format '%m/%d/%Y %I:%M %p'"
        ),
        "{said}"
    );
    let mut args = vec!["load", "us.csv", "--into", "out.db"];
    args.extend_from_slice(&US_FORMATS);
    assert_succeeded(&run_loader(dir.path(), &args));
    let db = dir.path().join("out.db");
    let types = sqlite_rows(&db, "SELECT type FROM pragma_table_info('us') ORDER BY cid");
    let types: Vec<&str> = types.iter().flat_map(|r| r[0].as_deref()).collect();
    assert_eq!(types, ["INTEGER", "DATE", "TIMESTAMP"]);
    check_us_dates(&|sql| sqlite_rows(&db, sql));
}

#[test]
fn dates_in_a_format_of_their_own_load_into_postgres_or_name_the_flag() {
    let Some(url) = pg_url() else {
        return;
    };
    let schema = ScratchSchema::created(&url, "date_format");
    schema.create_table("us", "id int8, paid date, at timestamp");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("us.csv"), US_EXPORT).unwrap();
    let load = |extra: &[&str]| schema.load(dir.path(), "us.csv", extra);
    assert_stopped_advising(&load(&[]), "--date-format %m/%d/%Y reads \"1/31/2024\"");
    assert_succeeded(&load(&US_FORMATS));
    check_us_dates(&|sql| schema.query(sql));
}

#[test]
fn numbers_grouped_in_thousands_load_as_numbers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("totals.csv"),
        "region,amount,units\nwest,\"1,234,567.89\",\"12,000\"\neast,0.11,7\n",
    )
    .unwrap();
    let load = |extra: &[&str]| {
        let mut args = vec!["load", "totals.csv", "--into", "out.db"];
        args.extend_from_slice(extra);
        run_loader(dir.path(), &args)
    };
    let refused = load(&["--thousands", "."]);
    assert_eq!(refused.status.code(), Some(2));
    assert_succeeded(&load(&["--thousands", ","]));
    let db = dir.path().join("out.db");
    assert_eq!(
        sqlite_rows(
            &db,
            "SELECT CAST(round(sum(amount) * 100) AS INTEGER), sum(units) FROM totals"
        ),
        [[Some("123456800".to_owned()), Some("12007".to_owned())]]
    );
}

/// A payments export: dollar amounts with thousands commas, refunds in parentheses or
/// with a minus before the sign.
const PAYMENTS: &str = "id,amount,refund\n\
                        1,\"$1,234.50\",($5.00)\n\
                        2,$0.99,-$1\n\
                        3,\"$12,000\",$0\n";

/// `--currency '$' --thousands ,` loads the amounts as numbers, into SQLite (new table,
/// real) and into an existing PostgreSQL table (numeric, exact, and double precision); without it `plan` names the
/// flags, and the existing table stops the file advising them.
#[test]
fn amounts_with_a_currency_sign_load_as_numbers_or_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("payments.csv"), PAYMENTS).unwrap();
    let plan = run_loader(dir.path(), &["plan", "payments.csv"]);
    let said = String::from_utf8_lossy(&plan.stdout);
    assert!(
        said.contains(
            "column \"amount\" is text as written, but values such as \"$1,234.50\" read as \
             numbers with --currency '$' --thousands ,"
        ) && said.contains("values such as \"($5.00)\" read as numbers with --currency '$'"),
        "{said}"
    );
    let flags = ["--currency", "$", "--thousands", ","];
    let mut load = vec!["load", "payments.csv", "--into", "out.db"];
    load.extend_from_slice(&flags);
    assert_succeeded(&run_loader(dir.path(), &load));
    let text = |v: &str| Some(v.to_owned());
    let sums = "SELECT CAST(round(sum(amount) * 100) AS INTEGER), \
                CAST(round(sum(refund) * 100) AS INTEGER), typeof(min(amount)) FROM payments";
    assert_eq!(
        sqlite_rows(&dir.path().join("out.db"), sums),
        [[text("1323549"), text("-600"), text("real")]]
    );
    let Some(url) = pg_url() else {
        return;
    };
    let schema = ScratchSchema::created(&url, "currency");
    schema.create_table(
        "payments",
        "id int8, amount numeric(12,2), refund double precision",
    );
    let load = |extra: &[&str]| schema.load(dir.path(), "payments.csv", extra);
    // The numeric column takes any text to the server, the real one is checked here.
    assert_stopped_advising(&load(&[]), "--currency '$' reads \"($5.00)\" as \"-5.00\"");
    assert_succeeded(&load(&flags));
    assert_eq!(
        schema.query("SELECT sum(amount)::text, sum(refund)::numeric(5,2)::text FROM payments"),
        [[text("13235.49"), text("-6.00")]]
    );
}

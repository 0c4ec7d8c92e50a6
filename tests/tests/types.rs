//! Which type a field is checked against, through the binary on a real SQLite file and the
//! real PostgreSQL: an existing table's, over one inferred from the file's first rows; and,
//! in a column nobody gave a type, a value that type would not store as written (a leading
//! zero past the sample) is a bad row, never a silent change.

use loader_tests::pg::{ScratchSchema, pg_url, query_text};
use loader_tests::{assert_stopped_advising, assert_succeeded, run_loader, sqlite_rows};
use std::path::Path;

/// Rows before the values the sample does not see (it reads 1000).
const SAMPLED: usize = 1500;

/// `t.csv`: `id,code,amount,qty` with codes and amounts that look like whole numbers for
/// the first [`SAMPLED`] rows, then a code `abc`, a code `02134` and an amount `1.5`; `qty`
/// starts with `x1` (so the sample calls it text) and is a number after.
fn write_input(dir: &Path) {
    let mut text = String::from("id,code,amount,qty\n");
    for i in 0..SAMPLED {
        let qty = if i == 0 {
            "x1".to_owned()
        } else {
            i.to_string()
        };
        text.push_str(&format!("{i},{},{i},{qty}\n", 10_000 + i));
    }
    text.push_str(&format!("{},abc,1.5,7\n", SAMPLED));
    text.push_str(&format!("{},02134,2,8\n", SAMPLED + 1));
    std::fs::write(dir.join("t.csv"), text).unwrap();
}

fn load(dir: &Path, into: &[&str], extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["load", "t.csv", "--table", "t", "--on-error", "skip"];
    args.extend_from_slice(into);
    args.extend_from_slice(extra);
    let output = run_loader(dir, &args);
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// `loader load FILE --table t` with `into` and `extra`, with the default bad-row policy.
fn load_into_t(dir: &Path, file: &str, into: &[&str], extra: &[&str]) -> std::process::Output {
    let mut args = vec!["load", file, "--table", "t"];
    args.extend_from_slice(into);
    args.extend_from_slice(extra);
    run_loader(dir, &args)
}

/// The load failed (exit code 1) saying `message`.
fn assert_failed_saying(output: &std::process::Output, message: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(message), "{stderr}");
}

/// Into an existing table whose `code` is text, `amount` takes decimals and `qty` is an
/// integer: `abc`, `02134` and `1.5` load as written though the sample read whole numbers,
/// and `x1`, which the sample let make `qty` text, is a bad row named by line and column.
fn check_table_types_win(dir: &Path, into: &[&str], rows: &dyn Fn(&str) -> Rows) {
    write_input(dir);
    let (code, output) = load(dir, into, &[]);
    assert_eq!(code, Some(3), "one row set aside: {output}");
    assert!(output.contains("1,501 loaded, 1 rejected"), "{output}");
    // The summary says which types came from the table (PostgreSQL's numeric is checked
    // by the server, as text; SQLite's as a real).
    assert!(
        output.contains("table \"t\" types code as text (sampled integer), amount as ")
            && output.contains("qty as integer (sampled text)"),
        "{output}"
    );
    let late = rows(&format!(
        "SELECT code, amount, qty FROM t WHERE id >= {SAMPLED} ORDER BY id"
    ));
    let text = |v: &[&str]| v.iter().map(|s| Some((*s).to_owned())).collect::<Vec<_>>();
    assert_eq!(
        late,
        [text(&["abc", "1.5", "7"]), text(&["02134", "2", "8"])]
    );
    let quarantined = rows("SELECT line, column_name, kind FROM _loader_quarantine");
    assert_eq!(quarantined, [text(&["2", "qty", "type"])]);
}

/// What a check is given: the scratch directory, the `--into` arguments, and a query on
/// the target whose values come back as text.
type Check<'a> = &'a dyn Fn(&Path, &[&str], &dyn Fn(&str) -> Rows);

use loader_tests::Rows;

/// Runs `check` into a fresh SQLite file holding the table `create` makes; returns the
/// scratch directory (`out.db` in it) for more checks.
fn on_sqlite_table(create: &str, check: Check<'_>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("out.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(create)
        .unwrap();
    check(dir.path(), &["--into", "out.db"], &|sql| {
        sqlite_rows(&db, sql)
    });
    dir
}

/// Runs `check` into a scratch PostgreSQL schema holding table `t` with `columns`;
/// returns the server's URL and the schema (dropped when it goes), or none without a
/// server.
fn on_postgres_table(
    tag: &str,
    columns: &str,
    check: Check<'_>,
) -> Option<(String, ScratchSchema)> {
    let url = pg_url()?;
    let schema = ScratchSchema::created(&url, tag);
    schema.create_table("t", columns);
    let dir = tempfile::tempdir().unwrap();
    let into = ["--into", url.as_str(), "--schema", schema.name.as_str()];
    check(dir.path(), &into, &|sql| schema.query(sql));
    Some((url, schema))
}

/// The table the type tests load into: text codes, decimal amounts, integer quantities.
const SQLITE_TABLE: &str = "CREATE TABLE t (id INTEGER, code VARCHAR(10), amount NUMERIC, qty INT)";
const POSTGRES_COLUMNS: &str = "id int8, code text, amount numeric, qty int4";

#[test]
fn an_existing_sqlite_tables_types_win_over_the_sample() {
    let dir = on_sqlite_table(SQLITE_TABLE, &check_table_types_win);
    // Stored as the table's types hold them: the code as text, not the number 2134.
    assert_eq!(
        sqlite_rows(
            &dir.path().join("out.db"),
            "SELECT typeof(code) FROM t WHERE id = 1501"
        ),
        [[Some("text".to_owned())]]
    );
}

#[test]
fn an_existing_postgres_tables_types_win_over_the_sample() {
    on_postgres_table("table_types", POSTGRES_COLUMNS, &check_table_types_win);
}

/// A new table: the sample makes `code` an integer column, so the late `02134` would be
/// stored as 2134; it is set aside instead, with a message saying how to load it, and loads
/// as the `--column` given says.
#[test]
fn a_leading_zero_past_the_sample_is_a_bad_row_unless_a_type_was_given() {
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path());
    let db = dir.path().join("out.db");
    let (code, output) = load(dir.path(), &["--into", "out.db"], &["--column", "qty:text"]);
    assert_eq!(code, Some(3), "{output}");
    let quarantined = sqlite_rows(
        &db,
        "SELECT line, column_name, message FROM _loader_quarantine ORDER BY line",
    );
    // `abc` is no integer at all; `02134` is one that would lose its zero.
    let lines: Vec<_> = quarantined.iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(lines, ["1502", "1503"], "{quarantined:?}");
    let message = quarantined[1][2].clone().unwrap();
    assert!(
        message.contains("\"02134\" has a leading zero, which a number drops")
            && message.contains("--column code:text keeps them as written"),
        "{message}"
    );

    for (given, stored) in [("code:text", "02134"), ("code:integer", "2134")] {
        let dir = tempfile::tempdir().unwrap();
        write_input(dir.path());
        let (code, output) = load(
            dir.path(),
            &["--into", "out.db"],
            &[
                "--column",
                "qty:text",
                "--column",
                "amount:real",
                "--column",
                given,
            ],
        );
        // As an integer, `abc` is still no value of the column.
        assert_eq!(
            code,
            Some(if given == "code:text" { 0 } else { 3 }),
            "{output}"
        );
        let db = dir.path().join("out.db");
        assert_eq!(
            sqlite_rows(&db, "SELECT code FROM t WHERE id = 1501"),
            [[Some(stored.to_owned())]],
            "--column {given}"
        );
    }
}

/// `--no-header` into an existing table: the file's columns are the table's, in order (as
/// `psql`'s `\copy` takes them), typed as the table types them; a file with more columns
/// than the table is refused before anything is written, saying why.
fn check_no_header_takes_the_tables_columns(
    dir: &Path,
    into: &[&str],
    rows: &dyn Fn(&str) -> Rows,
) {
    std::fs::write(dir.join("t.csv"), "1,ann,007\n2,bob,010\n").unwrap();
    let output = load_into_t(dir, "t.csv", into, &["--no-header"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = |v: &[&str]| v.iter().map(|s| Some((*s).to_owned())).collect::<Vec<_>>();
    assert_eq!(
        rows("SELECT id, name, code FROM t ORDER BY id"),
        [text(&["1", "ann", "007"]), text(&["2", "bob", "010"])]
    );

    std::fs::write(dir.join("wide.csv"), "3,cy,011,extra\n").unwrap();
    assert_failed_saying(
        &load_into_t(dir, "wide.csv", into, &["--no-header"]),
        "wide.csv: the file has 4 columns and no header, and table \"t\" has 3: without a \
         header, a file's columns are the table's, in order",
    );
    assert_eq!(rows("SELECT count(*) FROM t"), [text(&["2"])]);
}

#[test]
fn a_file_without_a_header_takes_an_existing_sqlite_tables_columns_in_order() {
    on_sqlite_table(
        "CREATE TABLE t (id INTEGER, name TEXT, code TEXT)",
        &check_no_header_takes_the_tables_columns,
    );
}

#[test]
fn a_file_without_a_header_takes_an_existing_postgres_tables_columns_in_order() {
    on_postgres_table(
        "no_header",
        "id int8, name text, code text",
        &check_no_header_takes_the_tables_columns,
    );
}

/// A dry run checks fields against an existing table's types as the load would, and writes
/// nothing: not a row, not a ledger table.
fn check_dry_run_finds_what_the_load_would(dir: &Path, into: &[&str], _: &dyn Fn(&str) -> Rows) {
    write_input(dir);
    let (code, output) = load(dir, into, &["--dry-run"]);
    assert_eq!(code, Some(3), "{output}");
    assert!(output.contains("1,501 accepted, 1 rejected"), "{output}");
    assert!(output.contains("nothing was written"), "{output}");
}

#[test]
fn a_dry_run_checks_an_existing_sqlite_tables_types_and_writes_nothing() {
    let dir = on_sqlite_table(SQLITE_TABLE, &check_dry_run_finds_what_the_load_would);
    assert_eq!(
        sqlite_rows(
            &dir.path().join("out.db"),
            "SELECT count(*) FROM sqlite_master"
        ),
        [[Some("1".to_owned())]],
        "only the table the test made"
    );
    // Into a database that does not exist, the sample's types stand, and none is created.
    let (code, output) = load(dir.path(), &["--into", "new.db"], &["--dry-run"]);
    assert_eq!(code, Some(3), "{output}");
    assert!(!dir.path().join("new.db").exists());
}

#[test]
fn a_dry_run_checks_an_existing_postgres_tables_types_and_writes_nothing() {
    let Some((url, schema)) = on_postgres_table(
        "dry_run_types",
        POSTGRES_COLUMNS,
        &check_dry_run_finds_what_the_load_would,
    ) else {
        return;
    };
    let tables = query_text(
        &url,
        &format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}'",
            schema.name
        ),
    );
    assert_eq!(
        tables,
        [[Some("1".to_owned())]],
        "only the table the test made"
    );
}

/// A file with a column the existing table lacks stops before a row is read, naming the
/// column and the table's columns.
fn check_a_column_not_in_the_table_is_named(
    dir: &Path,
    into: &[&str],
    rows: &dyn Fn(&str) -> Rows,
) {
    std::fs::write(dir.join("t.csv"), "id,nickname\n1,ann\n").unwrap();
    assert_failed_saying(
        &load_into_t(dir, "t.csv", into, &[]),
        "t.csv: column \"nickname\" is not in table \"t\" (its columns: id, name)",
    );
    assert_eq!(rows("SELECT count(*) FROM t"), [[Some("0".to_owned())]]);
}

#[test]
fn a_column_an_existing_sqlite_table_lacks_is_named_before_any_row() {
    on_sqlite_table(
        "CREATE TABLE t (id INTEGER, name TEXT)",
        &check_a_column_not_in_the_table_is_named,
    );
}

#[test]
fn a_column_an_existing_postgres_table_lacks_is_named_before_any_row() {
    on_postgres_table(
        "missing_column",
        "id int8, name text",
        &check_a_column_not_in_the_table_is_named,
    );
}

/// Spaces around header names are not part of the column names: `id , Name ` loads into a
/// table's `id` and `name`, and into a table made before names were trimmed, whose column
/// kept them.
fn check_spaced_header_names_match(dir: &Path, into: &[&str], rows: &dyn Fn(&str) -> Rows) {
    std::fs::write(dir.join("t.csv"), "id , Name \n1,ann\n").unwrap();
    let output = load_into_t(dir, "t.csv", into, &[]);
    assert_succeeded(&output);
    assert_eq!(rows("SELECT count(*) FROM t"), [[Some("1".to_owned())]]);
}

#[test]
fn spaces_around_header_names_are_not_part_of_the_column_names() {
    for create in [
        "CREATE TABLE t (id INTEGER, name TEXT)",
        "CREATE TABLE t (id INTEGER, \" Name \" TEXT)",
    ] {
        on_sqlite_table(create, &check_spaced_header_names_match);
    }
    on_postgres_table(
        "spaced_names",
        "id int8, \" name\" text",
        &check_spaced_header_names_match,
    );
    // A new table takes the trimmed names.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "id , Name \n1,ann\n").unwrap();
    let output = load_into_t(dir.path(), "t.csv", &["--into", "new.db"], &[]);
    assert_eq!(output.status.code(), Some(0));
    let db = dir.path().join("new.db");
    assert_eq!(
        sqlite_rows(&db, "SELECT name FROM pragma_table_info('t') ORDER BY cid"),
        [[Some("id".to_owned())], [Some("Name".to_owned())]]
    );
}

/// A file of `columns` text columns and one row.
fn write_wide(dir: &Path, columns: usize) {
    let header: Vec<String> = (1..=columns).map(|i| format!("c{i}")).collect();
    let row = vec!["a"; columns];
    let text = format!("{}\n{}\n", header.join(","), row.join(","));
    std::fs::write(dir.join("wide.csv"), text).unwrap();
}

/// The widest table each database holds loads; one column more stops the file naming both
/// counts, before the database's own "too many columns".
#[test]
fn one_column_past_what_a_database_holds_is_named_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let url = pg_url();
    let schema = url.as_ref().map(|url| ScratchSchema::new(url, "wide"));
    let mut targets: Vec<(Vec<&str>, usize, &str)> = vec![(
        vec!["--into", "wide.db"],
        2000,
        "a SQLite table holds at most 2000",
    )];
    if let (Some(url), Some(schema)) = (&url, &schema) {
        targets.push((
            vec!["--into", url, "--schema", &schema.name],
            1600,
            "a PostgreSQL table holds at most 1600",
        ));
    }
    for (into, most, message) in targets {
        write_wide(dir.path(), most + 1);
        let output = load_into_t(dir.path(), "wide.csv", &into, &["--force"]);
        assert_failed_saying(&output, &format!("{} columns, and {message}", most + 1));
        write_wide(dir.path(), most);
        let output = load_into_t(dir.path(), "wide.csv", &into, &["--force"]);
        assert_succeeded(&output);
    }
}

/// A file whose header names columns its existing table lacks stops, naming the flag that
/// loads it; a dry run with the flag changes no table; with it the columns are added, typed
/// as sampled, the file's rows carry them and the rows already there hold NULL.
fn check_new_columns_are_added_when_asked(dir: &Path, into: &[&str], rows: &dyn Fn(&str) -> Rows) {
    // A row already there, in the table's two columns.
    std::fs::write(dir.join("old.csv"), "id,name\n0,zed\n").unwrap();
    assert_succeeded(&load_into_t(dir, "old.csv", into, &[]));
    std::fs::write(
        dir.join("t.csv"),
        "id,name,score,joined\n1,ann,2.5,2024-01-02\n",
    )
    .unwrap();
    let not_in_table = "t.csv: column \"score\" is not in table \"t\" (its columns: id, name)";
    let output = load_into_t(dir, "t.csv", into, &[]);
    assert_failed_saying(&output, not_in_table);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("--add-columns adds \"score\""), "{stdout}");
    let output = load_into_t(dir, "t.csv", into, &["--add-columns", "--dry-run"]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("columns a load would add to table \"t\": score real, joined date"),
        "{stdout}"
    );
    assert_failed_saying(&load_into_t(dir, "t.csv", into, &[]), not_in_table);
    let output = load_into_t(dir, "t.csv", into, &["--add-columns"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("columns added to table \"t\": score real, joined date"),
        "{stdout}"
    );
    let count = |sql: &str| rows(sql)[0][0].clone().unwrap();
    assert_eq!(
        count("SELECT count(*) FROM t WHERE score = 2.5 AND joined = '2024-01-02'"),
        "1"
    );
    assert_eq!(count("SELECT count(*) FROM t WHERE score IS NULL"), "1");
    // The audit trail says so where the file's load is committed.
    let trail = "SELECT count(*) FROM _loader_audit WHERE scope = 'file' AND kind = 'committed' \
                 AND reason LIKE 'memory: %; columns added to table \"t\": score real, joined date'";
    assert_eq!(count(trail), "1");
    // And the run's settings in the ledger name the flag.
    let runs = "SELECT count(*) FROM _loader_runs WHERE settings LIKE '%\"add_columns\":true%'";
    assert_eq!(count(runs), "1");
    // The columns are there now: another such file loads without the flag.
    std::fs::write(dir.join("u.csv"), "id,score\n2,3.5\n").unwrap();
    let output = load_into_t(dir, "u.csv", into, &[]);
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn columns_a_table_lacks_are_added_only_when_asked() {
    on_sqlite_table(
        "CREATE TABLE t (id INTEGER, name TEXT)",
        &check_new_columns_are_added_when_asked,
    );
    on_postgres_table(
        "add_columns",
        "id int8, name text",
        &check_new_columns_are_added_when_asked,
    );
}

/// Values with spaces around them (`1, 42`) into a table's typed columns load as PostgreSQL's
/// `COPY` and SQLite's type affinity take them: trimmed, text as written.
fn check_padded_values_load_into_typed_columns(
    dir: &Path,
    into: &[&str],
    rows: &dyn Fn(&str) -> Rows,
) {
    std::fs::write(
        dir.join("t.csv"),
        "id,qty,amount,code\n1, 42 , 2.5,\" x \"\n2,7 ,3 , y\n",
    )
    .unwrap();
    let output = load_into_t(dir, "t.csv", into, &[]);
    assert_succeeded(&output);
    assert_eq!(
        rows("SELECT sum(qty), sum(amount) FROM t"),
        [[Some("49".to_owned()), Some("5.5".to_owned())]]
    );
    assert_eq!(
        rows("SELECT code FROM t ORDER BY id"),
        [[Some(" x ".to_owned())], [Some(" y".to_owned())]]
    );
}

#[test]
fn padded_values_load_into_typed_columns_as_the_databases_read_them() {
    on_sqlite_table(
        "CREATE TABLE t (id INTEGER, qty INTEGER, amount REAL, code TEXT)",
        &check_padded_values_load_into_typed_columns,
    );
    on_postgres_table(
        "padded",
        "id int8, qty int4, amount float8, code text",
        &check_padded_values_load_into_typed_columns,
    );
}

/// An export that names a column otherwise than its table stops with advice naming the
/// rename; `--rename` loads it into the table's column, and the run's settings say so.
fn check_renamed_columns_load_into_the_tables(
    dir: &Path,
    into: &[&str],
    rows: &dyn Fn(&str) -> Rows,
) {
    std::fs::write(dir.join("t.csv"), "ID,full name,amt\n1,ann,2.5\n").unwrap();
    let output = load_into_t(dir, "t.csv", into, &["--rename", "amt=amount"]);
    assert_failed_saying(&output, "column \"full name\" is not in table \"t\"");
    assert_stopped_advising(
        &output,
        "--rename 'full name=name' loads it into the table's \"name\"",
    );
    let output = load_into_t(
        dir,
        "t.csv",
        into,
        &["--rename", "full name=name", "--rename", "amt=amount"],
    );
    assert_succeeded(&output);
    let plan = run_loader(dir, &["plan", "t.csv", "--rename", "full name=name"]);
    let stdout = String::from_utf8_lossy(&plan.stdout);
    assert!(
        stdout.contains("column 2: header \"full name\" renamed to \"name\""),
        "{stdout}"
    );
    assert_eq!(
        rows("SELECT id, name, amount FROM t"),
        [[
            Some("1".to_owned()),
            Some("ann".to_owned()),
            Some("2.5".to_owned())
        ]]
    );
    let runs = "SELECT count(*) FROM _loader_runs WHERE settings LIKE \
                '%\"renames\":[[\"full name\",\"name\"],[\"amt\",\"amount\"]]%'";
    assert_eq!(rows(runs), [[Some("1".to_owned())]]);
}

#[test]
fn renamed_columns_load_into_the_tables_columns() {
    on_sqlite_table(
        "CREATE TABLE t (id INTEGER, name TEXT, amount REAL)",
        &check_renamed_columns_load_into_the_tables,
    );
    on_postgres_table(
        "renamed",
        "id int8, name text, amount float8",
        &check_renamed_columns_load_into_the_tables,
    );
}

//! `--mode upsert --key`, through the binary on a real SQLite file and the real PostgreSQL:
//! a corrected export loaded again replaces the rows whose key it repeats and adds the rest,
//! the later of two rows with one key wins (also across the overlapping writes of several
//! COPY streams), and a table that cannot tell a repeated key stops with the index to make.

use loader_tests::pg::{ScratchSchema, pg_url};
use loader_tests::{Rows, assert_succeeded, run_loader, sqlite_rows};
use std::path::{Path, PathBuf};
use std::process::Output;

/// Where the same loads go: a SQLite file always, a scratch schema of the test server when
/// there is one.
struct Target {
    args: Vec<String>,
    sqlite: Option<PathBuf>,
    postgres: Option<ScratchSchema>,
}

impl Target {
    fn all(dir: &Path, tag: &str) -> Vec<Target> {
        let mut targets = vec![Target {
            args: vec!["--into".into(), "out.db".into()],
            sqlite: Some(dir.join("out.db")),
            postgres: None,
        }];
        if let Some(url) = pg_url() {
            let schema = ScratchSchema::created(&url, tag);
            targets.push(Target {
                args: vec!["--into".into(), url, "--schema".into(), schema.name.clone()],
                sqlite: None,
                postgres: Some(schema),
            });
        }
        targets
    }

    fn load(&self, dir: &Path, args: &[&str]) -> Output {
        let mut all = vec!["load"];
        all.extend_from_slice(args);
        all.extend(self.args.iter().map(String::as_str));
        run_loader(dir, &all)
    }

    /// Runs `sql` (statements separated by `;`) and gives the last one's rows as text.
    fn query(&self, sql: &str) -> Rows {
        match (&self.sqlite, &self.postgres) {
            (Some(db), _) => {
                let (setup, last) = sql.rsplit_once(';').unwrap_or(("", sql));
                if !setup.is_empty() {
                    rusqlite::Connection::open(db)
                        .unwrap()
                        .execute_batch(setup)
                        .unwrap();
                }
                sqlite_rows(db, last)
            }
            (None, Some(schema)) => schema.query(sql),
            (None, None) => unreachable!("a target is one or the other"),
        }
    }

    fn name(&self) -> &str {
        if self.sqlite.is_some() {
            "sqlite"
        } else {
            "postgres"
        }
    }
}

fn text(rows: &[&[&str]]) -> Rows {
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|v| (*v != "NULL").then(|| (*v).to_owned()))
                .collect()
        })
        .collect()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_corrected_export_replaces_the_rows_it_repeats_and_adds_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "monday.csv",
        "region,id,name,qty\neu,1,ann,5\neu,2,bob,7\nus,1,cy,1\n",
    );
    // Tuesday's export corrects eu-2 twice (the later line wins), adds eu-3, and repeats
    // us-1 as it was; its columns come in another order.
    write(
        "tuesday.csv",
        "qty,name,id,region\n8,bob,2,eu\n4,dee,3,eu\n9,bob,2,eu\n1,cy,1,us\n",
    );
    for target in Target::all(dir.path(), "upsert_corrected") {
        let upsert = |files: &[&str]| {
            let mut args = files.to_vec();
            args.extend_from_slice(&["--table", "stock", "--mode", "upsert", "--key", "region,id"]);
            target.load(dir.path(), &args)
        };
        let monday = upsert(&["monday.csv"]);
        assert_succeeded(&monday);
        let tuesday = upsert(&["tuesday.csv"]);
        assert_succeeded(&tuesday);
        // Every row read is accounted for as loaded: four rows applied, one replacing
        // another of the same file.
        assert!(
            stdout(&tuesday).contains("4 rows read, 4 loaded, 0 rejected, 0 skipped"),
            "{}: {}",
            target.name(),
            stdout(&tuesday)
        );
        assert_eq!(
            target.query("SELECT region, id, name, qty FROM stock ORDER BY region, id"),
            text(&[
                &["eu", "1", "ann", "5"],
                &["eu", "2", "bob", "9"],
                &["eu", "3", "dee", "4"],
                &["us", "1", "cy", "1"],
            ]),
            "{}",
            target.name()
        );
        // Both exports again: the ledger skips content it holds, as in append mode.
        let again = upsert(&["monday.csv", "tuesday.csv"]);
        assert_succeeded(&again);
        assert!(
            stdout(&again).contains("2 skipped as already loaded"),
            "{}",
            stdout(&again)
        );
        // The new table's key is its primary key: a repeat is refused by the table itself.
        let keyed =
            target.query("SELECT count(*) FROM stock WHERE region = 'eu' AND id = 2 AND qty = 9");
        assert_eq!(keyed, text(&[&["1"]]), "{}", target.name());
    }
}

#[test]
fn the_later_of_rows_with_one_key_wins_across_sub_batches_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    // 20,000 rows over 1,500 keys in sub-batches of 1,000 rows, which three COPY streams
    // write at once into PostgreSQL: each sub-batch shares keys with the one before it,
    // written at the same moment, so a later stream holding a key an earlier one wants must
    // give way. The last of 0..20,000 with key k is 19,500 + k below 500, 18,000 + k above.
    let mut csv = String::from("id,seen,note\n");
    for i in 0..20_000 {
        csv.push_str(&format!("{},{i},n{i}\n", i % 1_500));
    }
    std::fs::write(dir.path().join("repeats.csv"), csv).unwrap();
    for target in Target::all(dir.path(), "upsert_streams") {
        let output = target.load(
            dir.path(),
            &[
                "repeats.csv",
                "--mode",
                "upsert",
                "--key",
                "id",
                "--sub-batch-rows",
                "1000",
                "--streams",
                "3",
            ],
        );
        assert_succeeded(&output);
        assert_eq!(
            target.query(
                "SELECT count(*), sum(CASE WHEN seen = id + \
                 (CASE WHEN id < 500 THEN 19500 ELSE 18000 END) THEN 1 ELSE 0 END) FROM repeats"
            ),
            text(&[&["1500", "1500"]]),
            "{}: {}",
            target.name(),
            stdout(&output)
        );
    }
}

#[test]
fn a_table_without_a_unique_key_stops_naming_the_index_that_lets_it_upsert() {
    let dir = tempfile::tempdir().unwrap();
    for target in Target::all(dir.path(), "upsert_no_index") {
        std::fs::write(dir.path().join("people.csv"), "id,name\n1,ann\n2,bob\n").unwrap();
        target.query("CREATE TABLE people (id INTEGER, name TEXT); SELECT 1");
        let upsert = || {
            target.load(
                dir.path(),
                &["people.csv", "--mode", "upsert", "--key", "id"],
            )
        };
        // A dry run finds it as the load does, before a row is read.
        let dry_run = target.load(
            dir.path(),
            &["people.csv", "--mode", "upsert", "--key", "id", "--dry-run"],
        );
        for output in [dry_run, upsert()] {
            let said = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{}: {said}", target.name());
            assert!(
                said.contains("a unique index on exactly those columns")
                    && said.contains("CREATE UNIQUE INDEX ON")
                    && said.contains("\"people\" (\"id\")"),
                "{}: {said}",
                target.name()
            );
            assert!(
                String::from_utf8_lossy(&output.stdout).contains("0 rows read"),
                "{}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        assert_eq!(target.query("SELECT count(*) FROM people"), text(&[&["0"]]));
        // A primary key is such an index (in SQLite an INTEGER one is the rowid, with none
        // of its own), whatever order the key names its columns in.
        target.query(
            "CREATE TABLE keyed (id INTEGER PRIMARY KEY, name TEXT); \
             CREATE TABLE pair (a INTEGER, b INTEGER, name TEXT, PRIMARY KEY (b, a)); SELECT 1",
        );
        std::fs::write(dir.path().join("keyed.csv"), "id,name\n1,ann\n1,bob\n").unwrap();
        std::fs::write(dir.path().join("pair.csv"), "a,b,name\n1,2,ann\n1,2,bob\n").unwrap();
        for (file, key) in [("keyed.csv", "id"), ("pair.csv", "a,b")] {
            let output = target.load(dir.path(), &[file, "--mode", "upsert", "--key", key]);
            assert_succeeded(&output);
        }
        assert_eq!(
            target.query("SELECT k.name, p.name FROM keyed k, pair p"),
            text(&[&["bob", "bob"]])
        );
        // With the index the same command loads; rows without a key stand alone, as a
        // unique index takes any number of NULLs, and none swallows another.
        target.query("CREATE UNIQUE INDEX people_id ON people (id); SELECT 1");
        assert_succeeded(&upsert());
        std::fs::write(
            dir.path().join("people.csv"),
            "id,name\n,nobody\n2,bo\n,no one\n2,robert\n",
        )
        .unwrap();
        assert_succeeded(&upsert());
        assert_eq!(
            target.query("SELECT id, name FROM people ORDER BY id, name"),
            match target.name() {
                // SQLite sorts NULL first, PostgreSQL last.
                "sqlite" => text(&[
                    &["NULL", "no one"],
                    &["NULL", "nobody"],
                    &["1", "ann"],
                    &["2", "robert"]
                ]),
                _ => text(&[
                    &["1", "ann"],
                    &["2", "robert"],
                    &["NULL", "no one"],
                    &["NULL", "nobody"]
                ]),
            },
            "{}",
            target.name()
        );
    }
}

#[test]
fn rows_without_their_key_are_set_aside_in_a_table_loader_made() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders.csv"),
        "id,total\n1,5\n,6\n2,7\n,8\n",
    )
    .unwrap();
    for target in Target::all(dir.path(), "upsert_null_key") {
        let output = target.load(
            dir.path(),
            &[
                "orders.csv",
                "--mode",
                "upsert",
                "--key",
                "id",
                "--on-error",
                "skip",
            ],
        );
        assert_eq!(output.status.code(), Some(3), "{}", stdout(&output));
        assert!(
            stdout(&output).contains("4 rows read, 2 loaded, 2 rejected"),
            "{}: {}",
            target.name(),
            stdout(&output)
        );
        assert_eq!(
            target.query("SELECT id, total FROM orders ORDER BY id"),
            text(&[&["1", "5"], &["2", "7"]])
        );
        assert_eq!(
            target.query("SELECT count(*) FROM _loader_quarantine"),
            text(&[&["2"]])
        );
    }
}

#[test]
fn the_key_and_the_mode_go_together_and_every_file_needs_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), "id,name\n1,ann\n").unwrap();
    std::fs::write(dir.path().join("b.csv"), "code,name\n1,bob\n").unwrap();
    let load = |args: &[&str]| {
        let mut all = vec!["load"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--into", "out.db", "--table", "t"]);
        run_loader(dir.path(), &all)
    };
    let no_key = load(&["a.csv", "--mode", "upsert"]);
    assert_eq!(no_key.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_key.stderr).contains("--mode upsert needs --key"));
    let no_mode = load(&["a.csv", "--key", "id"]);
    assert_eq!(no_mode.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_mode.stderr).contains("give --mode upsert too"));
    // A file without the key fails the plan, naming its columns; renamed, it has the key.
    let lacking = load(&["a.csv", "b.csv", "--mode", "upsert", "--key", "id"]);
    let said = String::from_utf8_lossy(&lacking.stderr);
    assert_eq!(lacking.status.code(), Some(1), "{said}");
    assert!(
        said.contains("b.csv: --key id: the file has no such column to match its rows by (its columns: code, name)"),
        "{said}"
    );
    assert!(
        !dir.path().join("out.db").exists()
            || sqlite_rows(
                &dir.path().join("out.db"),
                "SELECT count(*) FROM sqlite_master WHERE name = 't'"
            ) == text(&[&["0"]])
    );
    let renamed = load(&[
        "a.csv", "b.csv", "--mode", "upsert", "--key", "id", "--rename", "code=id",
    ]);
    assert_succeeded(&renamed);
    assert_eq!(
        sqlite_rows(&dir.path().join("out.db"), "SELECT id, name FROM t"),
        text(&[&["1", "bob"]]),
        "files load in the order given: b.csv's row replaces a.csv's"
    );
}

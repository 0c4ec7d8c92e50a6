//! The README's first command, on the example data shipped in the repository, so that the
//! instructions a new user follows never rot.

use loader_tests::{root, run_loader};

#[test]
fn readme_example_loads_the_shipped_data() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let command = readme
        .lines()
        .find(|l| l.trim_start().starts_with("cargo run") && l.contains(" load "))
        .expect("README shows a cargo run ... load command");
    let args: Vec<&str> = command
        .split(" -- ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    let dir = tempfile::tempdir().unwrap();
    // Run from a scratch copy of the repository paths the command names, so the test leaves
    // no database in the working tree.
    let mut resolved: Vec<String> = Vec::new();
    for arg in &args {
        if root().join(arg).exists() {
            resolved.push(root().join(arg).display().to_string());
        } else {
            resolved.push((*arg).to_owned());
        }
    }
    let resolved: Vec<&str> = resolved.iter().map(String::as_str).collect();
    let output = run_loader(dir.path(), &resolved);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("loaded 305 rows from 2 of 2 files"),
        "{stdout}"
    );
    let db = rusqlite::Connection::open(dir.path().join("example.db")).unwrap();
    let orders: i64 = db
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    let products: i64 = db
        .query_row("SELECT count(*) FROM products", [], |r| r.get(0))
        .unwrap();
    assert_eq!((orders, products), (300, 5));
}

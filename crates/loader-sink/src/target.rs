use crate::{Error, Result};
use std::fmt;
use std::path::PathBuf;

/// Where a load goes.
///
/// # Example
///
/// ```
/// use loader_sink::Target;
/// assert_eq!(Target::parse("sqlite:out.db").unwrap(), Target::Sqlite("out.db".into()));
/// assert_eq!(Target::parse("data.sqlite").unwrap(), Target::Sqlite("data.sqlite".into()));
/// let pg = Target::parse("postgres://ann:secret@db:5432/prod").unwrap();
/// assert_eq!(pg.to_string(), "postgres://ann:***@db:5432/prod");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// An SQLite database file, created when missing.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl Target {
    /// Parses `sqlite:PATH`, `sqlite://PATH`, a path ending in `.db`, `.sqlite` or
    /// `.sqlite3`, or a `postgres://` / `postgresql://` URL.
    ///
    /// # Errors
    ///
    /// [`Error::BadTarget`] for anything else.
    pub fn parse(text: &str) -> Result<Target> {
        if let Some(path) = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(bad(
                    text,
                    "an SQLite target needs a file path, as in sqlite:loader.db",
                ));
            }
            return Ok(Target::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Target::Postgres(text.to_owned()));
        }
        let lower = text.to_ascii_lowercase();
        if [".db", ".sqlite", ".sqlite3"]
            .iter()
            .any(|e| lower.ends_with(e))
        {
            return Ok(Target::Sqlite(PathBuf::from(text)));
        }
        Err(bad(
            text,
            "expected sqlite:FILE, a .db/.sqlite file, or postgres://USER@HOST:PORT/DB",
        ))
    }
}

fn bad(text: &str, reason: &str) -> Error {
    Error::BadTarget {
        target: redact(text),
        reason: reason.to_owned(),
    }
}

/// Replaces the password of a URL (`scheme://user:password@host`, and a `password=`
/// parameter, which libpq takes too, and `sslpassword=`, a client key's) with `***`.
fn redact(url: &str) -> String {
    let url = match url.split_once('?') {
        Some((base, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _))
                        if key.eq_ignore_ascii_case("password")
                            || key.eq_ignore_ascii_case("sslpassword") =>
                    {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", query.join("&"))
        }
        None => url.to_owned(),
    };
    let url = url.as_str();
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = rest[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{}{}:***{}",
        &url[..scheme_end + 3],
        &rest[..colon],
        &rest[at..]
    )
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Target::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

/// Whether a new table of `columns` columns fits `database`'s limit of `most`: said before
/// the statement, with both counts (SQLite's own message is "too many columns on t").
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn check_width(
    table: &str,
    columns: usize,
    most: usize,
    database: &str,
) -> crate::Result<()> {
    if columns <= most {
        return Ok(());
    }
    Err(crate::Error::Database {
        kind: loader_batch::SinkErrorKind::Terminal,
        table: table.to_owned(),
        message: format!("{columns} columns, and a {database} table holds at most {most}"),
    })
}

/// The `CREATE TABLE` statement loader runs for a new SQLite table `table` of `schema`: to
/// make the table first (with constraints of one's own) and load into it.
///
/// # Example
///
/// ```
/// use loader_batch::{ColumnType, Schema};
/// let schema = Schema::from_pairs([("id", ColumnType::Integer), ("note", ColumnType::Text)]);
/// assert_eq!(
///     loader_sink::sqlite_create_table("t", &schema),
///     r#"CREATE TABLE IF NOT EXISTS "t" ("id" INTEGER, "note" TEXT)"#
/// );
/// ```
#[cfg(feature = "sqlite")]
pub fn sqlite_create_table(table: &str, schema: &loader_batch::Schema) -> String {
    create_table_sql(
        &quote_identifier(table),
        schema,
        crate::sqlite::sql_type,
        &[],
        "",
    )
}

/// The `CREATE TABLE` statement loader runs for a new PostgreSQL table `table` of `schema`
/// (unqualified: it goes to the first schema of the `search_path`, or name one with
/// `--schema` when loading); see [`sqlite_create_table`].
#[cfg(feature = "postgres")]
pub fn postgres_create_table(table: &str, schema: &loader_batch::Schema) -> String {
    create_table_sql(
        &quote_identifier(table),
        schema,
        crate::postgres::sql_type,
        &[],
        "",
    )
}

/// `ALTER TABLE name ADD COLUMN col type` for `column`; `name` comes already qualified and
/// quoted, `if_not_exists` for a database that takes it (PostgreSQL; SQLite does not).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn add_column_sql(
    name: &str,
    column: &loader_batch::Column,
    sql_type: impl Fn(loader_batch::ColumnType) -> &'static str,
    if_not_exists: bool,
) -> String {
    format!(
        "ALTER TABLE {name} ADD COLUMN {}{} {}",
        if if_not_exists { "IF NOT EXISTS " } else { "" },
        quote_identifier(&column.name),
        sql_type(column.ty)
    )
}

/// `CREATE TABLE IF NOT EXISTS name (col type, ...)` for `schema`, with every identifier
/// quoted; `name` comes already qualified and quoted, `sql_type` names each column's type in
/// the target's dialect. Columns named in `key` (an upsert's) are `NOT NULL` and make the
/// constraint `key_constraint` names (`PRIMARY KEY` or `UNIQUE`).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn create_table_sql(
    name: &str,
    schema: &loader_batch::Schema,
    sql_type: impl Fn(loader_batch::ColumnType) -> &'static str,
    key: &[&str],
    key_constraint: &str,
) -> String {
    let mut columns: Vec<String> = schema
        .columns()
        .iter()
        .map(|c| {
            let not_null = if key.contains(&c.name.as_str()) {
                " NOT NULL"
            } else {
                ""
            };
            format!("{} {}{not_null}", quote_identifier(&c.name), sql_type(c.ty))
        })
        .collect();
    if !key.is_empty() {
        columns.push(format!("{key_constraint} ({})", quoted_list(key)));
    }
    format!("CREATE TABLE IF NOT EXISTS {name} ({})", columns.join(", "))
}

/// `names`, each quoted, separated by commas.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| quote_identifier(name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Quotes an SQL identifier: wraps it in double quotes and doubles any quote inside, so that
/// any text, hostile or not, names exactly one identifier.
///
/// # Example
///
/// ```
/// use loader_sink::quote_identifier;
/// assert_eq!(quote_identifier("order"), "\"order\"");
/// assert_eq!(quote_identifier("a\"; DROP TABLE x; --"), "\"a\"\"; DROP TABLE x; --\"");
/// ```
pub fn quote_identifier(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' {
            quoted.push('"');
        }
        // NUL cannot be part of an identifier in either database.
        if c != '\0' {
            quoted.push(c);
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        for url in [
            "postgres://ann:s3cr3t@localhost/db",
            "postgresql://ann:s3cr3t@localhost:5432/db?sslmode=disable",
            "postgres://ann@localhost/db?sslmode=require&password=s3cr3t",
            "postgres://ann@localhost/db?PASSWORD=s3cr3t&application_name=x",
        ] {
            let target = Target::parse(url).unwrap();
            assert!(!target.to_string().contains("s3cr3t"));
            assert!(!format!("{target:?}").contains("s3cr3t"));
        }
        let err = Target::parse("mysql://ann:s3cr3t@h/db").unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        assert_eq!(redact("postgres://ann@h/db"), "postgres://ann@h/db");
        assert_eq!(
            redact("postgres://ann@h/db?password=x&sslmode=require"),
            "postgres://ann@h/db?password=***&sslmode=require"
        );
        assert_eq!(
            redact("postgres://ann@h/db?sslkey=k.pem&sslpassword=s3cr3t"),
            "postgres://ann@h/db?sslkey=k.pem&sslpassword=***"
        );
    }

    #[test]
    fn bad_targets_are_refused() {
        assert!(Target::parse("sqlite:").is_err());
        assert!(Target::parse("out.txt").is_err());
    }
}

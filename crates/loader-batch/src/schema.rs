use crate::ColumnType;
use serde::{Deserialize, Serialize};

/// A named, typed column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Column {
    /// Column name as it will appear in the target table (quoted there, never trusted).
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
}

impl Column {
    /// A column named `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        Column {
            name: name.into(),
            ty,
        }
    }
}

/// Bytes of a name PostgreSQL keeps (`NAMEDATALEN - 1`).
pub const POSTGRES_NAME_BYTES: usize = 63;

/// `name` as PostgreSQL keeps it: cut to [`POSTGRES_NAME_BYTES`] bytes, at a character
/// boundary. The server cuts every longer identifier there, in `CREATE TABLE` as in `COPY`,
/// so a table made from a long header lists the cut name: what a file's column is matched
/// with, and what two headers must not share.
///
/// ```
/// let long = "q".repeat(62) + "é!";
/// assert_eq!(loader_batch::postgres_name(&long), "q".repeat(62));
/// assert_eq!(loader_batch::postgres_name("id"), "id");
/// ```
pub fn postgres_name(name: &str) -> &str {
    &name[..name.floor_char_boundary(POSTGRES_NAME_BYTES)]
}

/// What two column names of one table must not share: letter case aside (SQLite compares
/// names so, and a header `ID` beside `id` would make one column there), within the bytes
/// PostgreSQL keeps of a name (see [`postgres_name`]).
///
/// ```
/// assert_eq!(loader_batch::name_key("Order_ID"), loader_batch::name_key("order_id"));
/// ```
pub fn name_key(name: &str) -> String {
    postgres_name(name).to_lowercase()
}

/// `name` in snake case, as a column or table name a query can give without quotes: words
/// (runs of letters and digits, split where a lowercase letter or digit meets an uppercase
/// one, and before the last capital of a run followed by a lowercase letter) lowercased and
/// joined by `_`; everything else dropped. Empty when `name` holds no letter or digit.
///
/// ```
/// use loader_batch::snake_case;
/// assert_eq!(snake_case("Order ID"), "order_id");
/// assert_eq!(snake_case("customerEmail"), "customer_email");
/// assert_eq!(snake_case("HTTPStatus"), "http_status");
/// assert_eq!(snake_case("Total ($)"), "total");
/// assert_eq!(snake_case("Größe 2024"), "größe_2024");
/// assert_eq!(snake_case("already_snake"), "already_snake");
/// assert_eq!(snake_case("--"), "");
/// ```
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len());
    for (index, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_uppercase() && index > 0 {
            let before = chars[index - 1];
            let lower_after = chars.get(index + 1).is_some_and(|n| n.is_lowercase());
            let starts_word = before.is_lowercase()
                || before.is_numeric()
                || (before.is_uppercase() && lower_after);
            if starts_word && !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// The columns of a table, in order.
///
/// # Example
///
/// ```
/// use loader_batch::{ColumnType, Schema};
/// let schema = Schema::from_pairs([("id", ColumnType::Integer), ("name", ColumnType::Text)]);
/// assert_eq!(schema.len(), 2);
/// assert_eq!(schema.columns()[1].name, "name");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Schema {
    columns: Vec<Column>,
}

impl Schema {
    /// A schema of `columns`.
    pub fn new(columns: Vec<Column>) -> Self {
        Schema { columns }
    }

    /// A schema from `(name, type)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, ColumnType)>) -> Self {
        Schema::new(pairs.into_iter().map(|(n, t)| Column::new(n, t)).collect())
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Gives column `name` the type `ty`; false when there is no such column.
    pub fn set_type(&mut self, name: &str, ty: ColumnType) -> bool {
        match self.columns.iter_mut().find(|c| c.name == name) {
            Some(column) => {
                column.ty = ty;
                true
            }
            None => false,
        }
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether there are no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

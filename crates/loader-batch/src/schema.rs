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

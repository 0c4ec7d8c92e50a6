//! Writing a field back as CSV text: for a quarantined row the database refused, whose raw
//! text is its fields, and for PostgreSQL's CSV COPY. Reading CSV stays in `loader-file`.

/// Appends `field` to `out` as one CSV field: as it is, or, when it holds a comma, a double
/// quote or a line end (or `quote` asks for it), between double quotes with its quotes
/// doubled.
///
/// ```
/// let mut out = Vec::new();
/// loader_batch::push_csv_field(&mut out, b"plain", false);
/// out.push(b',');
/// loader_batch::push_csv_field(&mut out, b"say \"hi\", twice", false);
/// assert_eq!(out, b"plain,\"say \"\"hi\"\", twice\"");
/// ```
pub fn push_csv_field(out: &mut Vec<u8>, field: &[u8], quote: bool) {
    let needs_quotes = quote
        || field
            .iter()
            .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !needs_quotes {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    for &b in field {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

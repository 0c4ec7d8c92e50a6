use super::*;

#[test]
fn only_a_whole_sep_line_is_one() {
    assert_eq!(separator_line(b"sep=;\nid;x\n", false), Some((b';', 6)));
    assert_eq!(separator_line(b"sep=\t\r\n", false), Some((b'\t', 7)));
    assert_eq!(separator_line(b"sep=|", true), Some((b'|', 5)));
    for not in [
        &b"sep=|"[..],
        b"sep=ab\n",
        b"sep=;;\n",
        b"sep=a\n",
        b"sep=\"\n",
        b"separator\n",
        b"sep\n",
        b" sep=;\n",
        b"id,sep=;\n",
    ] {
        assert_eq!(
            separator_line(not, false),
            None,
            "{:?}",
            String::from_utf8_lossy(not)
        );
    }
}

#[test]
fn title_lines_are_found_only_above_a_table() {
    let title = |text: &str| title_lines(text.as_bytes(), true, &CANDIDATES, b'"');
    let report =
        "Quarterly sales; EMEA\nGenerated 2026-11-29\n\nid,region,amount\n1,n,2\n2,s\n3,e,4\n";
    // Ragged rows below do not hide it: the title lines have no comma at all.
    assert_eq!(title(report), None, "a ragged row, and semicolons above");
    let report = "Quarterly sales\nGenerated 2026-11-29\n\nid,region,amount\n1,n,2\n2,s,3\n3,e,4\n";
    assert_eq!(title(report), Some(3));
    assert_eq!(title("Title\n\nid;a\n1;2\n3;4\n"), Some(2));
    for table in [
        "id,a\n1,2\n3,4\n",
        // An export's trailing delimiter: the header has fewer, but not none.
        "id,a\n1,2,\n3,4,\n5,6,\n",
        // A first row over two lines.
        "id,note\n1,\"two\nlines, here\"\n2,b\n3,c\n",
        "one column\nJohn, Jr.\nMary\n",
        "Title\nid,a\n1,2\n",
    ] {
        assert_eq!(title(table), None, "{table:?}");
    }
    // The head's last record may be cut: it is not counted.
    assert_eq!(
        title_lines(b"Title\n\nid,a\n1,2\n3,4\n5", false, &CANDIDATES, b'"'),
        Some(2)
    );
}

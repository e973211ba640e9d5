//! Writing CSV (RFC 4180, `\r\n` line breaks) for the exports.

use bytes::{BufMut, BytesMut};

/// Writes one record: fields quoted when they hold a comma, a quote or a line break (and a
/// record of one empty field as `""`, so that it is not an empty line).
pub fn write_record<'a>(out: &mut BytesMut, fields: impl Iterator<Item = Option<&'a str>>) {
    write_record_with(out, ',', fields);
}

/// [`write_record`] with another delimiter (a field holding it is quoted).
pub fn write_record_with<'a>(
    out: &mut BytesMut,
    delimiter: char,
    fields: impl Iterator<Item = Option<&'a str>>,
) {
    let start = out.len();
    let mut encoded = [0u8; 4];
    let delimiter = delimiter.encode_utf8(&mut encoded).as_bytes();
    for (index, field) in fields.enumerate() {
        if index > 0 {
            out.put_slice(delimiter);
        }
        let field = field.unwrap_or("");
        if field.contains(['"', '\r', '\n'])
            || field
                .as_bytes()
                .windows(delimiter.len())
                .any(|w| w == delimiter)
        {
            out.put_u8(b'"');
            for part in field.split_inclusive('"') {
                out.put_slice(part.as_bytes());
                if part.ends_with('"') {
                    out.put_u8(b'"');
                }
            }
            out.put_u8(b'"');
        } else {
            out.put_slice(field.as_bytes());
        }
    }
    if out.len() == start {
        out.put_slice(b"\"\"");
    }
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let mut out = BytesMut::new();
        write_record(
            &mut out,
            [
                Some("plain"),
                None,
                Some("a,b"),
                Some("say \"hi\""),
                Some("two\nlines"),
            ]
            .into_iter(),
        );
        write_record(&mut out, [None].into_iter());
        assert_eq!(
            &out[..],
            b"plain,,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n\"\"\r\n"
        );
    }
}

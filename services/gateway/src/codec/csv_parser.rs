//! An incremental CSV parser (RFC 4180): it is fed the body chunk by chunk as it arrives, stops
//! after every complete record, and keeps only the record being read.
//!
//! - Fields are separated by the delimiter (`,` unless told: `;` and tab are common), records
//!   end with `\n`, `\r\n` or a lone `\r`, and the last record may end without a line break.
//! - A field that starts with `"` is quoted: it may hold commas, line breaks and doubled quotes
//!   (`""` for one `"`), and must be followed by the delimiter or the end of the line. A quote inside an
//!   unquoted field is kept as it is (`12" pipe`).
//! - A UTF-8 byte order mark at the very start is skipped; empty lines are skipped.
//! - Lines are physical lines (1 = the first), counted by line breaks, including those inside
//!   quoted fields; a record is named by the line it starts on.
//!
//! Unlike `csv-core`, which accepts any input, this parser reports what it cannot read: an
//! unterminated quoted field, text after a closing quote, and a record over the size limit.

use std::fmt;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    pub line: u64,
    pub message: String,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing read yet: matching the first `n` bytes of a byte order mark.
    Bom(usize),
    /// At the start of a line, no record begun.
    StartRecord,
    /// At the start of a field of the current record.
    StartField,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: a doubled quote or the end of the field.
    QuoteInQuoted,
    /// After a `\r` that ended a line: a `\n` right after it belongs to the same line break.
    AfterCr,
}

pub struct CsvParser {
    state: State,
    /// The fields of the current record, concatenated.
    record: Vec<u8>,
    /// The end of each field in `record`.
    ends: Vec<usize>,
    line: u64,
    record_line: u64,
    quote_line: u64,
    max_record_bytes: usize,
    delimiter: u8,
}

impl CsvParser {
    /// A parser of `,`-separated records of at most `max_record_bytes`.
    pub fn new(max_record_bytes: usize) -> CsvParser {
        CsvParser::with_delimiter(b',', max_record_bytes)
    }

    /// A parser of records separated by `delimiter` (an ASCII byte other than `"`, `\r`, `\n`).
    pub fn with_delimiter(delimiter: u8, max_record_bytes: usize) -> CsvParser {
        CsvParser {
            state: State::Bom(0),
            record: Vec::new(),
            ends: Vec::new(),
            line: 1,
            record_line: 1,
            quote_line: 1,
            max_record_bytes,
            delimiter,
        }
    }

    /// Reads from `input` until a record is complete or the input is used up. Returns how many
    /// bytes were consumed and whether a record is complete (then read it with
    /// [`CsvParser::fields`] and call again with the rest of the input).
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), CsvError> {
        let mut i = 0;
        while i < input.len() {
            // Copy runs of ordinary bytes at once.
            match self.state {
                State::Unquoted => {
                    let rest = &input[i..];
                    let n = rest
                        .iter()
                        .position(|b| *b == self.delimiter || matches!(b, b'\r' | b'\n'))
                        .unwrap_or(rest.len());
                    self.push(&rest[..n])?;
                    i += n;
                    if i == input.len() {
                        break;
                    }
                }
                State::Quoted => {
                    let rest = &input[i..];
                    let n = rest.iter().position(|b| *b == b'"').unwrap_or(rest.len());
                    let run = &rest[..n];
                    self.line += run.iter().filter(|b| **b == b'\n').count() as u64;
                    self.push(run)?;
                    i += n;
                    if i == input.len() {
                        break;
                    }
                }
                _ => {}
            }
            let byte = input[i];
            i += 1;
            if let State::Bom(matched) = self.state {
                if byte == BOM[matched] {
                    self.state = if matched + 1 == BOM.len() {
                        State::StartRecord
                    } else {
                        State::Bom(matched + 1)
                    };
                    continue;
                }
                // Not a byte order mark after all: read what was taken for one as data.
                self.state = State::StartRecord;
                for replayed in BOM[..matched].iter().copied() {
                    self.step(replayed)?;
                }
            }
            if self.step(byte)? {
                return Ok((i, true));
            }
        }
        Ok((i, false))
    }

    /// Ends the input: true when a last record (without a final line break) is complete.
    pub fn finish(&mut self) -> Result<bool, CsvError> {
        if let State::Bom(matched) = self.state {
            self.state = State::StartRecord;
            for replayed in BOM[..matched].iter().copied() {
                self.step(replayed)?;
            }
        }
        match self.state {
            State::Bom(_) | State::StartRecord | State::AfterCr => Ok(false),
            State::StartField | State::Unquoted | State::QuoteInQuoted => {
                self.end_field();
                self.state = State::StartRecord;
                Ok(true)
            }
            State::Quoted => Err(CsvError {
                line: self.quote_line,
                message: "unterminated quoted field: a `\"` opened here is never closed".to_owned(),
            }),
        }
    }

    /// The line the last complete record started on.
    pub fn record_line(&self) -> u64 {
        self.record_line
    }

    /// The fields of the last complete record.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |end| {
            let field = &self.record[start..*end];
            start = *end;
            field
        })
    }

    pub fn field_count(&self) -> usize {
        self.ends.len()
    }

    /// One byte outside a run; true when it completes a record.
    fn step(&mut self, byte: u8) -> Result<bool, CsvError> {
        loop {
            match self.state {
                State::Bom(_) => self.state = State::StartRecord,
                State::AfterCr => {
                    self.state = State::StartRecord;
                    if byte == b'\n' {
                        return Ok(false);
                    }
                    // A lone `\r`: the byte starts the next line.
                }
                State::StartRecord => match byte {
                    // Empty lines are skipped.
                    b'\n' => {
                        self.line += 1;
                        return Ok(false);
                    }
                    b'\r' => {
                        self.line += 1;
                        self.state = State::AfterCr;
                        return Ok(false);
                    }
                    _ => {
                        self.record.clear();
                        self.ends.clear();
                        self.record_line = self.line;
                        self.state = State::StartField;
                    }
                },
                State::StartField => {
                    return match byte {
                        b'"' => {
                            self.quote_line = self.line;
                            self.state = State::Quoted;
                            Ok(false)
                        }
                        b if b == self.delimiter => {
                            self.end_field();
                            Ok(false)
                        }
                        b'\n' | b'\r' => Ok(self.end_record(byte)),
                        _ => {
                            self.state = State::Unquoted;
                            self.push(&[byte])?;
                            Ok(false)
                        }
                    };
                }
                State::Unquoted => {
                    return match byte {
                        b if b == self.delimiter => {
                            self.end_field();
                            self.state = State::StartField;
                            Ok(false)
                        }
                        b'\n' | b'\r' => Ok(self.end_record(byte)),
                        _ => {
                            self.push(&[byte])?;
                            Ok(false)
                        }
                    };
                }
                State::Quoted => {
                    if byte == b'"' {
                        self.state = State::QuoteInQuoted;
                    } else {
                        if byte == b'\n' {
                            self.line += 1;
                        }
                        self.push(&[byte])?;
                    }
                    return Ok(false);
                }
                State::QuoteInQuoted => {
                    return match byte {
                        b'"' => {
                            self.state = State::Quoted;
                            self.push(b"\"")?;
                            Ok(false)
                        }
                        b if b == self.delimiter => {
                            self.end_field();
                            self.state = State::StartField;
                            Ok(false)
                        }
                        b'\n' | b'\r' => Ok(self.end_record(byte)),
                        other => Err(CsvError {
                            line: self.line,
                            message: format!(
                                "unexpected `{}` after the closing quote of a field: a quoted field must be followed by `,` or the end of the line (write a `\"` inside a quoted field as `\"\"`)",
                                char::from(other).escape_default()
                            ),
                        }),
                    };
                }
            }
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), CsvError> {
        if self.record.len() + bytes.len() > self.max_record_bytes {
            return Err(CsvError {
                line: self.record_line,
                message: format!(
                    "the record is longer than {} bytes (is a quote left open?)",
                    self.max_record_bytes
                ),
            });
        }
        self.record.extend_from_slice(bytes);
        Ok(())
    }

    fn end_field(&mut self) {
        self.ends.push(self.record.len());
    }

    fn end_record(&mut self, line_break: u8) -> bool {
        self.end_field();
        self.line += 1;
        self.state = if line_break == b'\r' {
            State::AfterCr
        } else {
            State::StartRecord
        };
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Parses `input` fed in pieces of `chunk` bytes: the records with their lines.
    fn parse(input: &[u8], chunk: usize) -> Result<Vec<(u64, Vec<String>)>, CsvError> {
        let mut parser = CsvParser::new(1024);
        let mut records = Vec::new();
        let mut take = |parser: &CsvParser| {
            records.push((
                parser.record_line(),
                parser
                    .fields()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
            ))
        };
        for mut piece in input.chunks(chunk.max(1)) {
            while !piece.is_empty() {
                let (used, complete) = parser.feed(piece)?;
                piece = &piece[used..];
                if complete {
                    take(&parser);
                }
            }
        }
        if parser.finish()? {
            take(&parser);
        }
        Ok(records)
    }

    fn rec(line: u64, fields: &[&str]) -> (u64, Vec<String>) {
        (line, fields.iter().map(|f| (*f).to_owned()).collect())
    }

    #[rstest]
    #[case(1)]
    #[case(2)]
    #[case(3)]
    #[case(7)]
    #[case(4096)]
    fn rfc_4180_in_any_chunking(#[case] chunk: usize) {
        let input = "\u{feff}id,name,note\r\n1,\"Acme, Inc.\",\"said \"\"hi\"\"\"\r\n2,\"two\nlines\",\n\n3,x,\"\"\n4,,last";
        assert_eq!(
            parse(input.as_bytes(), chunk).expect("valid"),
            vec![
                rec(1, &["id", "name", "note"]),
                rec(2, &["1", "Acme, Inc.", "said \"hi\""]),
                rec(3, &["2", "two\nlines", ""]),
                rec(6, &["3", "x", ""]),
                rec(7, &["4", "", "last"]),
            ]
        );
    }

    #[rstest]
    #[case(b"a,b\rc,d\r".as_slice(), vec![rec(1, &["a", "b"]), rec(2, &["c", "d"])])]
    #[case(b"a,\n".as_slice(), vec![rec(1, &["a", ""])])]
    #[case(b"a,".as_slice(), vec![rec(1, &["a", ""])])]
    #[case(b"12\" pipe,x".as_slice(), vec![rec(1, &["12\" pipe", "x"])])]
    #[case(b"\xEF\xBBx".as_slice(), vec![rec(1, &["\u{FFFD}x"])])]
    #[case(b"\xEF".as_slice(), vec![rec(1, &["\u{FFFD}"])])]
    #[case(b"".as_slice(), vec![])]
    #[case(b"\r\n\r\n".as_slice(), vec![])]
    fn edge_cases(#[case] input: &[u8], #[case] expected: Vec<(u64, Vec<String>)>) {
        for chunk in [1, 2, 64] {
            assert_eq!(parse(input, chunk).expect("valid"), expected);
        }
    }

    #[rstest]
    #[case(b"a,b\n1,\"open\n2,3\n".as_slice(), 2, "unterminated")]
    #[case(b"a,b\n\"x\"y,2\n".as_slice(), 2, "after the closing quote")]
    #[case(b"a\n\"1\n2\n\"z\n".as_slice(), 4, "after the closing quote")]
    fn errors_name_their_line(#[case] input: &[u8], #[case] line: u64, #[case] text: &str) {
        for chunk in [1, 3, 64] {
            let error = parse(input, chunk).expect_err("invalid");
            assert_eq!(error.line, line, "{error}");
            assert!(error.message.contains(text), "{error}");
        }
    }

    #[test]
    fn records_are_bounded() {
        let long = format!("a\n{}\n", "x".repeat(2000));
        let error = parse(long.as_bytes(), 100).expect_err("too long");
        assert_eq!(error.line, 2);
    }
}

//! CSV input as users have it — what spreadsheets and the dialects' exports write:
//!
//! - **Delimiter** `,`, `;` or tab (`delimiter=comma|semicolon|tab`, or the character itself).
//!   Left out, it is detected from the header line: the one of the three that occurs most often
//!   outside quotes (a tie, or none, is `,`).
//! - **Encoding** UTF-8, with or without a byte order mark, or Latin-1 / Windows-1252
//!   (`encoding=utf-8|latin-1|iso-8859-1|windows-1252|cp1252`; Latin-1 is read as Windows-1252,
//!   its superset, as browsers do). Left out, it is detected from the first 64 KiB: UTF-8 when
//!   they are valid UTF-8, Windows-1252 when they are not. A later byte that is not UTF-8 is then
//!   an error naming its line and saying to send `encoding=windows-1252` — never a replaced
//!   character.
//!
//! The input is fed chunk by chunk as the body arrives ([`CsvReader::push`]); complete records
//! are taken one at a time ([`CsvReader::next_record`]), so an upload of any size is held one
//! record at a time plus what detection looks at. Records are parsed by the strict
//! [`CsvParser`](super::csv_parser::CsvParser): an unterminated quote, text after a closing quote
//! or an oversized record is an error naming its line. (The `csv` crates read any input without
//! complaint; a user's broken file must get its line number instead.)

use encoding_rs::{Decoder, WINDOWS_1252};

use super::csv_parser::{CsvError, CsvParser};

/// How much of the input encoding detection looks at (and delimiter detection at most: the
/// header line within it).
pub const DETECTION_BYTES: usize = 64 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The text encodings an upload may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    /// Windows-1252, which Latin-1 (ISO-8859-1) is read as.
    Windows1252,
}

impl TextEncoding {
    /// The encoding a query parameter names (case-insensitive), or `None` for a name we do not
    /// read.
    pub fn parse(name: &str) -> Option<TextEncoding> {
        match name.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(TextEncoding::Utf8),
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "windows-1252" | "cp1252" => {
                Some(TextEncoding::Windows1252)
            }
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Windows1252 => "windows-1252",
        }
    }
}

/// Parses a delimiter parameter: `comma`, `semicolon`, `tab` or the character itself.
pub fn parse_delimiter(name: &str) -> Option<u8> {
    match name {
        "," | "comma" => Some(b','),
        ";" | "semicolon" => Some(b';'),
        "\t" | "tab" | "\\t" => Some(b'\t'),
        "|" | "pipe" => Some(b'|'),
        _ => None,
    }
}

/// What an upload says of its CSV; `None` is detected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsvFormat {
    pub delimiter: Option<u8>,
    pub encoding: Option<TextEncoding>,
}

/// A CSV format parameter that names nothing we read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    pub field: &'static str,
    pub message: String,
}

impl CsvFormat {
    /// The format from the `delimiter` and `encoding` query parameters.
    pub fn from_params(
        delimiter: Option<&str>,
        encoding: Option<&str>,
    ) -> Result<CsvFormat, FormatError> {
        let delimiter = match delimiter {
            None | Some("") => None,
            Some(name) => Some(parse_delimiter(name).ok_or_else(|| FormatError {
                field: "delimiter",
                message: format!(
                    "`delimiter` must be comma, semicolon, tab or pipe (or the character), not `{name}`"
                ),
            })?),
        };
        let encoding = match encoding {
            None | Some("") => None,
            Some(name) => Some(TextEncoding::parse(name).ok_or_else(|| FormatError {
                field: "encoding",
                message: format!(
                    "`encoding` must be utf-8, latin-1 (iso-8859-1) or windows-1252, not `{name}`"
                ),
            })?),
        };
        Ok(CsvFormat {
            delimiter,
            encoding,
        })
    }
}

/// Reads CSV records from input fed in chunks (see the module).
pub struct CsvReader {
    format: CsvFormat,
    max_record_bytes: usize,
    /// Input held until the format is decided (at most [`DETECTION_BYTES`] and a line).
    pending: Vec<u8>,
    /// Whether the format is decided (the parser then has its delimiter).
    decided: bool,
    parser: CsvParser,
    decoder: Option<Decoder>,
    encoding: TextEncoding,
    /// UTF-8 input not yet parsed, from `consumed` on.
    buffer: Vec<u8>,
    consumed: usize,
    ended: bool,
    finished: bool,
}

impl CsvReader {
    pub fn new(format: CsvFormat, max_record_bytes: usize) -> CsvReader {
        CsvReader {
            format,
            max_record_bytes,
            pending: Vec::new(),
            decided: false,
            parser: CsvParser::new(max_record_bytes),
            decoder: None,
            encoding: format.encoding.unwrap_or(TextEncoding::Utf8),
            buffer: Vec::new(),
            consumed: 0,
            ended: false,
            finished: false,
        }
    }

    /// The encoding the input is read in (once decided; UTF-8 before).
    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    /// Takes the next piece of input.
    pub fn push(&mut self, chunk: &[u8]) {
        if !self.decided {
            self.pending.extend_from_slice(chunk);
            if self.pending.len() >= DETECTION_BYTES {
                self.decide(false);
            }
            return;
        }
        self.decode(chunk, false);
    }

    /// Says the input is complete: what is left is read by [`CsvReader::next_record`].
    pub fn end(&mut self) {
        if !self.decided {
            self.decide(true);
        }
        self.decode(&[], true);
        self.ended = true;
    }

    /// Reads the next complete record from what was pushed: `true` when there is one (read it
    /// with [`CsvReader::fields`]), `false` when more input is needed (or, after
    /// [`CsvReader::end`], there are no more records).
    pub fn next_record(&mut self) -> Result<bool, CsvError> {
        if !self.decided {
            return Ok(false);
        }
        while self.consumed < self.buffer.len() {
            let (used, complete) = self.parser.feed(&self.buffer[self.consumed..])?;
            self.consumed += used;
            if complete {
                return Ok(true);
            }
        }
        self.buffer.clear();
        self.consumed = 0;
        if self.ended && !self.finished {
            self.finished = true;
            return self.parser.finish();
        }
        Ok(false)
    }

    /// The line the last record read started on.
    pub fn record_line(&self) -> u64 {
        self.parser.record_line()
    }

    /// The fields of the last record read (UTF-8 when the input decoded; a UTF-8 input may
    /// still hold invalid bytes, which the caller refuses naming the line — see
    /// [`not_utf8`]).
    pub fn fields(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.parser.fields()
    }

    pub fn field_count(&self) -> usize {
        self.parser.field_count()
    }

    /// Decides the encoding and the delimiter from what is pending (`whole`: all the input),
    /// then reads it.
    fn decide(&mut self, whole: bool) {
        let sample = std::mem::take(&mut self.pending);
        let encoding = self
            .format
            .encoding
            .unwrap_or_else(|| detect_encoding(&sample, whole));
        self.encoding = encoding;
        if encoding == TextEncoding::Windows1252 {
            self.decoder = Some(WINDOWS_1252.new_decoder_without_bom_handling());
        }
        self.decode(&sample, false);
        let delimiter = self
            .format
            .delimiter
            .unwrap_or_else(|| detect_delimiter(&self.buffer));
        self.parser = CsvParser::with_delimiter(delimiter, self.max_record_bytes);
        self.decided = true;
    }

    /// Appends `input` to the buffer as UTF-8.
    fn decode(&mut self, input: &[u8], last: bool) {
        if self.consumed > 0 && self.consumed * 2 >= self.buffer.len() {
            self.buffer.drain(..self.consumed);
            self.consumed = 0;
        }
        let Some(decoder) = self.decoder.as_mut() else {
            self.buffer.extend_from_slice(input);
            return;
        };
        let mut input = input;
        loop {
            let room = decoder
                .max_utf8_buffer_length(input.len())
                .unwrap_or(input.len().saturating_mul(3))
                .max(4);
            let start = self.buffer.len();
            self.buffer.resize(start + room, 0);
            let (result, read, written, _replaced) =
                decoder.decode_to_utf8(input, &mut self.buffer[start..], last);
            self.buffer.truncate(start + written);
            input = &input[read..];
            if result == encoding_rs::CoderResult::InputEmpty {
                break;
            }
        }
    }
}

/// UTF-8 when the sample is, else Windows-1252. A sample that is not the `whole` input may end
/// in the middle of a character: valid so far.
pub fn detect_encoding(sample: &[u8], whole: bool) -> TextEncoding {
    match std::str::from_utf8(sample) {
        Ok(_) => TextEncoding::Utf8,
        Err(error) if !whole && error.error_len().is_none() => TextEncoding::Utf8,
        Err(_) => TextEncoding::Windows1252,
    }
}

/// The delimiter of the header line (the first non-empty line of `text`): the one of `,`, `;`
/// and tab that occurs most outside quotes; `,` on a tie or when none does.
pub fn detect_delimiter(text: &[u8]) -> u8 {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    let mut seen = false;
    for &byte in text {
        match byte {
            b'"' => quoted = !quoted,
            b'\r' | b'\n' if !quoted => {
                if seen {
                    break;
                }
            }
            _ if !quoted => {
                seen = true;
                for (delimiter, count) in &mut counts {
                    if byte == *delimiter {
                        *count += 1;
                    }
                }
            }
            _ => seen = true,
        }
    }
    let mut best = counts[0];
    for candidate in &counts[1..] {
        if candidate.1 > best.1 {
            best = *candidate;
        }
    }
    best.0
}

/// The message for a field that is not UTF-8 in an upload read as UTF-8.
pub fn not_utf8(what: &str) -> String {
    format!(
        "{what} is not valid UTF-8; if the file is Latin-1 or Windows-1252 (as older spreadsheets save it), send `encoding=windows-1252`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Every record of `input` fed in pieces of `piece` bytes, as strings.
    fn read(format: CsvFormat, input: &[u8], piece: usize) -> Result<Vec<Vec<String>>, CsvError> {
        let mut reader = CsvReader::new(format, 1 << 20);
        let mut records = Vec::new();
        let mut take = |reader: &mut CsvReader| -> Result<(), CsvError> {
            while reader.next_record()? {
                records.push(
                    reader
                        .fields()
                        .map(|f| String::from_utf8(f.to_vec()).expect("utf-8"))
                        .collect(),
                );
            }
            Ok(())
        };
        for chunk in input.chunks(piece.max(1)) {
            reader.push(chunk);
            take(&mut reader)?;
        }
        reader.end();
        take(&mut reader)?;
        Ok(records)
    }

    fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
            .collect()
    }

    #[rstest]
    #[case::comma(b"id,name\n1,Acme\n".as_slice())]
    #[case::semicolon(b"id;name\n1;Acme\n".as_slice())]
    #[case::tab(b"id\tname\n1\tAcme\n".as_slice())]
    #[case::bom_semicolon(b"\xEF\xBB\xBFid;name\r\n1;Acme\r\n".as_slice())]
    #[case::no_final_break(b"id;name\n1;Acme".as_slice())]
    fn the_delimiter_is_detected_from_the_header(#[case] input: &[u8]) {
        for piece in [1, 3, 1024] {
            let records = read(CsvFormat::default(), input, piece).expect("reads");
            assert_eq!(
                records,
                rows(&[&["id", "name"], &["1", "Acme"]]),
                "piece {piece}"
            );
        }
    }

    #[test]
    fn a_delimiter_inside_quotes_does_not_count() {
        // Two `;` inside the quoted header name, one `,` outside: comma.
        let input = b"\"a;b;c\",d\n1,2\n";
        assert_eq!(detect_delimiter(input), b',');
        assert_eq!(
            read(CsvFormat::default(), input, 2).expect("reads"),
            rows(&[&["a;b;c", "d"], &["1", "2"]])
        );
    }

    #[test]
    fn a_given_delimiter_wins_over_detection() {
        // A single-column file whose values hold commas: told `;`, nothing is split.
        let format = CsvFormat::from_params(Some("semicolon"), None).expect("valid");
        let input = b"note\nhello, world\n";
        assert_eq!(
            read(format, input, 4).expect("reads"),
            rows(&[&["note"], &["hello, world"]])
        );
    }

    #[rstest]
    #[case(b"name;city\nM\xFCller;K\xF6ln\n".as_slice(), CsvFormat::default())]
    #[case(
        b"name;city\nM\xFCller;K\xF6ln\n".as_slice(),
        CsvFormat { delimiter: None, encoding: Some(TextEncoding::Windows1252) }
    )]
    #[case(
        "name;city\nMüller;Köln\n".as_bytes(),
        CsvFormat::default()
    )]
    fn latin_1_and_utf_8_read_the_same_text(#[case] input: &[u8], #[case] format: CsvFormat) {
        for piece in [1, 5, 4096] {
            assert_eq!(
                read(format, input, piece).expect("reads"),
                rows(&[&["name", "city"], &["Müller", "Köln"]]),
                "piece {piece}"
            );
        }
    }

    #[test]
    fn windows_1252_characters_outside_latin_1_decode() {
        // 0x80 is the euro sign, 0x93/0x94 curly quotes in Windows-1252.
        let input = b"item,price\n\x93Deluxe\x94,\x8012\n";
        assert_eq!(
            read(CsvFormat::default(), input, 3).expect("reads"),
            rows(&[&["item", "price"], &["\u{201c}Deluxe\u{201d}", "€12"]])
        );
    }

    #[test]
    fn utf_8_cut_at_the_detection_boundary_is_still_utf_8() {
        let mut sample = vec![b'a'; 10];
        sample.extend_from_slice(&"é".as_bytes()[..1]);
        assert_eq!(detect_encoding(&sample, false), TextEncoding::Utf8);
        assert_eq!(detect_encoding(&sample, true), TextEncoding::Windows1252);
        assert_eq!(detect_encoding(b"caf\xE9", true), TextEncoding::Windows1252);
        assert_eq!(
            detect_encoding(b"caf\xE9,x", false),
            TextEncoding::Windows1252
        );
    }

    #[test]
    fn latin_1_after_the_detection_window_is_left_for_the_caller_to_refuse() {
        let mut input = b"id,name\n".to_vec();
        while input.len() < DETECTION_BYTES + 10 {
            input.extend_from_slice(b"1,plain\n");
        }
        input.extend_from_slice(b"2,M\xFCller\n");
        let mut reader = CsvReader::new(CsvFormat::default(), 1 << 20);
        let mut last = Vec::new();
        for chunk in input.chunks(4096) {
            reader.push(chunk);
            while reader.next_record().expect("parses") {
                last = reader.fields().map(<[u8]>::to_vec).collect();
            }
        }
        reader.end();
        while reader.next_record().expect("parses") {
            last = reader.fields().map(<[u8]>::to_vec).collect();
        }
        assert_eq!(reader.encoding(), TextEncoding::Utf8);
        assert!(std::str::from_utf8(&last[1]).is_err(), "kept as bytes");
        assert!(not_utf8("the value").contains("encoding=windows-1252"));
    }

    #[rstest]
    #[case(Some("colon"), None, "delimiter")]
    #[case(None, Some("utf-16"), "encoding")]
    fn an_unknown_format_parameter_names_itself(
        #[case] delimiter: Option<&str>,
        #[case] encoding: Option<&str>,
        #[case] field: &str,
    ) {
        let error = CsvFormat::from_params(delimiter, encoding).expect_err("refused");
        assert_eq!(error.field, field);
        assert!(error.message.contains(field), "{}", error.message);
    }

    #[test]
    fn parse_errors_keep_their_line() {
        let error = read(CsvFormat::default(), b"a;b\n1;\"open\n2;3\n", 2).expect_err("refused");
        assert_eq!(error.line, 2);
    }

    #[test]
    fn an_empty_input_has_no_records() {
        assert_eq!(
            read(CsvFormat::default(), b"", 1).expect("reads"),
            rows(&[])
        );
    }
}

//! An incremental `multipart/form-data` reader (RFC 7578): the body goes in chunk by chunk and
//! comes out as events — a part begins (with its name and file name), a piece of its content, the
//! part ends, the body ends — holding back only the few bytes that may be the start of a
//! boundary. A file part of any size streams through in bounded memory.

use bytes::{Bytes, BytesMut};

/// Longest header block of one part.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Longest boundary (RFC 2046 allows 70 characters).
const MAX_BOUNDARY_CHARS: usize = 70;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    PartStart {
        name: String,
        filename: Option<String>,
    },
    Data(Bytes),
    PartEnd,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Preamble,
    AfterDelimiter,
    Headers,
    Body,
    Done,
}

pub struct MultipartReader {
    /// `\r\n--` and the boundary: what ends every part.
    delimiter: Vec<u8>,
    buffer: BytesMut,
    state: State,
}

impl MultipartReader {
    /// `boundary` is the `boundary` parameter of the content type.
    pub fn new(boundary: &str) -> Result<MultipartReader, String> {
        if boundary.is_empty() || boundary.len() > MAX_BOUNDARY_CHARS {
            return Err(format!(
                "the multipart boundary must be 1 to {MAX_BOUNDARY_CHARS} characters"
            ));
        }
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        // The first boundary may open the body without a line break before it.
        let mut buffer = BytesMut::new();
        buffer.extend_from_slice(b"\r\n");
        Ok(MultipartReader {
            delimiter,
            buffer,
            state: State::Preamble,
        })
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// The next event, or `None` when more input is needed (`at_end`: there is none).
    pub fn next_event(&mut self, at_end: bool) -> Result<Option<Event>, String> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Preamble => match find(&self.buffer, &self.delimiter) {
                    Some(at) => {
                        let _ = self.buffer.split_to(at + self.delimiter.len());
                        self.state = State::AfterDelimiter;
                    }
                    None if at_end => {
                        return Err("the body has no multipart boundary".to_owned());
                    }
                    None => {
                        let keep = self.delimiter.len() - 1;
                        if self.buffer.len() > keep {
                            let _ = self.buffer.split_to(self.buffer.len() - keep);
                        }
                        return Ok(None);
                    }
                },
                State::AfterDelimiter => {
                    if self.buffer.starts_with(b"--") {
                        self.state = State::Done;
                        return Ok(Some(Event::End));
                    }
                    match find(&self.buffer, b"\r\n") {
                        Some(at) => {
                            // Transport padding (spaces, tabs) may follow a boundary.
                            if !self.buffer[..at].iter().all(|b| matches!(b, b' ' | b'\t')) {
                                return Err("malformed multipart boundary line".to_owned());
                            }
                            let _ = self.buffer.split_to(at + 2);
                            self.state = State::Headers;
                        }
                        None if at_end || self.buffer.len() > 256 => {
                            return Err(
                                "the multipart body ends without its closing boundary".to_owned()
                            );
                        }
                        None => return Ok(None),
                    }
                }
                State::Headers => {
                    let end = if self.buffer.starts_with(b"\r\n") {
                        Some(0)
                    } else {
                        find(&self.buffer, b"\r\n\r\n").map(|at| at + 2)
                    };
                    match end {
                        Some(end) => {
                            let block = self.buffer.split_to(end + 2);
                            let (name, filename) = part_names(&block[..end])?;
                            self.state = State::Body;
                            return Ok(Some(Event::PartStart { name, filename }));
                        }
                        None if self.buffer.len() > MAX_HEADER_BYTES => {
                            return Err(format!(
                                "the headers of a multipart part exceed {MAX_HEADER_BYTES} bytes"
                            ));
                        }
                        None if at_end => {
                            return Err("the multipart body ends inside a part's headers".to_owned())
                        }
                        None => return Ok(None),
                    }
                }
                State::Body => match find(&self.buffer, &self.delimiter) {
                    Some(0) => {
                        let _ = self.buffer.split_to(self.delimiter.len());
                        self.state = State::AfterDelimiter;
                        return Ok(Some(Event::PartEnd));
                    }
                    Some(at) => return Ok(Some(Event::Data(self.buffer.split_to(at).freeze()))),
                    None => {
                        // Hold back what may be the start of the delimiter.
                        let safe = self.buffer.len().saturating_sub(self.delimiter.len() - 1);
                        if safe > 0 {
                            return Ok(Some(Event::Data(self.buffer.split_to(safe).freeze())));
                        }
                        if at_end {
                            return Err(
                                "the multipart body ends without its closing boundary".to_owned()
                            );
                        }
                        return Ok(None);
                    }
                },
            }
        }
    }
}

/// The `boundary` parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| unquote(value.trim()))
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(offset) = haystack[from..].iter().position(|b| *b == first) {
        let at = from + offset;
        if haystack.len() - at < needle.len() {
            // A partial match at the end is not a match yet.
            return None;
        }
        if &haystack[at..at + needle.len()] == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The `name` and `filename` of a part's `Content-Disposition: form-data` header.
fn part_names(block: &[u8]) -> Result<(String, Option<String>), String> {
    let text = std::str::from_utf8(block)
        .map_err(|_| "the headers of a multipart part are not UTF-8".to_owned())?;
    let disposition = text
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("content-disposition"))
        .map(|(_, value)| value.trim())
        .ok_or_else(|| "a multipart part has no Content-Disposition header".to_owned())?;
    let mut name = None;
    let mut filename = None;
    for param in split_params(disposition).into_iter().skip(1) {
        if let Some((key, value)) = param.split_once('=') {
            match key.trim().to_ascii_lowercase().as_str() {
                "name" => name = Some(unquote(value.trim())),
                "filename" => filename = Some(unquote(value.trim())),
                _ => {}
            }
        }
    }
    let name = name.ok_or_else(|| "a multipart part has no `name`".to_owned())?;
    Ok((name, filename))
}

/// Splits at `;` outside quoted strings.
fn split_params(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

fn unquote(value: &str) -> String {
    match value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(body: &[u8], chunk: usize) -> Result<Vec<Event>, String> {
        let mut reader = MultipartReader::new("XyZ")?;
        let mut out: Vec<Event> = Vec::new();
        let mut push = |event: Event| match (out.last_mut(), event) {
            (Some(Event::Data(previous)), Event::Data(more)) => {
                let mut joined = previous.to_vec();
                joined.extend_from_slice(&more);
                *previous = Bytes::from(joined);
            }
            (_, event) => out.push(event),
        };
        for piece in body.chunks(chunk) {
            reader.push(piece);
            while let Some(event) = reader.next_event(false)? {
                push(event);
            }
        }
        while let Some(event) = reader.next_event(true)? {
            push(event);
        }
        Ok(out)
    }

    const BODY: &[u8] = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nMy set\r\n--XyZ  \r\ncontent-disposition: form-data; name=\"file\"; filename=\"a;b.csv\"\r\nContent-Type: text/csv\r\n\r\nid,x\r\n1,\"--XyZ\"\r\n\r\n--XyZ--\r\nepilogue";

    #[test]
    fn parts_come_out_whole_in_any_chunking() {
        for chunk in [1, 2, 5, 13, 1000] {
            assert_eq!(
                events(BODY, chunk).expect("valid"),
                vec![
                    Event::PartStart {
                        name: "name".to_owned(),
                        filename: None
                    },
                    Event::Data(Bytes::from_static(b"My set")),
                    Event::PartEnd,
                    Event::PartStart {
                        name: "file".to_owned(),
                        filename: Some("a;b.csv".to_owned())
                    },
                    Event::Data(Bytes::from_static(b"id,x\r\n1,\"--XyZ\"\r\n")),
                    Event::PartEnd,
                    Event::End,
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn truncated_bodies_are_errors() {
        for cut in [5, 20, 60, 120, BODY.len() - 20] {
            assert!(events(&BODY[..cut], 7).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc"),
            Some("abc".to_owned())
        );
        assert_eq!(
            boundary("multipart/form-data; charset=utf-8; BOUNDARY=\"a b\""),
            Some("a b".to_owned())
        );
        assert_eq!(boundary("multipart/form-data"), None);
    }
}

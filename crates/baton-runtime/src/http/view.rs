//! An index over a message head that baton has already written (start line and
//! `Name: value\r\n` lines, without the final blank line), so that rules can read header values
//! as borrowed spans and edit the head in place.
//!
//! The index is owned by the session and reused from request to request: once its vector has
//! grown to the largest head seen, reading and editing allocate nothing. Edits (`add`, `remove`,
//! `replace`) work on the byte buffer and re-index; heads are small, so a re-index costs less
//! than keeping two representations in step.

use std::ops::Range;

/// Spans of one head inside its buffer.
#[derive(Debug, Default, Clone)]
pub struct HeadIndex {
    /// The three parts of the start line: method, URI, version (request) or version, status,
    /// reason (response).
    pub line: [Range<usize>; 3],
    /// Each header line: name span and value span.
    pub headers: Vec<(Range<usize>, Range<usize>)>,
}

impl HeadIndex {
    /// Re-reads `bytes` (a start line and header lines, each ending in CRLF).
    pub fn index(&mut self, bytes: &[u8]) {
        self.headers.clear();
        let mut lines = Lines { bytes, pos: 0 };
        let Some(first) = lines.next() else {
            self.line = [0..0, 0..0, 0..0];
            return;
        };
        let text = &bytes[first.clone()];
        let sp1 = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
        let rest = (sp1 + 1).min(text.len());
        let sp2 = text[rest..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(text.len(), |p| rest + p);
        let base = first.start;
        self.line = [
            base..base + sp1,
            base + rest..base + sp2,
            base + (sp2 + 1).min(text.len())..first.end,
        ];
        for line in lines {
            let text = &bytes[line.clone()];
            let colon = text.iter().position(|&b| b == b':').unwrap_or(text.len());
            let mut value_start = (colon + 1).min(text.len());
            while value_start < text.len() && matches!(text[value_start], b' ' | b'\t') {
                value_start += 1;
            }
            let mut value_end = text.len();
            while value_end > value_start && matches!(text[value_end - 1], b' ' | b'\t') {
                value_end -= 1;
            }
            self.headers.push((
                line.start..line.start + colon,
                line.start + value_start..line.start + value_end,
            ));
        }
    }
}

/// Iterates over the CRLF-terminated lines of a head (spans without the CRLF).
struct Lines<'a> {
    /// The head.
    bytes: &'a [u8],
    /// Where the next line starts.
    pos: usize,
}

impl Iterator for Lines<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let rest = &self.bytes[self.pos..];
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(rest.len());
        let line = self.pos..self.pos + end;
        self.pos += (end + 2).min(rest.len());
        if line.is_empty() {
            return None; // the blank line ends the head
        }
        Some(line)
    }
}

/// A head and its index, read-only.
#[derive(Debug, Clone, Copy)]
pub struct HeadView<'a> {
    /// The head bytes.
    pub bytes: &'a [u8],
    /// Their index.
    pub index: &'a HeadIndex,
}

impl<'a> HeadView<'a> {
    /// Part `i` of the start line.
    pub fn line_part(&self, i: usize) -> &'a [u8] {
        &self.bytes[self.index.line[i].clone()]
    }

    /// The request URI (request heads).
    pub fn uri(&self) -> &'a [u8] {
        self.line_part(1)
    }

    /// The URI's span in the buffer.
    pub fn uri_span(&self) -> Range<usize> {
        self.index.line[1].clone()
    }

    /// The path's span: the URI without the query string and, for an absolute URI, without
    /// scheme and authority.
    pub fn path_span(&self) -> Range<usize> {
        let uri = self.uri_span();
        let bytes = &self.bytes[uri.clone()];
        let mut start = 0;
        if let Some(scheme_end) = find(bytes, b"://") {
            if bytes[..scheme_end].iter().all(u8::is_ascii_alphanumeric) {
                let authority = scheme_end + 3;
                start = bytes[authority..]
                    .iter()
                    .position(|&b| b == b'/' || b == b'?')
                    .map_or(bytes.len(), |p| authority + p);
            }
        }
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'?')
            .map_or(bytes.len(), |p| start + p);
        uri.start + start..uri.start + end
    }

    /// The path (see [`HeadView::path_span`]).
    pub fn path(&self) -> &'a [u8] {
        &self.bytes[self.path_span()]
    }

    /// The query string without its `?`, if there is one.
    pub fn query(&self) -> Option<&'a [u8]> {
        let uri = self.uri();
        uri.iter().position(|&b| b == b'?').map(|p| &uri[p + 1..])
    }

    /// The status code (response heads).
    pub fn status(&self) -> u16 {
        std::str::from_utf8(self.line_part(1))
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Every value of the header `name`: with `full`, whole lines; otherwise each
    /// comma-separated element, trimmed (HAProxy's `hdr` against `fhdr`). Allocates nothing.
    pub fn values<'n>(&self, name: &'n [u8], full: bool) -> Values<'a, 'n> {
        Values {
            view: *self,
            name,
            full,
            next_header: 0,
            rest: None,
        }
    }
}

/// The iterator of [`HeadView::values`].
#[derive(Debug)]
pub struct Values<'a, 'n> {
    /// The head.
    view: HeadView<'a>,
    /// The header name.
    name: &'n [u8],
    /// Whole lines rather than comma-separated elements.
    full: bool,
    /// The next header line to look at.
    next_header: usize,
    /// What is left of the current line's value.
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for Values<'a, '_> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if let Some(rest) = self.rest {
                match rest.iter().position(|&b| b == b',') {
                    Some(p) => {
                        self.rest = Some(&rest[p + 1..]);
                        return Some(rest[..p].trim_ascii());
                    }
                    None => {
                        self.rest = None;
                        return Some(rest.trim_ascii());
                    }
                }
            }
            let bytes = self.view.bytes;
            let (n, v) = self.view.index.headers.get(self.next_header)?;
            self.next_header += 1;
            if bytes[n.clone()].eq_ignore_ascii_case(self.name) {
                let value = &bytes[v.clone()];
                if self.full {
                    return Some(value);
                }
                self.rest = Some(value);
            }
        }
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Removes every line of header `name` from `buf`; returns whether one was removed.
pub fn remove_header(buf: &mut Vec<u8>, index: &mut HeadIndex, name: &[u8]) -> bool {
    let mut removed = false;
    // From the last line to the first, so earlier spans stay valid.
    for i in (0..index.headers.len()).rev() {
        let (n, v) = index.headers[i].clone();
        if buf[n.clone()].eq_ignore_ascii_case(name) {
            let end = (v.end + 2).min(buf.len());
            let end = if buf[v.end..end] == *b"\r\n" {
                end
            } else {
                // Trailing blanks after the value: the line ends at the next CRLF.
                find(&buf[v.end..], b"\r\n").map_or(buf.len(), |p| v.end + p + 2)
            };
            buf.drain(n.start..end);
            removed = true;
        }
    }
    if removed {
        index.index(buf);
    }
    removed
}

/// Appends a header line to a head held without its final blank line.
pub fn append_header(buf: &mut Vec<u8>, index: &mut HeadIndex, name: &[u8], value: &[u8]) {
    let start = buf.len();
    buf.extend_from_slice(name);
    buf.extend_from_slice(b": ");
    let value_start = buf.len();
    buf.extend_from_slice(value);
    let value_end = buf.len();
    buf.extend_from_slice(b"\r\n");
    index
        .headers
        .push((start..start + name.len(), value_start..value_end));
}

/// Replaces the bytes in `span` with `with` and re-indexes.
pub fn replace(buf: &mut Vec<u8>, index: &mut HeadIndex, span: Range<usize>, with: &[u8]) {
    buf.splice(span, with.iter().copied());
    index.index(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> (Vec<u8>, HeadIndex) {
        let buf = text.as_bytes().to_vec();
        let mut index = HeadIndex::default();
        index.index(&buf);
        (buf, index)
    }

    #[test]
    fn reads_start_line_and_values() {
        let (buf, index) = head("GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-L: a, b ,c\r\nx-l: d\r\n");
        let v = HeadView {
            bytes: &buf,
            index: &index,
        };
        assert_eq!(v.line_part(0), b"GET");
        assert_eq!(v.uri(), b"/a/b?x=1");
        assert_eq!(v.path(), b"/a/b");
        assert_eq!(v.query(), Some(&b"x=1"[..]));
        let all: Vec<&[u8]> = v.values(b"x-l", false).collect();
        assert_eq!(all, vec![&b"a"[..], b"b", b"c", b"d"]);
        let full: Vec<&[u8]> = v.values(b"X-L", true).collect();
        assert_eq!(full, vec![&b"a, b ,c"[..], b"d"]);
    }

    #[test]
    fn absolute_uri_path() {
        let (buf, index) = head("GET http://h:8/p/q?z HTTP/1.1\r\n");
        let v = HeadView {
            bytes: &buf,
            index: &index,
        };
        assert_eq!(v.path(), b"/p/q");
        let (buf, index) = head("GET http://h HTTP/1.1\r\n");
        let v = HeadView {
            bytes: &buf,
            index: &index,
        };
        assert_eq!(v.path(), b"");
    }

    #[test]
    fn edits() {
        let (mut buf, mut index) = head("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\na: 3\r\n");
        assert!(remove_header(&mut buf, &mut index, b"a"));
        assert_eq!(buf, b"GET / HTTP/1.1\r\nB: 2\r\n");
        append_header(&mut buf, &mut index, b"C", b"x y");
        assert_eq!(buf, b"GET / HTTP/1.1\r\nB: 2\r\nC: x y\r\n");
        let span = HeadView {
            bytes: &buf,
            index: &index,
        }
        .path_span();
        replace(&mut buf, &mut index, span, b"/new");
        assert_eq!(buf, b"GET /new HTTP/1.1\r\nB: 2\r\nC: x y\r\n");
        assert_eq!(index.headers.len(), 2);
        assert!(!remove_header(&mut buf, &mut index, b"zz"));
    }
}

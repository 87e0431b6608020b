//! The CSV dialect of `import` and `export`: RFC 4180 records of three fields
//! (`metric,timestamp,value`), `\n` or `\r\n` line ends, blank lines and lines starting
//! with `#` skipped. A field is quoted (`"..."`, a quote doubled inside) when it holds a
//! comma, a quote or a line break, or starts with `#`; a quoted field may span lines.
//!
//! Written by hand rather than with a CSV crate so that every record carries the number of
//! the line it starts on, whatever blank lines, comments and line breaks inside quotes
//! came before (error messages point there).
use std::io::{self, BufRead};

/// Reads records one at a time, counting lines and bytes.
pub struct Reader<R> {
    src: R,
    line: Vec<u8>,
    /// Lines read so far.
    lines: u64,
    /// Bytes read so far.
    bytes: u64,
}

/// One record: its fields (reused between records) and the line it starts on.
#[derive(Default)]
pub struct Record {
    fields: Vec<Vec<u8>>,
    len: usize,
    pub line: u64,
    /// Why the record is malformed (an unterminated quote, text after a closing quote).
    pub error: Option<String>,
}

impl Record {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, i: usize) -> &[u8] {
        &self.fields[..self.len][i]
    }

    fn push_field(&mut self) {
        if self.fields.len() == self.len {
            self.fields.push(Vec::new());
        }
        self.fields[self.len].clear();
        self.len += 1;
    }

    fn cur(&mut self) -> &mut Vec<u8> {
        &mut self.fields[self.len - 1]
    }
}

impl<R: BufRead> Reader<R> {
    pub fn new(src: R) -> Reader<R> {
        Reader { src, line: Vec::new(), lines: 0, bytes: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.bytes
    }

    fn read_line(&mut self) -> io::Result<bool> {
        self.line.clear();
        let n = self.src.read_until(b'\n', &mut self.line)?;
        self.bytes += n as u64;
        if n > 0 {
            self.lines += 1;
        }
        Ok(n > 0)
    }

    /// The next record into `rec`; false at the end of the input.
    pub fn next(&mut self, rec: &mut Record) -> io::Result<bool> {
        // Skip blank lines and comments.
        loop {
            if !self.read_line()? {
                return Ok(false);
            }
            let body = strip_eol(&self.line);
            if !body.is_empty() && body[0] != b'#' {
                break;
            }
        }
        rec.len = 0;
        rec.line = self.lines;
        rec.error = None;
        rec.push_field();
        // States: at the start of a field, in an unquoted one, in a quoted one, or just
        // after the closing quote of one.
        #[derive(PartialEq)]
        enum St {
            Start,
            Plain,
            Quoted,
            AfterQuote,
        }
        let mut st = St::Start;
        let mut at = 0;
        loop {
            let bytes = &self.line;
            // The line break ends the record unless it is inside quotes.
            let body = strip_eol(bytes).len();
            while at < bytes.len() && (at < body || st == St::Quoted) {
                let b = bytes[at];
                at += 1;
                match st {
                    St::Start if b == b'"' => st = St::Quoted,
                    St::Start | St::Plain if b == b',' => {
                        rec.push_field();
                        st = St::Start;
                    }
                    St::Start | St::Plain => {
                        rec.cur().push(b);
                        st = St::Plain;
                    }
                    St::Quoted if b == b'"' => st = St::AfterQuote,
                    St::Quoted => rec.cur().push(b),
                    St::AfterQuote if b == b'"' => {
                        rec.cur().push(b'"');
                        st = St::Quoted;
                    }
                    St::AfterQuote if b == b',' => {
                        rec.push_field();
                        st = St::Start;
                    }
                    St::AfterQuote => {
                        if rec.error.is_none() {
                            rec.error = Some(format!(
                                "unexpected {:?} after the closing quote of field {} (a quote inside a \
                                 quoted field is written twice: \"\")",
                                b as char, rec.len
                            ));
                        }
                        rec.cur().push(b);
                    }
                }
            }
            if st != St::Quoted {
                return Ok(true);
            }
            // A line break inside quotes belongs to the field: read on.
            if !self.read_line()? {
                rec.error = Some(format!("field {} opens a quote that is never closed", rec.len));
                return Ok(true);
            }
            at = 0;
        }
    }
}

/// The line without its `\n` or `\r\n`.
fn strip_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// Append `field` to `out` as the reader reads it back: quoted when needed.
pub fn write_field(out: &mut Vec<u8>, field: &[u8]) {
    let quote =
        field.first() == Some(&b'#') || field.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !quote {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &str) -> Vec<(u64, Vec<String>, Option<String>)> {
        let mut r = Reader::new(input.as_bytes());
        let mut rec = Record::default();
        let mut out = Vec::new();
        while r.next(&mut rec).unwrap() {
            let fields = (0..rec.len()).map(|i| String::from_utf8(rec.get(i).to_vec()).unwrap()).collect();
            out.push((rec.line, fields, rec.error.clone()));
        }
        assert_eq!(r.position(), input.len() as u64);
        out
    }

    #[test]
    fn records_carry_their_first_line_number() {
        let got = records("a,1,2\n\n\n# c\nb,3,4\r\n\r\n\"x\ny\",5,6\n\"\nz\r\n\",1,1\nc,7,8");
        let want: Vec<(u64, Vec<String>, Option<String>)> = vec![
            (1, vec!["a".into(), "1".into(), "2".into()], None),
            (5, vec!["b".into(), "3".into(), "4".into()], None),
            (7, vec!["x\ny".into(), "5".into(), "6".into()], None),
            (9, vec!["\nz\r\n".into(), "1".into(), "1".into()], None),
            (12, vec!["c".into(), "7".into(), "8".into()], None),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn quotes_round_trip_and_errors_are_reported() {
        for name in ["plain", "a,b", "say \"hi\"", "#tag", "a#b", "two\r\nlines", " spaced ", "\"", ","] {
            let mut line = Vec::new();
            write_field(&mut line, name.as_bytes());
            line.extend_from_slice(b",1,2\n");
            let got = records(std::str::from_utf8(&line).unwrap());
            assert_eq!(got.len(), 1, "{name:?}");
            assert_eq!(got[0].1[0], name);
            assert_eq!(got[0].2, None);
        }
        let got = records("\"ab\"c,1,2\n\"open,1,2\n");
        assert!(got[0].2.as_ref().unwrap().contains("after the closing quote of field 1"));
        assert!(got[1].2.as_ref().unwrap().contains("never closed"));
        assert_eq!(got[1].0, 2);
    }
}

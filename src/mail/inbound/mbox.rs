//! Reading mail collections for `docket import`: mbox files (mboxrd/mboxo),
//! Maildirs (`cur/` and `new/`) and plain directories of message files.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::bounded::{HEADER_LIMIT, Input, header_end};

/// One message from a collection, with a label naming where it came from.
pub struct Item {
    pub raw: Vec<u8>,
    pub label: String,
}

/// The files of a Maildir (or a plain directory), sorted by name.
pub fn directory_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let sub: Vec<PathBuf> = ["cur", "new"]
        .iter()
        .map(|s| dir.join(s))
        .filter(|p| p.is_dir())
        .collect();
    let dirs = if sub.is_empty() {
        vec![dir.to_path_buf()]
    } else {
        sub
    };
    for d in dirs {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads an mbox one message at a time, holding at most one message (and
/// of an over-size one only its header): a message starts at a line
/// beginning with `From ` at the start of the file or after a blank line;
/// `>From ` quoting is undone (one level, mboxrd).
pub struct MboxReader<R> {
    input: R,
    limit: usize,
    /// The previous line was blank (a `From ` line after it separates).
    prev_blank: bool,
    /// The previous chunk ended a line (long lines come in chunks).
    at_line_start: bool,
    done: bool,
    line: Vec<u8>,
}

/// Lines are read in chunks of at most this: a file with no newlines
/// cannot make one line fill memory.
const CHUNK: u64 = 64 * 1024;

impl<R: BufRead> MboxReader<R> {
    pub fn new(input: R, limit: usize) -> Self {
        MboxReader {
            input,
            limit,
            prev_blank: true,
            at_line_start: true,
            done: false,
            line: Vec::new(),
        }
    }

    fn next_message(&mut self) -> std::io::Result<Option<Input>> {
        let mut msg: Vec<u8> = Vec::new();
        let mut size: u64 = 0;
        let mut over = false;
        let mut started = false;
        loop {
            self.line.clear();
            let n = (&mut self.input)
                .take(CHUNK)
                .read_until(b'\n', &mut self.line)?;
            if n == 0 {
                self.done = true;
                break;
            }
            let line_start = self.at_line_start;
            self.at_line_start = self.line.ends_with(b"\n");
            if line_start && self.prev_blank && self.line.starts_with(b"From ") {
                self.prev_blank = false;
                if started {
                    break;
                }
                // The separator of the first message (or of an empty one).
                started = true;
                continue;
            }
            started = true;
            let line = &self.line[..];
            let unquoted = match line.iter().position(|b| *b != b'>') {
                Some(n) if line_start && n > 0 && line[n..].starts_with(b"From ") => &line[1..],
                _ => line,
            };
            if line_start {
                self.prev_blank = line == b"\n" || line == b"\r\n";
            } else {
                self.prev_blank = false;
            }
            size += unquoted.len() as u64;
            if !over {
                msg.extend_from_slice(unquoted);
                if msg.len() > self.limit {
                    over = true;
                    msg.truncate(header_end(&msg).min(HEADER_LIMIT));
                    msg.shrink_to_fit();
                }
            }
        }
        if over {
            return Ok(Some(Input::TooLarge { header: msg, size }));
        }
        if msg.is_empty() {
            return Ok(None);
        }
        Ok(Some(Input::Whole(trim_separator(msg))))
    }
}

impl<R: BufRead> Iterator for MboxReader<R> {
    type Item = std::io::Result<Input>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.next_message() {
                Ok(Some(m)) => return Some(Ok(m)),
                // an empty message between two separators: skip it
                Ok(None) => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

/// The blank line before the next `From ` belongs to the format, not the mail.
fn trim_separator(mut m: Vec<u8>) -> Vec<u8> {
    if m.ends_with(b"\r\n\r\n") {
        m.truncate(m.len() - 2);
    } else if m.ends_with(b"\n\n") {
        m.truncate(m.len() - 1);
    }
    m
}

/// Whether `path` looks like an mbox file (starts with `From `).
pub fn is_mbox(path: &Path) -> Result<bool> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut head = [0u8; 5];
    let n = f.read(&mut head)?;
    Ok(n == 5 && &head == b"From ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(mbox: &[u8], limit: usize) -> Vec<Input> {
        MboxReader::new(mbox, limit)
            .collect::<std::io::Result<Vec<_>>>()
            .unwrap()
    }

    fn whole(i: &Input) -> &[u8] {
        match i {
            Input::Whole(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn splits_and_unquotes() {
        let mbox = b"From a@b Mon Jan 1 00:00:00 2024\nSubject: one\n\nHello\n>From here\n\nFrom c@d Mon Jan 1 00:00:00 2024\nSubject: two\n\nBye\n";
        let msgs = split(mbox, 1000);
        assert_eq!(msgs.len(), 2);
        assert_eq!(whole(&msgs[0]), b"Subject: one\n\nHello\nFrom here\n");
        assert_eq!(whole(&msgs[1]), b"Subject: two\n\nBye\n");
    }

    #[test]
    fn from_inside_a_paragraph_is_not_a_separator() {
        let mbox = b"From a@b x\nSubject: one\n\nline\nFrom the start\n";
        assert_eq!(split(mbox, 1000).len(), 1);
    }

    #[test]
    fn an_oversize_message_keeps_its_header_and_the_next_one_is_whole() {
        let mut mbox = b"From a@b x\nSubject: big\n\n".to_vec();
        for _ in 0..100 {
            mbox.extend_from_slice(&[b'x'; 999]);
            mbox.push(b'\n');
        }
        // a long line with no newline for a while: read in chunks
        mbox.extend(std::iter::repeat_n(b'y', 200_000));
        mbox.extend_from_slice(b"\n\nFrom c@d x\nSubject: small\n\nok\n");
        let msgs = split(&mbox, 10_000);
        assert_eq!(msgs.len(), 2);
        match &msgs[0] {
            Input::TooLarge { header, size } => {
                assert_eq!(header, b"Subject: big\n\n");
                assert!(*size > 300_000, "{size}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(whole(&msgs[1]), b"Subject: small\n\nok\n");
    }
}

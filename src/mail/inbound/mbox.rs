//! Reading mail collections for `docket import`: mbox files (mboxrd/mboxo),
//! Maildirs (`cur/` and `new/`) and plain directories of message files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

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

/// Splits an mbox into messages: a message starts at a line beginning with
/// `From ` at the start of the file or after a blank line; `>From ` quoting is
/// undone (one level, mboxrd).
pub fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut prev_blank = true;
    for line in data.split_inclusive(|b| *b == b'\n') {
        if prev_blank && line.starts_with(b"From ") {
            if let Some(m) = current.take() {
                messages.push(trim_separator(m));
            }
            current = Some(Vec::new());
            prev_blank = false;
            continue;
        }
        let body = current.get_or_insert_with(Vec::new);
        let unquoted = match line.iter().position(|b| *b != b'>') {
            Some(n) if n > 0 && line[n..].starts_with(b"From ") => &line[1..],
            _ => line,
        };
        body.extend_from_slice(unquoted);
        prev_blank = line == b"\n" || line == b"\r\n";
    }
    if let Some(m) = current
        && !m.is_empty()
    {
        messages.push(trim_separator(m));
    }
    messages
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
    use std::io::Read;
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut head = [0u8; 5];
    let n = f.read(&mut head)?;
    Ok(n == 5 && &head == b"From ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_unquotes() {
        let mbox = b"From a@b Mon Jan 1 00:00:00 2024\nSubject: one\n\nHello\n>From here\n\nFrom c@d Mon Jan 1 00:00:00 2024\nSubject: two\n\nBye\n";
        let msgs = split_mbox(mbox);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0], b"Subject: one\n\nHello\nFrom here\n");
        assert_eq!(msgs[1], b"Subject: two\n\nBye\n");
    }

    #[test]
    fn from_inside_a_paragraph_is_not_a_separator() {
        let mbox = b"From a@b x\nSubject: one\n\nline\nFrom the start\n";
        assert_eq!(split_mbox(mbox).len(), 1);
    }
}

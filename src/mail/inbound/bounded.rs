//! Reading one message with a size limit: never more than the limit plus one
//! byte is held, so a huge message on stdin cannot exhaust memory.

use std::io::Read;

/// What came in: the whole message, or the header of one over the limit.
#[derive(Debug)]
pub enum Input {
    Whole(Vec<u8>),
    TooLarge {
        /// The header block (at most [`HEADER_LIMIT`] bytes).
        header: Vec<u8>,
        /// Bytes read in all (the rest was read and dropped).
        size: u64,
    },
}

/// The most of an over-size message's header that is kept.
pub const HEADER_LIMIT: usize = 256 * 1024;

/// Reads `input` to its end, holding at most `limit + 1` bytes.
pub fn read_bounded(input: impl Read, limit: usize) -> std::io::Result<Input> {
    let mut raw = Vec::new();
    let mut input = input;
    (&mut input).take(limit as u64 + 1).read_to_end(&mut raw)?;
    if raw.len() <= limit {
        return Ok(Input::Whole(raw));
    }
    raw.truncate(header_end(&raw).min(HEADER_LIMIT));
    raw.shrink_to_fit();
    // Drain the rest so the writer (an MTA's pipe) sees it consumed.
    let rest = std::io::copy(&mut input, &mut std::io::sink())?;
    Ok(Input::TooLarge {
        header: raw,
        size: (limit as u64 + 1) + rest,
    })
}

/// Where the header block ends (after its blank line), or the whole length.
pub fn header_end(raw: &[u8]) -> usize {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(raw.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_input_is_whole_and_large_keeps_only_its_header() {
        let msg = b"Subject: hi\r\n\r\nbody".to_vec();
        match read_bounded(&msg[..], 100).unwrap() {
            Input::Whole(raw) => assert_eq!(raw, msg),
            other => panic!("{other:?}"),
        }
        let mut big = b"From: a@b\nSubject: big\n\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', 1000));
        match read_bounded(&big[..], 100).unwrap() {
            Input::TooLarge { header, size } => {
                assert_eq!(header, b"From: a@b\nSubject: big\n\n");
                assert_eq!(size, big.len() as u64);
            }
            other => panic!("{other:?}"),
        }
    }
}

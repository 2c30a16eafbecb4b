//! Realistic synthetic mail for benchmarks, demos and load tests: plain and
//! HTML messages, small attachments, and replies threaded onto earlier ones.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WORDS: [&str; 40] = [
    "printer",
    "vpn",
    "password",
    "laptop",
    "email",
    "server",
    "backup",
    "disk",
    "network",
    "wifi",
    "license",
    "account",
    "monitor",
    "keyboard",
    "update",
    "crash",
    "slow",
    "error",
    "access",
    "share",
    "calendar",
    "meeting",
    "phone",
    "badge",
    "database",
    "deploy",
    "certificate",
    "firewall",
    "proxy",
    "dns",
    "outage",
    "invoice",
    "report",
    "folder",
    "permission",
    "install",
    "upgrade",
    "token",
    "login",
    "quota",
];
const NAMES: [&str; 12] = [
    "Alice Archer",
    "Bob Baker",
    "Chloé Dubois",
    "Dmitri Ivanov",
    "Eva Müller",
    "Farid Haddad",
    "Grace Hopper",
    "Hiro Tanaka",
    "Ines García",
    "Jon Snow",
    "Kai Nakamura",
    "Lena Schmidt",
];

/// Generates `n` messages to `to`; deterministic for a given `seed`.
pub fn messages(n: usize, to: &str, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n);
    let mut sent: Vec<(String, String)> = Vec::new(); // (message-id, subject)
    for i in 0..n {
        let name = NAMES[rng.random_range(0..NAMES.len())];
        let user = rng.random_range(0..2000);
        let from = format!("\"{name}\" <user{user}@example.org>");
        let mid = format!("gen-{seed}-{i}@example.org");
        let date = "Tue, 24 Nov 2026 08:00:00 +0000";
        let kind = rng.random_range(0..100);
        let sentence = |rng: &mut StdRng| {
            (0..rng.random_range(6..16))
                .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (subject, threading) = if kind >= 75 && !sent.is_empty() {
            let (pid, psub) = &sent[rng.random_range(0..sent.len())];
            (
                format!("Re: {psub}"),
                format!("In-Reply-To: <{pid}>\r\nReferences: <{pid}>\r\n"),
            )
        } else {
            let w1 = WORDS[rng.random_range(0..WORDS.len())];
            let w2 = WORDS[rng.random_range(0..WORDS.len())];
            (format!("{w1} {w2} problem #{i}"), String::new())
        };
        let head = format!(
            "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{mid}>\r\n{threading}MIME-Version: 1.0\r\n"
        );
        let body_text: String = (0..rng.random_range(2..8))
            .map(|_| sentence(&mut rng))
            .collect::<Vec<_>>()
            .join(".\r\n");
        let msg = match kind {
            0..=39 | 75..=99 => format!(
                "{head}Content-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\n{body_text}.\r\n\r\nThanks,\r\n{name}\r\n"
            ),
            40..=59 => format!(
                "{head}Content-Type: multipart/alternative; boundary=\"alt{i}\"\r\n\r\n--alt{i}\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n{body_text}\r\n--alt{i}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><head><style>p{{margin:0}}</style></head><body><p>Hello,</p><p>{body_text}</p><p>Thanks,<br>{name}</p></body></html>\r\n--alt{i}--\r\n"
            ),
            _ => {
                let blob: String = (0..1500)
                    .map(|_| char::from(b'A' + rng.random_range(0..26u8)))
                    .collect();
                let b64 = blob
                    .as_bytes()
                    .chunks(76)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join("\r\n");
                format!(
                    "{head}Content-Type: multipart/mixed; boundary=\"mix{i}\"\r\n\r\n--mix{i}\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\n{body_text}\r\n--mix{i}\r\nContent-Type: text/plain; name=\"log-{i}.txt\"\r\n\
Content-Disposition: attachment; filename=\"log-{i}.txt\"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{b64}\r\n--mix{i}--\r\n"
                )
            }
        };
        if !subject.starts_with("Re:") {
            sent.push((mid, subject));
        }
        out.push(msg.into_bytes());
    }
    out
}

/// Writes messages as an mbox (mboxrd quoting).
pub fn to_mbox(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        out.extend_from_slice(b"From generator@example.org Tue Nov 24 08:00:00 2026\n");
        for line in m.split_inclusive(|b| *b == b'\n') {
            if line
                .iter()
                .position(|b| *b != b'>')
                .is_some_and(|n| line[n..].starts_with(b"From "))
            {
                out.push(b'>');
            }
            out.extend_from_slice(line);
        }
        if !m.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::inbound::bounded::Input;
    use crate::mail::inbound::mbox::MboxReader;

    #[test]
    fn mbox_round_trip() {
        let msgs = messages(50, "help@example.com", 1);
        let data = to_mbox(&msgs);
        let back: Vec<Vec<u8>> = MboxReader::new(&data[..], usize::MAX - 1)
            .map(|m| match m.unwrap() {
                Input::Whole(raw) => raw,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(back.len(), 50);
        assert_eq!(back[7], msgs[7]);
    }
}

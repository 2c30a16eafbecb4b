//! Prints what Docket's parser makes of a message file: `cargo run --example parse_mail FILE`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
fn main() -> anyhow::Result<()> {
    for path in std::env::args().skip(1) {
        let raw = std::fs::read(&path)?;
        match docket::mail::inbound::parse::parse(&raw) {
            Ok(m) => {
                println!(
                    "== {path}\nmessage_id: {}\nsubject: {:?}\nfrom: {:?}\nbody: {:?}",
                    m.message_id,
                    m.subject,
                    m.from,
                    m.body.chars().take(300).collect::<String>()
                );
                for a in &m.attachments {
                    println!(
                        "attachment: {:?} {} {} bytes",
                        a.filename,
                        a.content_type,
                        a.content.len()
                    );
                }
            }
            Err(e) => println!("== {path}: {e}"),
        }
    }
    Ok(())
}

//! Writes N generated messages as an mbox: `cargo run --example gen_mbox N PATH`.
fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().unwrap_or_else(|| "1000".into()).parse()?;
    let path = args.next().unwrap_or_else(|| "generated.mbox".into());
    let msgs = docket::mail::generate::messages(n, "help@example.com", 7);
    std::fs::write(&path, docket::mail::generate::to_mbox(&msgs))?;
    Ok(())
}

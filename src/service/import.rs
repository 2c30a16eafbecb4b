//! `docket import`: an mbox file, a Maildir or a directory of message
//! files, stored in batches bounded by count and bytes. Nothing is read
//! whole: an mbox streams one message at a time and an over-size message
//! keeps only its header (in quarantine), so memory does not grow with the
//! file.

use std::io::BufReader;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::mail::inbound::bounded::{Input, read_bounded};
use crate::mail::inbound::mbox::{self, MboxReader};
use crate::service::ingest::{BATCH_BYTES, Hints, Ingestor, Outcome, Source, Tally};

#[derive(Debug, Default, Serialize)]
pub struct ImportSummary {
    pub messages: usize,
    #[serde(flatten)]
    pub tally: Tally,
    pub seconds: f64,
    pub per_second: f64,
}

impl ImportSummary {
    pub fn count(&mut self, o: &Outcome) {
        self.messages += 1;
        self.tally.count(o.outcome);
    }
}

/// Collects messages into batches and stores each when full.
struct Batcher<'a, F> {
    ingestor: &'a Ingestor,
    hints: &'a Hints,
    size: usize,
    batch: Vec<(Vec<u8>, Source)>,
    bytes: usize,
    summary: ImportSummary,
    each: F,
}

impl<F: FnMut(&str, &Outcome) -> Result<()>> Batcher<'_, F> {
    async fn add(&mut self, input: Input, label: String) -> Result<()> {
        match input {
            Input::Whole(raw) => {
                if self.bytes + raw.len() > BATCH_BYTES {
                    self.flush().await?;
                }
                self.bytes += raw.len();
                self.batch.push((raw, Source::Import(label)));
                if self.batch.len() >= self.size {
                    self.flush().await?;
                }
            }
            Input::TooLarge { header, size } => {
                let source = Source::Import(label.clone());
                let o = self
                    .ingestor
                    .quarantine_oversize(&header, &size.to_string(), &source)
                    .await
                    .context("quarantining an over-size message")?;
                self.summary.count(&o);
                (self.each)(&label, &o)?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.bytes = 0;
        let outcomes = self
            .ingestor
            .ingest_batch(&batch, self.hints)
            .await
            .context("storing a batch")?;
        for (o, (_, source)) in outcomes.iter().zip(&batch) {
            self.summary.count(o);
            if let Source::Import(label) = source {
                (self.each)(label, o)?;
            }
        }
        Ok(())
    }
}

/// Imports a collection in batches; `each` hears every message's outcome
/// (with its label, `path#n` for an mbox). Returns the summary.
pub async fn import_path(
    ingestor: &Ingestor,
    path: &Path,
    hints: &Hints,
    batch_size: usize,
    each: impl FnMut(&str, &Outcome) -> Result<()>,
) -> Result<ImportSummary> {
    let started = Instant::now();
    let limit = ingestor.max_message_bytes();
    let mut b = Batcher {
        ingestor,
        hints,
        size: batch_size.max(1),
        batch: Vec::new(),
        bytes: 0,
        summary: ImportSummary::default(),
        each,
    };
    let open =
        |p: &Path| std::fs::File::open(p).with_context(|| format!("opening {}", p.display()));
    if path.is_dir() {
        for f in mbox::directory_files(path)? {
            let input = read_bounded(open(&f)?, limit)
                .with_context(|| format!("reading {}", f.display()))?;
            b.add(input, f.display().to_string()).await?;
        }
    } else if mbox::is_mbox(path)? {
        let label = path.display().to_string();
        let reader = MboxReader::new(BufReader::with_capacity(1 << 20, open(path)?), limit);
        for (n, input) in reader.enumerate() {
            let input = input.with_context(|| format!("reading {label}"))?;
            b.add(input, format!("{label}#{}", n + 1)).await?;
        }
    } else {
        let input = read_bounded(open(path)?, limit)
            .with_context(|| format!("reading {}", path.display()))?;
        b.add(input, path.display().to_string()).await?;
    }
    b.flush().await?;
    let mut summary = b.summary;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.per_second = if summary.seconds > 0.0 {
        summary.messages as f64 / summary.seconds
    } else {
        0.0
    };
    Ok(summary)
}

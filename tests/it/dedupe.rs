//! Dedupe by Message-ID: a redelivered message changes nothing, also when two
//! processes deliver it at the same moment.

use crate::both;
use crate::support::{Backend, TestDb, docket_bin, ingest, mail};
use docket::service::ingest::OutcomeKind;

async fn twice_is_once(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let ing = t.ingestor();
    let raw = mail(
        "a@example.net",
        "help@example.com",
        "hi",
        "same@x",
        "",
        "body",
    );
    let first = ingest(&ing, &raw, None).await;
    let second = ingest(&ing, &raw, None).await;
    assert_eq!(first.outcome, OutcomeKind::Created);
    assert_eq!(
        (second.outcome, second.ticket),
        (OutcomeKind::Duplicate, first.ticket)
    );
    // Without a Message-ID: the derived id is stable across redelivery.
    let no_id =
        b"From: b@example.net\r\nTo: help@example.com\r\nSubject: no id\r\n\r\nbody\r\n".to_vec();
    let mut redelivered = b"Received: from mx by mx2; Tue, 24 Nov 2026 09:00:00 +0000\r\n".to_vec();
    redelivered.extend_from_slice(&no_id);
    assert_eq!(
        ingest(&ing, &no_id, None).await.outcome,
        OutcomeKind::Created
    );
    assert_eq!(
        ingest(&ing, &redelivered, None).await.outcome,
        OutcomeKind::Duplicate
    );
    assert_eq!(t.count("tickets").await, 2);
    assert_eq!(t.count("transactions").await, 2);
    assert_eq!(t.count("outbox").await, 2);
    t.close().await;
}
both!(same_message_twice_yields_one_ticket, twice_is_once);

/// Many processes deliver the same messages at once; each message is stored once.
async fn concurrent_processes(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let msgs: Vec<Vec<u8>> = (0..10)
        .map(|i| {
            mail(
                "a@example.net",
                "help@example.com",
                &format!("m{i}"),
                &format!("conc{i}@x"),
                "",
                "b",
            )
        })
        .collect();
    let mut children = Vec::new();
    for raw in msgs.iter().chain(msgs.iter()) {
        use tokio::io::AsyncWriteExt;
        let mut c = tokio::process::Command::new(docket_bin())
            .args(["mailgate", "--json"])
            .env("DOCKET_DATABASE_URL", &t.url)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        c.stdin
            .take()
            .expect("stdin")
            .write_all(raw)
            .await
            .expect("write");
        children.push(c);
    }
    let mut created = 0;
    let mut duplicate = 0;
    for c in children {
        let out = c.wait_with_output().await.expect("wait");
        assert!(out.status.success(), "mailgate failed: {:?}", out.status);
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        match line["outcome"].as_str() {
            Some("created") => created += 1,
            Some("duplicate") => duplicate += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((created, duplicate), (10, 10));
    assert_eq!(t.count("tickets").await, 10);
    assert_eq!(t.count("messages").await, 10);
    t.close().await;
}
both!(
    concurrent_mailgates_store_each_message_once,
    concurrent_processes
);

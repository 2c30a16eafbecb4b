//! Hostile and broken input: quarantined or ingested, never a panic, never lost.

use crate::both;
use crate::support::{Backend, TestDb, ingest};
use docket::service::ingest::OutcomeKind;

fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let mut long_header =
        b"From: a@example.net\r\nTo: help@example.com\r\nSubject: long\r\nX-Long: ".to_vec();
    long_header.extend(std::iter::repeat_n(b'x', 1024 * 1024));
    long_header.extend_from_slice(b"\r\n\r\nbody\r\n");

    let mut nested =
        b"From: a@example.net\r\nTo: help@example.com\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
            .to_vec();
    for i in 0..300 {
        nested.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n")
                .as_bytes(),
        );
    }
    nested.extend_from_slice(b"Content-Type: text/plain\r\n\r\ndeep inside\r\n");
    for i in (0..300).rev() {
        nested.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
    }

    let full = b"From: a@example.net\r\nTo: help@example.com\r\nSubject: truncated\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nhello\r\n--zz\r\n\
Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfs";

    let mut deep_html =
        b"From: a@example.net\r\nTo: help@example.com\r\nSubject: deep html\r\nContent-Type: text/html\r\n\r\n"
            .to_vec();
    deep_html.extend(b"<div>".repeat(100_000));
    deep_html.extend(b"</div>".repeat(100_000));

    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    vec![
        ("garbage bytes", garbage),
        ("empty input", Vec::new()),
        ("a 1 MB header line", long_header),
        ("300 nested multiparts", nested),
        ("HTML nested 100,000 levels deep", deep_html),
        ("a truncated message", full.to_vec()),
        (
            "headers only, cut mid-line",
            b"From: a@example.net\r\nTo: help@exa".to_vec(),
        ),
        (
            "NUL bytes",
            b"From: a@example.net\r\nSubject: \0\0\r\n\r\n\0body\0".to_vec(),
        ),
        (
            "no sender",
            b"To: help@example.com\r\nSubject: who?\r\n\r\nbody\r\n".to_vec(),
        ),
    ]
}

async fn never_lost(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let ing = t.ingestor();
    for (what, raw) in cases() {
        let o = ingest(&ing, &raw, Some("help")).await;
        let stored: Vec<Vec<u8>> = match o.outcome {
            OutcomeKind::Quarantined => {
                sqlx::query_scalar("SELECT raw FROM quarantine WHERE id = $1")
                    .bind(o.quarantine_id.expect("quarantine id"))
                    .fetch_all(&t.db.pool)
                    .await
                    .expect("q")
            }
            OutcomeKind::Created => {
                sqlx::query_scalar("SELECT raw FROM messages WHERE ticket_id = $1")
                    .bind(o.ticket.expect("ticket"))
                    .fetch_all(&t.db.pool)
                    .await
                    .expect("m")
            }
            other => panic!("{what}: unexpected outcome {other:?}"),
        };
        assert_eq!(stored, vec![raw.clone()], "{what}: raw bytes kept exactly");
        assert!(!o.reason.is_empty(), "{what}: has a reason");
    }
    // The nested message's innermost text is still found.
    let deep: i64 = t
        .scalar_i64("SELECT COUNT(*) FROM transactions WHERE body LIKE '%deep inside%'")
        .await;
    assert_eq!(deep, 1);
    let html = t
        .scalar_i64(
            "SELECT COUNT(*) FROM quarantine WHERE reason LIKE '%nested 100000 levels deep%'",
        )
        .await;
    assert_eq!(
        html, 1,
        "the 100,000-deep HTML is quarantined with its reason"
    );
    t.close().await;
}
both!(
    broken_input_is_quarantined_or_ingested_never_lost,
    never_lost
);

async fn oversize(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let mut cfg = t.config();
    cfg.max_message_bytes = 1000;
    let ing = docket::service::ingest::Ingestor::new(t.db.clone(), std::sync::Arc::new(cfg));
    let mut raw = b"From: a@example.net\r\nTo: help@example.com\r\nSubject: big\r\n\r\n".to_vec();
    raw.extend(std::iter::repeat_n(b'y', 5000));
    let o = ingest(&ing, &raw, None).await;
    assert_eq!(o.outcome, OutcomeKind::Quarantined);
    assert!(o.reason.contains("limit"), "{}", o.reason);
    // The same bytes again are one entry, not two.
    ingest(&ing, &raw, None).await;
    assert_eq!(t.count("quarantine").await, 1);
    t.close().await;
}
both!(oversize_mail_is_quarantined_with_reason, oversize);

async fn retry_releases(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let ing = t.ingestor();
    let raw = crate::support::mail(
        "a@example.net",
        "ops@example.com",
        "disk full",
        "rq@x",
        "",
        "x",
    );
    let o = ingest(&ing, &raw, None).await;
    assert_eq!(o.outcome, OutcomeKind::Quarantined, "no queue yet");
    let qid = o.quarantine_id.expect("id");
    let hints = docket::service::ingest::Hints::default();
    let again = docket::service::ingest::retry_quarantined(&ing, qid, &hints)
        .await
        .expect("retry")
        .expect("entry");
    assert_eq!(again.outcome, OutcomeKind::Quarantined, "still no queue");
    t.add_queue("ops", "ops@example.com", None).await;
    let done = docket::service::ingest::retry_quarantined(&ing, qid, &hints)
        .await
        .expect("retry")
        .expect("entry");
    assert_eq!(done.outcome, OutcomeKind::Created);
    let status: String = sqlx::query_scalar("SELECT status FROM quarantine WHERE id = $1")
        .bind(qid)
        .fetch_one(&t.db.pool)
        .await
        .expect("status");
    assert_eq!(status, "released");
    t.close().await;
}
both!(
    quarantine_retry_takes_mail_in_once_a_queue_exists,
    retry_releases
);

async fn batch_fallback(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let ing = t.ingestor();
    let m = |i: usize| {
        crate::support::mail(
            "a@example.net",
            "help@example.com",
            &format!("m{i}"),
            &format!("fb{i}@x"),
            "",
            "b",
        )
    };
    // The same message twice in one batch: the fast round fails on the
    // second copy; the careful round stores it once and reports a duplicate.
    let items: Vec<(Vec<u8>, docket::service::ingest::Source)> = [m(1), m(2), m(1), m(3)]
        .into_iter()
        .map(|r| (r, docket::service::ingest::Source::Bench))
        .collect();
    let outcomes = ing
        .ingest_batch(&items, &Default::default())
        .await
        .expect("batch");
    let kinds: Vec<OutcomeKind> = outcomes.iter().map(|o| o.outcome).collect();
    assert_eq!(
        kinds,
        vec![
            OutcomeKind::Created,
            OutcomeKind::Created,
            OutcomeKind::Duplicate,
            OutcomeKind::Created
        ]
    );
    assert_eq!(t.count("messages").await, 3);
    assert_eq!(t.count("tickets").await, 3);
    if b == Backend::Sqlite {
        // A message the database refuses is quarantined; its neighbours go in.
        sqlx::query(
            "CREATE TRIGGER refuse BEFORE INSERT ON tickets WHEN new.subject = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END",
        )
        .execute(&t.db.pool)
        .await
        .expect("trigger");
        let items: Vec<(Vec<u8>, docket::service::ingest::Source)> = [
            m(4),
            crate::support::mail(
                "a@example.net",
                "help@example.com",
                "poison",
                "fb-poison@x",
                "",
                "b",
            ),
            m(5),
        ]
        .into_iter()
        .map(|r| (r, docket::service::ingest::Source::Bench))
        .collect();
        let outcomes = ing
            .ingest_batch(&items, &Default::default())
            .await
            .expect("batch");
        let kinds: Vec<OutcomeKind> = outcomes.iter().map(|o| o.outcome).collect();
        assert_eq!(
            kinds,
            vec![
                OutcomeKind::Created,
                OutcomeKind::Quarantined,
                OutcomeKind::Created
            ]
        );
        assert!(
            outcomes[1].reason.contains("refused by test trigger"),
            "{}",
            outcomes[1].reason
        );
        assert_eq!(t.count("tickets").await, 5);
    }
    t.close().await;
}
both!(
    a_failing_message_falls_back_to_savepoints_and_spoils_nothing,
    batch_fallback
);

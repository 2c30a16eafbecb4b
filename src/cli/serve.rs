//! `serve`: the web UI, the outbox sender and the IMAP pollers until SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::args::*;
use super::connect_migrated;
use super::mailboxes::instance_owner;
use crate::config::Config;
use crate::mail::inbound::Ingestor;
use crate::store;

/// Runs the workers until interrupted (the web UI joins here when it lands):
/// the outbox sender and one poller per IMAP mailbox.
pub(super) async fn serve(mut cfg: Config, args: ServeArgs) -> Result<()> {
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    let demo_dir = if args.demo {
        let dir = std::env::temp_dir().join(format!("docket-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        cfg.database_url = format!("sqlite://{}", dir.join("demo.db").display());
        Some(dir)
    } else {
        None
    };
    let db = connect_migrated(&cfg).await?;
    if args.demo {
        let s = crate::service::demo::seed(&db, &cfg, 500).await?;
        println!(
            "Demo database with {} tickets. Sign in as {} with the password {}",
            s.tickets,
            s.admin,
            crate::service::demo::DEMO_PASSWORD
        );
    }
    let cfg = Arc::new(cfg);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let owner = instance_owner();
    let ingestor = Ingestor::new(db.clone(), cfg.clone());
    let mut pollers = tokio::task::JoinSet::new();
    {
        let mut conn = db.pool.acquire().await?;
        for m in crate::store::mailboxes::list(&mut conn).await? {
            let poller = crate::mail::inbound::imap::Poller::new(ingestor.clone(), &m.name, &owner);
            let rx = stop_rx.clone();
            pollers.spawn(async move { poller.run(Duration::from_secs(30), rx).await });
        }
    }
    let sender = crate::mail::outbound::worker::Sender::new(db.clone(), cfg.clone())?;
    if !sender.is_configured() {
        tracing::warn!(
            "no smtp_url configured (DOCKET_SMTP_URL): outgoing mail waits in the outbox"
        );
    }
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    println!("Docket is listening on http://{addr}/");
    {
        let mut conn = db.pool.acquire().await?;
        if !crate::store::sessions::has_admin(&mut conn).await? {
            println!(
                "No admin yet. Create one (the password is read from stdin):\n    \
                 echo 'a long password' | docket user add you@example.com --role admin"
            );
        }
    }
    let app = crate::web::router(crate::web::AppState::new(db.clone(), cfg.clone()));
    let mut web_stop = stop_rx.clone();
    let web = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = web_stop.changed().await;
        })
        .await
    });

    let interval = Duration::from_secs(args.outbox_interval.max(1));
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if sender.is_configured()
                    && let Err(e) = sender.send_due(store::now_ms()).await
                {
                    tracing::error!(error = %e, "outbox run failed");
                }
                if let Err(e) = crate::store::search_index::catch_up(&db, 20_000).await {
                    tracing::error!(error = %e, "search index catch-up failed");
                }
            }
            _ = shutdown_signal() => {
                tracing::info!("shutting down");
                break;
            }
        }
    }
    let _ = stop_tx.send(true);
    while pollers.join_next().await.is_some() {}
    if let Ok(Err(e)) = web.await {
        tracing::error!(error = %e, "web server stopped with an error");
    }
    db.close().await;
    if let Some(dir) = demo_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub(super) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

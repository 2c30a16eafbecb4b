//! `serve`: the web UI, the outbox sender and the IMAP pollers until SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::args::*;
use super::connect_migrated;
use crate::app::{Application, Options};
use crate::config::Config;

pub(super) async fn serve(mut cfg: Config, args: ServeArgs) -> Result<()> {
    // Listen for SIGTERM before anything else: from here on a signal is
    // never lost, whatever the workers are doing when it comes.
    let shutdown = shutdown_signal()?;
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
    let has_admin = {
        let mut conn = db.pool.acquire().await?;
        crate::store::sessions::has_admin(&mut conn).await?
    };
    let opts = Options {
        outbox_interval: Duration::from_secs(args.outbox_interval.max(1)),
        scheduler_interval: Duration::from_secs(args.scheduler_interval.max(1)),
        ..Options::default()
    };
    let app = Application::build(db.clone(), Arc::new(cfg), opts).await?;
    println!("Docket is listening on http://{}/", app.local_addr());
    if !has_admin {
        println!(
            "No admin yet. Create one (the password is read from stdin):\n    \
             echo 'a long password' | docket user add you@example.com --role admin"
        );
    }
    app.run(shutdown).await?;
    db.close().await;
    if let Some(dir) = demo_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// Ctrl-C or SIGTERM. The handlers are installed now, not when the future
/// is first polled.
pub(super) fn shutdown_signal() -> Result<impl Future<Output = ()> + Send> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

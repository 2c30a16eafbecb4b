//! The composition root: everything `docket serve` runs, built from one
//! `Config` and one database, supervised, and stopped together.
//!
//! Each long-running part is a worker: the web server, the outbox sender,
//! the search-index catch-up, the scheduler, and one IMAP poller per mailbox (a watcher
//! starts pollers for mailboxes added while running and stops those
//! removed). A worker that fails or panics is started again after a backoff
//! (1 s doubling to a minute) and reported in the log and on `/healthz`.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::mail::outbound::worker::Sender;
use crate::service::health::Health;
use crate::service::ingest::Ingestor;
use crate::service::poll::Poller;
use crate::store::{self, Db};

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long shutdown waits for workers to finish what they hold (a poller
/// committing its batch, a request being answered).
const DRAIN: Duration = Duration::from_secs(30);

/// How often the periodic workers run.
#[derive(Debug, Clone)]
pub struct Options {
    pub outbox_interval: Duration,
    pub poll_interval: Duration,
    /// How often the mailbox list is read for mailboxes added or removed.
    pub mailbox_rescan: Duration,
    /// How often due work (postponed tickets waking) is looked for.
    pub scheduler_interval: Duration,
    /// How often webhook deliveries are looked for.
    pub webhook_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            outbox_interval: Duration::from_secs(5),
            poll_interval: Duration::from_secs(30),
            mailbox_rescan: Duration::from_secs(10),
            scheduler_interval: Duration::from_secs(15),
            webhook_interval: Duration::from_secs(1),
        }
    }
}

/// A worker is started from a stop signal; it returns when the signal turns
/// true. Returning earlier, with an error or not, counts as a failure.
pub type WorkerFuture = BoxFuture<'static, Result<()>>;
type Factory = Arc<dyn Fn(watch::Receiver<bool>) -> WorkerFuture + Send + Sync>;

pub struct Application {
    db: Db,
    cfg: Arc<Config>,
    listener: std::net::TcpListener,
    addr: SocketAddr,
    health: Arc<Health>,
    opts: Options,
    owner: String,
    extra: Vec<(String, Factory)>,
}

impl Application {
    /// Binds `cfg.listen` (port 0 picks a free port); starts nothing yet.
    pub async fn build(db: Db, cfg: Arc<Config>, opts: Options) -> Result<Self> {
        let listener = std::net::TcpListener::bind(&cfg.listen)
            .with_context(|| format!("listening on {}", cfg.listen))?;
        listener
            .set_nonblocking(true)
            .context("making the listener non-blocking")?;
        let addr = listener.local_addr().context("reading the bound address")?;
        Ok(Application {
            db,
            cfg,
            listener,
            addr,
            health: Arc::new(Health::default()),
            opts,
            owner: crate::mail::inbound::imap::instance_owner(),
            extra: Vec::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// Adds a supervised worker of the caller's (the scheduler to come, and
    /// tests that need a worker which fails on purpose).
    pub fn with_worker(
        mut self,
        name: &str,
        worker: impl Fn(watch::Receiver<bool>) -> WorkerFuture + Send + Sync + 'static,
    ) -> Self {
        self.extra.push((name.to_string(), Arc::new(worker)));
        self
    }

    /// Runs every worker until `shutdown` completes, then stops them and
    /// waits up to 30 s for them to finish. The database stays open: it is
    /// the caller's.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut workers = tokio::task::JoinSet::new();
        for (name, factory) in self.workers()? {
            workers.spawn(supervise(
                name,
                self.health.clone(),
                stop_rx.clone(),
                factory,
            ));
        }
        shutdown.await;
        info!("shutting down");
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(DRAIN, async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!(
                secs = DRAIN.as_secs(),
                "workers did not stop in time; leaving them"
            );
            workers.abort_all();
        }
        Ok(())
    }

    fn workers(&self) -> Result<Vec<(String, Factory)>> {
        let mut state = crate::web::AppState::new(self.db.clone(), self.cfg.clone());
        state.health = self.health.clone();
        let web = web_worker(crate::web::router(state), &self.listener)?;
        let sender = Arc::new(Sender::new(self.db.clone(), self.cfg.clone())?);
        if !sender.is_configured() {
            warn!("no smtp_url configured (DOCKET_SMTP_URL): outgoing mail waits in the outbox");
        }
        let every = self.opts.outbox_interval.max(Duration::from_secs(1));
        let outbox: Factory = Arc::new(move |stop| {
            let sender = sender.clone();
            Box::pin(periodic(every, stop, move || {
                let sender = sender.clone();
                async move {
                    if sender.is_configured() {
                        sender
                            .send_due(store::now_ms())
                            .await
                            .context("outbox run")?;
                    }
                    Ok(())
                }
            }))
        });
        let db = self.db.clone();
        let search: Factory = Arc::new(move |stop| {
            let db = db.clone();
            Box::pin(periodic(every, stop, move || {
                let db = db.clone();
                async move {
                    store::search_index::catch_up(&db, 20_000)
                        .await
                        .context("search index catch-up")?;
                    Ok(())
                }
            }))
        });
        let (db, cfg) = (self.db.clone(), self.cfg.clone());
        let due_every = self.opts.scheduler_interval.max(Duration::from_millis(100));
        let scheduler: Factory = Arc::new(move |stop| {
            let (db, cfg) = (db.clone(), cfg.clone());
            Box::pin(periodic(due_every, stop, move || {
                let (db, cfg) = (db.clone(), cfg.clone());
                async move {
                    crate::service::scheduler::run_once(&db, &cfg, store::now_ms())
                        .await
                        .context("scheduler pass")?;
                    Ok(())
                }
            }))
        });
        let webhooks = webhook_worker(self.db.clone(), self.opts.webhook_interval)?;
        let watcher = MailboxWatcher {
            ingestor: Ingestor::new(self.db.clone(), self.cfg.clone()),
            health: self.health.clone(),
            owner: self.owner.clone(),
            opts: self.opts.clone(),
        };
        let mailboxes: Factory = Arc::new(move |stop| Box::pin(watcher.clone().run(stop)));
        let mut all = vec![
            ("web".to_string(), web),
            ("outbox".to_string(), outbox),
            ("search-index".to_string(), search),
            ("mailboxes".to_string(), mailboxes),
            ("scheduler".to_string(), scheduler),
            ("webhooks".to_string(), webhooks),
        ];
        all.extend(self.extra.iter().cloned());
        Ok(all)
    }
}

/// Sends due webhook deliveries; a pass that sent some runs again at once,
/// so a backlog drains at the receivers' pace, not the ticker's.
fn webhook_worker(db: Db, every: Duration) -> Result<Factory> {
    let client = crate::service::webhooks::client().context("webhook HTTP client")?;
    let every = every.max(Duration::from_millis(100));
    Ok(Arc::new(move |stop| {
        let (db, client) = (db.clone(), client.clone());
        Box::pin(periodic(every, stop, move || {
            let (db, client) = (db.clone(), client.clone());
            async move {
                for _ in 0..100 {
                    let r = crate::service::webhooks::deliver_due(&db, &client, store::now_ms())
                        .await
                        .context("webhook deliveries")?;
                    if r.sent + r.retried + r.dead == 0 {
                        break;
                    }
                }
                Ok(())
            }
        }))
    }))
}

/// The web server on a clone of the bound socket, so a restart listens on
/// the same port.
fn web_worker(router: axum::Router, listener: &std::net::TcpListener) -> Result<Factory> {
    let listener = listener.try_clone().context("cloning the listener")?;
    Ok(Arc::new(move |mut stop| {
        let router = router.clone();
        let socket = listener.try_clone();
        Box::pin(async move {
            let socket = tokio::net::TcpListener::from_std(socket.context("cloning the listener")?)
                .context("registering the listener")?;
            axum::serve(
                socket,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                stopped(&mut stop).await;
            })
            .await
            .context("web server")
        })
    }))
}

/// Runs `step` every `every` until stopped. A failing step is logged and
/// tried again at the next tick: the outbox and the index are retried anyway.
async fn periodic<F, Fut>(every: Duration, mut stop: watch::Receiver<bool>, step: F) -> Result<()>
where
    F: Fn() -> Fut + Send,
    Fut: Future<Output = Result<()>> + Send,
{
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(e) = step().await {
                    error!(error = format!("{e:#}"), "periodic run failed");
                }
            }
            _ = stopped(&mut stop) => return Ok(()),
        }
    }
}

/// Keeps one supervised poller per configured mailbox.
#[derive(Clone)]
struct MailboxWatcher {
    ingestor: Ingestor,
    health: Arc<Health>,
    owner: String,
    opts: Options,
}

struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Should the watcher itself fail, its pollers are told to stop rather than
/// run on beside the ones its restart starts.
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl MailboxWatcher {
    async fn run(self, mut stop: watch::Receiver<bool>) -> Result<()> {
        let mut running: HashMap<String, Running> = HashMap::new();
        let mut ticker = tokio::time::interval(self.opts.mailbox_rescan);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stopped(&mut stop) => break,
            }
            match self.names().await {
                Ok(names) => self.reconcile(&mut running, &names).await,
                // Pollers keep running on what they have; the list is read
                // again at the next tick.
                Err(e) => warn!(error = format!("{e:#}"), "reading the mailbox list failed"),
            }
        }
        for (name, r) in running.drain() {
            self.stop_poller(&name, r).await;
        }
        Ok(())
    }

    async fn names(&self) -> Result<Vec<String>> {
        let mut conn = self.ingestor.db().pool.acquire().await?;
        Ok(store::mailboxes::list(&mut conn)
            .await?
            .into_iter()
            .map(|m| m.name)
            .collect())
    }

    async fn reconcile(&self, running: &mut HashMap<String, Running>, names: &[String]) {
        let gone: Vec<String> = running
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(r) = running.remove(&name) {
                info!(mailbox = %name, "mailbox removed; its poller stops");
                self.stop_poller(&name, r).await;
            }
        }
        for name in names {
            if running.contains_key(name) {
                continue;
            }
            info!(mailbox = %name, "polling mailbox");
            let (tx, rx) = watch::channel(false);
            let (ingestor, owner, every) = (
                self.ingestor.clone(),
                self.owner.clone(),
                self.opts.poll_interval,
            );
            let mailbox = name.clone();
            let factory: Factory = Arc::new(move |stop| {
                let poller = Poller::new(ingestor.clone(), &mailbox, &owner);
                Box::pin(async move {
                    poller.run(every, stop).await;
                    Ok(())
                })
            });
            let task = tokio::spawn(supervise(
                worker_name(name),
                self.health.clone(),
                rx,
                factory,
            ));
            running.insert(name.clone(), Running { stop: tx, task });
        }
    }

    async fn stop_poller(&self, name: &str, mut r: Running) {
        let _ = r.stop.send(true);
        let _ = (&mut r.task).await;
        self.health.remove(&worker_name(name));
    }
}

fn worker_name(mailbox: &str) -> String {
    format!("imap {mailbox}")
}

/// Runs a worker until `stop` turns true, starting it again with backoff
/// whenever it returns early, fails or panics.
async fn supervise(
    name: String,
    health: Arc<Health>,
    mut stop: watch::Receiver<bool>,
    factory: Factory,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        if *stop.borrow() {
            break;
        }
        health.running(&name);
        let started = Instant::now();
        let outcome = tokio::spawn(factory(stop.clone())).await;
        if *stop.borrow() {
            break;
        }
        let reason = match outcome {
            Ok(Ok(())) => "returned before shutdown".to_string(),
            Ok(Err(e)) => format!("{e:#}"),
            Err(e) if e.is_panic() => format!("panicked: {}", panic_text(e.into_panic())),
            Err(e) => e.to_string(),
        };
        // A worker that ran a good while before failing starts over from a
        // short backoff; one that fails at once backs off further each time.
        if started.elapsed() > MAX_BACKOFF {
            backoff = FIRST_BACKOFF;
        }
        error!(
            worker = %name,
            reason = %reason,
            restart_in_secs = backoff.as_secs(),
            "worker failed; restarting"
        );
        health.restarting(&name, &reason);
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped(&mut stop) => break,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    health.stopped(&name);
}

/// Resolves once the stop signal is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, never held across an
    // await of the caller's.
    let _ = stop.wait_for(|s| *s).await;
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

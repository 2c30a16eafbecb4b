//! The web UI: axum + askama, server-rendered, working without JavaScript.
//! Handlers are thin: they check rights, call one service or store function,
//! and render or redirect.

pub mod api;
pub mod auth;
pub mod charts;
pub mod error;
pub mod form;
pub mod pages;
pub mod rights;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::config::Config;
use crate::domain::clock::{Clock, SystemClock};
use crate::store::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub cfg: Arc<Config>,
    pub limiter: Arc<crate::service::sign_in_limit::SignInLimiter>,
    /// Queue counts for the overview, a few seconds old at most: a wall
    /// screen and a team refreshing it must not recount a million tickets
    /// each time.
    pub overview_cache: Arc<pages::queues::OverviewCache>,
    /// The workers `serve` supervises, for `/healthz`.
    pub health: Arc<crate::service::health::Health>,
    pub clock: Arc<dyn Clock>,
}

impl AppState {
    pub fn new(db: Db, cfg: Arc<Config>) -> Self {
        AppState {
            db,
            cfg,
            limiter: Arc::new(crate::service::sign_in_limit::SignInLimiter::default()),
            overview_cache: Arc::new(pages::queues::OverviewCache::default()),
            health: Arc::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The time for this request's use case.
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Times for someone without an account: the instance's zone.
    pub fn anonymous_viewer(&self) -> pages::Viewer {
        pages::Viewer {
            now: self.now(),
            tz: self.cfg.time_zone,
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/queues") }),
        )
        .route("/healthz", get(healthz))
        .route("/static/app.css", get(stylesheet))
        .route("/static/board.js", get(board_script))
        .route("/triage", get(pages::board::triage))
        .route("/wip", get(pages::board::wip))
        .route("/sla", get(pages::sla::sla))
        .route("/sla.csv", get(pages::sla::sla_csv))
        .route("/reports/aging", get(pages::reports::aging))
        .route("/reports/aging.csv", get(pages::reports::aging_csv))
        .route("/reports/flow", get(pages::reports::flow))
        .route("/reports/flow.csv", get(pages::reports::flow_csv))
        .route("/my/resend", post(pages::requestor::resend))
        .route("/my", get(pages::my_session::mine))
        .route(
            "/my/new",
            get(pages::my_session::new_form).post(pages::my_session::file),
        )
        .route(
            "/my/signin/{token}",
            get(pages::my_session::sign_in_link).post(pages::my_session::use_sign_in_link),
        )
        .route("/my/{token}", get(pages::requestor::show))
        .route(
            "/my/{token}/queues/{name}",
            get(pages::requestor::public_for_link),
        )
        .route("/public/{name}", get(pages::requestor::public_for_account))
        .route(
            "/my/{token}/tickets/{id}/reply",
            post(pages::requestor::reply),
        )
        .route(
            "/my/{token}/tickets/{id}/fields",
            post(pages::requestor::fields),
        )
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/queues", get(pages::queues::queues_index))
        .route("/queues/{name}", get(pages::queues::queue_show))
        .route("/tickets/bulk", post(pages::tickets::bulk))
        .route("/tickets/{id}", get(pages::tickets::ticket_show))
        .route("/tickets/{id}/reply", post(pages::tickets::reply))
        .route("/tickets/{id}/comment", post(pages::tickets::comment))
        .route("/tickets/{id}/action", post(pages::tickets::action))
        .route("/attachments/{id}", get(pages::tickets::attachment))
        .route("/search", get(pages::search::search))
        .route("/admin", get(pages::admin::admin))
        .route("/admin/queues", post(pages::admin::admin_add_queue))
        .route("/admin/users", post(pages::admin::admin_save_user))
        .route(
            "/admin/outbox/{id}/retry",
            post(pages::admin::admin_outbox_retry),
        )
        .route(
            "/admin/quarantine/{id}/retry",
            post(pages::admin::admin_quarantine_retry),
        )
        .route(
            "/admin/quarantine/{id}/raw",
            get(pages::admin::admin_quarantine_raw),
        )
        .route("/calendar/{file}", get(pages::tasks::calendar))
        .route("/tasks", get(pages::tasks::mine))
        .route("/tickets/{id}/task-input", post(pages::tasks::submit))
        .nest("/api/v1", api::router(state.clone()))
        .fallback(|| async { error::WebError::NotFound })
        .layer(axum::middleware::from_fn(security_headers))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// 503 when the database does not answer; otherwise 200 with `ok`, or
/// `degraded` while a worker is being restarted, then one line per worker.
/// Failure reasons stay in the log: this page needs no sign-in.
async fn healthz(axum::extract::State(s): axum::extract::State<AppState>) -> impl IntoResponse {
    use crate::service::health::WorkerState;
    use std::fmt::Write;
    let (status, mut body) = match (s.db.ping().await, s.health.all_running()) {
        (Err(_), _) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable\n".to_string(),
        ),
        (Ok(_), true) => (axum::http::StatusCode::OK, "ok\n".to_string()),
        (Ok(_), false) => (axum::http::StatusCode::OK, "degraded\n".to_string()),
    };
    for w in s.health.snapshot() {
        let state = match w.state {
            WorkerState::Running => "running",
            WorkerState::Restarting { .. } => "restarting",
            WorkerState::Stopped => "stopped",
        };
        let _ = writeln!(body, "{}: {state}, restarts {}", w.name, w.restarts);
    }
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
}

/// The boards' keyboard walk and refresh; the pages work without it.
async fn board_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../static/board.js"),
    )
}

/// CSP without inline script, no sniffing, no framing, no referrer leaks.
async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
             img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{flow, hooks, reads, tasks, tickets};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Docket API", version = "1",
        description = "Tickets, typed tasks with locked fields, webhooks and calendar feeds. \
            Errors are RFC 9457 problems; every POST takes an Idempotency-Key."),
    paths(
        tickets::create, tickets::list, tickets::show, tickets::update, tickets::reply,
        tickets::comment, flow::take, flow::escalate, flow::postpone, flow::eta,
        flow::child, flow::link, flow::history,
        reads::queues, reads::users, reads::aging, reads::sla,
        tasks::put_type, tasks::types, tasks::create, tasks::mine, tasks::show,
        tasks::input_needed, tasks::fields, tasks::complete, tasks::cancel, tasks::reassign,
        tasks::schedule, tasks::scheduled, tasks::unschedule,
        hooks::subscribe, hooks::list, hooks::deliveries, hooks::enable, hooks::resend,
        hooks::add_feed,
    ),
    components(schemas(super::Problem, crate::domain::task_schema::FieldError)),
    modifiers(&Bearer),
    tags((name = "tickets"), (name = "tasks"), (name = "webhooks"), (name = "reads")),
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json` (no token needed).
pub async fn document() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}

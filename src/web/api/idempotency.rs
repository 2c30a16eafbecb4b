//! `Idempotency-Key` on POST (draft-ietf-httpapi-idempotency-key-header):
//! the same key with the same request replays the first answer; the same
//! key with another request is 422; while the first is being answered, 409.
//! Keys are per token and kept 24 hours (the scheduler drops older ones).

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::service::api_access::Access;
use crate::store::api;
use crate::web::AppState;

/// A request body larger than this is refused.
const MAX_BODY: usize = 1024 * 1024;

pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match run(state, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(state: AppState, req: Request, next: Next) -> Result<Response, ApiError> {
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_string));
    let (Some(key), true) = (key, req.method() == Method::POST) else {
        return Ok(next.run(req).await);
    };
    let key = key
        .ok()
        .map(|k| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::BadRequest("an Idempotency-Key is 1 to 255 visible characters".into())
        })?;
    let token = req
        .extensions()
        .get::<Access>()
        .map(|a| a.token_id)
        .ok_or_else(|| ApiError::Internal("idempotency before authentication".into()))?;
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::BadRequest("the request body is too large (1 MiB at most)".into())
    })?;
    let mut h = Sha256::new();
    h.update(parts.method.as_str().as_bytes());
    h.update(b" ");
    h.update(parts.uri.path().as_bytes());
    h.update(b"\n");
    h.update(&bytes);
    let fingerprint = hex::encode(h.finalize());
    let now = state.now();
    {
        let mut conn = state.db.conn().await?;
        if !claim_fresh(&mut conn, token, &key, &fingerprint, now).await? {
            return replay(&mut conn, token, &key, &fingerprint).await;
        }
    }
    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let mut conn = state.db.conn().await?;
    if res.status().is_server_error() {
        // Nothing was decided: the key may be used again.
        api::drop_key(&mut conn, token, &key).await?;
        return Ok(res);
    }
    let (parts, body) = res.into_parts();
    let bytes = to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::Internal(format!("reading the response: {e}")))?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let text = String::from_utf8_lossy(&bytes);
    api::finish_key(
        &mut conn,
        token,
        &key,
        parts.status.as_u16(),
        &content_type,
        &text,
    )
    .await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// Claims the key; a key older than a day is forgotten first.
async fn claim_fresh(
    conn: &mut sqlx::AnyConnection,
    token: i64,
    key: &str,
    fingerprint: &str,
    now: i64,
) -> Result<bool, ApiError> {
    if api::claim_key(conn, token, key, fingerprint, now).await? {
        return Ok(true);
    }
    let keep = crate::service::scheduler::IDEMPOTENCY_KEEP_MS;
    match api::find_key(conn, token, key).await? {
        Some(row) if row.created_at < now - keep => {
            api::drop_key(conn, token, key).await?;
            Ok(api::claim_key(conn, token, key, fingerprint, now).await?)
        }
        _ => Ok(false),
    }
}

async fn replay(
    conn: &mut sqlx::AnyConnection,
    token: i64,
    key: &str,
    fingerprint: &str,
) -> Result<Response, ApiError> {
    let Some(row) = api::find_key(conn, token, key).await? else {
        return Err(ApiError::KeyInFlight(
            "the request with this Idempotency-Key just ended; try again".into(),
        ));
    };
    let (Some(status), Some(body)) = (row.status, row.response) else {
        return Err(ApiError::KeyInFlight(
            "the first request with this Idempotency-Key is still being answered".into(),
        ));
    };
    if row.fingerprint != fingerprint {
        return Err(ApiError::KeyMismatch(
            "this Idempotency-Key was used for another request".into(),
        ));
    }
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut res = (status, body).into_response();
    let ct = row
        .content_type
        .unwrap_or_else(|| "application/json".into());
    if let Ok(v) = HeaderValue::from_str(&ct) {
        res.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    res.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(res)
}

//! The webhook function: verify, normalise, one conditional write, answer fast.
//!
//! `POST /webhooks/{shop}/{platform}` → 200 accepted or duplicate, 401 bad signature
//! (nothing stored), 400 malformed, 404 unknown shop or platform, 413 too large, 502 when a
//! store API (BigCommerce) answered something unreadable, 500 when
//! the store failed (so the platform delivers again).

pub use cartback_app::Metrics;
pub use cartback_app::ingest::{Accepted, Refused, WebhookRequest};
use cartback_app::{Ports, ingest};
use cartback_core::insight::metrics::{Emf, NAMESPACE, Unit};
use cartback_core::model::time::Clock;
use cartback_core::platforms::webhook::{Headers, WebhookError};
use cartback_core::ports::PersonalData;
use lambda_http::{Body, Request, RequestExt, Response};

/// The HTTP status of a refusal: what the platform does next depends on it (a 5xx is
/// delivered again; a 4xx is not).
pub fn status_of(refused: &Refused) -> u16 {
    match refused {
        Refused::UnknownShop | Refused::UnknownPlatform => 404,
        Refused::Webhook(WebhookError::Unauthorized) => 401,
        Refused::Webhook(WebhookError::Malformed(_)) => 400,
        Refused::Webhook(WebhookError::TooLarge) => 413,
        Refused::Unavailable => 500,
        Refused::StoreApi => 502,
    }
}

/// The handler's answer: an HTTP status and a small JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReply(pub Result<Accepted, Refused>);

impl WebhookReply {
    pub fn status(&self) -> u16 {
        match &self.0 {
            Ok(_) => 200,
            Err(refused) => status_of(refused),
        }
    }

    pub fn body(&self) -> String {
        match &self.0 {
            Ok(accepted) => serde_json::to_string(accepted)
                .unwrap_or_else(|_| r#"{"result":"accepted"}"#.to_owned()),
            Err(refused) => serde_json::json!({ "error": refused.to_string() }).to_string(),
        }
    }
}

/// Handles one webhook.
#[tracing::instrument(skip_all, fields(shop = %request.shop, platform = %request.platform))]
pub async fn handle<P: Ports>(request: &WebhookRequest, ports: &P) -> WebhookReply
where
    P::Store: PersonalData,
{
    let reply = WebhookReply(ingest::ingest(request, ports).await);
    match &reply.0 {
        Ok(accepted) => {
            tracing::info!(
                status = 200,
                outcome = outcome_name(accepted),
                "webhook accepted"
            )
        }
        Err(refused) => {
            tracing::warn!(status = status_of(refused), reason = %refused, "webhook refused");
            ports
                .metrics()
                .emit(refused_metric(request, refused, ports.clock().now()));
        }
    }
    reply
}

/// `WebhooksRefused` by shop and HTTP status: a shop whose secret is wrong shows as a run
/// of 401s (alarmed) before the platform disables its webhook. A refusal that names no shop
/// we serve counts under `Shop=unknown`, so junk requests cannot grow the metrics.
fn refused_metric(request: &WebhookRequest, refused: &Refused, at: jiff::Timestamp) -> Emf {
    let shop = match refused {
        Refused::UnknownShop | Refused::UnknownPlatform => "unknown",
        _ => request.shop.as_str(),
    };
    Emf::new(NAMESPACE, at)
        .dimension("Shop", shop)
        .dimension("Status", &status_of(refused).to_string())
        .metric("WebhooksRefused", Unit::Count, 1.0)
}

fn outcome_name(accepted: &Accepted) -> &'static str {
    match accepted {
        Accepted::Stored { .. } => "stored",
        Accepted::Converted { .. } => "converted",
        Accepted::Duplicate => "duplicate",
        Accepted::Stale { .. } => "stale",
        Accepted::AlreadyConverted { .. } => "already_converted",
        Accepted::Ignored { .. } => "ignored",
        Accepted::NotFound { .. } => "not_found",
        Accepted::Erased => "erased",
        Accepted::ErasureQueued { .. } => "erasure_queued",
        Accepted::DataRequested { .. } => "data_requested",
    }
}

/// Turns an API Gateway (HTTP API, payload 2.0) request into a `WebhookRequest`.
pub fn from_http(request: &Request) -> WebhookRequest {
    let params = request.path_parameters();
    let mut headers = Headers::new();
    for (name, value) in request.headers() {
        if let Ok(value) = value.to_str() {
            headers.insert(name.as_str(), value);
        }
    }
    let body = match request.body() {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.as_bytes().to_vec(),
        Body::Binary(bytes) => bytes.clone(),
        _ => Vec::new(),
    };
    WebhookRequest {
        shop: params.first("shop").unwrap_or_default().to_owned(),
        platform: params.first("platform").unwrap_or_default().to_owned(),
        headers,
        body,
    }
}

/// The Lambda entry point's logic: HTTP in, HTTP out.
pub async fn handle_http<P: Ports>(
    request: Request,
    ports: &P,
) -> Result<Response<Body>, lambda_http::http::Error>
where
    P::Store: PersonalData,
{
    let reply = handle(&from_http(&request), ports).await;
    Response::builder()
        .status(reply.status())
        .header("content-type", "application/json")
        .body(Body::Text(reply.body()))
}

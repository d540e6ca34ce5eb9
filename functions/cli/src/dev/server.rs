//! The HTTP side of `cartback dev`: the HTTP API's routes (webhooks, unsubscribe) through
//! the real functions as API Gateway would call them, and the dev-only outbox routes.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Form, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cartback_core::model::ids::{CartId, ShopId, log_hash};
use cartback_core::model::time::Clock;
use cartback_devstack::apigw::{HttpCall, HttpReply};
use serde::Deserialize;
use serde_json::{Value, json};

use super::App;
use super::actions::{self, Action};
use super::journal::{Entry, Source};

/// API Gateway's own payload limit; the webhook function answers 413 well below it.
const BODY_LIMIT: usize = 10 * 1024 * 1024;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/outbox") }))
        .route("/webhooks/{shop}/{platform}", post(webhook))
        .route("/unsubscribe", get(unsubscribe).post(unsubscribe))
        .route("/outbox", get(outbox))
        .route("/outbox/version", get(version))
        .route("/outbox/actions", post(action))
        .route("/dev/state", get(state))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn respond(reply: HttpReply) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response
        .body(Body::from(reply.body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn failed(what: &str, error: impl std::fmt::Display) -> Response {
    eprintln!("cartback dev: {what}: {error}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what} failed\n"),
    )
        .into_response()
}

async fn webhook(
    State(app): State<Arc<App>>,
    Path((shop, platform)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let topic = headers
        .get("x-shopify-topic")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    let call = HttpCall {
        method: "POST",
        route: "/webhooks/{shop}/{platform}",
        path: uri.path(),
        query: uri.query().unwrap_or_default(),
        headers: header_pairs(&headers),
        path_parameters: vec![("shop", shop.clone()), ("platform", platform.clone())],
        body: &body,
        domain: &app.host,
        source_ip: "127.0.0.1",
    };
    let reply = match app.stack.call_webhook(&call).await {
        Ok(reply) => reply,
        Err(error) => return failed("the webhook function", error),
    };
    // The function's answer names the cart (ids only) and what it did.
    let answer: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let result = answer["result"]
        .as_str()
        .or_else(|| answer["error"].as_str())
        .unwrap_or("?")
        .to_owned();
    let cart = answer["cart"].as_str().map(str::to_owned);
    let what = format!(
        "POST /webhooks/{shop}/{platform} ({topic}) → {} {result}",
        reply.status
    );
    app.journal.add(
        Entry {
            at: app.stack.clock.now(),
            shop,
            cart,
            source: Source::Request,
            text: what.clone(),
        },
        &what,
    );
    respond(reply)
}

async fn unsubscribe(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = uri.query().unwrap_or_default();
    let call = HttpCall {
        method: method.as_str(),
        route: "/unsubscribe",
        path: uri.path(),
        query,
        headers: header_pairs(&headers),
        path_parameters: Vec::new(),
        body: &body,
        domain: &app.host,
        source_ip: "127.0.0.1",
    };
    let reply = match app.stack.call_unsubscribe(&call).await {
        Ok(reply) => reply,
        Err(error) => return failed("the unsubscribe function", error),
    };
    let now = app.stack.clock.now();
    let token = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "t")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let claim =
        cartback_core::messages::unsubscribe::verify(app.stack.unsubscribe_secret(), &token, now)
            .ok();
    let what = format!("{method} /unsubscribe → {}", reply.status);
    app.journal.add(
        Entry {
            at: now,
            shop: claim
                .as_ref()
                .map_or_else(String::new, |c| c.shop.to_string()),
            cart: claim.as_ref().map(|c| c.cart.to_string()),
            source: Source::Request,
            text: what.clone(),
        },
        &what,
    );
    respond(reply)
}

async fn outbox(State(app): State<Arc<App>>) -> Response {
    match super::outbox::render(&app).await {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(error) => failed("the outbox", error),
    }
}

async fn version(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        app.journal.version().to_string(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct ActionForm {
    shop: String,
    cart: String,
    action: String,
}

/// Whether a form post comes from the outbox itself (a page elsewhere may not press the
/// buttons: browsers name the posting page's origin).
fn same_origin(app: &App, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let port = app.host.rsplit(':').next().unwrap_or_default();
    [
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}"),
    ]
    .contains(&origin.to_owned())
}

async fn action(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    if !same_origin(&app, &headers) {
        return (
            StatusCode::FORBIDDEN,
            "the outbox's buttons work on the outbox only\n",
        )
            .into_response();
    }
    let (Ok(shop), Ok(cart), Some(action)) = (
        ShopId::parse(form.shop.as_str()),
        CartId::parse(form.cart.as_str()),
        Action::parse(&form.action),
    ) else {
        return (StatusCode::BAD_REQUEST, "unknown shop, cart or action\n").into_response();
    };
    let (text, console) = match actions::apply(&app, &shop, &cart, action).await {
        Ok(done) => (done.text, done.console),
        Err(error) => {
            let text = format!("{}: {error}", action.name());
            (text.clone(), text)
        }
    };
    app.journal.add(
        Entry {
            at: app.stack.clock.now(),
            shop: shop.to_string(),
            cart: Some(cart.to_string()),
            source: Source::Action,
            text,
        },
        &console,
    );
    let anchor = log_hash(&[shop.as_str(), cart.as_str()]);
    Redirect::to(&format!("/outbox#cart-{anchor}")).into_response()
}

async fn state(State(app): State<Arc<App>>) -> Response {
    axum_json(json!({
        "moto_endpoint": app.moto_endpoint,
        "region": app.stack.names.region,
        "table": app.stack.names.table,
        "secrets_prefix": app.stack.names.secrets_prefix,
        "now": app.stack.clock.now(),
        "speed": app.speed,
    }))
}

fn axum_json(value: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

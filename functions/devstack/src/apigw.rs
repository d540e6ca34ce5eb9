//! HTTP requests as API Gateway (HTTP API, payload format 2.0) hands them to a function, and
//! the function's response back as plain parts, so local HTTP goes through the handlers'
//! real `lambda_http` entry points.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::{DevStackError, Result};

/// One HTTP request to a route of the HTTP API.
#[derive(Debug, Clone, Default)]
pub struct HttpCall<'a> {
    pub method: &'a str,
    /// The route's key path, e.g. `/webhooks/{shop}/{platform}`.
    pub route: &'a str,
    /// The request path, e.g. `/webhooks/kuura-knitwear/shopify`.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header names and values as received (names are lower-cased, repeats joined by `,`).
    pub headers: Vec<(String, String)>,
    /// The route's path parameters.
    pub path_parameters: Vec<(&'a str, String)>,
    pub body: &'a [u8],
    /// The API's domain name (`host`).
    pub domain: &'a str,
    pub source_ip: &'a str,
}

/// The function's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The API Gateway event for `call`, parsed as the Lambda runtime parses it.
pub fn request(call: &HttpCall<'_>) -> Result<lambda_http::Request> {
    let mut headers = Map::new();
    for (name, value) in &call.headers {
        let name = name.to_ascii_lowercase();
        match headers.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => {
                headers.insert(name, json!(value));
            }
        }
    }
    if !headers.contains_key("host") && !call.domain.is_empty() {
        headers.insert("host".into(), json!(call.domain));
    }
    let mut query = Map::new();
    for (name, value) in url::form_urlencoded::parse(call.query.as_bytes()) {
        match query.get_mut(name.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                query.insert(name.into_owned(), json!(value));
            }
        }
    }
    let route_key = format!("{} {}", call.method, call.route);
    let (body, base64) = match std::str::from_utf8(call.body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(call.body),
            true,
        ),
    };
    let now = jiff::Timestamp::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": call.path,
        "rawQueryString": call.query,
        "headers": headers,
        "requestContext": {
            "accountId": crate::ACCOUNT,
            "apiId": "local",
            "domainName": call.domain,
            "domainPrefix": call.domain.split('.').next().unwrap_or("local"),
            "http": {
                "method": call.method,
                "path": call.path,
                "protocol": "HTTP/1.1",
                "sourceIp": call.source_ip,
                "userAgent": headers.get("user-agent").cloned().unwrap_or(json!("")),
            },
            "requestId": format!("local-{}", now.as_nanosecond()),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.as_millisecond(),
        },
        "isBase64Encoded": base64,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !call.path_parameters.is_empty() {
        let parameters: Map<String, Value> = call
            .path_parameters
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect();
        event["pathParameters"] = Value::Object(parameters);
    }
    if !call.body.is_empty() {
        event["body"] = json!(body);
    }
    lambda_http::request::from_str(&event.to_string())
        .map_err(|e| DevStackError::Data(format!("not an HTTP API event: {e}")))
}

/// The parts of a function's response.
pub fn reply(response: lambda_http::Response<lambda_http::Body>) -> HttpReply {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = match response.into_body() {
        lambda_http::Body::Text(text) => text.into_bytes(),
        lambda_http::Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    HttpReply {
        status,
        headers,
        body,
    }
}

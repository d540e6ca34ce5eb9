//! A loopback HTTP/1.1 proxy between the AWS SDK clients and moto that injects the faults a
//! real network and real services produce (issue 9): throttling answered in the service's
//! own error shape, a 500 or 503, or a lost answer — the request is forwarded to moto, takes
//! effect there, and the connection is then dropped without a reply, so the SDK sees an
//! outcome-unknown error after the effect happened.
//!
//! Each request is identified by service (the SigV4 credential scope) and operation
//! (DynamoDB and SSM: `X-Amz-Target`; Scheduler and SES v2: the REST method and path; SNS:
//! the form's `Action=`). Whether a request gets a fault, and which, is drawn from a seeded
//! SplitMix64 keyed by the request's content and how many identical requests came before it,
//! so a seed gives the same faults whatever the order concurrent requests arrive in (and an
//! SDK retry of a request gets a fresh draw). `/moto-api/*` is never touched.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use crate::{DevStackError, Result};

/// SplitMix64 (Steele, Lea and Flood): a tiny seeded generator, enough to pick faults and
/// random histories reproducibly.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`0` when `n` is 0); the modulo bias is negligible for small `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }

    /// True with probability `p` (0 to 1).
    pub fn chance(&mut self, p: f64) -> bool {
        unit(self.next_u64()) < p
    }
}

/// SplitMix64's output function: a good 64-bit mixer on its own.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A draw as a number in `[0, 1)`.
fn unit(draw: u64) -> f64 {
    (draw >> 11) as f64 / (1u64 << 53) as f64
}

/// FNV-1a: a stable hash of a request's fingerprint (std's hasher is seeded per process).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The AWS services cartback calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    DynamoDb,
    DynamoDbStreams,
    Scheduler,
    SesV2,
    Sns,
    Ssm,
    /// A service the proxy does not know (forwarded, counted, never faulted).
    Other,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DynamoDb => "dynamodb",
            Self::DynamoDbStreams => "dynamodbstreams",
            Self::Scheduler => "scheduler",
            Self::SesV2 => "sesv2",
            Self::Sns => "sns",
            Self::Ssm => "ssm",
            Self::Other => "other",
        }
    }
}

/// One API call: the service and the operation's name (`GetItem`, `CreateSchedule`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Operation {
    pub service: Service,
    pub name: String,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.service.as_str(), self.name)
    }
}

/// The service named in the SigV4 credential scope
/// (`Credential=<key>/<date>/<region>/<service>/aws4_request`).
fn signing_service(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let credential = auth.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    let parts: Vec<&str> = scope.split('/').collect();
    (parts.len() >= 5).then(|| parts[parts.len() - 2].to_owned())
}

/// The operation a request calls, from what the SDK puts on the wire; `None` for moto's own
/// API (`/moto-api/…`), which is never faulted.
pub fn classify(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Operation> {
    if path.starts_with("/moto-api") {
        return None;
    }
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let operation = |service, name: &str| {
        Some(Operation {
            service,
            name: name.to_owned(),
        })
    };
    if let Some((prefix, name)) = target.split_once('.') {
        let service = match prefix {
            p if p.starts_with("DynamoDBStreams_") => Service::DynamoDbStreams,
            p if p.starts_with("DynamoDB_") => Service::DynamoDb,
            "AmazonSSM" => Service::Ssm,
            _ => Service::Other,
        };
        return operation(service, name);
    }
    let segments: Vec<&str> = path
        .split('?')
        .next()
        .unwrap_or_default()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let scope = signing_service(headers);
    if segments.first() == Some(&"v2") && segments.get(1) == Some(&"email") {
        return operation(Service::SesV2, &sesv2_operation(method, &segments[2..]));
    }
    if matches!(segments.first(), Some(&"schedules" | &"schedule-groups"))
        || scope.as_deref() == Some("scheduler")
    {
        return operation(Service::Scheduler, &scheduler_operation(method, &segments));
    }
    if let Some(action) = form_value(body, "Action") {
        let service = match scope.as_deref() {
            Some("sns") | None => Service::Sns,
            Some(_) => Service::Other,
        };
        return operation(service, &action);
    }
    operation(
        Service::Other,
        &format!("{method} /{}", segments.first().unwrap_or(&"")),
    )
}

fn scheduler_operation(method: &Method, segments: &[&str]) -> String {
    let name = match (segments, method) {
        (["schedules"], &Method::GET) => "ListSchedules",
        (["schedules", _], &Method::GET) => "GetSchedule",
        (["schedules", _], &Method::POST) => "CreateSchedule",
        (["schedules", _], &Method::PUT) => "UpdateSchedule",
        (["schedules", _], &Method::DELETE) => "DeleteSchedule",
        (["schedule-groups"], &Method::GET) => "ListScheduleGroups",
        (["schedule-groups", _], &Method::GET) => "GetScheduleGroup",
        (["schedule-groups", _], &Method::POST) => "CreateScheduleGroup",
        (["schedule-groups", _], &Method::DELETE) => "DeleteScheduleGroup",
        _ => return format!("{method} /{}", segments.join("/")),
    };
    name.to_owned()
}

fn sesv2_operation(method: &Method, segments: &[&str]) -> String {
    let name = match (segments, method) {
        (["outbound-emails"], &Method::POST) => "SendEmail",
        (["identities"], &Method::POST) => "CreateEmailIdentity",
        (["identities"], &Method::GET) => "ListEmailIdentities",
        (["identities", _], &Method::GET) => "GetEmailIdentity",
        (["identities", _], &Method::DELETE) => "DeleteEmailIdentity",
        (["configuration-sets"], &Method::POST) => "CreateConfigurationSet",
        (["account"], &Method::GET) => "GetAccount",
        _ => return format!("{method} /v2/email/{}", segments.join("/")),
    };
    name.to_owned()
}

/// A field of an `application/x-www-form-urlencoded` body (the query protocol's).
fn form_value(body: &[u8], key: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// What a request is, for drawing its fault: the operation and what it is about, in a
/// form that is the same in every run of the same history. A DynamoDB item request counts
/// by its table and key (its body carries values such as SES's random message ids); other
/// JSON is re-serialised with sorted keys (the SDK writes maps in hash order); an SES raw
/// message (whose MIME boundary is random) counts by its `Message-ID` header.
fn fingerprint(operation: &Operation, method: &Method, path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{operation} {method} {path} ").into_bytes();
    match serde_json::from_slice::<Value>(body) {
        Ok(mut json) => {
            if operation.service == Service::DynamoDb
                && let Some(keys) = dynamodb_keys(&json)
            {
                json = keys;
            }
            if operation.service == Service::SesV2
                && let Some(content) = json.get_mut("Content")
            {
                let message_id = content
                    .pointer("/Raw/Data")
                    .and_then(Value::as_str)
                    .and_then(|data| base64::engine::general_purpose::STANDARD.decode(data).ok())
                    .and_then(|raw| mime_message_id(&raw));
                *content = Value::String(message_id.unwrap_or_default());
            }
            out.extend_from_slice(json.to_string().as_bytes());
        }
        Err(_) => out.extend_from_slice(body),
    }
    out
}

/// The table and key(s) a DynamoDB item request is about: its `Key`, its `Item`'s `pk` and
/// `sk` (cartback's key attributes), or those of each item of a transaction.
fn dynamodb_keys(json: &Value) -> Option<Value> {
    let key_of = |request: &Value| -> Option<Value> {
        let table = request.get("TableName").cloned().unwrap_or(Value::Null);
        if let Some(key) = request.get("Key") {
            return Some(serde_json::json!([table, key]));
        }
        let item = request.get("Item")?;
        Some(serde_json::json!([table, item.get("pk")?, item.get("sk")?]))
    };
    if let Some(items) = json.get("TransactItems").and_then(Value::as_array) {
        let keys: Option<Vec<Value>> = items
            .iter()
            .map(|item| item.as_object()?.values().next().and_then(key_of))
            .collect();
        return keys.map(Value::Array);
    }
    key_of(json)
}

/// The `Message-ID` header of a MIME message.
fn mime_message_id(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .take_while(|line| !line.is_empty())
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("message-id")
                .then(|| value.trim().to_owned())
        })
}

pub use cartback_faults::{FaultClass, FaultPlan};

/// What the proxy saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Requests forwarded or answered, by `service/operation`.
    pub requests: BTreeMap<String, u64>,
    /// Injected faults by class and `service/operation`.
    pub injected: BTreeMap<(FaultClass, String), u64>,
    /// Requests moto could not be reached for (answered 502, not counted as injected).
    pub upstream_errors: u64,
}

impl FaultStats {
    pub fn total_injected(&self) -> u64 {
        self.injected.values().sum()
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    /// Injected faults by class.
    pub fn by_class(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for ((class, _), n) in &self.injected {
            *out.entry(class.as_str()).or_insert(0) += n;
        }
        out
    }

    /// Injected faults by service.
    pub fn by_service(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, operation), n) in &self.injected {
            let service = operation.split('/').next().unwrap_or_default().to_owned();
            *out.entry(service).or_insert(0) += n;
        }
        out
    }

    /// Injected faults by `service/operation`.
    pub fn by_operation(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, operation), n) in &self.injected {
            *out.entry(operation.clone()).or_insert(0) += n;
        }
        out
    }

    /// Injected faults of one class on one `service/operation`.
    pub fn count(&self, class: FaultClass, operation: &str) -> u64 {
        self.injected
            .get(&(class, operation.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

/// A request of a recorded operation that moto carried out (answered 2xx), whether or not
/// its answer reached the caller: what the service itself knows happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// `service/Operation`.
    pub operation: String,
    /// The request's path, without the query.
    pub path: String,
    /// The request's body.
    pub body: Bytes,
}

/// One in a million, the unit the rate is kept in (so it can change while running).
const PPM: f64 = 1_000_000.0;

struct Shared {
    upstream: String,
    seed: u64,
    classes: Vec<FaultClass>,
    rate_ppm: AtomicU64,
    limit: Option<u64>,
    drawn: AtomicU64,
    /// How many requests with each fingerprint came so far.
    seen: Mutex<HashMap<u64, u64>>,
    stats: Mutex<FaultStats>,
    recording: Mutex<std::collections::HashSet<String>>,
    recorded: Mutex<Vec<Recorded>>,
}

impl Shared {
    fn lock_stats(&self) -> Option<std::sync::MutexGuard<'_, FaultStats>> {
        self.stats.lock().ok()
    }

    /// The fault for this request, if any.
    fn draw(&self, operation: &Operation, print: &[u8]) -> Option<FaultClass> {
        if operation.service == Service::Other || self.classes.is_empty() {
            return None;
        }
        let key = fnv1a(print);
        let nth = {
            let mut seen = self.seen.lock().ok()?;
            let count = seen.entry(key).or_insert(0);
            *count += 1;
            *count
        };
        let mut rng = SplitMix64::new(self.seed ^ key ^ nth.wrapping_mul(0xd6e8_feb8_6659_fd93));
        let rate = self.rate_ppm.load(Ordering::Relaxed) as f64 / PPM;
        if !rng.chance(rate) {
            return None;
        }
        if let Some(limit) = self.limit
            && self.drawn.fetch_add(1, Ordering::Relaxed) >= limit
        {
            return None;
        }
        let index = usize::try_from(rng.below(self.classes.len() as u64)).unwrap_or(0);
        self.classes.get(index).copied()
    }
}

/// The loopback proxy; point the SDK at [`FaultProxy::endpoint`]. Stops accepting when
/// dropped.
pub struct FaultProxy {
    endpoint: String,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

/// The error that makes hyper drop a connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("answer dropped by the fault proxy")]
struct DroppedAnswer;

type ProxyBody = Full<Bytes>;

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (moto's endpoint,
    /// `http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str, plan: FaultPlan) -> Result<Self> {
        let url = url::Url::parse(upstream)
            .map_err(|e| DevStackError::Moto(format!("fault proxy upstream {upstream}: {e}")))?;
        let host = url.host_str().unwrap_or("127.0.0.1");
        let port = url.port_or_known_default().unwrap_or(80);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| DevStackError::Moto(format!("fault proxy: no loopback port: {e}")))?;
        let address: SocketAddr = listener
            .local_addr()
            .map_err(|e| DevStackError::Moto(format!("fault proxy: {e}")))?;
        let shared = Arc::new(Shared {
            upstream: format!("{host}:{port}"),
            seed: plan.seed(),
            classes: plan.classes().to_vec(),
            rate_ppm: AtomicU64::new(rate_ppm(plan.rate())),
            limit: plan.max_faults(),
            drawn: AtomicU64::new(0),
            seen: Mutex::new(HashMap::new()),
            stats: Mutex::new(FaultStats::default()),
            recording: Mutex::new(std::collections::HashSet::new()),
            recorded: Mutex::new(Vec::new()),
        });
        let accepting = shared.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // No Nagle: a small answer must not wait for a delayed ACK (40 ms).
                let _ = stream.set_nodelay(true);
                let shared = accepting.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { handle(request, &shared).await }
                    });
                    // A lost answer ends the connection with an error: nothing to report.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            endpoint: format!("http://{address}"),
            shared,
            accept,
        })
    }

    /// Where the SDK should send its requests.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Changes the share of requests that get a fault (0 pauses injection).
    pub fn set_rate(&self, rate: f64) {
        self.shared
            .rate_ppm
            .store(rate_ppm(rate), Ordering::Relaxed);
    }

    pub fn rate(&self) -> f64 {
        self.shared.rate_ppm.load(Ordering::Relaxed) as f64 / PPM
    }

    /// From now on, keeps the requests of `operation` (`service/Operation`) that moto
    /// carried out, for [`FaultProxy::take_recorded`].
    pub fn record(&self, operation: &str) {
        if let Ok(mut recording) = self.shared.recording.lock() {
            recording.insert(operation.to_owned());
        }
    }

    /// The recorded requests since the last call, in the order moto answered them.
    pub fn take_recorded(&self) -> Vec<Recorded> {
        self.shared
            .recorded
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    /// What happened so far.
    pub fn stats(&self) -> FaultStats {
        self.shared
            .lock_stats()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn rate_ppm(rate: f64) -> u64 {
    (rate.clamp(0.0, 1.0) * PPM).round() as u64
}

async fn handle(
    request: Request<Incoming>,
    shared: &Shared,
) -> std::result::Result<Response<ProxyBody>, DroppedAnswer> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(DroppedAnswer),
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let operation = classify(&parts.method, &path, &parts.headers, &body);
    let fault = operation.as_ref().and_then(|operation| {
        shared.draw(
            operation,
            &fingerprint(operation, &parts.method, &path, &body),
        )
    });
    if let (Some(operation), Some(mut stats)) = (&operation, shared.lock_stats()) {
        *stats.requests.entry(operation.to_string()).or_insert(0) += 1;
        if let Some(class) = fault {
            *stats
                .injected
                .entry((class, operation.to_string()))
                .or_insert(0) += 1;
        }
    }
    if let (Some(operation), Some(class @ (FaultClass::Throttled | FaultClass::ServerError))) =
        (&operation, fault)
    {
        let print = fingerprint(operation, &parts.method, &path, &body);
        let odd = fnv1a(&print) & 1 == 1;
        return Ok(refusal(operation, class, odd));
    }
    let mut upstream = Request::builder().method(parts.method).uri(path.as_str());
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            upstream = upstream.header(name, value);
        }
    }
    let kept = body.clone();
    let Ok(upstream) = upstream.body(Full::new(body)) else {
        return Ok(plain(StatusCode::BAD_GATEWAY, "fault proxy: bad request"));
    };
    let answer = match forward(&shared.upstream, upstream).await {
        Ok(answer) => answer,
        Err(message) => {
            if let Some(mut stats) = shared.lock_stats() {
                stats.upstream_errors += 1;
            }
            return Ok(plain(StatusCode::BAD_GATEWAY, &message));
        }
    };
    if let Some(operation) = &operation
        && answer.status().is_success()
        && shared
            .recording
            .lock()
            .is_ok_and(|r| r.contains(&operation.to_string()))
        && let Ok(mut recorded) = shared.recorded.lock()
    {
        recorded.push(Recorded {
            operation: operation.to_string(),
            path: path.split('?').next().unwrap_or_default().to_owned(),
            body: kept.clone(),
        });
    }
    if fault == Some(FaultClass::LostAnswer) {
        // moto acted on the request; its answer never reaches the caller.
        return Err(DroppedAnswer);
    }
    Ok(answer)
}

/// Sends `request` to moto on a fresh connection and reads the whole answer.
async fn forward(
    upstream: &str,
    request: Request<ProxyBody>,
) -> std::result::Result<Response<ProxyBody>, String> {
    let stream = TcpStream::connect(upstream)
        .await
        .map_err(|e| format!("fault proxy: connecting to {upstream}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("fault proxy: handshake: {e}"))?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("fault proxy: forwarding: {e}"))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("fault proxy: reading the answer: {e}"))?
        .to_bytes();
    driver.abort();
    let mut answer = Response::builder().status(parts.status);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) && name != hyper::header::CONTENT_LENGTH {
            answer = answer.header(name, value);
        }
    }
    answer
        .body(Full::new(body))
        .map_err(|e| format!("fault proxy: {e}"))
}

fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "trailer" | "upgrade"
    )
}

fn plain(status: StatusCode, text: &str) -> Response<ProxyBody> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    response
}

fn with_headers(
    status: StatusCode,
    headers: &[(&'static str, &str)],
    body: String,
) -> Response<ProxyBody> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
    response
}

/// The refusal a service really sends: throttling in its own error shape, or a 500 / 503.
/// `odd` picks between 500 and 503 (and between a service's two throttling codes).
fn refusal(operation: &Operation, class: FaultClass, odd: bool) -> Response<ProxyBody> {
    let request_id = "fault-proxy-0000-0000-0000-000000000000";
    match (operation.service, class) {
        (Service::DynamoDb | Service::DynamoDbStreams | Service::Ssm, _) => {
            let (status, code, message) = match (operation.service, class) {
                (Service::DynamoDb, FaultClass::Throttled) if is_data_plane(&operation.name) => (
                    StatusCode::BAD_REQUEST,
                    "ProvisionedThroughputExceededException",
                    "The level of configured provisioned throughput for the table was exceeded.",
                ),
                (_, FaultClass::Throttled) => (
                    StatusCode::BAD_REQUEST,
                    "ThrottlingException",
                    "Rate exceeded",
                ),
                (Service::Ssm, _) if odd => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "Service unavailable",
                ),
                (Service::Ssm, _) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "An error occurred on the server side.",
                ),
                (_, _) if odd => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The service is currently unavailable or busy.",
                ),
                (_, _) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    "Internal server error",
                ),
            };
            let (namespace, content_type) = match operation.service {
                Service::DynamoDb => (
                    "com.amazonaws.dynamodb.v20120810#",
                    "application/x-amz-json-1.0",
                ),
                Service::DynamoDbStreams => (
                    "com.amazonaws.dynamodb.v20120810#",
                    "application/x-amz-json-1.0",
                ),
                _ => ("", "application/x-amz-json-1.1"),
            };
            let body =
                serde_json::json!({ "__type": format!("{namespace}{code}"), "message": message });
            with_headers(
                status,
                &[
                    ("content-type", content_type),
                    ("x-amzn-requestid", request_id),
                ],
                body.to_string(),
            )
        }
        (Service::Scheduler | Service::SesV2, _) => {
            let (status, code, message) = match (operation.service, class) {
                (Service::Scheduler, FaultClass::Throttled) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "ThrottlingException",
                    "Rate exceeded",
                ),
                (_, FaultClass::Throttled) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequestsException",
                    "Too many requests have been made to the operation.",
                ),
                (_, _) if odd => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailableException",
                    "Service is unavailable",
                ),
                (Service::Scheduler, _) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerException",
                    "Unexpected error",
                ),
                (_, _) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServiceErrorException",
                    "An internal error occurred",
                ),
            };
            with_headers(
                status,
                &[
                    ("content-type", "application/json"),
                    ("x-amzn-errortype", code),
                    ("x-amzn-requestid", request_id),
                ],
                serde_json::json!({ "message": message }).to_string(),
            )
        }
        (_, class) => {
            let (status, kind, code, message) = match class {
                FaultClass::Throttled => (
                    StatusCode::BAD_REQUEST,
                    "Sender",
                    "Throttling",
                    "Rate exceeded",
                ),
                _ if odd => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Receiver",
                    "ServiceUnavailable",
                    "Service is unavailable",
                ),
                _ => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Receiver",
                    "InternalError",
                    "Internal error",
                ),
            };
            let body = format!(
                "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            );
            with_headers(
                status,
                &[
                    ("content-type", "text/xml"),
                    ("x-amzn-requestid", request_id),
                ],
                body,
            )
        }
    }
}

/// DynamoDB's item operations, which throttle with `ProvisionedThroughputExceededException`.
fn is_data_plane(name: &str) -> bool {
    matches!(
        name,
        "GetItem"
            | "PutItem"
            | "UpdateItem"
            | "DeleteItem"
            | "Query"
            | "Scan"
            | "BatchGetItem"
            | "BatchWriteItem"
            | "TransactWriteItems"
            | "TransactGetItems"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    fn auth(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=testing/20261102/eu-north-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
        )
    }

    fn op(service: Service, name: &str) -> Option<Operation> {
        Some(Operation {
            service,
            name: name.to_owned(),
        })
    }

    #[test]
    fn dynamodb_streams_and_ssm_are_named_by_their_target_header() {
        let cases = [
            (
                "DynamoDB_20120810.GetItem",
                "dynamodb",
                op(Service::DynamoDb, "GetItem"),
            ),
            (
                "DynamoDB_20120810.TransactWriteItems",
                "dynamodb",
                op(Service::DynamoDb, "TransactWriteItems"),
            ),
            (
                "DynamoDBStreams_20120810.GetRecords",
                "dynamodb",
                op(Service::DynamoDbStreams, "GetRecords"),
            ),
            (
                "AmazonSSM.GetParameter",
                "ssm",
                op(Service::Ssm, "GetParameter"),
            ),
        ];
        for (target, scope, expected) in cases {
            let h = headers(&[("x-amz-target", target), ("authorization", &auth(scope))]);
            assert_eq!(
                classify(&Method::POST, "/", &h, b"{}"),
                expected,
                "{target}"
            );
        }
    }

    #[test]
    fn scheduler_and_ses_are_named_by_method_and_path() {
        let scheduler = headers(&[("authorization", &auth("scheduler"))]);
        let ses = headers(&[("authorization", &auth("ses"))]);
        let cases = [
            (
                Method::POST,
                "/schedules/cb-1-s0-g1",
                &scheduler,
                op(Service::Scheduler, "CreateSchedule"),
            ),
            (
                Method::GET,
                "/schedules/cb-1-s0-g1?groupName=cartback",
                &scheduler,
                op(Service::Scheduler, "GetSchedule"),
            ),
            (
                Method::DELETE,
                "/schedules/cb-1-s0-g1?groupName=cartback",
                &scheduler,
                op(Service::Scheduler, "DeleteSchedule"),
            ),
            (
                Method::GET,
                "/schedules?ScheduleGroup=cartback",
                &scheduler,
                op(Service::Scheduler, "ListSchedules"),
            ),
            (
                Method::POST,
                "/schedule-groups/cartback",
                &scheduler,
                op(Service::Scheduler, "CreateScheduleGroup"),
            ),
            (
                Method::POST,
                "/v2/email/outbound-emails",
                &ses,
                op(Service::SesV2, "SendEmail"),
            ),
            (
                Method::POST,
                "/v2/email/identities",
                &ses,
                op(Service::SesV2, "CreateEmailIdentity"),
            ),
        ];
        for (method, path, h, expected) in cases {
            assert_eq!(classify(&method, path, h, b""), expected, "{method} {path}");
        }
    }

    #[test]
    fn sns_is_named_by_the_form_action_and_moto_api_is_never_classified() {
        let sns = headers(&[
            ("authorization", &auth("sns")),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        assert_eq!(
            classify(
                &Method::POST,
                "/",
                &sns,
                b"Action=Publish&Version=2010-03-31&PhoneNumber=%2B358401234567"
            ),
            op(Service::Sns, "Publish")
        );
        assert_eq!(
            classify(
                &Method::POST,
                "/",
                &sns,
                b"Action=CheckIfPhoneNumberIsOptedOut&Version=2010-03-31"
            ),
            op(Service::Sns, "CheckIfPhoneNumberIsOptedOut")
        );
        assert_eq!(
            classify(&Method::GET, "/moto-api/data.json", &sns, b""),
            None
        );
        assert_eq!(
            classify(&Method::POST, "/moto-api/reset", &HeaderMap::new(), b""),
            None
        );
    }

    #[test]
    fn a_dynamodb_item_request_counts_by_its_table_and_key() {
        let put = Operation {
            service: Service::DynamoDb,
            name: "PutItem".into(),
        };
        let item = |message_id: &str| {
            format!(
                r#"{{"TableName":"t","Item":{{"pk":{{"S":"SHOP#a"}},"sk":{{"S":"CART#1"}},"sent":{{"S":"{message_id}"}}}}}}"#
            )
        };
        assert_eq!(
            fingerprint(&put, &Method::POST, "/", item("random-1").as_bytes()),
            fingerprint(&put, &Method::POST, "/", item("random-2").as_bytes())
        );
        let transaction = Operation {
            service: Service::DynamoDb,
            name: "TransactWriteItems".into(),
        };
        let body = |value: &str| {
            format!(
                r#"{{"TransactItems":[{{"Put":{{"TableName":"t","Item":{{"pk":{{"S":"SHOP#a"}},"sk":{{"S":"CART#1"}},"v":{{"S":"{value}"}}}}}}}},{{"Put":{{"TableName":"t","Item":{{"pk":{{"S":"SHOP#a"}},"sk":{{"S":"DELIVERY#9"}}}}}}}}]}}"#
            )
        };
        assert_eq!(
            fingerprint(&transaction, &Method::POST, "/", body("x").as_bytes()),
            fingerprint(&transaction, &Method::POST, "/", body("y").as_bytes())
        );
        assert_ne!(
            fingerprint(&put, &Method::POST, "/", item("a").as_bytes()),
            fingerprint(
                &put,
                &Method::POST,
                "/",
                item("a").replace("CART#1", "CART#2").as_bytes()
            )
        );
    }

    #[test]
    fn the_same_request_draws_the_same_fault_whatever_the_json_key_order() {
        let operation = Operation {
            service: Service::DynamoDb,
            name: "PutItem".into(),
        };
        let a = fingerprint(
            &operation,
            &Method::POST,
            "/",
            br#"{"a":1,"b":{"y":2,"x":3}}"#,
        );
        let b = fingerprint(
            &operation,
            &Method::POST,
            "/",
            br#"{"b":{"x":3,"y":2},"a":1}"#,
        );
        assert_eq!(a, b);
        let ses = Operation {
            service: Service::SesV2,
            name: "SendEmail".into(),
        };
        let raw = |boundary: &str| {
            let mime = format!(
                "Message-ID: <cartback.abc.s1@example.com>\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\nbody"
            );
            serde_json::json!({ "Content": { "Raw": { "Data": base64::engine::general_purpose::STANDARD.encode(mime) } }, "Destination": { "ToAddresses": ["a@example.com"] } }).to_string()
        };
        assert_eq!(
            fingerprint(
                &ses,
                &Method::POST,
                "/v2/email/outbound-emails",
                raw("one").as_bytes()
            ),
            fingerprint(
                &ses,
                &Method::POST,
                "/v2/email/outbound-emails",
                raw("two").as_bytes()
            ),
            "a random MIME boundary does not change the draw"
        );
    }

    #[test]
    fn a_seed_gives_the_same_faults_and_about_the_configured_share() {
        let run = |seed: u64| {
            let shared = Shared {
                upstream: String::new(),
                seed,
                classes: FaultClass::ALL.to_vec(),
                rate_ppm: AtomicU64::new(rate_ppm(0.1)),
                limit: None,
                drawn: AtomicU64::new(0),
                seen: Mutex::new(HashMap::new()),
                stats: Mutex::new(FaultStats::default()),
                recording: Mutex::new(std::collections::HashSet::new()),
                recorded: Mutex::new(Vec::new()),
            };
            let operation = Operation {
                service: Service::DynamoDb,
                name: "GetItem".into(),
            };
            (0..10_000)
                .map(|i| shared.draw(&operation, format!("request {}", i % 2_500).as_bytes()))
                .collect::<Vec<_>>()
        };
        let first = run(7);
        assert_eq!(first, run(7));
        assert_ne!(first, run(8));
        let faults = first.iter().flatten().count();
        assert!((800..1200).contains(&faults), "about 10 %: {faults}");
        for class in FaultClass::ALL {
            let n = first.iter().filter(|f| **f == Some(class)).count();
            assert!(n > 200, "{class:?}: {n}");
        }
    }

    #[test]
    fn throttling_answers_carry_each_services_own_code() {
        let cases = [
            (
                Service::DynamoDb,
                "GetItem",
                400,
                "ProvisionedThroughputExceededException",
            ),
            (
                Service::DynamoDb,
                "DescribeTable",
                400,
                "ThrottlingException",
            ),
            (Service::Ssm, "GetParameter", 400, "ThrottlingException"),
            (
                Service::Scheduler,
                "CreateSchedule",
                429,
                "ThrottlingException",
            ),
            (Service::SesV2, "SendEmail", 429, "TooManyRequestsException"),
            (Service::Sns, "Publish", 400, "<Code>Throttling</Code>"),
        ];
        for (service, name, status, code) in cases {
            let response = refusal(
                &Operation {
                    service,
                    name: name.into(),
                },
                FaultClass::Throttled,
                false,
            );
            assert_eq!(response.status().as_u16(), status, "{name}");
            let header = response
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = futures_body(response);
            assert!(
                body.contains(code) || header == code,
                "{name}: {body} {header}"
            );
        }
    }

    /// A stand-in for moto that counts the requests it acted on and answers `{"ok":n}`.
    async fn counting_upstream() -> (String, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("an address");
        let acted = Arc::new(AtomicU64::new(0));
        let counter = acted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_request: Request<Incoming>| {
                        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                        async move {
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                                "{{\"ok\":{n}}}"
                            )))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (format!("http://{address}"), acted)
    }

    async fn put_item(
        client: &reqwest::Client,
        proxy: &FaultProxy,
    ) -> reqwest::Result<reqwest::Response> {
        client
            .post(proxy.endpoint())
            .header("x-amz-target", "DynamoDB_20120810.PutItem")
            .header("authorization", auth("dynamodb"))
            .body(r#"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#)
            .send()
            .await
    }

    #[tokio::test]
    async fn a_lost_answer_reaches_the_upstream_and_the_caller_sees_the_connection_drop() {
        let (upstream, acted) = counting_upstream().await;
        let plan = FaultPlan::new(1, 1.0)
            .expect("a rate")
            .only(&[FaultClass::LostAnswer]);
        let proxy = FaultProxy::start(&upstream, plan).await.expect("proxy");
        proxy.record("dynamodb/PutItem");
        let client = reqwest::Client::new();
        let error = put_item(&client, &proxy)
            .await
            .expect_err("no answer comes back");
        assert!(
            !error.is_status(),
            "a dropped connection, not an HTTP error: {error}"
        );
        assert_eq!(acted.load(Ordering::SeqCst), 1, "the upstream acted on it");
        let stats = proxy.stats();
        assert_eq!(stats.count(FaultClass::LostAnswer, "dynamodb/PutItem"), 1);
        assert_eq!(stats.by_service().get("dynamodb"), Some(&1));
        assert_eq!(
            proxy.take_recorded(),
            vec![Recorded {
                operation: "dynamodb/PutItem".into(),
                path: "/".into(),
                body: Bytes::from_static(br#"{"TableName":"t","Item":{"pk":{"S":"a"}}}"#),
            }],
            "what moto carried out is recorded, answered or not"
        );

        // Paused, the same request passes and its answer arrives.
        proxy.set_rate(0.0);
        let answer = put_item(&client, &proxy).await.expect("an answer");
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.expect("a body"), r#"{"ok":2}"#);
        assert_eq!(proxy.stats().total_requests(), 2);
        assert_eq!(proxy.stats().total_injected(), 1);
    }

    #[tokio::test]
    async fn a_refusal_never_reaches_the_upstream_and_moto_api_is_never_faulted() {
        let (upstream, acted) = counting_upstream().await;
        let plan = FaultPlan::new(1, 1.0)
            .expect("a rate")
            .only(&[FaultClass::Throttled, FaultClass::ServerError]);
        let proxy = FaultProxy::start(&upstream, plan).await.expect("proxy");
        let client = reqwest::Client::new();
        let answer = put_item(&client, &proxy).await.expect("an answer");
        assert!(
            answer.status() == 400 || answer.status().is_server_error(),
            "{}",
            answer.status()
        );
        assert_eq!(acted.load(Ordering::SeqCst), 0);
        let data = client
            .get(format!("{}/moto-api/data.json", proxy.endpoint()))
            .send()
            .await
            .expect("moto's API passes");
        assert_eq!(data.status(), 200);
        assert_eq!(acted.load(Ordering::SeqCst), 1);
        assert_eq!(proxy.stats().total_injected(), 1);
    }

    fn futures_body(response: Response<ProxyBody>) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("a full body")
                .to_bytes();
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }
}

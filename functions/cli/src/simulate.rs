//! `cartback simulate`: JSON lines of webhooks and recipient events in, the decisions the
//! real pipeline makes on a virtual clock out (one JSON object per line, in time order).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};

use cartback_app::feedback::{Action, RecipientEvent};
use cartback_core::model::contact::ContactError;
use cartback_core::model::experiment::{HoldoutError, HoldoutShare};
use cartback_core::model::ids::{CartId, IdError, PoolName, ShopId};
use cartback_core::model::offer_codes::{CodeError, OfferCode};
use cartback_core::model::sequence::Channel;
use cartback_core::model::sequence::{Sequence, SequenceError};
use cartback_core::model::shop::{Secret, ShopError, ShopSettings};
use cartback_core::platforms::bigcommerce::api::ApiError;
use cartback_core::platforms::webhook::{Headers, WebhookError};
use cartback_local::{
    BadRate, FaultPlan, LocalShops, MemoryRuntime, Report, RuntimeError, SendLimits,
};
use cartback_webhook::{Refused, WebhookRequest};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::Value;

/// How long the clock runs past the last input by default.
pub const DEFAULT_TAIL: SignedDuration = SignedDuration::from_hours(24 * 30);

/// A bad input line: which, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct InputError {
    pub file: String,
    pub line: usize,
    #[source]
    pub problem: LineError,
}

/// What is wrong with one input line (or what went wrong running it).
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("could not be read: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("earlier than the line before it: the file changed while the run read it")]
    Changed,
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    #[error("erase event: {0} (expected at, shop, event, email or phone)")]
    EraseShape(#[source] serde_json::Error),
    #[error("erase event: email: {0}")]
    EraseEmail(#[source] ContactError),
    #[error("erase event: phone: {0}")]
    ErasePhone(#[source] ContactError),
    #[error("erase event: give email or phone")]
    EraseNobody,
    #[error("recipient event: {0} (expected at, shop, event, cart, step)")]
    RecipientShape(#[source] serde_json::Error),
    #[error("unknown event `{0}`: use open, click, bounce, complaint, unsubscribe or erase")]
    UnknownEvent(String),
    #[error("webhook: {0} (expected at, shop, platform, topic, payload)")]
    WebhookShape(#[source] serde_json::Error),
    /// The payload or the `api` field could not be written back as JSON.
    #[error(transparent)]
    Json(serde_json::Error),
    #[error("`api` is for platform bigcommerce only (a {platform} webhook carries its cart)")]
    ApiNotBigCommerce { platform: String },
    #[error("bigcommerce payload: {0}")]
    BigCommercePayload(#[source] WebhookError),
    #[error("topic `{topic}` but the payload's scope is `{scope}`")]
    TopicMismatch { topic: String, scope: String },
    #[error(
        "a {topic} line needs `api`: the cart as GET /v3/carts/{{id}}?include=redirect_urls answers it ({{\"data\": {{...}}}})"
    )]
    NoCartApi { topic: String },
    #[error("a {topic} line needs `api`: the order as GET /v2/orders/{{id}} answers it")]
    NoOrderApi { topic: String },
    #[error("api: {source} (expected what the store API answers for {path})")]
    Api { path: String, source: ApiError },
    /// The in-memory runtime failed.
    #[error("local runtime failed: {0}")]
    Runtime(#[source] RuntimeError),
    #[error("webhook refused with {status}: {refused}")]
    Refused {
        status: u16,
        #[source]
        refused: Refused,
    },
}

/// Why a `--shops` file cannot be used; every error names the file (and the line where
/// it is known).
#[derive(Debug, thiserror::Error)]
pub enum ShopsFileError {
    #[error("{}:{line}: {}", file.display(), source.message())]
    Toml {
        file: PathBuf,
        line: usize,
        source: toml::de::Error,
    },
    #[error("{}: shop `{id}`: {source}", file.display())]
    ShopId {
        file: PathBuf,
        id: String,
        source: IdError,
    },
    #[error("{}:{line}: shop `{id}`: {source}", file.display())]
    Holdout {
        file: PathBuf,
        line: usize,
        id: ShopId,
        source: HoldoutError,
    },
    #[error("{}: shop `{id}`: {source}", file.display())]
    Shop {
        file: PathBuf,
        id: ShopId,
        source: ShopError,
    },
    #[error("{}: shop `{id}`: offer_pools.{pool}: {source}", file.display())]
    PoolName {
        file: PathBuf,
        id: ShopId,
        pool: String,
        source: IdError,
    },
    #[error("{}: shop `{id}`: offer_pools.{pool}: code {number} `{code}`: {source}", file.display())]
    OfferCode {
        file: PathBuf,
        id: ShopId,
        pool: String,
        /// From 1.
        number: usize,
        code: String,
        source: CodeError,
    },
}

/// Why `simulate` (or a command that runs a simulation) failed.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Shops(#[from] Box<ShopsFileError>),
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    #[error("--faults: {0}")]
    Faults(#[from] BadRate),
    #[error("the invariants did not hold under faults: {}", violations.join("; "))]
    Invariants { violations: Vec<String> },
}

#[derive(Debug, Clone)]
pub enum InputEvent {
    Webhook {
        shop: String,
        platform: String,
        topic: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        /// BigCommerce: what the store's API answers for the cart or order the webhook
        /// names (the line's `api` field), served by the in-memory store API.
        api: Option<Vec<u8>>,
    },
    Recipient {
        shop: ShopId,
        cart: CartId,
        kind: RecipientKind,
        /// 1-based, as in the output.
        step: Option<u32>,
        channel: Channel,
    },
    /// The person is erased, as `cartback erase` does: every cart of theirs in the shop is
    /// reported stopped (`erased`) and gets nothing after.
    Erase {
        shop: ShopId,
        subject: cartback_core::rules::erase::Subject,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientKind {
    Open,
    Click,
    Bounce,
    Complaint,
    Unsubscribe,
}

#[derive(Debug, Clone)]
pub struct InputLine {
    pub line: usize,
    pub at: Timestamp,
    pub event: InputEvent,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookLine {
    at: Timestamp,
    shop: String,
    platform: String,
    topic: String,
    payload: Value,
    #[serde(default)]
    headers: HashMap<String, String>,
    /// BigCommerce only: the JSON the store's API answers for what the webhook names (the
    /// cart of `store/cart/abandoned`, the order of `store/cart/converted`).
    #[serde(default)]
    api: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientLine {
    at: Timestamp,
    shop: ShopId,
    event: String,
    cart: CartId,
    #[serde(default)]
    step: Option<u32>,
    /// For an unsubscribe: the channel it came from (default email).
    #[serde(default)]
    channel: Option<Channel>,
}

/// `{"at", "shop", "event": "erase", "email" | "phone"}`: erase a person (admin action).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseLine {
    at: Timestamp,
    shop: ShopId,
    #[allow(dead_code, reason = "always \"erase\": it selected this shape")]
    event: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

fn erase_line(value: Value) -> Result<(Timestamp, InputEvent), LineError> {
    let e: EraseLine = serde_json::from_value(value).map_err(LineError::EraseShape)?;
    let subject = cartback_core::rules::erase::Subject {
        email: e
            .email
            .map(|raw| {
                cartback_core::model::contact::Email::parse(&raw).map_err(LineError::EraseEmail)
            })
            .transpose()?,
        phone: e
            .phone
            .map(|raw| {
                cartback_core::model::contact::Phone::parse(&raw, None)
                    .map_err(LineError::ErasePhone)
            })
            .transpose()?,
    };
    if subject.is_empty() {
        return Err(LineError::EraseNobody);
    }
    Ok((
        e.at,
        InputEvent::Erase {
            shop: e.shop,
            subject,
        },
    ))
}

/// Parses the events file; every error names the line.
pub fn parse_events(file: &str, source: &str) -> Result<Vec<InputLine>, InputError> {
    let mut lines = Vec::new();
    for (index, text) in source.lines().enumerate() {
        lines.extend(parse_line(file, index + 1, text)?);
    }
    Ok(in_time_order(lines))
}

/// Reads the events file line by line, so the file is never held whole beside its parsed
/// lines (a generated week of 100,000 carts is 160 MB of JSON); every error names the line.
pub fn read_events(
    file: &str,
    reader: impl std::io::BufRead,
) -> Result<Vec<InputLine>, InputError> {
    let lines = FileLines::new(file, reader).collect::<Result<Vec<_>, _>>()?;
    Ok(in_time_order(lines))
}

/// The input lines of an events file, parsed one at a time (blank and comment lines
/// skipped); every error names its line.
struct FileLines<R> {
    file: String,
    lines: std::io::Lines<R>,
    /// The number of the last line read (1-based).
    number: usize,
}

impl<R: std::io::BufRead> FileLines<R> {
    fn new(file: &str, reader: R) -> Self {
        Self {
            file: file.to_owned(),
            lines: reader.lines(),
            number: 0,
        }
    }
}

impl<R: std::io::BufRead> Iterator for FileLines<R> {
    type Item = Result<InputLine, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let text = self.lines.next()?;
            self.number += 1;
            let parsed = match text {
                Ok(text) => parse_line(&self.file, self.number, &text),
                Err(e) => Err(InputError {
                    file: self.file.clone(),
                    line: self.number,
                    problem: LineError::Unreadable(e),
                }),
            };
            match parsed {
                Ok(Some(line)) => return Some(Ok(line)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// The input of a run, in time order: held in memory, or, for a file already in time
/// order, read again line by line as the run reaches each line, so that a year of carts
/// never sits in memory whole.
pub struct Events {
    /// The times of the first and the last line (`None`: no lines).
    span: Option<(Timestamp, Timestamp)>,
    /// Every shop the lines name.
    shops: BTreeSet<String>,
    source: Source,
}

enum Source {
    Held(Vec<InputLine>),
    /// A file whose every line parsed, in time order when it was checked.
    Streamed {
        file: String,
        path: PathBuf,
    },
}

impl From<Vec<InputLine>> for Events {
    fn from(lines: Vec<InputLine>) -> Self {
        let lines = in_time_order(lines);
        Self {
            span: lines.first().zip(lines.last()).map(|(a, b)| (a.at, b.at)),
            shops: lines.iter().map(|l| shop_of(l).to_owned()).collect(),
            source: Source::Held(lines),
        }
    }
}

impl Events {
    /// Reads the events file at `path` through once, parsing every line (so a bad line is
    /// reported before the run, naming its line) and noting whether the lines are in time
    /// order. A file in time order is read again during the run; any other is held, sorted.
    pub fn read(path: &Path) -> Result<Self, SimulateError> {
        let file = path.display().to_string();
        let open = || {
            std::fs::File::open(path)
                .map(std::io::BufReader::new)
                .map_err(|source| SimulateError::Read {
                    path: path.to_path_buf(),
                    source,
                })
        };
        let mut span: Option<(Timestamp, Timestamp)> = None;
        let mut shops = BTreeSet::new();
        let mut in_order = true;
        for line in FileLines::new(&file, open()?) {
            let line = line?;
            span = Some(match span {
                None => (line.at, line.at),
                Some((first, last)) => {
                    in_order &= line.at >= last;
                    (first.min(line.at), last.max(line.at))
                }
            });
            if !shops.contains(shop_of(&line)) {
                shops.insert(shop_of(&line).to_owned());
            }
        }
        if !in_order {
            return Ok(read_events(&file, open()?)?.into());
        }
        Ok(Self {
            span,
            shops,
            source: Source::Streamed {
                file,
                path: path.to_path_buf(),
            },
        })
    }

    /// Every line, in memory (a streamed file is read again): for what looks at the whole
    /// input at once.
    pub fn hold(self) -> Result<Vec<InputLine>, InputError> {
        match self.source {
            Source::Held(lines) => Ok(lines),
            Source::Streamed { file, path } => read_events(&file, reopen(&file, &path)?),
        }
    }

    /// The lines, in time order, one at a time.
    fn lines(self) -> Result<Box<dyn Iterator<Item = Result<InputLine, InputError>>>, InputError> {
        match self.source {
            Source::Held(lines) => Ok(Box::new(lines.into_iter().map(Ok))),
            Source::Streamed { file, path } => {
                let reader = reopen(&file, &path)?;
                let mut last: Option<Timestamp> = None;
                Ok(Box::new(FileLines::new(&file, reader).map(move |line| {
                    let line = line?;
                    // Checked in time order before the run: only a file changed since
                    // gets here.
                    if last.is_some_and(|last| line.at < last) {
                        return Err(InputError {
                            file: file.clone(),
                            line: line.line,
                            problem: LineError::Changed,
                        });
                    }
                    last = Some(line.at);
                    Ok(line)
                })))
            }
        }
    }
}

/// The events file opened again for its second reading (an error names the file).
fn reopen(file: &str, path: &Path) -> Result<std::io::BufReader<std::fs::File>, InputError> {
    std::fs::File::open(path)
        .map(std::io::BufReader::new)
        .map_err(|e| InputError {
            file: file.to_owned(),
            line: 0,
            problem: LineError::Unreadable(e),
        })
}

/// The shop a line names, as written.
fn shop_of(line: &InputLine) -> &str {
    match &line.event {
        InputEvent::Webhook { shop, .. } => shop,
        InputEvent::Recipient { shop, .. } | InputEvent::Erase { shop, .. } => shop.as_str(),
    }
}

/// Deliveries happen in time order; lines at the same time keep their file order.
fn in_time_order(mut lines: Vec<InputLine>) -> Vec<InputLine> {
    lines.sort_by_key(|l| l.at);
    lines
}

/// One line of the events file (`line`, 1-based): `None` for a blank or comment line.
fn parse_line(file: &str, line: usize, text: &str) -> Result<Option<InputLine>, InputError> {
    let error = |problem: LineError| InputError {
        file: file.to_owned(),
        line,
        problem,
    };
    let text = text.trim();
    if text.is_empty() || text.starts_with('#') || text.starts_with("//") {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| error(LineError::NotJson(e)))?;
    let parsed = if value.get("event").and_then(Value::as_str) == Some("erase") {
        let (at, event) = erase_line(value).map_err(error)?;
        InputLine { line, at, event }
    } else if value.get("event").is_some() {
        let r: RecipientLine =
            serde_json::from_value(value).map_err(|e| error(LineError::RecipientShape(e)))?;
        let kind = match r.event.as_str() {
            "open" => RecipientKind::Open,
            "click" => RecipientKind::Click,
            "bounce" => RecipientKind::Bounce,
            "complaint" => RecipientKind::Complaint,
            "unsubscribe" => RecipientKind::Unsubscribe,
            other => {
                return Err(error(LineError::UnknownEvent(other.to_owned())));
            }
        };
        InputLine {
            line,
            at: r.at,
            event: InputEvent::Recipient {
                shop: r.shop,
                cart: r.cart,
                kind,
                step: r.step,
                channel: r.channel.unwrap_or(Channel::Email),
            },
        }
    } else {
        let w: WebhookLine =
            serde_json::from_value(value).map_err(|e| error(LineError::WebhookShape(e)))?;
        let body = serde_json::to_vec(&w.payload).map_err(|e| error(LineError::Json(e)))?;
        let api = bigcommerce_api(&w.platform, &w.topic, &body, w.api.as_ref()).map_err(error)?;
        InputLine {
            line,
            at: w.at,
            event: InputEvent::Webhook {
                shop: w.shop,
                platform: w.platform,
                topic: w.topic,
                headers: w.headers.into_iter().collect(),
                body,
                api,
            },
        }
    };
    Ok(Some(parsed))
}

/// Checks a line's `api` field: only BigCommerce lines have one, and a BigCommerce
/// webhook that names a cart or an order needs it (the store API answers nothing else).
fn bigcommerce_api(
    platform: &str,
    topic: &str,
    body: &[u8],
    api: Option<&Value>,
) -> Result<Option<Vec<u8>>, LineError> {
    use cartback_core::platforms::bigcommerce;
    if platform != "bigcommerce" {
        return match api {
            Some(_) => Err(LineError::ApiNotBigCommerce {
                platform: platform.to_owned(),
            }),
            None => Ok(None),
        };
    }
    let parsed = bigcommerce::parse(body).map_err(LineError::BigCommercePayload)?;
    if parsed.topic != topic {
        return Err(LineError::TopicMismatch {
            topic: topic.to_owned(),
            scope: parsed.topic,
        });
    }
    let (Some(fetch), Some(api)) = (parsed.fetch, api) else {
        return match (&api, topic) {
            (None, bigcommerce::ABANDONED) => Err(LineError::NoCartApi {
                topic: topic.to_owned(),
            }),
            (None, bigcommerce::CONVERTED) => Err(LineError::NoOrderApi {
                topic: topic.to_owned(),
            }),
            _ => Ok(None),
        };
    };
    let api = serde_json::to_vec(api).map_err(LineError::Json)?;
    fetch.event(&api).map_err(|source| LineError::Api {
        path: fetch.path(),
        source,
    })?;
    Ok(Some(api))
}

/// One shop's settings in a `--shops` file (TOML: a `[shops.<id>]` table per shop).
#[derive(Deserialize)]
struct ShopEntry {
    #[serde(flatten)]
    settings: ShopSettings,
    #[serde(default)]
    webhook_secret: Option<String>,
    /// Read here rather than through the flattened settings, so a bad share names its line.
    #[serde(default)]
    holdout: Option<toml::Spanned<f64>>,
    /// Offer code pools filled before the run: `[shops.<id>.offer_pools] winter10 = ["A1", "A2"]`.
    #[serde(default)]
    offer_pools: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShopsFile {
    #[serde(default)]
    shops: HashMap<String, ShopEntry>,
}

/// Reads a `--shops` file.
pub fn parse_shops(file: &Path, source: &str) -> Result<LocalShops, Box<ShopsFileError>> {
    let parsed: ShopsFile = toml::from_str(source).map_err(|e| {
        let line = e.span().map_or(0, |span| {
            source[..span.start.min(source.len())].matches('\n').count() + 1
        });
        Box::new(ShopsFileError::Toml {
            file: file.to_path_buf(),
            line,
            source: e,
        })
    })?;
    let mut shops = LocalShops::defaults();
    let line_of = |offset: usize| source[..offset.min(source.len())].matches('\n').count() + 1;
    for (id, mut entry) in parsed.shops {
        let id = ShopId::parse(id.as_str()).map_err(|source| {
            Box::new(ShopsFileError::ShopId {
                file: file.to_path_buf(),
                id,
                source,
            })
        })?;
        if let Some(holdout) = &entry.holdout {
            entry.settings.holdout = HoldoutShare::new(*holdout.get_ref()).map_err(|source| {
                Box::new(ShopsFileError::Holdout {
                    file: file.to_path_buf(),
                    line: line_of(holdout.span().start),
                    id: id.clone(),
                    source,
                })
            })?;
        }
        if let Err(source) =
            cartback_core::model::shop::Shop::new(id.clone(), entry.settings.clone())
        {
            return Err(Box::new(ShopsFileError::Shop {
                file: file.to_path_buf(),
                id,
                source,
            }));
        }
        if let Some(secret) = entry.webhook_secret {
            shops = shops.with_secret(id.clone(), Secret::new(secret));
        }
        for (pool, codes) in entry.offer_pools {
            let name = match PoolName::parse(pool.as_str()) {
                Ok(name) => name,
                Err(source) => {
                    return Err(Box::new(ShopsFileError::PoolName {
                        file: file.to_path_buf(),
                        id,
                        pool,
                        source,
                    }));
                }
            };
            let codes = codes
                .into_iter()
                .enumerate()
                .map(|(index, code)| {
                    OfferCode::parse(code.as_str()).map_err(|source| {
                        Box::new(ShopsFileError::OfferCode {
                            file: file.to_path_buf(),
                            id: id.clone(),
                            pool: pool.clone(),
                            number: index + 1,
                            code,
                            source,
                        })
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            shops = shops.with_offer_pool(id.clone(), name, codes);
        }
        shops = shops.with_settings(id, entry.settings);
    }
    Ok(shops)
}

/// Reads an events file with its optional `--sequence` and `--shops` files: the input (see
/// [`Events::read`]), the shops it runs on, and the events file's name for errors.
pub fn load(
    events: &Path,
    sequence: Option<&Path>,
    shops: Option<&Path>,
) -> Result<(Events, LocalShops, String), SimulateError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| SimulateError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let file = events.display().to_string();
    let events = Events::read(events)?;
    let mut local_shops = match shops {
        Some(path) => parse_shops(path, &read(path)?)?,
        None => LocalShops::defaults(),
    };
    if let Some(path) = sequence {
        let toml = read(path)?;
        check_sequence(path, &toml)?;
        local_shops = with_sequence(local_shops, &events, &toml);
    }
    Ok((events, local_shops, file))
}

/// Applies `--sequence` to every shop named in the input.
pub fn with_sequence(mut shops: LocalShops, events: &Events, sequence_toml: &str) -> LocalShops {
    for id in &events.shops {
        if let Ok(id) = ShopId::parse(id.clone()) {
            let mut settings = shops.settings_of(&id);
            settings.sequence_toml = Some(sequence_toml.to_owned());
            shops = shops.with_settings(id, settings);
        }
    }
    shops
}

/// Checks a sequence file before the run, so its errors name the file.
pub fn check_sequence(file: &Path, source: &str) -> Result<Sequence, SequenceError> {
    Sequence::parse(&file.display().to_string(), source)
}

fn webhook_request(
    shops: &LocalShops,
    shop: &str,
    platform: &str,
    topic: &str,
    headers: &[(String, String)],
    body: &[u8],
    at: Timestamp,
) -> WebhookRequest {
    let mut all = Headers::new();
    if platform == "generic"
        && let Some(secret) = ShopId::parse(shop).ok().and_then(|id| shops.secret_of(&id))
    {
        all.insert(
            cartback_core::platforms::generic::SIGNATURE_HEADER,
            cartback_core::platforms::generic::sign(&secret, body, at),
        );
    }
    if platform == "shopify" {
        all.insert(cartback_core::platforms::shopify::TOPIC_HEADER, topic);
        if let Some(secret) = ShopId::parse(shop).ok().and_then(|id| shops.secret_of(&id)) {
            all.insert(
                cartback_core::platforms::shopify::HMAC_HEADER,
                cartback_core::platforms::shopify::sign(&secret, body),
            );
        }
    }
    if platform == "woocommerce" {
        use cartback_core::platforms::woocommerce;
        let (resource, event) = topic.split_once('.').unwrap_or((topic, ""));
        all.insert(woocommerce::TOPIC_HEADER, topic);
        all.insert(woocommerce::RESOURCE_HEADER, resource);
        all.insert(woocommerce::EVENT_HEADER, event);
        if let Some(secret) = ShopId::parse(shop).ok().and_then(|id| shops.secret_of(&id)) {
            all.insert(
                woocommerce::SIGNATURE_HEADER,
                woocommerce::sign(&secret, body),
            );
        }
    }
    if platform == "bigcommerce"
        && let Some(secret) = ShopId::parse(shop).ok().and_then(|id| shops.secret_of(&id))
    {
        // The custom header the webhook was registered with carries the secret itself.
        all.insert(
            cartback_core::platforms::bigcommerce::SECRET_HEADER,
            String::from_utf8_lossy(secret.expose()).into_owned(),
        );
    }
    for (name, value) in headers {
        all.insert(name, value.clone());
    }
    WebhookRequest {
        shop: shop.to_owned(),
        platform: platform.to_owned(),
        headers: all,
        body: body.to_vec(),
    }
}

/// What a run shows as it goes.
pub enum Progress<'a> {
    /// A decision (what `simulate` prints).
    Decision(&'a Report),
    /// A webhook was delivered (at `at`: later than its line's time when it was redelivered
    /// or held back) and answered.
    Webhook {
        input: &'a InputLine,
        at: Timestamp,
        reply: &'a cartback_webhook::WebhookReply,
    },
    /// A recipient event was applied.
    Recipient { input: &'a InputLine },
}

/// Runs the pipeline over `events` until `until`, telling `progress` what happens.
pub async fn run(
    events: impl Into<Events>,
    shops: LocalShops,
    until: Option<Timestamp>,
    file: &str,
    progress: impl FnMut(Progress<'_>),
) -> Result<MemoryRuntime, InputError> {
    run_with_faults(events, shops, until, file, None, progress).await
}

/// How long Shopify-like platforms wait before delivering a webhook again after a 5xx (they
/// retry for hours; locally the first retries come sooner, which is harder, not easier).
const REDELIVERY_DELAYS: [SignedDuration; 8] = [
    SignedDuration::from_secs(10),
    SignedDuration::from_secs(30),
    SignedDuration::from_mins(1),
    SignedDuration::from_mins(5),
    SignedDuration::from_mins(15),
    SignedDuration::from_mins(30),
    SignedDuration::from_hours(1),
    SignedDuration::from_hours(2),
];

/// The longest an injected out-of-order delivery is held back: until the cart's next
/// webhook, if that comes within this time.
const OUT_OF_ORDER_WINDOW: SignedDuration = SignedDuration::from_mins(10);

/// The latest an injected duplicate delivery follows the first, in seconds.
const DUPLICATE_DELIVERY_SECS: i64 = 60;

/// One delivery of an input line: the original, a redelivery after a 5xx, or an injected
/// duplicate or held-back delivery. Ordered by time, then by `order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Delivery {
    at: Timestamp,
    /// Input lines at the same time keep their file order; a held-back delivery sorts right
    /// after the line it waited for.
    order: (usize, u8),
    index: usize,
    /// 0 for the first delivery; then 1, 2, ... for redeliveries after a 5xx.
    attempt: usize,
    /// An injected copy or a held-back delivery (meets no further delivery faults).
    injected: bool,
}

/// The cart a webhook line is about (for grouping faults by cart), read without checking
/// its signature.
fn cart_of(input: &InputLine) -> Option<(String, String)> {
    let (shop, event) = parsed_event(input)?;
    let cart = event_cart(&event)?.to_string();
    Some((shop, cart))
}

fn event_cart(event: &cartback_core::model::cart::CartEvent) -> Option<&CartId> {
    match event {
        cartback_core::model::cart::CartEvent::Activity(activity) => Some(&activity.cart),
        cartback_core::model::cart::CartEvent::Conversion(conversion) => conversion.cart.as_ref(),
        cartback_core::model::cart::CartEvent::Privacy(_) => None,
    }
}

/// Which carts belong to the same person (by shop and email, else phone): a fault on one of
/// them can change what another gets (the frequency cap, a purchase). Kept in memory only.
pub fn people_of(events: &[InputLine]) -> HashMap<(String, String), String> {
    let mut people = HashMap::new();
    for input in events {
        let Some((shop, cartback_core::model::cart::CartEvent::Activity(activity))) =
            parsed_event(input)
        else {
            continue;
        };
        let snapshot = &activity.snapshot;
        let person = match (&snapshot.email, &snapshot.phone) {
            (Some(email), _) => email.as_str().to_owned(),
            (None, Some(phone)) => phone.as_str().to_owned(),
            (None, None) => continue,
        };
        people.insert(
            (shop.clone(), activity.cart.to_string()),
            format!("{shop} {person}"),
        );
    }
    people
}

/// A webhook line's event, read without checking its signature.
fn parsed_event(input: &InputLine) -> Option<(String, cartback_core::model::cart::CartEvent)> {
    let InputEvent::Webhook {
        shop,
        platform,
        topic,
        headers,
        body,
        api,
    } = &input.event
    else {
        return None;
    };
    // The headers the platform would send (signatures are not checked here).
    let request = webhook_request(
        &LocalShops::defaults(),
        shop,
        platform,
        topic,
        headers,
        body,
        input.at,
    );
    let parsed = cartback_core::platforms::webhook::parse_webhook(
        cartback_core::model::cart::Platform::parse(platform)?,
        &request.headers,
        body,
        &cartback_core::model::shop::SignatureCheck::Skipped,
        input.at,
    )
    .ok()?;
    // BigCommerce: the event is what the store API answers.
    let event = match (parsed.event, &parsed.fetch, api) {
        (Some(event), _, _) => event,
        (None, Some(fetch), Some(api)) => fetch.event(api).ok()?,
        _ => return None,
    };
    Some((shop.clone(), event))
}

/// For each webhook line, the index of the next webhook line about the same cart.
fn next_of_same_cart(events: &[InputLine]) -> Vec<Option<usize>> {
    let carts: Vec<Option<(String, String)>> = events.iter().map(cart_of).collect();
    let mut next = vec![None; events.len()];
    let mut last_seen: HashMap<&(String, String), usize> = HashMap::new();
    for (index, cart) in carts.iter().enumerate().rev() {
        if let Some(cart) = cart {
            next[index] = last_seen.get(cart).copied();
            last_seen.insert(cart, index);
        }
    }
    next
}

/// Runs the pipeline over `events` until `until` with faults injected as `plan` says
/// (`None`: none), telling `progress` what happens. Webhooks answered with a 5xx are
/// delivered again later, as the platforms do.
pub async fn run_with_faults(
    events: impl Into<Events>,
    shops: LocalShops,
    until: Option<Timestamp>,
    file: &str,
    plan: Option<FaultPlan>,
    progress: impl FnMut(Progress<'_>),
) -> Result<MemoryRuntime, InputError> {
    run_limited(
        events,
        shops,
        until,
        file,
        plan,
        RunOptions::default(),
        progress,
    )
    .await
}

/// What a run may do beyond the pipeline itself.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// SES refuses sends as these say (the account's send rate, an outage of the account).
    pub limits: Option<SendLimits>,
    /// Expired items are dropped from memory as DynamoDB's TTL deletes them, so that a long
    /// run holds only what the table would; the run's store then no longer lists every cart.
    pub forget_expired: bool,
}

/// As [`run_with_faults`], with the `options`.
pub async fn run_limited(
    events: impl Into<Events>,
    shops: LocalShops,
    until: Option<Timestamp>,
    file: &str,
    plan: Option<FaultPlan>,
    options: RunOptions,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<MemoryRuntime, InputError> {
    let RunOptions {
        limits,
        forget_expired,
    } = options;
    let events: Events = events.into();
    let (start, last) = events.span.unwrap_or_else(|| {
        let now = Timestamp::now();
        (now, now)
    });
    let until = until.unwrap_or_else(|| last.checked_add(DEFAULT_TAIL).unwrap_or(last));
    let stack = MemoryRuntime::with_faults(start, shops.clone(), plan.clone());
    if let Some(limits) = limits {
        stack.mailer.limit(limits, stack.clock.clone());
    }
    // Decisions are reported as they happen; keeping every MIME message (or every metric
    // object) as well would hold gigabytes for a large input.
    stack.mailer.forget_messages();
    stack.sms.forget_messages();
    stack.metrics.forget();
    if forget_expired {
        stack.store.forget_expired();
    }
    let runtime_error = |line: usize, e: RuntimeError| InputError {
        file: file.to_owned(),
        line,
        problem: LineError::Runtime(e),
    };
    let faults = stack.faults.clone();
    // Faults look ahead (a delivery held back waits for the cart's next webhook), so a run
    // with faults holds its input; one without reads it as it goes.
    let (lines, next_same_cart, times) = if plan.is_some() {
        let held = events.hold()?;
        let next = next_of_same_cart(&held);
        let times: Vec<Timestamp> = held.iter().map(|l| l.at).collect();
        let lines: Box<dyn Iterator<Item = Result<InputLine, InputError>>> =
            Box::new(held.into_iter().map(Ok));
        (lines, next, times)
    } else {
        (events.lines()?, Vec::new(), Vec::new())
    };
    // Each line in order, numbered by its place in time order; the queue holds the
    // deliveries still to come of lines already delivered once (redeliveries, injected
    // copies, held-back deliveries), and `waiting` those lines until their last delivery.
    let mut lines = lines.enumerate().peekable();
    let mut queue: BinaryHeap<Reverse<Delivery>> = BinaryHeap::new();
    let mut waiting: HashMap<usize, (InputLine, u32)> = HashMap::new();
    loop {
        if let Some((_, Err(e))) = lines.next_if(|(_, line)| line.is_err()) {
            return Err(e);
        }
        let next_line = match lines.peek() {
            Some((index, Ok(line))) => Some(Delivery {
                at: line.at,
                order: (*index, 0),
                index: *index,
                attempt: 0,
                injected: false,
            }),
            _ => None,
        };
        let from_queue = match (queue.peek(), next_line) {
            (Some(Reverse(queued)), Some(line)) => *queued < line,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let (delivery, input, mut pending) = if from_queue {
            let Some(Reverse(delivery)) = queue.pop() else {
                break;
            };
            let Some((input, pending)) = waiting.remove(&delivery.index) else {
                continue;
            };
            (delivery, input, pending.saturating_sub(1))
        } else {
            let (Some(delivery), Some((_, Ok(input)))) = (next_line, lines.next()) else {
                break;
            };
            (delivery, input, 0)
        };
        if delivery.at > until {
            break;
        }
        'deliver: {
            for report in stack
                .run_until(delivery.at)
                .await
                .map_err(|e| runtime_error(input.line, e))?
            {
                progress(Progress::Decision(&report));
            }
            match &input.event {
                InputEvent::Webhook {
                    shop,
                    platform,
                    topic,
                    headers,
                    body,
                    api,
                } => {
                    let first = delivery.attempt == 0 && !delivery.injected;
                    if first
                        && let Some(next) = next_same_cart.get(delivery.index).copied().flatten()
                        && times[next].duration_since(input.at) <= OUT_OF_ORDER_WINDOW
                        && faults.strikes("webhook_out_of_order")
                    {
                        // Held back until just after the cart's next webhook.
                        faults.delayed(shop, &cart_id_of(&input), delivery.at);
                        pending += 1;
                        queue.push(Reverse(Delivery {
                            at: times[next],
                            order: (next, 1),
                            injected: true,
                            ..delivery
                        }));
                        break 'deliver;
                    }
                    serve_store_api(&stack, shop, body, api.as_deref());
                    let request =
                        webhook_request(&shops, shop, platform, topic, headers, body, delivery.at);
                    let (reply, reports) = stack
                        .deliver(&request)
                        .await
                        .map_err(|e| runtime_error(input.line, e))?;
                    if let Err(refused) = &reply.0 {
                        let status = reply.status();
                        match REDELIVERY_DELAYS.get(delivery.attempt) {
                            Some(delay) if status >= 500 => {
                                faults.retried("webhook_redelivery");
                                faults.delayed(shop, &cart_id_of(&input), delivery.at);
                                pending += 1;
                                queue.push(Reverse(Delivery {
                                    at: delivery.at.checked_add(*delay).unwrap_or(delivery.at),
                                    attempt: delivery.attempt + 1,
                                    ..delivery
                                }));
                                break 'deliver;
                            }
                            _ => {
                                return Err(InputError {
                                    file: file.to_owned(),
                                    line: input.line,
                                    problem: LineError::Refused {
                                        status,
                                        refused: refused.clone(),
                                    },
                                });
                            }
                        }
                    }
                    progress(Progress::Webhook {
                        input: &input,
                        at: delivery.at,
                        reply: &reply,
                    });
                    for report in &reports {
                        progress(Progress::Decision(report));
                    }
                    if first && faults.strikes("webhook_duplicate") {
                        let after = faults.delay(1, DUPLICATE_DELIVERY_SECS);
                        pending += 1;
                        queue.push(Reverse(Delivery {
                            at: delivery.at.checked_add(after).unwrap_or(delivery.at),
                            injected: true,
                            ..delivery
                        }));
                    }
                }
                InputEvent::Recipient {
                    shop,
                    cart,
                    kind,
                    step,
                    channel,
                } => {
                    let event = RecipientEvent {
                        shop: shop.clone(),
                        cart: cart.clone(),
                        step: step.and_then(|s| s.checked_sub(1)),
                        action: match kind {
                            RecipientKind::Open => Action::Open,
                            RecipientKind::Click => Action::Click,
                            RecipientKind::Bounce => Action::Bounce,
                            RecipientKind::Complaint => Action::Complaint,
                            RecipientKind::Unsubscribe => Action::Unsubscribe(*channel),
                        },
                        at: input.at,
                        address: None,
                    };
                    stack
                        .recipient_event(&event)
                        .await
                        .map_err(|e| runtime_error(input.line, e))?;
                    progress(Progress::Recipient { input: &input });
                }
                InputEvent::Erase { shop, subject } => {
                    let reports = stack
                        .erase(shop, &subject.keys())
                        .await
                        .map_err(|e| runtime_error(input.line, e))?;
                    for report in &reports {
                        progress(Progress::Decision(report));
                    }
                }
            }
        }
        if pending > 0 {
            waiting.insert(delivery.index, (input, pending));
        }
    }
    for report in stack
        .run_until(until)
        .await
        .map_err(|e| runtime_error(0, e))?
    {
        progress(Progress::Decision(&report));
    }
    Ok(stack)
}

/// Before a BigCommerce line is delivered, the in-memory store API is told what to answer
/// for the cart or order it names (the line's `api`).
fn serve_store_api(stack: &MemoryRuntime, shop: &str, body: &[u8], api: Option<&[u8]>) {
    let Some(api) = api else {
        return;
    };
    let Ok(shop) = ShopId::parse(shop) else {
        return;
    };
    if let Ok(cartback_core::platforms::webhook::ParsedWebhook {
        fetch: Some(fetch), ..
    }) = cartback_core::platforms::bigcommerce::parse(body)
    {
        stack.store_api.serve(&shop, &fetch, api);
    }
}

/// The cart id of a webhook line, or empty when it names none.
fn cart_id_of(input: &InputLine) -> String {
    cart_of(input).map(|(_, cart)| cart).unwrap_or_default()
}

//! `cartback simulate`: JSON lines of webhooks and recipient events in, the decisions the
//! real pipeline makes on a virtual clock out (one JSON object per line, in time order).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use cartback_core::experiment::HoldoutShare;
use cartback_core::ids::{CartId, PoolName, ShopId};
use cartback_core::offer_codes::OfferCode;
use cartback_core::sequence::Channel;
use cartback_core::sequence::Sequence;
use cartback_core::shop::{Secret, ShopSettings};
use cartback_core::webhook::Headers;
use cartback_feedback::{Action, RecipientEvent};
use cartback_local::{LocalShops, LocalStack, Report};
use cartback_webhook::WebhookRequest;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::Value;

/// How long the clock runs past the last input by default.
pub const DEFAULT_TAIL: SignedDuration = SignedDuration::from_hours(24 * 30);

/// A bad input line: which, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct InputError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone)]
pub enum InputEvent {
    Webhook {
        shop: String,
        platform: String,
        topic: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Recipient {
        shop: ShopId,
        cart: CartId,
        kind: RecipientKind,
        /// 1-based, as in the output.
        step: Option<u32>,
        channel: Channel,
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

/// Parses the events file; every error names the line.
pub fn parse_events(file: &str, source: &str) -> Result<Vec<InputLine>, InputError> {
    let mut lines = Vec::new();
    for (index, text) in source.lines().enumerate() {
        let line = index + 1;
        let error = |message: String| InputError {
            file: file.to_owned(),
            line,
            message,
        };
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') || text.starts_with("//") {
            continue;
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| error(format!("not JSON: {e}")))?;
        let parsed = if value.get("event").is_some() {
            let r: RecipientLine = serde_json::from_value(value).map_err(|e| {
                error(format!(
                    "recipient event: {e} (expected at, shop, event, cart, step)"
                ))
            })?;
            let kind = match r.event.as_str() {
                "open" => RecipientKind::Open,
                "click" => RecipientKind::Click,
                "bounce" => RecipientKind::Bounce,
                "complaint" => RecipientKind::Complaint,
                "unsubscribe" => RecipientKind::Unsubscribe,
                other => {
                    return Err(error(format!(
                        "unknown event `{other}`: use open, click, bounce, complaint or unsubscribe"
                    )));
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
            let w: WebhookLine = serde_json::from_value(value).map_err(|e| {
                error(format!(
                    "webhook: {e} (expected at, shop, platform, topic, payload)"
                ))
            })?;
            let body = serde_json::to_vec(&w.payload).map_err(|e| error(e.to_string()))?;
            InputLine {
                line,
                at: w.at,
                event: InputEvent::Webhook {
                    shop: w.shop,
                    platform: w.platform,
                    topic: w.topic,
                    headers: w.headers.into_iter().collect(),
                    body,
                },
            }
        };
        lines.push(parsed);
    }
    // Deliveries happen in time order; lines at the same time keep their file order.
    lines.sort_by_key(|l| l.at);
    Ok(lines)
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
pub fn parse_shops(file: &Path, source: &str) -> Result<LocalShops, String> {
    let parsed: ShopsFile = toml::from_str(source).map_err(|e| {
        let line = e.span().map_or(0, |span| {
            source[..span.start.min(source.len())].matches('\n').count() + 1
        });
        format!("{}:{line}: {}", file.display(), e.message())
    })?;
    let mut shops = LocalShops::defaults();
    let line_of = |offset: usize| source[..offset.min(source.len())].matches('\n').count() + 1;
    for (id, mut entry) in parsed.shops {
        let id = ShopId::parse(id.as_str())
            .map_err(|e| format!("{}: shop `{id}`: {e}", file.display()))?;
        if let Some(holdout) = &entry.holdout {
            entry.settings.holdout = HoldoutShare::new(*holdout.get_ref()).map_err(|e| {
                format!(
                    "{}:{}: shop `{id}`: {e}",
                    file.display(),
                    line_of(holdout.span().start)
                )
            })?;
        }
        if let Err(e) = cartback_core::shop::Shop::new(id.clone(), entry.settings.clone()) {
            return Err(format!("{}: shop `{id}`: {e}", file.display()));
        }
        if let Some(secret) = entry.webhook_secret {
            shops = shops.with_secret(id.clone(), Secret::new(secret));
        }
        for (pool, codes) in entry.offer_pools {
            let where_ = format!("{}: shop `{id}`: offer_pools.{pool}", file.display());
            let name = PoolName::parse(pool.as_str()).map_err(|e| format!("{where_}: {e}"))?;
            let codes = codes
                .into_iter()
                .enumerate()
                .map(|(index, code)| {
                    OfferCode::parse(code.as_str())
                        .map_err(|e| format!("{where_}: code {} `{code}`: {e}", index + 1))
                })
                .collect::<Result<Vec<_>, _>>()?;
            shops = shops.with_offer_pool(id.clone(), name, codes);
        }
        shops = shops.with_settings(id, entry.settings);
    }
    Ok(shops)
}

/// Reads an events file with its optional `--sequence` and `--shops` files: the input lines,
/// the shops they run on, and the events file's name for errors.
pub fn load(
    events: &Path,
    sequence: Option<&Path>,
    shops: Option<&Path>,
) -> Result<(Vec<InputLine>, LocalShops, String), String> {
    let read =
        |path: &Path| std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()));
    let file = events.display().to_string();
    let lines = parse_events(&file, &read(events)?).map_err(|e| e.to_string())?;
    let mut local_shops = match shops {
        Some(path) => parse_shops(path, &read(path)?)?,
        None => LocalShops::defaults(),
    };
    if let Some(path) = sequence {
        let toml = read(path)?;
        check_sequence(path, &toml)?;
        local_shops = with_sequence(local_shops, &lines, &toml);
    }
    Ok((lines, local_shops, file))
}

/// Applies `--sequence` to every shop named in the input.
pub fn with_sequence(
    mut shops: LocalShops,
    events: &[InputLine],
    sequence_toml: &str,
) -> LocalShops {
    let ids: BTreeSet<String> = events
        .iter()
        .map(|l| match &l.event {
            InputEvent::Webhook { shop, .. } => shop.clone(),
            InputEvent::Recipient { shop, .. } => shop.to_string(),
        })
        .collect();
    for id in ids {
        if let Ok(id) = ShopId::parse(id) {
            let mut settings = shops.settings_of(&id);
            settings.sequence_toml = Some(sequence_toml.to_owned());
            shops = shops.with_settings(id, settings);
        }
    }
    shops
}

/// Checks a sequence file before the run, so its errors name the file.
pub fn check_sequence(file: &Path, source: &str) -> Result<Sequence, String> {
    Sequence::parse(&file.display().to_string(), source).map_err(|e| e.to_string())
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
            cartback_core::generic::SIGNATURE_HEADER,
            cartback_core::generic::sign(&secret, body, at),
        );
    }
    if platform == "shopify" {
        all.insert(cartback_core::shopify::TOPIC_HEADER, topic);
        if let Some(secret) = ShopId::parse(shop).ok().and_then(|id| shops.secret_of(&id)) {
            all.insert(
                cartback_core::shopify::HMAC_HEADER,
                cartback_core::shopify::sign(&secret, body),
            );
        }
    }
    if platform == "woocommerce" {
        use cartback_core::woocommerce;
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
    /// A webhook was delivered and answered.
    Webhook {
        input: &'a InputLine,
        reply: &'a cartback_webhook::WebhookReply,
    },
    /// A recipient event was applied.
    Recipient { input: &'a InputLine },
}

/// Runs the pipeline over `events` until `until`, telling `progress` what happens.
pub async fn run(
    events: &[InputLine],
    shops: LocalShops,
    until: Option<Timestamp>,
    file: &str,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<LocalStack, InputError> {
    let start = events.first().map_or_else(Timestamp::now, |l| l.at);
    let last = events.last().map_or(start, |l| l.at);
    let until = until.unwrap_or_else(|| last.checked_add(DEFAULT_TAIL).unwrap_or(last));
    let stack = LocalStack::new(start, shops.clone());
    // Decisions are reported as they happen; keeping every MIME message as well would hold
    // gigabytes for a large input.
    stack.mailer.forget_messages();
    let runtime_error = |line: usize, e: &dyn std::fmt::Display| InputError {
        file: file.to_owned(),
        line,
        message: format!("local runtime failed: {e}"),
    };
    for input in events {
        if input.at > until {
            break;
        }
        for report in stack
            .run_until(input.at)
            .await
            .map_err(|e| runtime_error(input.line, &e))?
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
            } => {
                let request =
                    webhook_request(&shops, shop, platform, topic, headers, body, input.at);
                let (reply, reports) = stack
                    .deliver(&request)
                    .await
                    .map_err(|e| runtime_error(input.line, &e))?;
                if let Err(refused) = &reply.0 {
                    return Err(InputError {
                        file: file.to_owned(),
                        line: input.line,
                        message: format!("webhook refused with {}: {refused}", reply.status()),
                    });
                }
                progress(Progress::Webhook {
                    input,
                    reply: &reply,
                });
                for report in &reports {
                    progress(Progress::Decision(report));
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
                    .map_err(|e| runtime_error(input.line, &e))?;
                progress(Progress::Recipient { input });
            }
        }
    }
    for report in stack
        .run_until(until)
        .await
        .map_err(|e| runtime_error(0, &e))?
    {
        progress(Progress::Decision(&report));
    }
    Ok(stack)
}

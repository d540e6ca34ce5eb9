//! The outbox's buttons: what a recipient or the shop would do, delivered to the real
//! functions the way AWS and Shopify deliver it — SES events through SNS to the feedback
//! function, a one-click unsubscribe to the unsubscribe function, an `orders/create` webhook
//! signed with the shop's secret to the webhook function.

use cartback_core::messages::unsubscribe::{UnsubscribeClaim, expiry_for, issue};
use cartback_core::model::cart::CartRecord;
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::model::sequence::Channel;
use cartback_core::model::shop::SignatureCheck;
use cartback_core::model::time::Clock;
use cartback_core::platforms::ses_event::PROXY_OPEN_WINDOW;
use cartback_core::ports::{CartStore, PortError, WebhookSecrets};
use cartback_devstack::DevStackError;
use cartback_devstack::apigw::HttpCall;
use cartback_devstack::events::SesEventOf;
use jiff::Timestamp;
use serde_json::json;

use super::App;

const OPEN: &str = include_str!("../../../core/tests/fixtures/ses/open_later.json");
const CLICK: &str = include_str!("../../../core/tests/fixtures/ses/click.json");
const BOUNCE: &str = include_str!("../../../core/tests/fixtures/ses/bounce_permanent.json");
const COMPLAINT: &str = include_str!("../../../core/tests/fixtures/ses/complaint.json");
const ORDER: &str = include_str!("../../../core/tests/fixtures/shopify/orders_create.json");

/// A button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Open,
    Click,
    Bounce,
    Complaint,
    Unsubscribe,
    Purchase,
}

impl Action {
    pub const ALL: [Self; 6] = [
        Self::Open,
        Self::Click,
        Self::Bounce,
        Self::Complaint,
        Self::Unsubscribe,
        Self::Purchase,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Click => "click",
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
            Self::Unsubscribe => "unsubscribe",
            Self::Purchase => "purchase",
        }
    }

    /// Whether the action is about an email the cart was sent.
    pub fn needs_email(self) -> bool {
        matches!(
            self,
            Self::Open | Self::Click | Self::Bounce | Self::Complaint
        )
    }
}

/// Why a button did nothing (shown on the outbox and the terminal after the action's name).
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The table or the secrets could not be read.
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Stack(#[from] DevStackError),
    #[error("no such cart (erased?)")]
    NoCart,
    #[error("no email was sent for this cart yet")]
    NoEmailSent,
    #[error("the cart has no email address")]
    NoEmailAddress,
    #[error("shop {shop} has no webhook secret")]
    NoSecret { shop: ShopId },
    #[error("order fixture: {0}")]
    OrderFixture(#[source] serde_json::Error),
    /// The order could not be written as JSON.
    #[error(transparent)]
    Json(serde_json::Error),
}

/// What an action did, for the journal: for the page, and for the terminal.
pub struct Done {
    pub text: String,
    pub console: String,
}

fn done(text: String) -> Done {
    Done {
        console: text.clone(),
        text,
    }
}

/// Applies `action` to the cart.
pub async fn apply(
    app: &App,
    shop: &ShopId,
    cart: &CartId,
    action: Action,
) -> Result<Done, ActionError> {
    let store = app.stack.store();
    let record = store
        .cart(shop, cart)
        .await?
        .ok_or(ActionError::NoCart)?
        .value;
    match action {
        Action::Open => ses(app, &record, OPEN, "open").await,
        Action::Click => ses(app, &record, CLICK, "click").await,
        Action::Bounce => ses(app, &record, BOUNCE, "hard bounce").await,
        Action::Complaint => ses(app, &record, COMPLAINT, "complaint").await,
        Action::Unsubscribe => unsubscribe(app, &record).await,
        Action::Purchase => purchase(app, &record).await,
    }
}

/// An SES event about the cart's latest email, through SNS to the feedback function.
async fn ses(app: &App, cart: &CartRecord, fixture: &str, what: &str) -> Result<Done, ActionError> {
    let sent = cart
        .sent
        .iter()
        .rev()
        .find(|s| s.is_sent() && s.channel == Channel::Email)
        .ok_or(ActionError::NoEmailSent)?;
    let to = cart
        .snapshot
        .as_ref()
        .and_then(|s| s.email.as_ref())
        .ok_or(ActionError::NoEmailAddress)?;
    let now = app.stack.clock.now();
    let event = cartback_devstack::events::ses_event(
        fixture,
        &SesEventOf {
            message_id: &sent.message_id,
            to: to.as_str(),
            sent_at: sent.sent_at,
            happened_at: now,
            tags: Some((cart.shop.as_str(), cart.cart.as_str(), sent.step + 1)),
        },
    )?;
    let handled = app.stack.post_ses_events(&[event]).await?;
    let step = sent.step + 1;
    let outcome = if handled.changed > 0 {
        "recorded".to_owned()
    } else if what == "open"
        && sent
            .sent_at
            .checked_add(PROXY_OPEN_WINDOW)
            .is_ok_and(|proxy_until| now < proxy_until)
    {
        "ignored: an open within a minute of sending is a mail privacy proxy fetching images"
            .to_owned()
    } else {
        "nothing changed (already known)".to_owned()
    };
    Ok(done(format!(
        "{what} of step {step} (SES event through SNS to the feedback function): {outcome}"
    )))
}

/// The one-click unsubscribe of the cart's emails (or SMS, when it has no email address).
async fn unsubscribe(app: &App, cart: &CartRecord) -> Result<Done, ActionError> {
    let channel = if cart.snapshot.as_ref().is_some_and(|s| s.email.is_some()) {
        Channel::Email
    } else {
        Channel::Sms
    };
    let now = app.stack.clock.now();
    let token = issue(
        app.stack.unsubscribe_secret(),
        &UnsubscribeClaim {
            shop: cart.shop.clone(),
            cart: cart.cart.clone(),
            channel,
            contact: cart.snapshot.as_ref().and_then(|s| match channel {
                Channel::Email => s.email.as_ref().map(|e| e.key()),
                Channel::Sms => s.phone.as_ref().map(|p| p.key()),
            }),
        },
        expiry_for(now),
    );
    let query = format!("t={token}");
    let reply = app
        .stack
        .call_unsubscribe(&HttpCall {
            method: "POST",
            route: "/unsubscribe",
            path: "/unsubscribe",
            query: &query,
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: b"List-Unsubscribe=One-Click",
            domain: &app.host,
            source_ip: "127.0.0.1",
            ..HttpCall::default()
        })
        .await?;
    Ok(done(format!(
        "one-click unsubscribe ({}) to the unsubscribe function: {}",
        channel.as_str(),
        reply.status
    )))
}

/// The cart bought: Shopify's `orders/create` for its checkout, signed with the shop's
/// secret, to the webhook function.
async fn purchase(app: &App, cart: &CartRecord) -> Result<Done, ActionError> {
    let now = app.stack.clock.now();
    let body = order_body(cart, now)?;
    let secrets =
        cartback_aws::SsmWebhookSecrets::new(&app.stack.sdk, &app.stack.names.secrets_prefix);
    let secret = match secrets.webhook_check(&cart.shop).await? {
        Some(SignatureCheck::Required(secret)) => secret,
        _ => {
            return Err(ActionError::NoSecret {
                shop: cart.shop.clone(),
            });
        }
    };
    let hmac = cartback_core::platforms::shopify::sign(&secret, body.as_bytes());
    let path = format!("/webhooks/{}/shopify", cart.shop);
    let reply = app
        .stack
        .call_webhook(&HttpCall {
            method: "POST",
            route: "/webhooks/{shop}/{platform}",
            path: &path,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-shopify-topic".into(), "orders/create".into()),
                ("x-shopify-hmac-sha256".into(), hmac),
                (
                    "x-shopify-webhook-id".into(),
                    format!("dev-order-{}", now.as_millisecond()),
                ),
                ("x-shopify-shop-domain".into(), cart.shop.to_string()),
            ],
            path_parameters: vec![
                ("shop", cart.shop.to_string()),
                ("platform", "shopify".to_owned()),
            ],
            body: body.as_bytes(),
            domain: &app.host,
            source_ip: "127.0.0.1",
            ..HttpCall::default()
        })
        .await?;
    let answer: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    let result = answer["result"]
        .as_str()
        .or_else(|| answer["error"].as_str())
        .unwrap_or("?");
    Ok(done(format!(
        "purchase: a signed orders/create to the webhook function → {} {result}",
        reply.status
    )))
}

/// Shopify's order for the cart's checkout, placed at `now`.
fn order_body(cart: &CartRecord, now: Timestamp) -> Result<String, ActionError> {
    let mut order: serde_json::Value =
        serde_json::from_str(ORDER).map_err(ActionError::OrderFixture)?;
    let snapshot = cart.snapshot.as_ref();
    let email = snapshot.and_then(|s| s.email.as_ref()).map(|e| e.as_str());
    let phone = snapshot.and_then(|s| s.phone.as_ref()).map(|p| p.as_str());
    let stamp = json!(now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    order["id"] = json!(now.as_millisecond());
    order["checkout_token"] = json!(cart.cart.as_str());
    order["email"] = json!(email);
    order["contact_email"] = json!(email);
    order["phone"] = json!(phone);
    order["customer"]["email"] = json!(email);
    order["customer"]["phone"] = json!(phone);
    order["created_at"] = stamp.clone();
    order["processed_at"] = stamp.clone();
    order["updated_at"] = stamp;
    if let Some(total) = snapshot.map(|s| s.total) {
        order["total_price"] = json!(total.to_decimal().to_string());
        order["currency"] = json!(total.currency.code());
        order["presentment_currency"] = json!(total.currency.code());
        if let Some(map) = order.as_object_mut() {
            map.remove("total_price_set");
        }
    }
    serde_json::to_string(&order).map_err(ActionError::Json)
}

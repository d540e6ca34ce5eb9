//! `cartback explain`: where one cart stands, what was sent and why, and the next decision —
//! on a deployed table (`--table`, the AWS environment as usual) or on the running
//! `cartback dev` (`--local`, its moto and its clock).

use std::fmt::Write as _;

use cartback_aws::{DynamoCartStore, DynamoShopDirectory};
use cartback_core::insight::explain::{Explanation, StepStatus, short_time};
use cartback_core::model::ids::{CartId, IdError, ShopId};
use jiff::Timestamp;
use serde::Deserialize;

use crate::codes::TABLE_ENV;

/// Why a cart could not be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("pass --local (ask the running `cartback dev`) or --table NAME (or {TABLE_ENV})")]
    NoSource,
    #[error("--shop `{shop}`: {source}")]
    Shop { shop: String, source: IdError },
    #[error("--cart `{cart}`: {source}")]
    Cart { cart: String, source: IdError },
    #[error(transparent)]
    Dev(#[from] DevStateError),
    #[error("table {table}: {source}")]
    Table {
        table: String,
        source: cartback_app::explain::ExplainError,
    },
}

/// Why the running `cartback dev` could not say where its stack is.
#[derive(Debug, thiserror::Error)]
pub enum DevStateError {
    #[error("no `cartback dev` answers on port {port} ({source}): start it, or pass --port")]
    NotRunning { port: u16, source: reqwest::Error },
    #[error("{url}: {source}")]
    Answer { url: String, source: reqwest::Error },
}

/// Where the cart lives.
pub enum Source {
    /// A deployed table (credentials, region and `AWS_ENDPOINT_URL` from the environment).
    Table(String),
    /// The `cartback dev` listening on this port.
    Local(u16),
}

/// What a running `cartback dev` says about itself (`GET /dev/state`).
#[derive(Debug, Deserialize)]
pub struct DevState {
    pub moto_endpoint: String,
    pub region: String,
    pub table: String,
    /// Where the shops' webhook secrets live in its SSM.
    #[serde(default = "default_secrets_prefix")]
    pub secrets_prefix: String,
    /// The dev stack's clock (it may run faster than the wall clock).
    pub now: Timestamp,
}

fn default_secrets_prefix() -> String {
    "/cartback/shops/".to_owned()
}

/// Explains the cart; `at` overrides the time (default: now, or the dev stack's clock).
pub async fn run(
    shop: &str,
    cart: &str,
    source: Source,
    at: Option<Timestamp>,
) -> Result<Explanation, ExplainError> {
    let shop = ShopId::parse(shop).map_err(|source| ExplainError::Shop {
        shop: shop.to_owned(),
        source,
    })?;
    let cart = CartId::parse(cart).map_err(|source| ExplainError::Cart {
        cart: cart.to_owned(),
        source,
    })?;
    let (sdk, table, now) = match source {
        Source::Table(table) => (
            cartback_aws::load_sdk_config().await,
            table,
            Timestamp::now(),
        ),
        Source::Local(port) => {
            let state = dev_state(port).await?;
            let sdk = cartback_devstack::sdk_config(&state.moto_endpoint, &state.region).await;
            (sdk, state.table, state.now)
        }
    };
    let store = DynamoCartStore::new(&sdk, &table);
    let shops = DynamoShopDirectory::new(&sdk, &table);
    match cartback_app::explain::explain_cart(&store, &shops, &shop, &cart, at.unwrap_or(now)).await
    {
        Ok(explanation) => Ok(explanation),
        Err(source) => Err(ExplainError::Table { table, source }),
    }
}

pub(crate) async fn dev_state(port: u16) -> Result<DevState, DevStateError> {
    let url = format!("http://127.0.0.1:{port}/dev/state");
    let not_running = |source| DevStateError::NotRunning { port, source };
    let response = reqwest::get(&url)
        .await
        .map_err(not_running)?
        .error_for_status()
        .map_err(not_running)?;
    response
        .json()
        .await
        .map_err(|source| DevStateError::Answer { url, source })
}

/// The explanation for a terminal.
pub fn text(e: &Explanation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} / {}", e.shop, e.cart);
    let _ = writeln!(out, "  state     {}: {}", e.state.as_str(), e.summary);
    if let Some(sequence) = &e.sequence {
        let _ = writeln!(
            out,
            "  sequence  {sequence} (engagement so far: {})",
            e.engagement.unwrap_or("none")
        );
    }
    match e.arm {
        Some("holdout") => {
            let _ = writeln!(
                out,
                "  arm       holdout: this cart gets no messages; its conversion counts as the baseline of `cartback report`"
            );
        }
        Some(arm) => {
            let _ = writeln!(out, "  arm       {arm}");
        }
        None => {}
    }
    if let Some(last) = e.last_activity_at {
        let _ = writeln!(out, "  activity  last {}", short_time(last));
    }
    if let Some(reach) = &e.reach {
        let email = match (reach.email, reach.email_consent) {
            (false, _) => "no email",
            (true, true) => "email (marketing consent)",
            (true, false) => "email (no marketing consent)",
        };
        let phone = match (reach.phone, reach.sms_consent) {
            (false, _) => "no phone",
            (true, true) => "phone (SMS consent)",
            (true, false) => "phone (no SMS consent)",
        };
        let _ = writeln!(out, "  reach     {email}, {phone}");
    }
    for s in &e.suppressed {
        let _ = writeln!(
            out,
            "  blocked   {} {} at {}",
            s.channel,
            s.reason,
            short_time(s.at)
        );
    }
    if let Some(at) = e.converted_at {
        let order = e.order_id.as_deref().unwrap_or("?");
        let total = e.order_total.as_deref().unwrap_or("?");
        let credit = if e.recovered { ", recovered" } else { "" };
        let _ = writeln!(
            out,
            "  bought    {} (order {order}, {total}{credit})",
            short_time(at)
        );
    }
    if !e.steps.is_empty() {
        let _ = writeln!(out, "  steps");
    }
    for s in &e.steps {
        let what = match s.status {
            StepStatus::Sent | StepStatus::Skipped => {
                let mut done = format!(
                    "{} by {} {}",
                    s.status.as_str(),
                    s.channel.unwrap_or("?"),
                    s.at.map(short_time).unwrap_or_default()
                );
                if let Some(reason) = &s.reason {
                    let _ = write!(done, ": {reason}");
                }
                if s.confirmed == Some(false) {
                    let _ = write!(
                        done,
                        " (unconfirmed: the service gave no answer, so it may have gone; never sent again)"
                    );
                }
                if let Some(opened) = s.opened_at {
                    let _ = write!(done, ", opened {}", short_time(opened));
                }
                if let Some(clicked) = s.clicked_at {
                    let _ = write!(done, ", clicked {}", short_time(clicked));
                }
                if let Some(variant) = &s.variant {
                    let _ = write!(done, " (variant {variant})");
                }
                done
            }
            other => match &s.variant {
                Some(variant) => format!("{} ({}; variant {variant})", other.as_str(), s.timing),
                None => format!("{} ({})", other.as_str(), s.timing),
            },
        };
        let _ = writeln!(
            out,
            "    {} {:<9} {:<13} {what}",
            s.step, s.template, s.wants
        );
    }
    match &e.next {
        Some(next) => {
            let channel = next.channel.map(|c| format!(" by {c}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  next      {} step {}{channel} at {}: {}",
                next.decision,
                next.step,
                short_time(next.at),
                next.reason
            );
        }
        None => {
            let _ = writeln!(out, "  next      nothing: no more messages for this cart");
        }
    }
    if let Some(wake) = e.wake_up_at {
        let why = if e.next.is_some() {
            "the scheduled wake-up; an open or click that picks another branch moves it"
        } else {
            "still scheduled: the sender wakes then, sends nothing and stops the cart"
        };
        let _ = writeln!(out, "  wake-up   {} ({why})", short_time(wake));
    }
    out
}

//! A shop's webhooks as its platform lists them, and whether each topic cartback needs is
//! registered, active and pointing at this stack.
//!
//! Readable where the settings name the store and SSM holds a token: Shopify
//! (`shopify_store`, the Admin API token `shop connect shopify` stored; GraphQL
//! `webhookSubscriptions`) and BigCommerce (`bigcommerce_store_hash`, the API token;
//! `GET /stores/{hash}/v3/hooks`). WooCommerce and the generic API have no such API
//! access here: their webhooks are a note to check by hand.

use std::time::Duration;

use cartback_aws::{ApiTokens, PlatformToken, SsmApiTokens};
use cartback_core::model::ids::ShopId;
use cartback_core::model::shop::ShopSettings;
use serde_json::Value;

use super::{Check, Read, said};
use crate::shop::shopify_connect::{AdminApi, DEFAULT_API_VERSION, TOPICS};

/// The topics of BigCommerce's that cartback acts on.
const BIGCOMMERCE_SCOPES: [&str; 2] = ["store/cart/abandoned", "store/cart/converted"];
const TIMEOUT: Duration = Duration::from_secs(15);

/// A platform whose webhooks doctor can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Shopify,
    BigCommerce,
}

impl Platform {
    /// Its name in the webhook URL (`/webhooks/<shop>/<this>`).
    pub const fn path(self) -> &'static str {
        match self {
            Self::Shopify => "shopify",
            Self::BigCommerce => "bigcommerce",
        }
    }

    /// The topics cartback needs, as the platform's API names them.
    pub fn topics(self) -> Vec<&'static str> {
        match self {
            Self::Shopify => TOPICS.iter().map(|(api, _)| *api).collect(),
            Self::BigCommerce => BIGCOMMERCE_SCOPES.to_vec(),
        }
    }
}

/// One webhook the platform lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub topic: String,
    pub destination: String,
    pub active: bool,
}

/// What the platform lists, and where the hooks must point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    pub platform: Platform,
    pub callback: String,
    pub hooks: Vec<Hook>,
}

/// What could be learnt of a shop's webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Webhooks {
    /// The settings name no store doctor can ask (WooCommerce, the generic API).
    Unknown,
    /// No webhook base to compare with (no --webhook-base, stack output or variable).
    NoBase {
        platform: Platform,
    },
    /// No API token stored to read them with.
    NoToken {
        platform: Platform,
        store: String,
    },
    Read(Read<Registered>),
}

/// Where the platforms' APIs are (tests point them at a mock).
#[derive(Debug, Clone)]
pub struct Origins {
    /// `https://<store>` unless set.
    pub shopify: Option<String>,
    pub bigcommerce: String,
}

/// `<base><shop>/<platform>`.
pub fn callback(base: &str, shop: &str, platform: Platform) -> String {
    let base = base.trim();
    let slash = if base.ends_with('/') { "" } else { "/" };
    format!("{base}{slash}{shop}/{}", platform.path())
}

/// Reads the shop's webhooks from its platform.
pub async fn read(
    sdk: &aws_config::SdkConfig,
    secrets_prefix: &str,
    shop: &ShopId,
    settings: &ShopSettings,
    base: Option<&str>,
    origins: &Origins,
) -> Webhooks {
    let (platform, store) = match (&settings.shopify_store, &settings.bigcommerce_store_hash) {
        (Some(store), _) => (Platform::Shopify, store.as_str().to_owned()),
        (None, Some(hash)) => (Platform::BigCommerce, hash.as_str().to_owned()),
        (None, None) => return Webhooks::Unknown,
    };
    let Some(base) = base else {
        return Webhooks::NoBase { platform };
    };
    let token_kind = match platform {
        Platform::Shopify => PlatformToken::Shopify,
        Platform::BigCommerce => PlatformToken::BigCommerce,
    };
    let tokens = SsmApiTokens::for_platform(sdk, secrets_prefix, token_kind);
    let token = match tokens.token(shop).await {
        Ok(Some(token)) => token,
        Ok(None) => return Webhooks::NoToken { platform, store },
        Err(e) => return Webhooks::Read(Err(e.to_string())),
    };
    let Ok(token) = std::str::from_utf8(token.expose()).map(str::to_owned) else {
        return Webhooks::Read(Err("the stored token is not text".to_owned()));
    };
    let hooks = match platform {
        Platform::Shopify => shopify_hooks(&store, token, origins).await,
        Platform::BigCommerce => bigcommerce_hooks(&store, &token, origins).await,
    };
    Webhooks::Read(hooks.map(|hooks| Registered {
        platform,
        callback: callback(base, shop.as_str(), platform),
        hooks,
    }))
}

async fn shopify_hooks(store: &str, token: String, origins: &Origins) -> Read<Vec<Hook>> {
    let origin = origins
        .shopify
        .clone()
        .unwrap_or_else(|| format!("https://{store}"));
    let admin = AdminApi::new(
        &origin,
        DEFAULT_API_VERSION,
        token,
        Duration::from_millis(500),
    )
    .map_err(said)?;
    let subscriptions = admin.subscriptions().await.map_err(said)?;
    // Shopify lists only active subscriptions; it deletes one after 19 days of failures.
    Ok(subscriptions
        .into_iter()
        .map(|(topic, destination, _)| Hook {
            topic,
            destination,
            active: true,
        })
        .collect())
}

async fn bigcommerce_hooks(hash: &str, token: &str, origins: &Origins) -> Read<Vec<Hook>> {
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(said)?;
    let url = format!(
        "{}/stores/{hash}/v3/hooks?limit=250",
        origins.bigcommerce.trim_end_matches('/')
    );
    let response = http
        .get(url)
        .header("X-Auth-Token", token)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| {
            format!(
                "no answer from the BigCommerce API: {}",
                said(e.without_url())
            )
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(match status.as_u16() {
            401 | 403 => format!(
                "the BigCommerce API refused the token ({status}): it needs a scope that may \
                 read /v3/hooks"
            ),
            _ => format!("the BigCommerce API answered {status}"),
        });
    }
    let answer: Value = response.json().await.map_err(|e| {
        format!(
            "the BigCommerce API's answer is not JSON: {}",
            said(e.without_url())
        )
    })?;
    Ok(answer["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|hook| {
            Some(Hook {
                topic: hook["scope"].as_str()?.to_owned(),
                destination: hook["destination"].as_str()?.to_owned(),
                active: hook["is_active"].as_bool().unwrap_or(false),
            })
        })
        .collect())
}

/// One check of a shop's webhooks.
pub fn judge(shop: &str, webhooks: &Webhooks, could_not: impl Fn(&str, &str) -> Check) -> Check {
    let name = format!("shop {shop} webhooks");
    let registered = match webhooks {
        Webhooks::Unknown => {
            return Check::note(
                name,
                "not read: the settings name no `shopify_store` or `bigcommerce_store_hash`",
                format!(
                    "Shopify: add `shopify_store` to the settings; WooCommerce: check by hand \
                     that WooCommerce › Settings › Advanced › Webhooks lists Order created and \
                     Order updated to <WebhookBaseUrl>{shop}/woocommerce"
                ),
            );
        }
        Webhooks::NoBase { platform } => {
            return Check::warn(
                name,
                format!(
                    "not read: where the {} webhooks must point is unknown",
                    platform.path()
                ),
                "pass --webhook-base (the stack's WebhookBaseUrl output), --stack NAME or set \
                 CARTBACK_WEBHOOK_BASE",
            );
        }
        Webhooks::NoToken {
            platform: Platform::Shopify,
            store,
        } => {
            return Check::warn(
                name,
                "not read: no Shopify Admin API token stored",
                format!(
                    "cartback shop connect shopify --shop {shop} --store {store} --token-file \
                     <file> (subscribes what is missing and stores the token)"
                ),
            );
        }
        Webhooks::NoToken {
            platform: Platform::BigCommerce,
            ..
        } => {
            return Check::warn(
                name,
                "not read: no BigCommerce API token stored",
                "store the API account's token (docs/deploy.md, BigCommerce)",
            );
        }
        Webhooks::Read(Err(error)) => return could_not(&name, error),
        Webhooks::Read(Ok(registered)) => registered,
    };
    let mut missing = Vec::new();
    let mut inactive = Vec::new();
    let mut elsewhere = Vec::new();
    for topic in registered.platform.topics() {
        let ours: Vec<&Hook> = registered
            .hooks
            .iter()
            .filter(|h| h.topic == topic && h.destination == registered.callback)
            .collect();
        if ours.iter().any(|h| h.active) {
            continue;
        }
        if !ours.is_empty() {
            inactive.push(topic);
            continue;
        }
        missing.push(topic);
        elsewhere.extend(
            registered
                .hooks
                .iter()
                .filter(|h| h.topic == topic)
                .map(|h| format!("{topic} → {}", h.destination)),
        );
    }
    if missing.is_empty() && inactive.is_empty() {
        return Check::ok(
            name,
            format!(
                "{} → {}",
                registered.platform.topics().join(", "),
                registered.callback
            ),
        );
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "not registered to {}: {}",
            registered.callback,
            missing.join(", ")
        ));
    }
    if !elsewhere.is_empty() {
        problems.push(format!("pointing elsewhere: {}", elsewhere.join(", ")));
    }
    if !inactive.is_empty() {
        problems.push(format!("inactive: {}", inactive.join(", ")));
    }
    let fix = match registered.platform {
        Platform::Shopify => format!(
            "cartback shop connect shopify --shop {shop} --store <store> --token-file <file>"
        ),
        Platform::BigCommerce if missing.is_empty() => "BigCommerce turns a hook off after \
             failed deliveries: once the stack answers, set is_active to true \
             (PUT /stores/<store_hash>/v3/hooks/<id>)"
            .to_owned(),
        Platform::BigCommerce => "register them (docs/deploy.md, BigCommerce, step 3)".to_owned(),
    };
    Check::fix(name, problems.join("; "), fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(platform: Platform, hooks: &[(&str, &str, bool)]) -> Webhooks {
        Webhooks::Read(Ok(Registered {
            platform,
            callback: "https://hooks.kuura.example/webhooks/kuura/shopify".to_owned(),
            hooks: hooks
                .iter()
                .map(|(topic, destination, active)| Hook {
                    topic: (*topic).to_owned(),
                    destination: (*destination).to_owned(),
                    active: *active,
                })
                .collect(),
        }))
    }

    fn could_not(what: &str, error: &str) -> Check {
        Check::warn(what, error, "retry")
    }

    const OURS: &str = "https://hooks.kuura.example/webhooks/kuura/shopify";

    #[test]
    fn every_topic_to_this_stack_is_ok_and_a_missing_one_is_a_fix_naming_where_it_goes() {
        let all: Vec<(&str, &str, bool)> = TOPICS
            .iter()
            .map(|(topic, _)| (*topic, OURS, true))
            .collect();
        let ok = judge("kuura", &registered(Platform::Shopify, &all), could_not);
        assert_eq!(ok.level, super::super::Level::Ok, "{ok:?}");

        let mut partial = all.clone();
        partial[1].1 = "https://old-stack.example/webhooks/kuura/shopify";
        let fix = judge("kuura", &registered(Platform::Shopify, &partial), could_not);
        assert_eq!(fix.level, super::super::Level::Fix, "{fix:?}");
        assert!(fix.detail.contains("CHECKOUTS_UPDATE"), "{fix:?}");
        assert!(fix.detail.contains("old-stack.example"), "{fix:?}");
        assert!(
            fix.fix
                .as_deref()
                .is_some_and(|f| f.contains("shop connect shopify")),
            "{fix:?}"
        );
    }

    #[test]
    fn an_inactive_bigcommerce_hook_is_a_fix_and_an_unknown_platform_a_note() {
        let hooks = [
            ("store/cart/abandoned", OURS, true),
            ("store/cart/converted", OURS, false),
        ];
        let fix = judge(
            "kuura",
            &registered(Platform::BigCommerce, &hooks),
            could_not,
        );
        assert_eq!(fix.level, super::super::Level::Fix, "{fix:?}");
        assert!(
            fix.detail.contains("inactive: store/cart/converted"),
            "{fix:?}"
        );
        assert!(
            fix.fix.as_deref().is_some_and(|f| f.contains("is_active")),
            "{fix:?}"
        );

        let note = judge("kuura", &Webhooks::Unknown, could_not);
        assert_eq!(note.level, super::super::Level::Note, "{note:?}");
    }

    #[test]
    fn the_callback_joins_base_shop_and_platform() {
        for base in ["https://h.example/webhooks/", "https://h.example/webhooks"] {
            assert_eq!(
                callback(base, "kuura", Platform::BigCommerce),
                "https://h.example/webhooks/kuura/bigcommerce"
            );
        }
    }
}

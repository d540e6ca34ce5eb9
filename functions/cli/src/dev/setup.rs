//! The demo shop `cartback dev` connects (Kuura Knitwear, from `examples/shops.toml`) and a
//! sample checkout for it, signed as Shopify signs webhooks.

use std::path::{Path, PathBuf};

use cartback_core::model::ids::{IdError, ShopId};
use cartback_core::model::shop::{Secret, ShopSettings};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::simulate::{self, ShopsFileError};

/// The demo shop's id, as in its webhook URL.
pub const DEMO_SHOP: &str = "kuura-knitwear";
/// The demo shop's webhook secret (local only: the printed curl is signed with it).
pub const DEMO_WEBHOOK_SECRET: &str = "cartback-dev-webhook-secret";
/// The secret the local unsubscribe links are signed with (never used on AWS).
pub const DEV_UNSUBSCRIBE_SECRET: &str = "cartback-dev-unsubscribe-secret-not-for-production";
/// The local table (the SAM template lets CloudFormation name the deployed one).
pub const TABLE: &str = "cartback-dev";

const SHOPS_TOML: &str = include_str!("../../../../examples/shops.toml");
const EXAMPLE_CARTS: &str = include_str!("../../../../examples/four-locales.jsonl");

/// Why the demo shop or the sample checkout could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Shops(#[from] Box<ShopsFileError>),
    #[error(transparent)]
    ShopId(#[from] IdError),
    #[error("examples/four-locales.jsonl: no English cart")]
    NoEnglishCart,
    #[error("examples/four-locales.jsonl: {0}")]
    Example(#[source] serde_json::Error),
    /// The sample checkout could not be written as JSON.
    #[error(transparent)]
    Json(serde_json::Error),
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The demo shop's settings, as `examples/shops.toml` gives them.
pub fn demo_shop() -> Result<(ShopId, ShopSettings), SetupError> {
    let shops = simulate::parse_shops(Path::new("examples/shops.toml"), SHOPS_TOML)?;
    let id = ShopId::parse(DEMO_SHOP)?;
    let settings = shops.settings_of(&id);
    Ok((id, settings))
}

/// The English Kuura Knitwear checkout of `examples/four-locales.jsonl` as a new checkout
/// created at `now`: a fresh token (a new cart each time `cartback dev` starts).
pub fn sample_checkout(now: Timestamp) -> Result<String, SetupError> {
    let line = EXAMPLE_CARTS
        .lines()
        .find(|l| l.contains(r#""customer_locale": "en-GB""#))
        .ok_or(SetupError::NoEnglishCart)?;
    let mut event: Value = serde_json::from_str(line).map_err(SetupError::Example)?;
    let mut payload = event["payload"].take();
    let token = format!("{:032x}", now.as_nanosecond().unsigned_abs());
    let stamp = json!(now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    payload["token"] = json!(token);
    payload["created_at"] = stamp.clone();
    payload["updated_at"] = stamp;
    payload["abandoned_checkout_url"] = json!(format!(
        "https://kuura-knitwear.example/checkouts/{token}/recover?key=dev"
    ));
    serde_json::to_string(&payload).map_err(SetupError::Json)
}

/// What to paste: the sample checkout saved to a file and a signed `curl`.
pub struct SampleRequest {
    pub file: PathBuf,
    pub curl: String,
}

/// Saves `body` under `dir` and writes the `curl` that posts it to `base_url`.
pub fn sample_request(dir: &Path, base_url: &str, body: &str) -> Result<SampleRequest, SetupError> {
    std::fs::create_dir_all(dir).map_err(|source| SetupError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let file = dir.join("checkout.json");
    if let Err(source) = std::fs::write(&file, body) {
        return Err(SetupError::Write { path: file, source });
    }
    let hmac =
        cartback_core::platforms::shopify::sign(&Secret::new(DEMO_WEBHOOK_SECRET), body.as_bytes());
    let delivery = format!(
        "dev-{}",
        &cartback_core::model::ids::log_hash(&[body])[..12]
    );
    let curl = format!(
        "curl -i -X POST '{base_url}/webhooks/{DEMO_SHOP}/shopify' \\\n  \
         -H 'Content-Type: application/json' \\\n  \
         -H 'X-Shopify-Topic: checkouts/create' \\\n  \
         -H 'X-Shopify-Webhook-Id: {delivery}' \\\n  \
         -H 'X-Shopify-Hmac-Sha256: {hmac}' \\\n  \
         --data-binary @{}",
        file.display()
    );
    Ok(SampleRequest { file, curl })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_shop_is_kuura_knitwear() {
        let (id, settings) = demo_shop().expect("examples/shops.toml parses");
        assert_eq!(id.as_str(), "kuura-knitwear");
        assert_eq!(settings.name, "Kuura Knitwear");
    }

    #[test]
    fn the_sample_checkout_is_a_new_cart_at_now() {
        let now: Timestamp = "2026-11-23T14:00:00Z".parse().expect("time");
        let body = sample_checkout(now).expect("sample");
        let value: Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(value["updated_at"], "2026-11-23T14:00:00Z");
        assert_eq!(value["token"].as_str().map(str::len), Some(32));
        let dir = std::env::temp_dir().join(format!("cartback-setup-test-{}", std::process::id()));
        let sample = sample_request(&dir, "http://localhost:8787", &body).expect("written");
        assert!(
            sample.curl.contains("X-Shopify-Hmac-Sha256: "),
            "{}",
            sample.curl
        );
        assert_eq!(std::fs::read_to_string(&sample.file).expect("file"), body);
        let _ = std::fs::remove_dir_all(dir);
    }
}

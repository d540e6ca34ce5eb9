//! `explain` on the ports: reads the cart, the person behind it and the shop as a wake-up
//! does at wake-up, then asks the pure [`cartback_core::insight::explain::explain`].

use cartback_core::insight::explain::{ExplainInput, Explanation, explain, explain_missing};
use cartback_core::model::cart::Person;
use cartback_core::model::ids::{CartId, ShopId};
use cartback_core::ports::{CartStore, PortError, ShopDirectory};
use jiff::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("shop `{0}` is not configured (no CONFIG item on the table)")]
    UnknownShop(String),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Where `cart` of `shop` stands at `now`, what was sent and why, and what comes next.
pub async fn explain_cart<S, D>(
    store: &S,
    shops: &D,
    shop: &ShopId,
    cart: &CartId,
    now: Timestamp,
) -> Result<Explanation, ExplainError>
where
    S: CartStore,
    D: ShopDirectory,
{
    let Some(settings) = shops.shop(shop).await? else {
        return Err(ExplainError::UnknownShop(shop.to_string()));
    };
    let Some(record) = store.cart(shop, cart).await? else {
        return Ok(explain_missing(shop.as_str(), cart.as_str(), now));
    };
    let contacts = crate::send::contacts_of(store, &record.value).await?;
    let person = Person::merge(
        &contacts
            .iter()
            .filter_map(|(_, c)| c.as_ref().map(|c| c.value.clone()))
            .collect::<Vec<_>>(),
    );
    let sequence = settings.sequence_named(&record.value.sequence);
    let zone = cartback_core::rules::zone::zone_of(&record.value, &settings);
    Ok(explain(&ExplainInput {
        cart: &record.value,
        person: &person,
        sequence: sequence.as_ref(),
        rules: settings.rules(),
        zone: &zone,
        holdout: settings.settings.holdout,
        now,
    }))
}

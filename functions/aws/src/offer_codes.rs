//! The shops' offer code pools on the DynamoDB table (keys in `cartback_core::model::table`):
//!
//! | `sk` | item |
//! |---|---|
//! | `POOL#{pool}` | counters: `available`, `claimed`, `imported` |
//! | `POOL#{pool}#FREE#{8 hex}#{code}` | a free code; the hash spreads codes over the sort order |
//! | `POOL#{pool}#USED#{code}` | a claimed code and its cart step (`cart`, `step`, `claimed_at`); kept for good |
//! | `POOL#{pool}#CLAIM#{cart}#{step}` | the code the cart step holds (TTL with the cart) |
//!
//! A claim reads the step's claim and the counters (one `BatchGetItem`), queries a few free
//! codes from a point that depends on the cart (one `Query`, two when it wraps around), and
//! takes one in a `TransactWriteItems`: delete the free item (it must exist), put the used
//! and claim items (they must not), count. A transaction cancelled because another cart took
//! the code tries the next candidate; one cancelled because this step already holds a code
//! reads that code. An import writes 49 codes per transaction, each a check that the code
//! was never claimed and a put of the free item that must not exist; codes that fail either
//! are counted as already present and the rest written again.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem, Update,
};
use cartback_core::model::ids::{CartId, PoolName, ShopId};
use cartback_core::model::offer_codes::{
    ClaimedCode, IMPORT_BATCH, ImportReport, OfferCode, claim_start,
};
use cartback_core::model::table as keys;
use cartback_core::ports::{OfferCodes, PortError};
use cartback_core::rules::lifecycle::expiry;
use jiff::Timestamp;

use crate::LazyClient;
use crate::dynamo::{Item, mapping_error, n, s};
use crate::errors::port_error;

const SERVICE: &str = "dynamodb";
/// Free codes read per look-up: the next candidates when another cart takes the first.
const CANDIDATES: i32 = 4;
/// Look-ups (each from a new point) before a claim gives up and lets the invocation retry.
const CLAIM_ATTEMPTS: u32 = 8;
/// Transactions per import batch before the import gives up (conflicts with claims).
const IMPORT_ATTEMPTS: u32 = 6;
/// How long a cart step's claim on a code is kept (a retry of that step gets the same code;
/// the code itself stays used for good).
const CLAIM_RETENTION: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 90);

/// Offer code pools on DynamoDB.
#[derive(Clone)]
pub struct DynamoOfferCodes {
    client: LazyClient<Client>,
    table: String,
}

/// How one attempt to take a free code ended.
enum Take {
    Taken,
    /// Another cart took the code first.
    CodeGone,
    /// This cart step already holds a code (a concurrent duplicate claimed first).
    StepHolds,
    /// The items were busy in another transaction: try again.
    Busy,
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn number(item: &Item, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .map_or(0, |v| u64::try_from(v).unwrap_or(0))
}

fn code_of(item: &Item) -> Result<OfferCode, PortError> {
    let code = text(item, "code").ok_or_else(|| mapping_error("offer code item", "no `code`"))?;
    OfferCode::parse(code).map_err(|e| mapping_error("offer code item", e))
}

/// The cancellation reason codes of a cancelled transaction (`None` for another error).
fn cancellation_codes<R>(error: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<String>> {
    match error.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

fn build_error(error: impl std::fmt::Display) -> PortError {
    mapping_error("building a transaction", error)
}

impl DynamoOfferCodes {
    pub fn new(sdk: &aws_config::SdkConfig, table: &str) -> Self {
        Self::from_client(LazyClient::new(sdk, Client::new), table)
    }

    pub fn from_client(client: impl Into<LazyClient<Client>>, table: &str) -> Self {
        Self {
            client: client.into(),
            table: table.to_owned(),
        }
    }

    /// The step's claim and the pool's counters, read together and strongly consistent.
    async fn claim_and_header(
        &self,
        pk: &str,
        claim_sk: &str,
        header_sk: &str,
    ) -> Result<(Option<Item>, Option<Item>), PortError> {
        let mut wanted = KeysAndAttributes::builder()
            .keys(key(pk, claim_sk))
            .keys(key(pk, header_sk))
            .consistent_read(true)
            .build()
            .map_err(build_error)?;
        let (mut claim, mut header) = (None, None);
        for _ in 0..CLAIM_ATTEMPTS {
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, wanted)
                .send()
                .await
                .map_err(|e| port_error(SERVICE, "BatchGetItem", &e))?;
            for item in output
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                match text(&item, "sk") {
                    Some(sk) if sk == claim_sk => claim = Some(item),
                    Some(sk) if sk == header_sk => header = Some(item),
                    _ => {}
                }
            }
            match output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
            {
                Some(rest) if !rest.keys().is_empty() => wanted = rest,
                _ => return Ok((claim, header)),
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(PortError::retryable(
            SERVICE,
            "BatchGetItem: keys left unprocessed (throttled)",
        ))
    }

    /// Up to `CANDIDATES` free codes from `start` on, wrapping around to the first ones.
    async fn free_codes(
        &self,
        pk: &str,
        pool: &PoolName,
        start: &str,
    ) -> Result<Vec<(String, OfferCode)>, PortError> {
        let prefix = keys::pool_free_prefix(pool);
        let from = format!("{prefix}{start}");
        let mut found = self.query_free(pk, &from, pool).await?;
        if found.is_empty() {
            found = self.query_free(pk, &prefix, pool).await?;
        }
        Ok(found)
    }

    async fn query_free(
        &self,
        pk: &str,
        from: &str,
        pool: &PoolName,
    ) -> Result<Vec<(String, OfferCode)>, PortError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :end")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":end", s(keys::pool_free_end(pool)))
            .consistent_read(true)
            .limit(CANDIDATES)
            .send()
            .await
            .map_err(|e| port_error(SERVICE, "Query", &e))?;
        output
            .items()
            .iter()
            .map(|item| {
                let sk = text(item, "sk")
                    .ok_or_else(|| mapping_error("free offer code", "no `sk`"))?
                    .to_owned();
                Ok((sk, code_of(item)?))
            })
            .collect()
    }

    /// One transaction: the free code becomes the cart step's, for good.
    #[allow(clippy::too_many_arguments)]
    async fn take(
        &self,
        pk: &str,
        pool: &PoolName,
        cart: &CartId,
        step: u32,
        free_sk: &str,
        code: &OfferCode,
        at: Timestamp,
    ) -> Result<Take, PortError> {
        let claimed_at = n(at.as_millisecond());
        let delete_free = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, free_sk)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build_error)?;
        let mut used = key(pk, &keys::pool_used_sk(pool, code));
        used.insert("kind".into(), s("offer_code_used"));
        used.insert("code".into(), s(code.as_str()));
        used.insert("cart".into(), s(cart.as_str()));
        used.insert("step".into(), n(step));
        used.insert("claimed_at".into(), claimed_at.clone());
        let put_used = Put::builder()
            .table_name(&self.table)
            .set_item(Some(used))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let mut claim = key(pk, &keys::pool_claim_sk(pool, cart, step));
        claim.insert("kind".into(), s("offer_claim"));
        claim.insert("code".into(), s(code.as_str()));
        claim.insert("claimed_at".into(), claimed_at);
        claim.insert("expires_at".into(), n(expiry(at, CLAIM_RETENTION)));
        let put_claim = Put::builder()
            .table_name(&self.table)
            .set_item(Some(claim))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, &keys::pool_sk(pool))))
            .update_expression("ADD #available :minus_one, #claimed :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#available", "available")
            .expression_attribute_names("#claimed", "claimed")
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(build_error)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete_free).build())
            .transact_items(TransactWriteItem::builder().put(put_used).build())
            .transact_items(TransactWriteItem::builder().put(put_claim).build())
            .transact_items(TransactWriteItem::builder().update(count).build())
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(Take::Taken),
            Err(error) => error,
        };
        let Some(reasons) = cancellation_codes(&error) else {
            return Err(port_error(SERVICE, "TransactWriteItems", &error));
        };
        let failed = |index: usize| {
            reasons
                .get(index)
                .is_some_and(|code| code == "ConditionalCheckFailed")
        };
        Ok(if failed(2) {
            Take::StepHolds
        } else if failed(0) || failed(1) {
            Take::CodeGone
        } else if reasons.iter().any(|code| code == "TransactionConflict") {
            Take::Busy
        } else {
            return Err(port_error(SERVICE, "TransactWriteItems", &error));
        })
    }

    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error(SERVICE, "GetItem", &e))?;
        Ok(output.item)
    }

    /// One transaction adding `codes` (none known yet, hopefully) and counting them.
    /// `Ok(None)`: all added; `Ok(Some(known))`: cancelled, these indices were known.
    async fn add(
        &self,
        pk: &str,
        pool: &PoolName,
        codes: &[&OfferCode],
    ) -> Result<Option<Vec<usize>>, PortError> {
        let mut request = self.client.transact_write_items();
        for code in codes {
            let never_claimed = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk, &keys::pool_used_sk(pool, code))))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_error)?;
            let mut free = key(pk, &keys::pool_free_sk(pool, code));
            free.insert("kind".into(), s("offer_code_free"));
            free.insert("code".into(), s(code.as_str()));
            let put_free = Put::builder()
                .table_name(&self.table)
                .set_item(Some(free))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build_error)?;
            request = request
                .transact_items(
                    TransactWriteItem::builder()
                        .condition_check(never_claimed)
                        .build(),
                )
                .transact_items(TransactWriteItem::builder().put(put_free).build());
        }
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, &keys::pool_sk(pool))))
            .update_expression("ADD #available :added, #imported :added SET #kind = :kind")
            .expression_attribute_names("#available", "available")
            .expression_attribute_names("#imported", "imported")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":added", n(codes.len()))
            .expression_attribute_values(":kind", s("offer_pool"))
            .build()
            .map_err(build_error)?;
        request = request.transact_items(TransactWriteItem::builder().update(count).build());
        let error = match request.send().await {
            Ok(_) => return Ok(None),
            Err(error) => error,
        };
        let Some(reasons) = cancellation_codes(&error) else {
            return Err(port_error(SERVICE, "TransactWriteItems", &error));
        };
        let known: Vec<usize> = (0..codes.len())
            .filter(|i| {
                reasons
                    .iter()
                    .skip(2 * i)
                    .take(2)
                    .any(|code| code == "ConditionalCheckFailed")
            })
            .collect();
        if known.is_empty() && !reasons.iter().any(|code| code == "TransactionConflict") {
            return Err(port_error(SERVICE, "TransactWriteItems", &error));
        }
        Ok(Some(known))
    }
}

impl OfferCodes for DynamoOfferCodes {
    async fn claim(
        &self,
        shop: &ShopId,
        pool: &PoolName,
        cart: &CartId,
        step: u32,
        at: Timestamp,
    ) -> Result<Option<ClaimedCode>, PortError> {
        let pk = keys::shop_pk(shop);
        let claim_sk = keys::pool_claim_sk(pool, cart, step);
        let (claim, header) = self
            .claim_and_header(&pk, &claim_sk, &keys::pool_sk(pool))
            .await?;
        let available = header.as_ref().map_or(0, |h| number(h, "available"));
        if let Some(claim) = claim {
            return Ok(Some(ClaimedCode {
                code: code_of(&claim)?,
                remaining: available,
            }));
        }
        if header.is_none() {
            return Ok(None);
        }
        for attempt in 0..CLAIM_ATTEMPTS {
            let candidates = self
                .free_codes(&pk, pool, &claim_start(cart, step, attempt))
                .await?;
            if candidates.is_empty() {
                return Ok(None);
            }
            for (free_sk, code) in candidates {
                match self
                    .take(&pk, pool, cart, step, &free_sk, &code, at)
                    .await?
                {
                    Take::Taken => {
                        return Ok(Some(ClaimedCode {
                            code,
                            remaining: available.saturating_sub(1),
                        }));
                    }
                    Take::CodeGone => continue,
                    Take::StepHolds => {
                        let held = self.get(&pk, &claim_sk).await?.ok_or_else(|| {
                            PortError::retryable(SERVICE, "the step's offer code claim vanished")
                        })?;
                        return Ok(Some(ClaimedCode {
                            code: code_of(&held)?,
                            remaining: available.saturating_sub(1),
                        }));
                    }
                    Take::Busy => {
                        tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt + 1)))
                            .await;
                        break;
                    }
                }
            }
        }
        Err(PortError::retryable(
            SERVICE,
            format!(
                "offer code pool {pool}: no free code taken in {CLAIM_ATTEMPTS} tries (other carts claimed them first)"
            ),
        ))
    }

    async fn import(
        &self,
        shop: &ShopId,
        pool: &PoolName,
        codes: &[OfferCode],
    ) -> Result<ImportReport, PortError> {
        let pk = keys::shop_pk(shop);
        let mut report = ImportReport::default();
        for batch in codes.chunks(IMPORT_BATCH) {
            let mut pending: Vec<&OfferCode> = batch.iter().collect();
            let mut attempts = 0;
            while !pending.is_empty() {
                attempts += 1;
                if attempts > IMPORT_ATTEMPTS {
                    return Err(PortError::retryable(
                        SERVICE,
                        format!(
                            "offer code pool {pool}: a batch kept conflicting with claims; {} codes added so far, run the import again",
                            report.added
                        ),
                    ));
                }
                match self.add(&pk, pool, &pending).await? {
                    None => {
                        report.added += pending.len() as u64;
                        pending.clear();
                    }
                    Some(known) if known.is_empty() => {
                        tokio::time::sleep(Duration::from_millis(50 * u64::from(attempts))).await;
                    }
                    Some(known) => {
                        report.already_present += known.len() as u64;
                        pending = pending
                            .into_iter()
                            .enumerate()
                            .filter(|(i, _)| !known.contains(i))
                            .map(|(_, code)| code)
                            .collect();
                    }
                }
            }
        }
        report.available = self
            .get(&pk, &keys::pool_sk(pool))
            .await?
            .map_or(0, |header| number(&header, "available"));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_read_as_numbers_and_never_negative() {
        let mut item = key("SHOP#s", "POOL#p");
        item.insert("available".into(), n(12));
        item.insert("claimed".into(), n(-1));
        assert_eq!(number(&item, "available"), 12);
        assert_eq!(number(&item, "claimed"), 0);
        assert_eq!(number(&item, "imported"), 0);
    }

    #[test]
    fn an_item_with_a_broken_code_is_a_permanent_mapping_error() {
        let mut item = key("SHOP#s", "POOL#p#CLAIM#c#0");
        item.insert("code".into(), s("A B"));
        let error = code_of(&item).expect_err("not a code");
        assert!(!error.retryable);
        item.insert("code".into(), s("AB"));
        assert_eq!(code_of(&item).expect("a code").as_str(), "AB");
    }
}

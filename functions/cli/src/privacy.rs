//! `cartback erase` and `cartback export`: a person's data on the deployed table (the AWS
//! environment as usual: credentials, region, `AWS_ENDPOINT_URL` for an emulator).
//!
//! Both print one JSON document on stdout and nothing about anyone else; errors name no
//! address. A failure half-way exits non-zero: run the same command again to finish.

use cartback_app::privacy::{erase_person, export_person};
use cartback_aws::{DynamoCartStore, SchedulerSchedules};
use cartback_core::model::contact::{ContactError, Email, Phone};
use cartback_core::model::ids::{IdError, ShopId};
use cartback_core::ports::PortError;
use cartback_core::rules::erase::Subject;

use crate::codes::TABLE_ENV;

/// Why `erase` or `export` did not finish; never names the person's address.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("--shop `{shop}`: {source}")]
    Shop { shop: String, source: IdError },
    #[error("--email: {0}")]
    Email(#[source] ContactError),
    #[error("--phone: {0} (write it with its country code, +358…)")]
    Phone(#[source] ContactError),
    #[error("pass --email or --phone")]
    NoPerson,
    #[error("no table: pass --table NAME or {TABLE_ENV} (the stack's DynamoDB table)")]
    NoTable,
    #[error(
        "erasing in table {table}: {source}; nothing is reported done that was not: run the same command again to finish"
    )]
    Erase { table: String, source: PortError },
    #[error("reading table {table}: {source}")]
    Export { table: String, source: PortError },
    /// What was done could not be written as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The shop and person of an `erase` or `export`, parsed at the edge.
pub struct Target {
    pub shop: ShopId,
    pub subject: Subject,
    pub table: String,
}

/// Parses the arguments: one of `email` and `phone` (clap makes them exclusive and required).
pub fn target(
    shop: &str,
    email: Option<&str>,
    phone: Option<&str>,
    table: Option<String>,
) -> Result<Target, PrivacyError> {
    let shop = ShopId::parse(shop).map_err(|source| PrivacyError::Shop {
        shop: shop.to_owned(),
        source,
    })?;
    let subject = Subject {
        // The value is never echoed back: it is the personal data itself.
        email: email
            .map(|e| Email::parse(e).map_err(PrivacyError::Email))
            .transpose()?,
        phone: phone
            .map(|p| Phone::parse(p, None).map_err(PrivacyError::Phone))
            .transpose()?,
    };
    if subject.is_empty() {
        return Err(PrivacyError::NoPerson);
    }
    let table = crate::codes::deployed_table(table).ok_or(PrivacyError::NoTable)?;
    Ok(Target {
        shop,
        subject,
        table,
    })
}

/// Erases the person and returns what was done as one JSON line (cart ids, schedule names,
/// counts; no address).
pub async fn erase(
    target: &Target,
    schedule_group: Option<String>,
) -> Result<String, PrivacyError> {
    let sdk = cartback_aws::load_sdk_config().await;
    let store = DynamoCartStore::new(&sdk, &target.table);
    let group = crate::stack::resolve(schedule_group, crate::stack::Setting::ScheduleGroup)
        .unwrap_or_else(|| "cartback".to_owned());
    let schedules = SchedulerSchedules::deleting_only(&sdk, &group);
    let erased = erase_person(
        &store,
        &schedules,
        &target.shop,
        &target.subject.keys(),
        jiff::Timestamp::now(),
    )
    .await
    .map_err(|source| PrivacyError::Erase {
        table: target.table.clone(),
        source,
    })?;
    let mut line = serde_json::to_value(&erased)?;
    line["person"] = target.subject.log_id(&target.shop).into();
    Ok(serde_json::to_string(&line)?)
}

/// Everything held about the person, pretty-printed JSON.
pub async fn export(target: &Target) -> Result<String, PrivacyError> {
    let sdk = cartback_aws::load_sdk_config().await;
    let store = DynamoCartStore::new(&sdk, &target.table);
    let export = export_person(&store, &target.shop, &target.subject.keys())
        .await
        .map_err(|source| PrivacyError::Export {
            table: target.table.clone(),
            source,
        })?;
    Ok(serde_json::to_string_pretty(&export)?)
}

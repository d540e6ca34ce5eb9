//! `cartback codes import`: a shop's file of single-use offer codes into a pool on the
//! DynamoDB table (the AWS environment as usual: credentials, region, `AWS_ENDPOINT_URL`).

use std::path::Path;

use cartback_app::offer_codes::import_parsed;
use cartback_aws::DynamoOfferCodes;
use cartback_core::model::ids::{PoolName, ShopId};
use cartback_core::model::offer_codes::parse_code_file;

/// Where the table's name comes from when `--table` is not given.
pub const TABLE_ENV: &str = "CARTBACK_TABLE";

/// The deployed table: `--table`, else `$CARTBACK_TABLE`; `None` when neither names one
/// (each command says what else it accepts).
pub fn deployed_table(flag: Option<String>) -> Option<String> {
    flag.or_else(|| std::env::var(TABLE_ENV).ok())
        .filter(|t| !t.trim().is_empty())
}

/// Reads and checks the file (nothing is written if a line is bad), imports its codes and
/// returns the report as one JSON line: `{"added": N, "already_present": M, "available": K}`.
pub async fn import(
    shop: &str,
    pool: &str,
    file: &Path,
    table: Option<String>,
) -> Result<String, String> {
    let shop = ShopId::parse(shop).map_err(|e| format!("--shop `{shop}`: {e}"))?;
    let pool = PoolName::parse(pool).map_err(|e| {
        format!("--pool `{pool}`: {e} (the name the sequence's `offer = {{ pool = \"…\" }}` uses)")
    })?;
    let source = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let parsed =
        parse_code_file(&file.display().to_string(), &source).map_err(|e| e.to_string())?;
    let table = deployed_table(table).ok_or_else(|| {
        format!("no table: pass --table NAME or set {TABLE_ENV} to the stack's DynamoDB table")
    })?;
    let sdk = cartback_aws::load_sdk_config().await;
    let store = DynamoOfferCodes::new(&sdk, &table);
    let report = import_parsed(&store, &shop, &pool, &parsed)
        .await
        .map_err(|e| format!("importing into table {table}: {e}"))?;
    serde_json::to_string(&report).map_err(|e| e.to_string())
}

//! `cartback codes import`: a shop's file of single-use offer codes into a pool on the
//! DynamoDB table (the AWS environment as usual: credentials, region, `AWS_ENDPOINT_URL`).

use std::path::{Path, PathBuf};

use cartback_app::offer_codes::import_parsed;
use cartback_aws::DynamoOfferCodes;
use cartback_core::model::ids::{IdError, PoolName, ShopId};
use cartback_core::model::offer_codes::{CodeFileError, parse_code_file};
use cartback_core::ports::PortError;

/// Where the deployed table is named when no `--table` names it (for error messages).
pub const TABLE_ENV: &str = "--stack NAME or $CARTBACK_TABLE";

/// Why `codes import` imported nothing.
#[derive(Debug, thiserror::Error)]
pub enum CodesError {
    #[error("--shop `{shop}`: {source}")]
    Shop { shop: String, source: IdError },
    #[error(
        "--pool `{pool}`: {source} (the name the sequence's `offer = {{ pool = \"…\" }}` uses)"
    )]
    Pool { pool: String, source: IdError },
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] CodeFileError),
    #[error("no table: pass --table NAME or {TABLE_ENV} (the stack's DynamoDB table)")]
    NoTable,
    #[error("importing into table {table}: {source}")]
    Import { table: String, source: PortError },
    /// The report could not be written as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The deployed table: `--table`, else `--stack`'s output, else `$CARTBACK_TABLE`; `None`
/// when none names one (each command says what else it accepts).
pub fn deployed_table(flag: Option<String>) -> Option<String> {
    crate::stack::resolve(flag, crate::stack::Setting::Table)
}

/// Reads and checks the file (nothing is written if a line is bad), imports its codes and
/// returns the report as one JSON line: `{"added": N, "already_present": M, "available": K}`.
pub async fn import(
    shop: &str,
    pool: &str,
    file: &Path,
    table: Option<String>,
) -> Result<String, CodesError> {
    let shop = ShopId::parse(shop).map_err(|source| CodesError::Shop {
        shop: shop.to_owned(),
        source,
    })?;
    let pool = PoolName::parse(pool).map_err(|source| CodesError::Pool {
        pool: pool.to_owned(),
        source,
    })?;
    let source = std::fs::read_to_string(file).map_err(|source| CodesError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let parsed = parse_code_file(&file.display().to_string(), &source)?;
    let table = deployed_table(table).ok_or(CodesError::NoTable)?;
    let sdk = cartback_aws::load_sdk_config().await;
    let store = DynamoOfferCodes::new(&sdk, &table);
    let report = match import_parsed(&store, &shop, &pool, &parsed).await {
        Ok(report) => report,
        Err(source) => return Err(CodesError::Import { table, source }),
    };
    Ok(serde_json::to_string(&report)?)
}

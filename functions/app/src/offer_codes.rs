//! Filling a shop's pool of single-use offer codes (`cartback codes import`).

use cartback_core::model::ids::{PoolName, ShopId};
use cartback_core::model::offer_codes::{CodeFile, CodeFileError, ImportReport, parse_code_file};
use cartback_core::ports::{OfferCodes, PortError};

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] CodeFileError),
    #[error(transparent)]
    Store(#[from] PortError),
}

/// Imports a code file (`file` names it in errors) into `pool`: what
/// `cartback codes import` does.
pub async fn import_file<O: OfferCodes>(
    store: &O,
    shop: &ShopId,
    pool: &PoolName,
    file: &str,
    source: &str,
) -> Result<ImportReport, ImportError> {
    let parsed = parse_code_file(file, source)?;
    Ok(import_parsed(store, shop, pool, &parsed).await?)
}

/// Imports the codes of a parsed file; lines repeating a code count as already present.
pub async fn import_parsed<O: OfferCodes>(
    store: &O,
    shop: &ShopId,
    pool: &PoolName,
    parsed: &CodeFile,
) -> Result<ImportReport, PortError> {
    let mut report = store.import(shop, pool, &parsed.codes).await?;
    report.already_present += parsed.repeated;
    Ok(report)
}

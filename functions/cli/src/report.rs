//! `cartback report`: what the messages add for one shop — carts, conversions, revenue and
//! recovered orders per arm (the holdout, the treatment and each variant of each split
//! step), and the lift of the treatment over the holdout with its 95 % interval. On a
//! simulation's final state (`--events`, as `simulate` runs it), the running `cartback dev`
//! (`--local`) or a deployed table (`--table`).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cartback_aws::{DynamoCartStore, DynamoShopDirectory};
use cartback_core::insight::explain::short_time;
use cartback_core::insight::report::{Group, LiftReport, report};
use cartback_core::model::cart::CartRecord;
use cartback_core::model::ids::{IdError, ShopId};
use cartback_core::model::shop::Shop;
use cartback_core::ports::{PortError, ShopDirectory};
use jiff::Timestamp;

use crate::codes::TABLE_ENV;
use crate::explain::DevStateError;
use crate::simulate::{self, SimulateError};

/// Why there is no report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "pass --events FILE (a simulation), --local (the running `cartback dev`) or --table NAME (or {TABLE_ENV})"
    )]
    NoSource,
    #[error("--shop `{shop}`: {source}")]
    Shop { shop: String, source: IdError },
    #[error(transparent)]
    Simulate(#[from] SimulateError),
    #[error("{file}: no carts in the events")]
    NoCarts { file: String },
    #[error("{file}: the events hold carts of several shops ({}): pass --shop", shops.join(", "))]
    SeveralShops { file: String, shops: Vec<String> },
    /// The simulated shop's settings could not be read.
    #[error(transparent)]
    Settings(#[from] PortError),
    #[error("shop `{shop}` is not configured")]
    NotConfigured { shop: ShopId },
    #[error(transparent)]
    Dev(#[from] DevStateError),
    #[error("--shop is needed with a table: carts are read one shop at a time")]
    NeedsShop,
    #[error("table {table}: {source}")]
    Table { table: String, source: PortError },
    #[error("table {table}: shop `{shop}` is not configured (no CONFIG item)")]
    TableNotConfigured { table: String, shop: ShopId },
}

/// Where the carts come from.
pub enum Source {
    /// Run the simulation of these inputs, as `simulate` does, and report on its end state.
    Events {
        events: PathBuf,
        shops: Option<PathBuf>,
        sequence: Option<PathBuf>,
        until: Option<Timestamp>,
    },
    /// A deployed table (credentials, region and `AWS_ENDPOINT_URL` from the environment).
    Table(String),
    /// The `cartback dev` listening on this port.
    Local(u16),
}

/// The report for `shop` (or the only shop the events name) over carts last active at or
/// after `since`.
pub async fn run(
    source: Source,
    shop: Option<&str>,
    since: Option<Timestamp>,
) -> Result<LiftReport, ReportError> {
    let shop = shop
        .map(|s| {
            ShopId::parse(s).map_err(|source| ReportError::Shop {
                shop: s.to_owned(),
                source,
            })
        })
        .transpose()?;
    let (shop, carts) = match source {
        Source::Events {
            events,
            shops,
            sequence,
            until,
        } => simulated(&events, shops.as_deref(), sequence.as_deref(), until, shop).await?,
        Source::Table(table) => {
            let sdk = cartback_aws::load_sdk_config().await;
            let store = DynamoCartStore::new(&sdk, &table);
            let shops = DynamoShopDirectory::new(&sdk, &table);
            on_table(&store, &shops, &table, shop).await?
        }
        Source::Local(port) => {
            let state = crate::explain::dev_state(port).await?;
            let sdk = cartback_devstack::sdk_config(&state.moto_endpoint, &state.region).await;
            let store = DynamoCartStore::new(&sdk, &state.table);
            let shops = DynamoShopDirectory::new(&sdk, &state.table);
            on_table(&store, &shops, &state.table, shop).await?
        }
    };
    Ok(report(
        &shop.id,
        shop.settings.holdout,
        &carts,
        |name| shop.sequence_named(name),
        since,
    ))
}

/// Runs the events through the in-memory pipeline and takes its carts.
async fn simulated(
    events: &Path,
    shops: Option<&Path>,
    sequence: Option<&Path>,
    until: Option<Timestamp>,
    shop: Option<ShopId>,
) -> Result<(Shop, Vec<CartRecord>), ReportError> {
    let (lines, local_shops, file) = simulate::load(events, sequence, shops)?;
    let stack = simulate::run(lines, local_shops.clone(), until, &file, |_| {})
        .await
        .map_err(SimulateError::from)?;
    let carts = stack.store.carts();
    let shop = match shop {
        Some(shop) => shop,
        None => {
            let named: BTreeSet<&ShopId> = carts.iter().map(|c| &c.shop).collect();
            match named.into_iter().collect::<Vec<_>>()[..] {
                [only] => only.clone(),
                [] => return Err(ReportError::NoCarts { file }),
                ref several => {
                    return Err(ReportError::SeveralShops {
                        file,
                        shops: several.iter().map(|s| s.as_str().to_owned()).collect(),
                    });
                }
            }
        }
    };
    let Some(settled) = local_shops.shop(&shop).await? else {
        return Err(ReportError::NotConfigured { shop });
    };
    Ok((settled, carts))
}

/// Reads the shop's settings and every one of its carts from the table.
async fn on_table(
    store: &DynamoCartStore,
    shops: &DynamoShopDirectory,
    table: &str,
    shop: Option<ShopId>,
) -> Result<(Shop, Vec<CartRecord>), ReportError> {
    let shop = shop.ok_or(ReportError::NeedsShop)?;
    let on_table = |source| ReportError::Table {
        table: table.to_owned(),
        source,
    };
    let settings = shops.shop(&shop).await.map_err(on_table)?.ok_or_else(|| {
        ReportError::TableNotConfigured {
            table: table.to_owned(),
            shop: shop.clone(),
        }
    })?;
    let carts = store.carts_of(&shop).await.map_err(on_table)?;
    Ok((settings, carts))
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_owned(), |r| format!("{:.1} %", r * 100.0))
}

fn points(value: f64) -> String {
    format!("{:+.1}", value * 100.0)
}

fn revenue(group: &Group) -> String {
    if group.revenue.is_empty() {
        return "–".to_owned();
    }
    group
        .revenue
        .iter()
        .map(|money| money.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn row(out: &mut String, width: usize, label: &str, group: &Group) {
    let _ = writeln!(
        out,
        "  {label:<width$} {:>7} {:>12} {:>8} {:>10}  {}",
        group.carts,
        group.conversions,
        percent(group.conversion_rate),
        group.recovered_orders,
        revenue(group)
    );
}

/// The report for a terminal.
pub fn text(r: &LiftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: what the reminders add (the shop holds out {} of carts)",
        r.shop,
        share(r.holdout_share)
    );
    if let Some(since) = r.since {
        let _ = writeln!(out, "carts last active since {}", short_time(since));
    }
    let _ = writeln!(out);
    let variants: Vec<(String, &Group)> = r
        .variants
        .iter()
        .map(|v| {
            (
                format!("  {} step {} {}", v.sequence, v.step, v.variant),
                &v.group,
            )
        })
        .collect();
    let width = variants
        .iter()
        .map(|(label, _)| label.chars().count())
        .chain([21])
        .max()
        .unwrap_or(21);
    let _ = writeln!(
        out,
        "  {:<width$} {:>7} {:>12} {:>8} {:>10}  revenue",
        "", "carts", "conversions", "rate", "recovered"
    );
    row(&mut out, width, "holdout (no messages)", &r.holdout);
    row(&mut out, width, "treatment", &r.treatment);
    for (label, group) in &variants {
        row(&mut out, width, label, group);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "  lift of the treatment over the holdout");
    lift(&mut out, r);
    let outside = &r.not_in_experiment;
    if outside.carts > 0 {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  not in the experiment: {} carts bought or stopped before their first reminder ({} conversions, {} recovered)",
            outside.carts, outside.conversions, outside.recovered_orders
        );
    }
    out
}

/// `10 %`, `2.5 %`.
fn share(share: f64) -> String {
    let text = format!("{:.1}", share * 100.0);
    format!("{} %", text.trim_end_matches(".0"))
}

fn lift(out: &mut String, r: &LiftReport) {
    let lift = &r.lift;
    let (Some(difference), Some(ci)) = (lift.difference, lift.ci95) else {
        let _ = writeln!(
            out,
            "    {}",
            lift.note.as_deref().unwrap_or("not enough data")
        );
        return;
    };
    let verdict = if ci.excludes_zero() {
        "excludes 0: the messages made a difference"
    } else {
        "includes 0: no difference shown yet"
    };
    let _ = writeln!(
        out,
        "    conversion rate      {} points, 95 % CI {} to {} (Newcombe hybrid score; {verdict})",
        points(difference),
        points(ci.low),
        points(ci.high)
    );
    let _ = match lift.relative {
        Some(relative) => writeln!(out, "    relative             {:+.0} %", relative * 100.0),
        None => writeln!(
            out,
            "    relative             not enough data: the holdout converted nothing"
        ),
    };
    for incremental in &lift.incremental_revenue {
        let _ = match incremental.amount {
            Some(amount) => writeln!(
                out,
                "    incremental revenue  {amount} (treatment minus holdout revenue per cart, times {} treated carts)",
                r.treatment.carts
            ),
            None => writeln!(
                out,
                "    incremental revenue  {}: not enough data (no holdout carts in {0})",
                incremental.currency
            ),
        };
    }
}

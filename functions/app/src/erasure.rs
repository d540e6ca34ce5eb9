//! Erasure jobs: a privacy request (`customers/redact`, `shop/redact`) is answered at once
//! and carried out by the background worker (`functions/eraser`), chunk by chunk.
//!
//! A job carries its own progress ([`ErasureJob`]). A person's erasure is one chunk: a few
//! index queries, their carts read and deleted in batches, all idempotent. A shop's erasure
//! pages through the shop's partition, keys only, deleting each page in batches; when the
//! chunk's budget runs out, the rest goes back on the queue with the page to start after. A
//! worker that dies mid-chunk has its message delivered again, which starts from the last
//! page the previous chunk finished, never from the beginning.

use cartback_core::insight::metrics::{Emf, NAMESPACE, Unit};
use cartback_core::model::privacy::ErasureJob;
use cartback_core::model::table::CONFIG_SK;
use cartback_core::model::time::Clock;
use cartback_core::ports::{ErasureQueue, PersonalData, PortError, ShopDirectory};
use cartback_core::rules::erase::shop_item_erased;
use jiff::Timestamp;
use serde::Serialize;

use crate::Ports;
use crate::privacy::{ViaStream, erase_person};

/// How much one chunk may do before it hands the rest back to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Pages of the shop's partition read (each up to 1 MB of items).
    pub pages: u32,
    /// When to stop starting new pages (the Lambda's deadline less a margin); `None`: no
    /// deadline (the CLI, the in-memory world).
    pub until: Option<Timestamp>,
}

/// A chunk of at most 100 pages: about 100 MB of items read, and the deletes of what they
/// hold, well within the worker's five minutes.
pub const CHUNK_PAGES: u32 = 100;

impl Default for Budget {
    fn default() -> Self {
        Self {
            pages: CHUNK_PAGES,
            until: None,
        }
    }
}

/// What one chunk of work left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The job is finished.
    Done(Finished),
    /// The rest of the job, to go back on the queue.
    More(ErasureJob),
}

/// A finished job (counts only: printable and loggable).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Finished {
    pub kind: &'static str,
    /// Carts deleted (a person's erasure).
    pub carts: usize,
    /// Contact items that are now tombstones (a person's erasure).
    pub tombstones: usize,
    /// Items deleted (a shop's erasure: every item but the settings; carts included).
    pub items: u64,
    /// Chunks the job took.
    pub chunks: u32,
    /// A removed shop's tombstone (its settings) was deleted: its webhooks now get 404.
    pub shop_forgotten: bool,
}

/// Puts `job` on the erasure queue (the webhook, answering a privacy request).
pub async fn request<P: Ports>(ports: &P, job: &ErasureJob) -> Result<(), PortError> {
    ports.erasures().enqueue(job).await?;
    tracing::info!(
        job = %job.log_id(),
        shop = %job.shop(),
        kind = job.kind(),
        "erasure queued"
    );
    Ok(())
}

/// Does one chunk of `job`. A person's carts' schedules are deleted by the planner from the
/// table's stream (the worker has no scheduler rights), as are the schedules of a shop's
/// carts. Emits `ErasureChunks`, `ErasureItemsDeleted`, and `ErasuresCompleted{Kind}` when
/// the job is finished.
pub async fn work<P: Ports>(
    ports: &P,
    job: ErasureJob,
    budget: Budget,
) -> Result<Progress, PortError>
where
    P::Store: PersonalData,
{
    let log_id = job.log_id();
    let kind = job.kind();
    let shop_id = job.shop().clone();
    let (progress, deleted_now) = match job {
        ErasureJob::Person { shop, keys, .. } => {
            let now = ports.clock().now();
            let erased = erase_person(ports.store(), &ViaStream, &shop, &keys, now).await?;
            let finished = Finished {
                kind,
                carts: erased.carts.len(),
                tombstones: erased.tombstones,
                chunks: 1,
                ..Finished::default()
            };
            (Progress::Done(finished), erased.carts.len() as u64)
        }
        ErasureJob::Shop {
            shop,
            requested_at,
            after,
            deleted,
            chunks,
        } => {
            let chunk = erase_shop_chunk(ports, &shop, after, budget).await?;
            let deleted_total = deleted + chunk.deleted;
            let progress = match chunk.next {
                Some(next) => Progress::More(ErasureJob::Shop {
                    shop,
                    requested_at,
                    after: Some(next),
                    deleted: deleted_total,
                    chunks: chunks + 1,
                }),
                None => Progress::Done(Finished {
                    kind,
                    items: deleted_total,
                    chunks: chunks + 1,
                    shop_forgotten: forget_removed_shop(ports, &shop).await?,
                    ..Finished::default()
                }),
            };
            (progress, chunk.deleted)
        }
    };
    let now = ports.clock().now();
    let mut emf = Emf::new(NAMESPACE, now)
        .metric("ErasureChunks", Unit::Count, 1.0)
        .metric("ErasureItemsDeleted", Unit::Count, deleted_now as f64);
    match &progress {
        Progress::Done(finished) => {
            tracing::info!(
                job = %log_id,
                shop = %shop_id,
                kind,
                carts = finished.carts,
                tombstones = finished.tombstones,
                items = finished.items,
                chunks = finished.chunks,
                shop_forgotten = finished.shop_forgotten,
                "erasure finished"
            );
            ports.metrics().emit(emf.clone());
            emf = Emf::new(NAMESPACE, now).dimension("Kind", kind).metric(
                "ErasuresCompleted",
                Unit::Count,
                1.0,
            );
        }
        Progress::More(rest) => {
            if let ErasureJob::Shop {
                deleted, chunks, ..
            } = rest
            {
                tracing::info!(
                    job = %log_id,
                    shop = %shop_id,
                    kind,
                    items = deleted,
                    chunks,
                    "erasure chunk done; the rest is queued"
                );
            }
        }
    }
    ports.metrics().emit(emf);
    Ok(progress)
}

/// Does `job` to the end in this process, chunk after chunk (`cartback erase`, local runs).
pub async fn work_to_end<P: Ports>(ports: &P, mut job: ErasureJob) -> Result<Finished, PortError>
where
    P::Store: PersonalData,
{
    loop {
        match work(ports, job, Budget::default()).await? {
            Progress::Done(finished) => return Ok(finished),
            Progress::More(rest) => job = rest,
        }
    }
}

/// What one chunk of a shop's erasure did.
struct ShopChunk {
    deleted: u64,
    /// The sort key the next chunk starts after; `None`: the partition is done.
    next: Option<String>,
}

async fn erase_shop_chunk<P: Ports>(
    ports: &P,
    shop: &cartback_core::model::ids::ShopId,
    mut after: Option<String>,
    budget: Budget,
) -> Result<ShopChunk, PortError>
where
    P::Store: PersonalData,
{
    let store = ports.store();
    let mut chunk = ShopChunk {
        deleted: 0,
        next: None,
    };
    let mut pages = 0;
    loop {
        let page = store.shop_keys(shop, after.as_deref()).await?;
        let doomed: Vec<String> = page
            .sort_keys
            .into_iter()
            .filter(|sk| shop_item_erased(sk))
            .collect();
        store.delete_items(shop, &doomed).await?;
        chunk.deleted += doomed.len() as u64;
        pages += 1;
        let Some(next) = page.next else {
            return Ok(chunk);
        };
        let out_of_time = budget
            .until
            .is_some_and(|until| ports.clock().now() >= until);
        if pages >= budget.pages || out_of_time {
            chunk.next = Some(next);
            return Ok(chunk);
        }
        after = Some(next);
    }
}

/// After its erasure, a removed shop's tombstone (its settings item, kept so this request
/// could be honoured) is deleted: the request it waited for has arrived. A shop still served
/// keeps its settings. Whether the tombstone was deleted.
async fn forget_removed_shop<P: Ports>(
    ports: &P,
    shop: &cartback_core::model::ids::ShopId,
) -> Result<bool, PortError>
where
    P::Store: PersonalData,
{
    let removed = ports
        .shops()
        .shop(shop)
        .await?
        .is_some_and(|s| s.removed.is_some());
    if removed {
        ports
            .store()
            .delete_items(shop, &[CONFIG_SK.to_owned()])
            .await?;
    }
    Ok(removed)
}

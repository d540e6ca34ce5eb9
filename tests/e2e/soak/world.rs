//! The two worlds the same histories run in: moto behind the fault proxy (the real AWS
//! adapters, as deployed) and the in-memory ports (the reference, without faults). Both run
//! the same handlers, fed the same way by the same driver.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow};
use cartback_core::insight::metrics::Emf;
use cartback_core::messages::render::Renderer;
use cartback_core::model::cart::CartRecord;
use cartback_core::model::ids::ShopId;
use cartback_core::model::schedule::WakeUp;
use cartback_core::model::shop::{Secret, ShopSettings};
use cartback_devstack::apigw::{HttpCall, HttpReply};
use cartback_devstack::{
    FaultPlan, FaultProxy, Moto, MotoOptions, Names, ScheduleChange, Stack, StoredSchedule,
};
use cartback_local::{
    LocalShops, MemoryMailer, MemoryOfferCodes, MemoryPorts, MemorySchedules, MemorySms,
    MemoryStore, MemoryStoreApi, VirtualClock,
};

use cartback_app::{Bundle, Messaging};
use cartback_pipeline::{EventSourceMapping, Exhausted};
use cartback_sender::{Metrics, Outcome, SendError, UnsubscribeLinks};
use cartback_unsubscribe::UnsubscribeDeps;
use jiff::Timestamp;

use crate::soak::history::{SHOPS, secret_of};

pub const UNSUBSCRIBE_SECRET: &str = "soak-unsubscribe-secret-not-for-production";
const API_DOMAIN: &str = "abc123.execute-api.eu-north-1.amazonaws.com";

/// The in-memory world is the reference, without faults: its planner never fails, and one
/// failure is a defect to stop at.
const MEMORY_STREAM: EventSourceMapping = EventSourceMapping {
    batch_size: usize::MAX,
    retry_attempts: 0,
    exhausted: Exhausted::Stop,
};

/// What one drain of the table's stream did.
#[derive(Debug, Clone, Default)]
pub struct Planned {
    pub records: usize,
    pub redrives: u32,
    /// Carts (shop, cart) whose stream records were dead-lettered.
    pub dead_lettered: Vec<Option<(String, String)>>,
}

/// Everything sent, as the mail and SMS services recorded it.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    /// Raw MIME messages and SES's message ids.
    pub emails: Vec<(String, Vec<u8>)>,
    /// (message id, E.164 number, text).
    pub sms: Vec<(String, String, String)>,
}

pub struct MotoWorld {
    pub moto: Moto,
    pub proxy: FaultProxy,
    pub stack: Stack<VirtualClock>,
}

pub struct MemoryWorld {
    /// What every function runs on in this world, with its table and scheduler.
    memory: cartback_local::MemoryWorld<MemoryPorts>,
    mailer: MemoryMailer,
    sms: MemorySms,
    unsubscribe_secret: Secret,
    metrics: Metrics,
}

pub enum World {
    Moto(Box<MotoWorld>),
    Memory(Box<MemoryWorld>),
}

fn names() -> Names {
    Names::for_stack("cartback", "cartback-soak", cartback_e2e::PUBLIC_URL)
}

impl World {
    /// moto (started here) behind a fault proxy at `rate`, with the shops connected.
    /// Setup runs with faults paused.
    pub async fn moto(start: Timestamp, plan: FaultPlan) -> Result<(Self, VirtualClock)> {
        let moto = Moto::start(&cartback_e2e::moto_binary()?, &MotoOptions::default()).await?;
        let rate = plan.rate();
        let proxy = FaultProxy::start(&moto.endpoint, plan).await?;
        proxy.set_rate(0.0);
        proxy.record("scheduler/CreateSchedule");
        proxy.record("scheduler/DeleteSchedule");
        let names = names();
        let platform = cartback_devstack::sdk_config(&moto.endpoint, cartback_e2e::REGION).await;
        let functions =
            cartback_devstack::sdk_config_quick_retries(proxy.endpoint(), cartback_e2e::REGION)
                .await;
        cartback_devstack::create_resources(&platform, &names).await?;
        for shop in SHOPS {
            let id = ShopId::parse(shop).map_err(|e| anyhow!("{e}"))?;
            let settings = ShopSettings::defaults_for(&id);
            cartback_devstack::connect_shop(&platform, &names, &id, &settings, &secret_of(shop))
                .await?;
        }
        cartback_devstack::put_secret(
            &platform,
            &names.unsubscribe_secret_param,
            UNSUBSCRIBE_SECRET,
        )
        .await?;
        let clock = VirtualClock::new(start);
        let stack = Stack::with_platform(functions, platform, names, clock.clone()).await?;
        proxy.set_rate(rate);
        Ok((
            Self::Moto(Box::new(MotoWorld { moto, proxy, stack })),
            clock,
        ))
    }

    /// The in-memory ports, configured as the moto stack is.
    pub fn memory(start: Timestamp) -> Result<(Self, VirtualClock)> {
        let clock = VirtualClock::new(start);
        let mut shops = LocalShops::defaults();
        for shop in SHOPS {
            let id = ShopId::parse(shop).map_err(|e| anyhow!("{e}"))?;
            shops = shops
                .clone()
                .with_settings(id.clone(), ShopSettings::defaults_for(&id))
                .with_secret(id, Secret::new(secret_of(shop)));
        }
        let store = MemoryStore::default();
        let schedules = MemorySchedules::default();
        let mailer = MemoryMailer::default();
        let sms = MemorySms::default();
        let metrics = Metrics::memory();
        let world = MemoryWorld {
            memory: cartback_local::MemoryWorld {
                store: store.clone(),
                schedules: schedules.clone(),
                ports: Bundle {
                    store,
                    mailer: mailer.clone(),
                    sms: sms.clone(),
                    schedules,
                    shops: shops.clone(),
                    secrets: shops.clone(),
                    store_api: MemoryStoreApi::new(),
                    clock: clock.clone(),
                    offer_codes: MemoryOfferCodes::default(),
                    erasures: cartback_local::MemoryErasureQueue::default(),
                    metrics: metrics.clone(),
                    messaging: Messaging {
                        renderer: Renderer::embedded(),
                        unsubscribe: Some(UnsubscribeLinks {
                            base_url: names().public_url,
                            secret: Secret::new(UNSUBSCRIBE_SECRET),
                        }),
                    },
                },
            },
            unsubscribe_secret: Secret::new(UNSUBSCRIBE_SECRET),
            mailer,
            sms,
            metrics,
        };
        Ok((Self::Memory(Box::new(world)), clock))
    }

    pub fn proxy(&self) -> Option<&FaultProxy> {
        match self {
            Self::Moto(world) => Some(&world.proxy),
            Self::Memory(_) => None,
        }
    }

    /// `POST /webhooks/{shop}/shopify`, signed with the shop's secret as Shopify signs it.
    pub async fn shopify(
        &self,
        shop: &str,
        topic: &str,
        body: &str,
        webhook_id: &str,
    ) -> Result<u16> {
        let hmac =
            cartback_core::platforms::shopify::sign(&Secret::new(secret_of(shop)), body.as_bytes());
        let headers = vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("X-Shopify-Topic".to_owned(), topic.to_owned()),
            ("X-Shopify-Hmac-Sha256".to_owned(), hmac),
            ("X-Shopify-Webhook-Id".to_owned(), webhook_id.to_owned()),
            ("X-Shopify-Shop-Domain".to_owned(), shop.to_owned()),
            ("user-agent".to_owned(), "Shopify-Captain-Hook".to_owned()),
        ];
        let path = format!("/webhooks/{shop}/shopify");
        let call = HttpCall {
            method: "POST",
            route: "/webhooks/{shop}/{platform}",
            path: &path,
            headers,
            path_parameters: vec![
                ("shop", shop.to_owned()),
                ("platform", "shopify".to_owned()),
            ],
            body: body.as_bytes(),
            domain: API_DOMAIN,
            source_ip: "127.0.0.1",
            ..HttpCall::default()
        };
        let reply = match self {
            Self::Moto(world) => world.stack.call_webhook(&call).await?,
            Self::Memory(world) => {
                let request = cartback_devstack::apigw::request(&call)?;
                let response = cartback_webhook::handle_http(request, &world.memory.ports)
                    .await
                    .map_err(|e| anyhow!("webhook: {e}"))?;
                cartback_devstack::apigw::reply(response)
            }
        };
        Ok(reply.status)
    }

    /// `POST /unsubscribe?t=<token>` with the RFC 8058 one-click body.
    pub async fn unsubscribe(&self, token: &str) -> Result<u16> {
        let query = format!("t={token}");
        let call = HttpCall {
            method: "POST",
            route: "/unsubscribe",
            path: "/unsubscribe",
            query: &query,
            headers: vec![
                ("user-agent".to_owned(), "Mozilla/5.0".to_owned()),
                (
                    "content-type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned(),
                ),
            ],
            body: b"List-Unsubscribe=One-Click",
            domain: API_DOMAIN,
            source_ip: "192.0.2.1",
            ..HttpCall::default()
        };
        let reply: HttpReply = match self {
            Self::Moto(world) => world.stack.call_unsubscribe(&call).await?,
            Self::Memory(world) => {
                let request = cartback_devstack::apigw::request(&call)?;
                let response = cartback_unsubscribe::handle_http(
                    request,
                    &UnsubscribeDeps {
                        ports: &world.memory.ports,
                        secret: world.unsubscribe_secret.clone(),
                    },
                )
                .await
                .map_err(|e| anyhow!("unsubscribe: {e}"))?;
                cartback_devstack::apigw::reply(response)
            }
        };
        Ok(reply.status)
    }

    /// SES events through SNS to the feedback function; `Err` when the invocation fails.
    pub async fn ses_events(&self, messages: &[String]) -> Result<Result<(), String>> {
        Ok(match self {
            Self::Moto(world) => world
                .stack
                .post_ses_events(messages)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Self::Memory(world) => {
                let event = cartback_devstack::events::sns_event(messages, cartback_e2e::REGION)?;
                cartback_feedback::handle(&event, &world.memory.ports)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
    }

    /// The stream's new records to the planner (with the event source mapping's re-drives).
    pub async fn plan(&self) -> Result<Planned> {
        match self {
            Self::Moto(world) => {
                let drained = world.stack.drain_stream_report().await?;
                Ok(Planned {
                    records: drained.records,
                    redrives: drained.redrives,
                    dead_lettered: drained.dead_lettered.into_iter().map(|d| d.cart).collect(),
                })
            }
            Self::Memory(world) => {
                let drain = MEMORY_STREAM.drain(&world.memory).await?;
                if let Some(record) = drain.stopped_at {
                    return Err(anyhow!("the in-memory planner failed on record {record}"));
                }
                Ok(Planned {
                    records: drain.records,
                    ..Planned::default()
                })
            }
        }
    }

    /// Takes every schedule due at `now` (deleted as `ActionAfterCompletion: DELETE` does).
    /// On moto, the schedules the planner created (and moto accepted) or deleted since the
    /// last call are learnt from the scheduler's traffic, as Scheduler itself knows them,
    /// instead of listing and reading back every pending schedule each tick.
    pub async fn take_due(&self, now: Timestamp) -> Result<Vec<(String, WakeUp)>> {
        match self {
            Self::Moto(world) => {
                let mut changes = Vec::new();
                for recorded in world.proxy.take_recorded() {
                    let name = recorded.path.rsplit('/').next().unwrap_or_default();
                    changes.push(match recorded.operation.as_str() {
                        "scheduler/CreateSchedule" => ScheduleChange::Created(
                            StoredSchedule::from_create_request(name, &recorded.body)?,
                        ),
                        _ => ScheduleChange::Deleted(name.to_owned()),
                    });
                }
                world.stack.learn_schedules(changes)?;
                if world.stack.next_known_due().is_none_or(|at| at > now) {
                    return Ok(Vec::new());
                }
                Ok(world
                    .stack
                    .take_due_known()
                    .await?
                    .into_iter()
                    .map(|(schedule, wake)| (schedule.name, wake))
                    .collect())
            }
            Self::Memory(world) => {
                let mut due = Vec::new();
                while let Some(spec) = world.memory.schedules.take_due(now) {
                    due.push((spec.name, spec.wake_up));
                }
                Ok(due)
            }
        }
    }

    /// When the earliest pending schedule is due, as far as known without a call.
    pub fn next_due(&self) -> Option<Timestamp> {
        match self {
            Self::Moto(world) => world.stack.next_known_due(),
            Self::Memory(world) => world.memory.schedules.next_due_at(),
        }
    }

    /// One sender invocation.
    pub async fn wake(&self, wake: &WakeUp) -> Result<Outcome, SendError> {
        match self {
            Self::Moto(world) => world.stack.wake(wake).await,
            Self::Memory(world) => cartback_sender::handle(wake, &world.memory.ports).await,
        }
    }

    /// Every message the mail and SMS services accepted.
    pub async fn outbox(&self) -> Result<Outbox> {
        match self {
            Self::Moto(world) => {
                let data = world.moto.data().await?;
                Ok(Outbox {
                    emails: cartback_devstack::sent_emails(&data)
                        .into_iter()
                        .map(|m| (m.message_id, m.raw.into_bytes()))
                        .collect(),
                    sms: cartback_devstack::sent_sms(&data)
                        .into_iter()
                        .map(|s| (s.message_id, s.phone_number, s.message))
                        .collect(),
                })
            }
            Self::Memory(world) => Ok(Outbox {
                emails: world
                    .mailer
                    .outbox()
                    .into_iter()
                    .map(|m| (m.message_id, m.raw))
                    .collect(),
                sms: world
                    .sms
                    .outbox()
                    .into_iter()
                    .map(|s| (s.message_id, s.to.as_str().to_owned(), s.text))
                    .collect(),
            }),
        }
    }

    /// Every cart as the table holds it at the end, by (shop, cart id).
    pub async fn carts(&self) -> Result<HashMap<(String, String), CartRecord>> {
        let carts: Vec<CartRecord> = match self {
            Self::Moto(world) => world
                .stack
                .carts()
                .await
                .context("scanning the carts")?
                .into_iter()
                .map(|v| v.value)
                .collect(),
            Self::Memory(world) => world.memory.store.carts(),
        };
        Ok(carts
            .into_iter()
            .map(|c| ((c.shop.as_str().to_owned(), c.cart.as_str().to_owned()), c))
            .collect())
    }

    pub fn metrics(&self) -> Vec<Emf> {
        match self {
            Self::Moto(world) => world.stack.metrics(),
            Self::Memory(world) => world.metrics.emitted(),
        }
    }

    /// The schedules still pending (moto), for the personal-data guard.
    pub async fn pending_schedules(&self) -> Result<Vec<StoredSchedule>> {
        match self {
            Self::Moto(world) => Ok(world.stack.schedules().await?),
            Self::Memory(_) => Ok(Vec::new()),
        }
    }
}

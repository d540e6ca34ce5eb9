//! The one bundle of ports every use case takes: `wake_up<P: Ports>(…, &P)`. Each world
//! wires its own: the Lambda functions on AWS (`functions/*/src/main.rs`), the in-memory
//! runtime (`functions/local`), the emulator stack (`functions/devstack`).

use cartback_core::messages::render::Renderer;
use cartback_core::model::cart::{CartRecord, ContactRecord, Versioned};
use cartback_core::model::ids::{CartId, ContactKey, DeliveryId, PoolName, ShopId, StoreHash};
use cartback_core::model::offer_codes::{ClaimedCode, ImportReport, OfferCode};
use cartback_core::model::privacy::ErasureJob;
use cartback_core::model::schedule::ScheduleSpec;
use cartback_core::model::shop::{Shop, SignatureCheck};
use cartback_core::model::time::Clock;
use cartback_core::platforms::bigcommerce::Fetch;
use cartback_core::ports::{
    CartStore, DueIndex, ErasureQueue, KeyPage, Mailer, OfferCodes, OutgoingEmail, OutgoingSms,
    PersonalData, PortError, Put, Schedules, ShopDirectory, SmsSender, StoreApi, WebhookSecrets,
    WriteOutcome,
};
use jiff::Timestamp;

use crate::Metrics;
use crate::compose::UnsubscribeLinks;

/// Everything a use case may call, by role. A function wires only the ports it uses; the
/// others are [`Absent`].
pub trait Ports: Send + Sync {
    /// Carts and contacts; erasure and export also need `PersonalData` of it, the sweeper
    /// `DueIndex`.
    type Store: CartStore;
    type Mailer: Mailer;
    type Sms: SmsSender;
    type Schedules: Schedules;
    type Shops: ShopDirectory;
    type Secrets: WebhookSecrets;
    type StoreApi: StoreApi;
    type Clock: Clock;
    type OfferCodes: OfferCodes;
    type Erasures: ErasureQueue;

    /// Carts, contacts and webhook delivery ids (DynamoDB).
    fn store(&self) -> &Self::Store;
    /// Email (SES).
    fn mailer(&self) -> &Self::Mailer;
    /// SMS and its opt-out list (SNS).
    fn sms(&self) -> &Self::Sms;
    /// One-shot schedules (EventBridge Scheduler).
    fn schedules(&self) -> &Self::Schedules;
    /// The shops' settings and sequences.
    fn shops(&self) -> &Self::Shops;
    /// The shops' webhook secrets (SSM).
    fn secrets(&self) -> &Self::Secrets;
    /// The stores' APIs, for webhooks that carry only ids (BigCommerce).
    fn store_api(&self) -> &Self::StoreApi;
    fn clock(&self) -> &Self::Clock;
    /// The shops' pools of single-use offer codes.
    fn offer_codes(&self) -> &Self::OfferCodes;
    /// Where privacy requests wait for the erasure worker (SQS).
    fn erasures(&self) -> &Self::Erasures;
    /// Where CloudWatch metrics go (stdout in Lambda).
    fn metrics(&self) -> &Metrics;
    /// How messages are rendered and where their unsubscribe links point.
    fn messaging(&self) -> &Messaging;
}

/// What composing a message needs besides the ports.
#[derive(Default)]
pub struct Messaging {
    /// Compiled once per warm container (built-in templates compile on first use).
    pub renderer: Renderer,
    /// Where unsubscribe links point and how they are signed; `None`: emails carry no
    /// unsubscribe link (and no `List-Unsubscribe` header).
    pub unsubscribe: Option<UnsubscribeLinks>,
}

/// A set of ports, one field per role: what each world fills in.
pub struct Bundle<
    Store = Absent,
    Mail = Absent,
    Sms = Absent,
    Sched = Absent,
    Shops = Absent,
    Secrets = Absent,
    Api = Absent,
    Clk = SystemClock,
    Codes = Absent,
    Erase = Absent,
> {
    pub store: Store,
    pub mailer: Mail,
    pub sms: Sms,
    pub schedules: Sched,
    pub shops: Shops,
    pub secrets: Secrets,
    pub store_api: Api,
    pub clock: Clk,
    pub offer_codes: Codes,
    pub erasures: Erase,
    pub metrics: Metrics,
    pub messaging: Messaging,
}

impl<Store, Mail, Sms, Sched, Shops, Secrets, Api, Clk, Codes, Erase> Ports
    for Bundle<Store, Mail, Sms, Sched, Shops, Secrets, Api, Clk, Codes, Erase>
where
    Store: CartStore,
    Mail: Mailer,
    Sms: SmsSender,
    Sched: Schedules,
    Shops: ShopDirectory,
    Secrets: WebhookSecrets,
    Api: StoreApi,
    Clk: Clock,
    Codes: OfferCodes,
    Erase: ErasureQueue,
{
    type Store = Store;
    type Mailer = Mail;
    type Sms = Sms;
    type Schedules = Sched;
    type Shops = Shops;
    type Secrets = Secrets;
    type StoreApi = Api;
    type Clock = Clk;
    type OfferCodes = Codes;
    type Erasures = Erase;

    fn store(&self) -> &Store {
        &self.store
    }
    fn mailer(&self) -> &Mail {
        &self.mailer
    }
    fn sms(&self) -> &Sms {
        &self.sms
    }
    fn schedules(&self) -> &Sched {
        &self.schedules
    }
    fn shops(&self) -> &Shops {
        &self.shops
    }
    fn secrets(&self) -> &Secrets {
        &self.secrets
    }
    fn store_api(&self) -> &Api {
        &self.store_api
    }
    fn clock(&self) -> &Clk {
        &self.clock
    }
    fn offer_codes(&self) -> &Codes {
        &self.offer_codes
    }
    fn erasures(&self) -> &Erase {
        &self.erasures
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    fn messaging(&self) -> &Messaging {
        &self.messaging
    }
}

impl<Store, Mail, Sms, Sched, Shops, Secrets, Api, Clk, Codes, Erase>
    Bundle<Store, Mail, Sms, Sched, Shops, Secrets, Api, Clk, Codes, Erase>
{
    /// The same bundle with its messages' unsubscribe links (read once the secret is).
    pub fn with_unsubscribe_links(mut self, links: Option<UnsubscribeLinks>) -> Self {
        self.messaging.unsubscribe = links;
        self
    }

    /// The same bundle rendering with `renderer` (say, with shops' own templates).
    pub fn with_renderer(mut self, renderer: Renderer) -> Self {
        self.messaging.renderer = renderer;
        self
    }

    /// The same bundle sending its metrics to `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }
}

impl<Clk> Bundle<Absent, Absent, Absent, Absent, Absent, Absent, Absent, Clk, Absent> {
    /// A bundle with a clock and nothing else (no metrics, built-in templates): add the
    /// ports a function uses with `with_store`, `with_schedules`, ….
    pub fn unwired(clock: Clk) -> Self {
        Bundle {
            store: Absent,
            mailer: Absent,
            sms: Absent,
            schedules: Absent,
            shops: Absent,
            secrets: Absent,
            store_api: Absent,
            clock,
            offer_codes: Absent,
            erasures: Absent,
            metrics: Metrics::Off,
            messaging: Messaging::default(),
        }
    }
}

/// The real wall clock, for the Lambda functions and the commands that act now.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A port this function does not wire: every call fails for good (a defect in the wiring,
/// never a reason to retry).
#[derive(Debug, Clone, Copy, Default)]
pub struct Absent;

fn absent(service: &'static str) -> PortError {
    PortError::permanent(service, "not wired in this function")
}

impl CartStore for Absent {
    async fn cart(
        &self,
        _: &ShopId,
        _: &CartId,
    ) -> Result<Option<Versioned<CartRecord>>, PortError> {
        Err(absent("store"))
    }
    async fn contact(
        &self,
        _: &ShopId,
        _: &ContactKey,
    ) -> Result<Option<Versioned<ContactRecord>>, PortError> {
        Err(absent("store"))
    }
    async fn delivery_seen(&self, _: &ShopId, _: &DeliveryId) -> Result<bool, PortError> {
        Err(absent("store"))
    }
    async fn write(&self, _: Vec<Put>) -> Result<WriteOutcome, PortError> {
        Err(absent("store"))
    }
}

impl DueIndex for Absent {
    async fn overdue(&self, _: Timestamp, _: usize) -> Result<Vec<(ShopId, CartId)>, PortError> {
        Err(absent("store"))
    }
}

impl PersonalData for Absent {
    async fn carts_with_key(&self, _: &ShopId, _: &ContactKey) -> Result<Vec<CartId>, PortError> {
        Err(absent("store"))
    }
    async fn carts_by_id(&self, _: &ShopId, _: &[CartId]) -> Result<Vec<CartRecord>, PortError> {
        Err(absent("store"))
    }
    async fn shop_keys(&self, _: &ShopId, _: Option<&str>) -> Result<KeyPage, PortError> {
        Err(absent("store"))
    }
    async fn delete_items(&self, _: &ShopId, _: &[String]) -> Result<(), PortError> {
        Err(absent("store"))
    }
}

impl ErasureQueue for Absent {
    async fn enqueue(&self, _: &ErasureJob) -> Result<(), PortError> {
        Err(absent("erasures"))
    }
}

impl Mailer for Absent {
    async fn send_email(&self, _: &OutgoingEmail) -> Result<String, PortError> {
        Err(absent("mailer"))
    }
}

impl SmsSender for Absent {
    async fn send_sms(&self, _: &OutgoingSms) -> Result<String, PortError> {
        Err(absent("sms"))
    }
    async fn is_opted_out(
        &self,
        _: &cartback_core::model::contact::Phone,
    ) -> Result<bool, PortError> {
        Err(absent("sms"))
    }
}

impl Schedules for Absent {
    async fn create(&self, _: &ScheduleSpec) -> Result<(), PortError> {
        Err(absent("schedules"))
    }
    async fn delete(&self, _: &str) -> Result<(), PortError> {
        Err(absent("schedules"))
    }
}

impl ShopDirectory for Absent {
    async fn shop(&self, _: &ShopId) -> Result<Option<Shop>, PortError> {
        Err(absent("shops"))
    }
}

impl WebhookSecrets for Absent {
    async fn webhook_check(&self, _: &ShopId) -> Result<Option<SignatureCheck>, PortError> {
        Err(absent("secrets"))
    }
}

impl StoreApi for Absent {
    async fn bigcommerce(
        &self,
        _: &ShopId,
        _: &StoreHash,
        _: &Fetch,
    ) -> Result<Option<Vec<u8>>, PortError> {
        Err(absent("store-api"))
    }
}

impl OfferCodes for Absent {
    async fn claim(
        &self,
        _: &ShopId,
        _: &PoolName,
        _: &CartId,
        _: u32,
        _: Timestamp,
    ) -> Result<Option<ClaimedCode>, PortError> {
        Err(absent("offer-codes"))
    }
    async fn import(
        &self,
        _: &ShopId,
        _: &PoolName,
        _: &[OfferCode],
    ) -> Result<ImportReport, PortError> {
        Err(absent("offer-codes"))
    }
}

/// A borrowed bundle is a bundle: a handler can hold `&ports` beside its own settings.
impl<T: Ports> Ports for &T {
    type Store = T::Store;
    type Mailer = T::Mailer;
    type Sms = T::Sms;
    type Schedules = T::Schedules;
    type Shops = T::Shops;
    type Secrets = T::Secrets;
    type StoreApi = T::StoreApi;
    type Clock = T::Clock;
    type OfferCodes = T::OfferCodes;
    type Erasures = T::Erasures;

    fn store(&self) -> &Self::Store {
        (**self).store()
    }
    fn mailer(&self) -> &Self::Mailer {
        (**self).mailer()
    }
    fn sms(&self) -> &Self::Sms {
        (**self).sms()
    }
    fn schedules(&self) -> &Self::Schedules {
        (**self).schedules()
    }
    fn shops(&self) -> &Self::Shops {
        (**self).shops()
    }
    fn secrets(&self) -> &Self::Secrets {
        (**self).secrets()
    }
    fn store_api(&self) -> &Self::StoreApi {
        (**self).store_api()
    }
    fn clock(&self) -> &Self::Clock {
        (**self).clock()
    }
    fn offer_codes(&self) -> &Self::OfferCodes {
        (**self).offer_codes()
    }
    fn erasures(&self) -> &Self::Erasures {
        (**self).erasures()
    }
    fn metrics(&self) -> &Metrics {
        (**self).metrics()
    }
    fn messaging(&self) -> &Messaging {
        (**self).messaging()
    }
}

/// The same bundle with one port replaced by one of any type: a test puts a failing store
/// or a counting mailer into a world's bundle with `ports.with_store(failing)`.
macro_rules! replace_port {
    ($method:ident, $field:ident, $ret:ty, [$($other:ident),*]) => {
        pub fn $method<New>(self, $field: New) -> $ret {
            Bundle {
                $field,
                $($other: self.$other,)*
                metrics: self.metrics,
                messaging: self.messaging,
            }
        }
    };
}

impl<Store, Mail, Sms, Sched, Shops, Secrets, Api, Clk, Codes, Erase>
    Bundle<Store, Mail, Sms, Sched, Shops, Secrets, Api, Clk, Codes, Erase>
{
    replace_port!(
        with_store,
        store,
        Bundle<New, Mail, Sms, Sched, Shops, Secrets, Api, Clk, Codes, Erase>,
        [mailer, sms, schedules, shops, secrets, store_api, clock, offer_codes, erasures]
    );
    replace_port!(
        with_mailer,
        mailer,
        Bundle<Store, New, Sms, Sched, Shops, Secrets, Api, Clk, Codes, Erase>,
        [store, sms, schedules, shops, secrets, store_api, clock, offer_codes, erasures]
    );
    replace_port!(
        with_sms,
        sms,
        Bundle<Store, Mail, New, Sched, Shops, Secrets, Api, Clk, Codes, Erase>,
        [store, mailer, schedules, shops, secrets, store_api, clock, offer_codes, erasures]
    );
    replace_port!(
        with_schedules,
        schedules,
        Bundle<Store, Mail, Sms, New, Shops, Secrets, Api, Clk, Codes, Erase>,
        [store, mailer, sms, shops, secrets, store_api, clock, offer_codes, erasures]
    );
    replace_port!(
        with_shops,
        shops,
        Bundle<Store, Mail, Sms, Sched, New, Secrets, Api, Clk, Codes, Erase>,
        [store, mailer, sms, schedules, secrets, store_api, clock, offer_codes, erasures]
    );
    replace_port!(
        with_secrets,
        secrets,
        Bundle<Store, Mail, Sms, Sched, Shops, New, Api, Clk, Codes, Erase>,
        [store, mailer, sms, schedules, shops, store_api, clock, offer_codes, erasures]
    );
    replace_port!(
        with_store_api,
        store_api,
        Bundle<Store, Mail, Sms, Sched, Shops, Secrets, New, Clk, Codes, Erase>,
        [store, mailer, sms, schedules, shops, secrets, clock, offer_codes, erasures]
    );
    replace_port!(
        with_clock,
        clock,
        Bundle<Store, Mail, Sms, Sched, Shops, Secrets, Api, New, Codes, Erase>,
        [store, mailer, sms, schedules, shops, secrets, store_api, offer_codes, erasures]
    );
    replace_port!(
        with_offer_codes,
        offer_codes,
        Bundle<Store, Mail, Sms, Sched, Shops, Secrets, Api, Clk, New, Erase>,
        [store, mailer, sms, schedules, shops, secrets, store_api, clock, erasures]
    );
    replace_port!(
        with_erasures,
        erasures,
        Bundle<Store, Mail, Sms, Sched, Shops, Secrets, Api, Clk, Codes, New>,
        [store, mailer, sms, schedules, shops, secrets, store_api, clock, offer_codes]
    );
}

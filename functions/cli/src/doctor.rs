//! `cartback doctor`: a preflight of a deployed stack (or of the running `cartback dev`):
//! reads what each prerequisite looks like in the account, then judges it with pure rules
//! ([`judge`]) and prints one line per check with what to fix.
//!
//! Checked: the table (its stream and indexes); the unsubscribe secret; the SES sending
//! identity (verified, DKIM), the account (sending enabled, production access), the
//! configuration set and its event destination; every shop (settings, webhook secret, the
//! BigCommerce API token, a `from_address` the identity may send from); and, when a shop
//! texts, the SMS sandbox and the monthly spend limit. Nothing is written; no secret value
//! is printed.

use std::fmt::Write as _;

use aws_sdk_sesv2::types::EventType;
use cartback_aws::ShopRegistry;
use cartback_core::model::shop::Shop;
use clap::Args;

use crate::stack::Setting;

mod webhooks;

use serde::Serialize;
pub use webhooks::Webhooks;

/// Which stack to check.
#[derive(Args, Clone, Debug)]
pub struct DoctorArgs {
    /// The deployed table (default: the --stack output, else $CARTBACK_TABLE).
    #[arg(long, conflicts_with = "local")]
    pub table: Option<String>,
    /// The SSM prefix of the shops' secrets (default: the --stack output, else $CARTBACK_SECRETS_PREFIX, else
    /// /cartback/shops/).
    #[arg(long)]
    pub secrets_prefix: Option<String>,
    /// The SSM SecureString with the unsubscribe secret (the stack's
    /// `UnsubscribeSecretParameter` output; default: $CARTBACK_UNSUBSCRIBE_SECRET_PARAM,
    /// else /cartback/unsubscribe-secret).
    #[arg(long)]
    pub unsubscribe_secret_parameter: Option<String>,
    /// The SES identity mail is sent from (the stack's `SenderEmailIdentity` output: a domain
    /// or an address; default: $CARTBACK_SENDER_IDENTITY, else the domain of the first shop's
    /// from_address).
    #[arg(long)]
    pub sender_identity: Option<String>,
    /// The SES configuration set the sender names (default: the --stack output, else $CARTBACK_SES_CONFIGURATION_SET,
    /// else `cartback`).
    #[arg(long)]
    pub configuration_set: Option<String>,
    /// Check the `cartback dev` running on --port (its moto).
    #[arg(long)]
    pub local: bool,
    /// The port of the `cartback dev` (with --local).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// One JSON object per check instead of text.
    #[arg(long)]
    pub json: bool,
    /// Where the platforms' webhooks must point: the stack's `WebhookBaseUrl` output
    /// (default: the --stack output, else $CARTBACK_WEBHOOK_BASE).
    #[arg(long)]
    pub webhook_base: Option<String>,
    /// Ask this origin instead of https://<store> for Shopify's Admin API (tests).
    #[arg(long, hide = true)]
    pub shopify_admin_origin: Option<String>,
    /// BigCommerce's API origin (tests point it at a mock).
    #[arg(long, hide = true, default_value = "https://api.bigcommerce.com")]
    pub bigcommerce_api: String,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    /// Works, but not as it should for real shoppers (the SES sandbox, say).
    Warn,
    /// Must be fixed: something will fail.
    Fix,
    /// Not checkable from here: what to check by hand.
    Note,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: String,
    pub level: Level,
    pub detail: String,
    /// What to do (for `warn` and `fix`; for `note`, what to check by hand).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            level: Level::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A check at `level` with what to do about it.
    fn with_action(
        level: Level,
        check: impl Into<String>,
        detail: impl Into<String>,
        action: impl Into<String>,
    ) -> Self {
        Self {
            check: check.into(),
            level,
            detail: detail.into(),
            fix: Some(action.into()),
        }
    }

    fn warn(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::with_action(Level::Warn, check, detail, fix)
    }

    /// What doctor cannot read: `what` to check by hand.
    fn note(check: impl Into<String>, detail: impl Into<String>, what: impl Into<String>) -> Self {
        Self::with_action(Level::Note, check, detail, what)
    }

    fn fix(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::with_action(Level::Fix, check, detail, fix)
    }
}

/// What was read, or why it could not be (`Err`: the AWS error, said as is).
type Read<T> = Result<T, String>;

/// The table as DescribeTable says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableFacts {
    pub stream: bool,
    pub indexes: Vec<String>,
}

/// The SES identity as GetEmailIdentity says (`None`: no such identity).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityFacts {
    pub verified: bool,
    /// `SUCCESS`, `PENDING`, `FAILED`, `TEMPORARY_FAILURE`, `NOT_STARTED`.
    pub dkim: Option<String>,
}

/// The SES account as GetAccount says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountFacts {
    pub sending_enabled: bool,
    pub production_access: bool,
    pub max_send_rate: f64,
}

/// The configuration set's event destinations (`None`: no such configuration set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destination {
    pub enabled: bool,
    pub sns_topic: Option<String>,
    pub events: Vec<String>,
}

/// One shop as the registry and SSM say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopFacts {
    pub id: String,
    /// The settings' problem, if they do not make a shop.
    pub settings: Read<()>,
    pub secret: bool,
    pub removed: bool,
    pub from_address: Option<String>,
    pub uses_sms: bool,
    /// Whether a BigCommerce shop's API token is stored (`None`: not BigCommerce).
    pub bigcommerce_token: Option<bool>,
    /// Its webhooks as its platform lists them.
    pub webhooks: Webhooks,
}

/// SNS's SMS account state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsFacts {
    pub sandbox: bool,
    /// `MonthlySpendLimit` in USD, as SNS says it.
    pub spend_limit: Option<String>,
}

/// Everything read from the account.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// An emulator answers (`--local`, or `AWS_ENDPOINT_URL` set): it never verifies an SES
    /// identity and does not answer every call, so those are warnings, not fixes.
    pub emulated: bool,
    pub table_name: String,
    pub table: Option<Read<Option<TableFacts>>>,
    pub unsubscribe_parameter: String,
    /// Whether the parameter is a SecureString, and its length in bytes.
    pub unsubscribe_secret: Option<Read<Option<(bool, usize)>>>,
    pub identity_name: Option<String>,
    pub identity: Option<Read<Option<IdentityFacts>>>,
    pub account: Option<Read<AccountFacts>>,
    pub configuration_set: String,
    pub destinations: Option<Read<Option<Vec<Destination>>>>,
    pub shops: Option<Read<Vec<ShopFacts>>>,
    pub sms: Option<Read<SmsFacts>>,
}

/// The indexes the functions query (`infra/template.yaml`).
const INDEXES: [&str; 3] = ["person", "person_alt", "due"];
/// The SES events the feedback function acts on.
const EVENTS: [&str; 2] = ["BOUNCE", "COMPLAINT"];
/// The shortest unsubscribe secret accepted (bytes).
const MIN_SECRET: usize = 32;

/// Judges what was read: one check per prerequisite, in the order a deploy meets them.
pub fn judge(facts: &Facts) -> Vec<Check> {
    let mut checks = Vec::new();
    let could_not = |what: &str, error: &str| {
        Check::warn(
            what,
            format!("could not be read: {error}"),
            if facts.emulated {
                "the emulator does not answer this call; check it on AWS"
            } else {
                "check the credentials' rights (the AWS CLI's `aws sts get-caller-identity` says who you are) and run again"
            },
        )
    };
    match &facts.table {
        Some(Ok(Some(table))) => {
            let missing: Vec<&str> = INDEXES
                .iter()
                .copied()
                .filter(|i| !table.indexes.iter().any(|have| have == i))
                .collect();
            checks.push(if !table.stream {
                Check::fix(
                    "table",
                    format!("{}: no stream", facts.table_name),
                    "deploy infra/template.yaml: the planner reads the table's stream",
                )
            } else if !missing.is_empty() {
                Check::fix(
                    "table",
                    format!("{}: no index {}", facts.table_name, missing.join(", ")),
                    "deploy this version's infra/template.yaml (docs/deploy.md, Upgrading)",
                )
            } else {
                Check::ok(
                    "table",
                    format!(
                        "{}: stream on, indexes {}",
                        facts.table_name,
                        INDEXES.join(", ")
                    ),
                )
            });
        }
        Some(Ok(None)) => checks.push(Check::fix(
            "table",
            format!("{}: no such table", facts.table_name),
            "deploy the stack, or pass the stack's TableName output as --table",
        )),
        Some(Err(e)) => checks.push(could_not("table", e)),
        None => {}
    }
    match &facts.unsubscribe_secret {
        Some(Ok(Some((true, length)))) if *length >= MIN_SECRET => checks.push(Check::ok(
            "unsubscribe secret",
            format!("{}: a SecureString of {length} bytes", facts.unsubscribe_parameter),
        )),
        Some(Ok(Some((secure, length)))) => checks.push(Check::fix(
            "unsubscribe secret",
            format!(
                "{}: {} of {length} bytes",
                facts.unsubscribe_parameter,
                if *secure { "a SecureString" } else { "not a SecureString" }
            ),
            format!(
                "aws ssm put-parameter --overwrite --type SecureString --name {} --value \"$(openssl rand -base64 48)\" (links already sent stop working)",
                facts.unsubscribe_parameter
            ),
        )),
        Some(Ok(None)) => checks.push(Check::fix(
            "unsubscribe secret",
            format!("{}: missing", facts.unsubscribe_parameter),
            format!(
                "aws ssm put-parameter --type SecureString --name {} --value \"$(openssl rand -base64 48)\"",
                facts.unsubscribe_parameter
            ),
        )),
        Some(Err(e)) => checks.push(could_not("unsubscribe secret", e)),
        None => {}
    }
    checks.extend(judge_ses(facts, &could_not));
    checks.extend(judge_shops(facts, &could_not));
    match &facts.sms {
        Some(Ok(sms)) => {
            checks.push(if sms.sandbox {
                Check::warn(
                    "sms",
                    "the account is in the SMS sandbox: texts reach only verified numbers",
                    "ask AWS to move the account out of the SMS sandbox (SNS console → Text messaging → Exit SMS sandbox); meanwhile verify test numbers",
                )
            } else {
                Check::ok("sms", "out of the SMS sandbox")
            });
            let limit = sms.spend_limit.as_deref().unwrap_or("1");
            let low = limit.parse::<f64>().map_or(true, |l| l <= 1.0);
            checks.push(if low {
                Check::warn(
                    "sms spend limit",
                    format!("MonthlySpendLimit is {limit} USD: SNS stops texting once it is spent"),
                    "raise it (a quota increase above 1 USD, then aws sns set-sms-attributes --attributes MonthlySpendLimit=<USD>)",
                )
            } else {
                Check::ok("sms spend limit", format!("{limit} USD a month"))
            });
        }
        Some(Err(e)) => checks.push(could_not("sms", e)),
        None => {}
    }
    checks
}

fn judge_ses(facts: &Facts, could_not: &dyn Fn(&str, &str) -> Check) -> Vec<Check> {
    let mut checks = Vec::new();
    let name = facts.identity_name.as_deref().unwrap_or("(none)");
    let is_domain = !name.contains('@');
    match &facts.identity {
        Some(Ok(Some(identity))) => {
            checks.push(if !identity.verified && facts.emulated {
                Check::warn(
                    "ses identity",
                    format!("{name}: exists, not verified (an emulator never verifies one)"),
                    "on AWS, publish the identity's DKIM records and wait for SES to verify it",
                )
            } else if !identity.verified {
                Check::fix(
                    "ses identity",
                    format!("{name}: not verified"),
                    if is_domain {
                        "add the identity's three DKIM CNAME records to the domain's DNS (aws sesv2 get-email-identity --email-identity <domain> lists them) and wait for SES to verify it"
                    } else {
                        "click the link in the mail SES sent to the address (aws sesv2 create-email-identity sends another)"
                    },
                )
            } else if is_domain && identity.dkim.as_deref() != Some("SUCCESS") {
                Check::fix(
                    "ses identity",
                    format!(
                        "{name}: verified, DKIM {}",
                        identity.dkim.as_deref().unwrap_or("not set up")
                    ),
                    "turn on Easy DKIM and publish its three CNAME records: mailbox providers reject or junk bulk mail without DKIM",
                )
            } else {
                Check::ok(
                    "ses identity",
                    format!(
                        "{name}: verified{}",
                        if is_domain { ", DKIM on" } else { "" }
                    ),
                )
            });
        }
        Some(Ok(None)) => checks.push(Check::fix(
            "ses identity",
            format!("{name}: no such identity in this region"),
            "aws sesv2 create-email-identity --email-identity <domain>, then publish its DKIM records (docs/deploy.md, SES)",
        )),
        Some(Err(e)) => checks.push(could_not("ses identity", e)),
        None => checks.push(Check::fix(
            "ses identity",
            "no sending identity known",
            "pass --sender-identity (the stack's SenderEmailIdentity), or add a shop",
        )),
    }
    match &facts.account {
        Some(Ok(account)) => {
            if !account.sending_enabled {
                checks.push(Check::fix(
                    "ses account",
                    "sending is paused for the account",
                    "read the SES console's account dashboard (a paused account says why), fix it, then aws sesv2 put-account-sending-attributes --sending-enabled",
                ));
            } else if !account.production_access {
                checks.push(Check::warn(
                    "ses account",
                    "in the SES sandbox: mail reaches only verified addresses",
                    "request production access: aws sesv2 put-account-details --production-access-enabled --mail-type MARKETING --website-url <shop URL> --use-case-description <how shoppers opt in> (docs/deploy.md)",
                ));
            } else {
                checks.push(Check::ok(
                    "ses account",
                    format!(
                        "production access, up to {} emails a second",
                        account.max_send_rate
                    ),
                ));
            }
        }
        Some(Err(e)) => checks.push(could_not("ses account", e)),
        None => {}
    }
    let set = &facts.configuration_set;
    match &facts.destinations {
        Some(Ok(Some(destinations))) => {
            let covered = |event: &str| {
                destinations.iter().any(|d| {
                    d.enabled && d.sns_topic.is_some() && d.events.iter().any(|e| e == event)
                })
            };
            let missing: Vec<&str> = EVENTS.iter().copied().filter(|e| !covered(e)).collect();
            checks.push(if missing.is_empty() {
                Check::ok(
                    "ses events",
                    format!("configuration set {set} publishes bounces and complaints to SNS"),
                )
            } else {
                Check::fix(
                    "ses events",
                    format!(
                        "configuration set {set}: no enabled SNS destination for {}",
                        missing.join(", ")
                    ),
                    "deploy infra/template.yaml (it creates the destination); without it a bounce or complaint does not stop later mail",
                )
            });
        }
        Some(Ok(None)) => checks.push(Check::fix(
            "ses events",
            format!("no configuration set {set}"),
            "deploy infra/template.yaml, or pass the stack's configuration set as --configuration-set",
        )),
        Some(Err(e)) => checks.push(could_not("ses events", e)),
        None => {}
    }
    checks
}

fn judge_shops(facts: &Facts, could_not: &dyn Fn(&str, &str) -> Check) -> Vec<Check> {
    let mut checks = Vec::new();
    let shops = match &facts.shops {
        Some(Ok(shops)) => shops,
        Some(Err(e)) => return vec![could_not("shops", e)],
        None => return checks,
    };
    if shops.iter().all(|s| s.removed) {
        checks.push(Check::warn(
            "shops",
            "no shop is served",
            "cartback shop add --shop <id> --settings shops.toml --secret-file <file> (docs/deploy.md, step 8)",
        ));
    }
    for shop in shops.iter().filter(|s| !s.removed) {
        let name = format!("shop {}", shop.id);
        let mut problems = Vec::new();
        let mut fixes = Vec::new();
        if let Err(problem) = &shop.settings {
            problems.push(format!("settings: {problem}"));
            fixes.push(format!(
                "cartback shop add --shop {} --settings <file> --replace",
                shop.id
            ));
        }
        if !shop.secret {
            problems.push("no webhook secret".to_owned());
            fixes.push(format!(
                "cartback shop add --shop {} --settings <file> --secret-file <file> --replace (webhooks get 404 until then)",
                shop.id
            ));
        }
        if shop.bigcommerce_token == Some(false) {
            problems.push("no BigCommerce API token".to_owned());
            fixes.push("store the API account's token (docs/deploy.md, BigCommerce)".to_owned());
        }
        if let (Some(from), Some(identity)) = (&shop.from_address, &facts.identity_name)
            && !may_send_from(identity, from)
        {
            problems.push(format!(
                "from_address {from} is not of the SES identity {identity}"
            ));
            fixes.push(format!(
                "set from_address to an address of {identity}, or deploy with SenderEmailIdentity covering it"
            ));
        }
        checks.push(if problems.is_empty() {
            Check::ok(
                name,
                format!(
                    "settings, webhook secret{}{}",
                    if shop.bigcommerce_token.is_some() {
                        ", API token"
                    } else {
                        ""
                    },
                    if shop.uses_sms { ", texts" } else { "" }
                ),
            )
        } else {
            Check::fix(name, problems.join("; "), fixes.join("; "))
        });
        checks.push(webhooks::judge(&shop.id, &shop.webhooks, could_not));
    }
    checks
}

/// Whether the identity (a domain or an address) may send as `from`.
fn may_send_from(identity: &str, from: &str) -> bool {
    let identity = identity.to_ascii_lowercase();
    let from = from.to_ascii_lowercase();
    if identity.contains('@') {
        return identity == from;
    }
    from.rsplit_once('@')
        .is_some_and(|(_, domain)| domain == identity || domain.ends_with(&format!(".{identity}")))
}

/// The report as text: a line per check, then the count.
pub fn text(checks: &[Check]) -> String {
    let mut out = String::new();
    let width = checks
        .iter()
        .map(|c| c.check.chars().count())
        .max()
        .unwrap_or(0)
        .max(20);
    for check in checks {
        let tag = match check.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fix => "FIX ",
            Level::Note => "note",
        };
        let _ = writeln!(out, "{tag}  {:<width$} {}", check.check, check.detail);
        if let Some(fix) = &check.fix {
            let _ = writeln!(out, "      {:<width$} → {fix}", "");
        }
    }
    let fixes = checks.iter().filter(|c| c.level == Level::Fix).count();
    let warns = checks.iter().filter(|c| c.level == Level::Warn).count();
    let _ = writeln!(
        out,
        "{} checks: {} to fix, {} warnings",
        checks.len(),
        fixes,
        warns
    );
    out
}

/// The report as JSON lines.
pub fn json_lines(checks: &[Check]) -> String {
    checks
        .iter()
        .map(|c| serde_json::to_string(c).unwrap_or_default() + "\n")
        .collect()
}

/// Whether anything must be fixed.
pub fn needs_fixing(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.level == Level::Fix)
}

/// Why doctor could not start.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error(
        "no table: pass --table (the stack's TableName output), --stack NAME, set CARTBACK_TABLE, or use --local"
    )]
    NoTable,
    #[error(transparent)]
    Dev(#[from] crate::explain::DevStateError),
}

/// Where the stack is, as the arguments and environment say.
struct Setup {
    sdk: aws_config::SdkConfig,
    table: String,
    secrets_prefix: String,
    /// Where the shops' webhooks must point (`None`: unknown).
    webhook_base: Option<String>,
}

async fn setup(args: &DoctorArgs) -> Result<Setup, DoctorError> {
    if args.local {
        let state = crate::explain::dev_state(args.port).await?;
        let sdk = cartback_devstack::sdk_config(&state.moto_endpoint, &state.region).await;
        return Ok(Setup {
            sdk,
            table: state.table,
            secrets_prefix: args.secrets_prefix.clone().unwrap_or(state.secrets_prefix),
            webhook_base: Some(
                args.webhook_base
                    .clone()
                    .unwrap_or_else(|| format!("http://localhost:{}/webhooks/", args.port)),
            ),
        });
    }
    let table =
        crate::stack::resolve(args.table.clone(), Setting::Table).ok_or(DoctorError::NoTable)?;
    let secrets_prefix = crate::stack::resolve(args.secrets_prefix.clone(), Setting::SecretsPrefix)
        .unwrap_or_else(|| "/cartback/shops/".to_owned());
    Ok(Setup {
        sdk: cartback_aws::load_sdk_config().await,
        table,
        secrets_prefix,
        webhook_base: crate::stack::resolve(args.webhook_base.clone(), Setting::WebhookBase),
    })
}

/// Reads the account and judges it.
pub async fn run(args: &DoctorArgs) -> Result<Vec<Check>, DoctorError> {
    let setup = setup(args).await?;
    let facts = gather(args, &setup).await;
    Ok(judge(&facts))
}

pub(crate) fn said<E: std::error::Error>(error: E) -> String {
    // The SDK's display with its source chain, on one line.
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

async fn gather(args: &DoctorArgs, setup: &Setup) -> Facts {
    let sdk = &setup.sdk;
    let mut facts = Facts {
        emulated: args.local || std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        table_name: setup.table.clone(),
        unsubscribe_parameter: crate::stack::resolve(
            args.unsubscribe_secret_parameter.clone(),
            Setting::UnsubscribeSecretParameter,
        )
        .unwrap_or_else(|| "/cartback/unsubscribe-secret".to_owned()),
        configuration_set: crate::stack::resolve(
            args.configuration_set.clone(),
            Setting::ConfigurationSet,
        )
        .unwrap_or_else(|| "cartback".to_owned()),
        ..Facts::default()
    };
    facts.table = Some(read_table(sdk, &setup.table).await);
    facts.unsubscribe_secret = Some(read_secret(sdk, &facts.unsubscribe_parameter).await);
    let registry = ShopRegistry::new(sdk, &setup.table, &setup.secrets_prefix);
    let origins = webhooks::Origins {
        shopify: args.shopify_admin_origin.clone(),
        bigcommerce: args.bigcommerce_api.clone(),
    };
    let shops = read_shops(sdk, &registry, setup, &origins).await;
    let named = crate::stack::resolve(args.sender_identity.clone(), Setting::SenderIdentity);
    if let Some(identity) = named {
        facts.identity = Some(read_identity(sdk, &identity).await);
        facts.identity_name = Some(identity);
    } else if let Some(from) = shops.as_ref().ok().and_then(|shops| {
        shops
            .iter()
            .filter(|s| !s.removed)
            .find_map(|s| s.from_address.clone())
    }) {
        // No identity named: the first shop's from_address says which it may be, its
        // domain or (an identity of one address) the address itself.
        let domain = from.rsplit_once('@').map(|(_, d)| d.to_owned());
        for candidate in domain.into_iter().chain([from]) {
            let read = read_identity(sdk, &candidate).await;
            let found = matches!(read, Ok(Some(_)));
            if facts.identity.is_none() || found {
                facts.identity_name = Some(candidate);
                facts.identity = Some(read);
            }
            if found {
                break;
            }
        }
    }
    facts.account = Some(read_account(sdk).await);
    facts.destinations = Some(read_destinations(sdk, &facts.configuration_set).await);
    let texts = shops
        .as_ref()
        .is_ok_and(|shops| shops.iter().any(|s| !s.removed && s.uses_sms));
    if texts {
        facts.sms = Some(read_sms(sdk).await);
    }
    facts.shops = Some(shops);
    facts
}

async fn read_table(sdk: &aws_config::SdkConfig, table: &str) -> Read<Option<TableFacts>> {
    match aws_sdk_dynamodb::Client::new(sdk)
        .describe_table()
        .table_name(table)
        .send()
        .await
    {
        Ok(output) => {
            let Some(table) = output.table else {
                return Ok(None);
            };
            Ok(Some(TableFacts {
                stream: table.stream_specification.is_some_and(|s| s.stream_enabled),
                indexes: table
                    .global_secondary_indexes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|i| i.index_name)
                    .collect(),
            }))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(said(e)),
    }
}

async fn read_secret(sdk: &aws_config::SdkConfig, name: &str) -> Read<Option<(bool, usize)>> {
    match aws_sdk_ssm::Client::new(sdk)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(output) => Ok(output.parameter.map(|p| {
            (
                p.r#type == Some(aws_sdk_ssm::types::ParameterType::SecureString),
                p.value.map_or(0, |v| v.len()),
            )
        })),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            Ok(None)
        }
        Err(e) => Err(said(e)),
    }
}

async fn read_identity(sdk: &aws_config::SdkConfig, identity: &str) -> Read<Option<IdentityFacts>> {
    match aws_sdk_sesv2::Client::new(sdk)
        .get_email_identity()
        .email_identity(identity)
        .send()
        .await
    {
        Ok(output) => Ok(Some(IdentityFacts {
            verified: output.verified_for_sending_status,
            dkim: output
                .dkim_attributes
                .and_then(|d| d.status)
                .map(|s| s.as_str().to_owned()),
        })),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(said(e)),
    }
}

async fn read_account(sdk: &aws_config::SdkConfig) -> Read<AccountFacts> {
    let output = aws_sdk_sesv2::Client::new(sdk)
        .get_account()
        .send()
        .await
        .map_err(said)?;
    Ok(AccountFacts {
        sending_enabled: output.sending_enabled,
        production_access: output.production_access_enabled,
        max_send_rate: output.send_quota.map_or(0.0, |q| q.max_send_rate),
    })
}

async fn read_destinations(
    sdk: &aws_config::SdkConfig,
    set: &str,
) -> Read<Option<Vec<Destination>>> {
    match aws_sdk_sesv2::Client::new(sdk)
        .get_configuration_set_event_destinations()
        .configuration_set_name(set)
        .send()
        .await
    {
        Ok(output) => Ok(Some(
            output
                .event_destinations
                .unwrap_or_default()
                .into_iter()
                .map(|d| Destination {
                    enabled: d.enabled,
                    sns_topic: d.sns_destination.map(|s| s.topic_arn),
                    events: d
                        .matching_event_types
                        .iter()
                        .map(EventType::as_str)
                        .map(str::to_owned)
                        .collect(),
                })
                .collect(),
        )),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(said(e)),
    }
}

async fn read_shops(
    sdk: &aws_config::SdkConfig,
    registry: &ShopRegistry,
    setup: &Setup,
    origins: &webhooks::Origins,
) -> Read<Vec<ShopFacts>> {
    let secrets_prefix = setup.secrets_prefix.as_str();
    let tokens = cartback_aws::SsmApiTokens::new(sdk, secrets_prefix);
    let mut facts = Vec::new();
    for shop in registry.list().await.map_err(said)? {
        let settings = shop.settings.as_ref().map(|s| s.value.clone());
        let built = match &settings {
            Some(settings) => Shop::new(shop.id.clone(), settings.clone()).map_err(said),
            None => Err("missing".to_owned()),
        };
        let bigcommerce_token = match settings
            .as_ref()
            .and_then(|s| s.bigcommerce_store_hash.as_ref())
        {
            Some(_) => Some(
                cartback_aws::ApiTokens::token(&tokens, &shop.id)
                    .await
                    .is_ok_and(|t| t.is_some()),
            ),
            None => None,
        };
        let webhooks = match &settings {
            Some(settings) if shop.removed.is_none() => {
                webhooks::read(
                    sdk,
                    secrets_prefix,
                    &shop.id,
                    settings,
                    setup.webhook_base.as_deref(),
                    origins,
                )
                .await
            }
            _ => Webhooks::Unknown,
        };
        facts.push(ShopFacts {
            id: shop.id.to_string(),
            uses_sms: built.as_ref().is_ok_and(Shop::uses_sms),
            settings: built.map(|_| ()),
            secret: shop.secret.is_some(),
            removed: shop.removed.is_some(),
            from_address: settings.map(|s| s.from_address.as_str().to_owned()),
            bigcommerce_token,
            webhooks,
        });
    }
    Ok(facts)
}

async fn read_sms(sdk: &aws_config::SdkConfig) -> Read<SmsFacts> {
    let client = aws_sdk_sns::Client::new(sdk);
    let sandbox = client
        .get_sms_sandbox_account_status()
        .send()
        .await
        .map_err(said)?
        .is_in_sandbox;
    let spend_limit = client
        .get_sms_attributes()
        .attributes("MonthlySpendLimit")
        .send()
        .await
        .map_err(said)?
        .attributes
        .and_then(|a| a.get("MonthlySpendLimit").cloned());
    Ok(SmsFacts {
        sandbox,
        spend_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(id: &str, from: &str) -> ShopFacts {
        ShopFacts {
            id: id.to_owned(),
            settings: Ok(()),
            secret: true,
            removed: false,
            from_address: Some(from.to_owned()),
            uses_sms: false,
            bigcommerce_token: None,
            webhooks: all_subscribed(id),
        }
    }

    /// Every Shopify topic subscribed to this stack.
    fn all_subscribed(id: &str) -> Webhooks {
        let callback = format!("https://hooks.kuura.example/webhooks/{id}/shopify");
        Webhooks::Read(Ok(webhooks::Registered {
            platform: webhooks::Platform::Shopify,
            callback: callback.clone(),
            hooks: webhooks::Platform::Shopify
                .topics()
                .into_iter()
                .map(|topic| webhooks::Hook {
                    topic: topic.to_owned(),
                    destination: callback.clone(),
                    active: true,
                })
                .collect(),
        }))
    }

    /// A stack deployed as docs/deploy.md says.
    fn healthy() -> Facts {
        Facts {
            emulated: false,
            table_name: "cartback-Table-1".to_owned(),
            table: Some(Ok(Some(TableFacts {
                stream: true,
                indexes: INDEXES.iter().map(|i| (*i).to_owned()).collect(),
            }))),
            unsubscribe_parameter: "/cartback/unsubscribe-secret".to_owned(),
            unsubscribe_secret: Some(Ok(Some((true, 64)))),
            identity_name: Some("kuura.example".to_owned()),
            identity: Some(Ok(Some(IdentityFacts {
                verified: true,
                dkim: Some("SUCCESS".to_owned()),
            }))),
            account: Some(Ok(AccountFacts {
                sending_enabled: true,
                production_access: true,
                max_send_rate: 14.0,
            })),
            configuration_set: "cartback".to_owned(),
            destinations: Some(Ok(Some(vec![Destination {
                enabled: true,
                sns_topic: Some("arn:aws:sns:eu-north-1:1:ses-events".to_owned()),
                events: vec![
                    "BOUNCE".to_owned(),
                    "COMPLAINT".to_owned(),
                    "OPEN".to_owned(),
                ],
            }]))),
            shops: Some(Ok(vec![shop("kuura", "hello@shop.kuura.example")])),
            sms: None,
        }
    }

    fn level(checks: &[Check], name: &str) -> Level {
        checks
            .iter()
            .find(|c| c.check == name)
            .map(|c| c.level)
            .unwrap_or_else(|| panic!("no {name}: {checks:?}"))
    }

    #[test]
    fn a_healthy_stack_is_all_ok() {
        let checks = judge(&healthy());
        assert!(checks.iter().all(|c| c.level == Level::Ok), "{checks:#?}");
        assert!(!needs_fixing(&checks));
    }

    #[test]
    fn each_broken_prerequisite_is_a_fix_with_what_to_do() {
        let mut facts = healthy();
        facts.identity = Some(Ok(Some(IdentityFacts {
            verified: true,
            dkim: Some("PENDING".to_owned()),
        })));
        facts.unsubscribe_secret = Some(Ok(None));
        facts.destinations = Some(Ok(Some(vec![Destination {
            enabled: true,
            sns_topic: Some("arn".to_owned()),
            events: vec!["OPEN".to_owned()],
        }])));
        facts.table = Some(Ok(Some(TableFacts {
            stream: true,
            indexes: vec!["gsi1".to_owned(), "due".to_owned()],
        })));
        facts.shops = Some(Ok(vec![ShopFacts {
            secret: false,
            ..shop("kuura", "hello@other.example")
        }]));
        let checks = judge(&facts);
        for name in [
            "ses identity",
            "unsubscribe secret",
            "ses events",
            "table",
            "shop kuura",
        ] {
            assert_eq!(level(&checks, name), Level::Fix, "{checks:#?}");
        }
        let table = checks.iter().find(|c| c.check == "table").expect("table");
        assert!(table.detail.contains("person, person_alt"), "{table:?}");
        assert!(needs_fixing(&checks));
        assert!(text(&checks).contains("5 to fix"), "{}", text(&checks));
    }

    #[test]
    fn the_sandboxes_and_a_low_spend_limit_are_warnings() {
        let mut facts = healthy();
        facts.account = Some(Ok(AccountFacts {
            sending_enabled: true,
            production_access: false,
            max_send_rate: 1.0,
        }));
        facts.sms = Some(Ok(SmsFacts {
            sandbox: true,
            spend_limit: None,
        }));
        let checks = judge(&facts);
        assert_eq!(level(&checks, "ses account"), Level::Warn);
        assert_eq!(level(&checks, "sms"), Level::Warn);
        assert_eq!(level(&checks, "sms spend limit"), Level::Warn);
        assert!(!needs_fixing(&checks));
    }

    #[test]
    fn an_address_identity_allows_only_itself_and_a_domain_its_subdomains() {
        assert!(may_send_from("kuura.example", "Hello@Kuura.Example"));
        assert!(may_send_from("kuura.example", "hello@mail.kuura.example"));
        assert!(!may_send_from("kuura.example", "hello@notkuura.example"));
        assert!(may_send_from("hello@kuura.example", "hello@kuura.example"));
        assert!(!may_send_from("hello@kuura.example", "other@kuura.example"));
    }

    #[test]
    fn an_emulator_s_unverified_identity_is_a_warning() {
        let mut facts = healthy();
        facts.emulated = true;
        facts.identity = Some(Ok(Some(IdentityFacts::default())));
        assert_eq!(level(&judge(&facts), "ses identity"), Level::Warn);
        facts.emulated = false;
        assert_eq!(level(&judge(&facts), "ses identity"), Level::Fix);
    }
}

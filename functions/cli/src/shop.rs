//! `cartback shop add|list|show|remove`: the shops a stack serves — settings in the table's
//! CONFIG item, the webhook secret in SSM Parameter Store (SecureString) — on a deployed
//! stack (AWS environment as usual: credentials, region, `AWS_ENDPOINT_URL` for an emulator)
//! or on the running `cartback dev` (`--local`). A secret is written, never printed.

pub mod shopify_connect;

use std::io::Read;
use std::path::{Path, PathBuf};

use cartback_aws::{PlatformToken, RegisteredShop, RegistryError, ShopRegistry};
use cartback_core::model::ids::{IdError, ShopId};
use cartback_core::model::shop::{Secret, ShopSettings};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::codes::{TABLE_ENV, deployed_table};
use crate::explain::{DevStateError, dev_state};
use crate::simulate::ShopsFileError;

/// The template's `SecretsPrefix` default.
pub const DEFAULT_SECRETS_PREFIX: &str = "/cartback/shops/";

/// Why a `cartback shop` command did nothing (or, for `connect`, not everything).
#[derive(Debug, thiserror::Error)]
pub enum ShopCmdError {
    #[error(transparent)]
    Dev(#[from] DevStateError),
    #[error(
        "no table: pass --table NAME or {TABLE_ENV} (the stack's DynamoDB table), or \
         --local for `cartback dev`"
    )]
    NoTable,
    #[error(transparent)]
    Prefix(#[from] BadPrefix),
    #[error("--shop `{shop}`: {source}")]
    Shop { shop: String, source: IdError },
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Shops(#[from] Box<ShopsFileError>),
    #[error("{}: {source}", path.display())]
    Toml {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error(
        "{}: no [shops.{id}] table: add one (examples/shops.toml shows the fields)",
        path.display()
    )]
    NoEntry { path: PathBuf, id: ShopId },
    #[error(transparent)]
    Secret(#[from] FirstLineError),
    #[error(
        "no webhook secret for shop `{id}`: pass --secret-file FILE or \
         --secret-stdin (or give the shop a webhook_secret in the settings file)"
    )]
    NoSecret { id: ShopId },
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(
        "no shop `{id}`: neither settings nor a webhook secret (`cartback shop list` \
         shows the shops there are)"
    )]
    NoShop { id: ShopId },
    #[error("no shop `{id}`: nothing to remove")]
    NothingToRemove { id: ShopId },
    #[error(transparent)]
    Connect(#[from] shopify_connect::ConnectError),
}

/// A `--secrets-prefix` that is not a path starting and ending with `/`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--secrets-prefix `{prefix}`: use the stack's SecretsPrefix, a path that starts and \
     ends with `/` (letters, digits, `_`, `.`, `-`), e.g. /cartback/shops/"
)]
pub struct BadPrefix {
    prefix: String,
}

/// A secret or token that could not be read, or is empty.
#[derive(Debug, thiserror::Error)]
pub enum FirstLineError {
    #[error("reading the {thing} from {what}: {source}")]
    Read {
        thing: &'static str,
        what: String,
        source: std::io::Error,
    },
    #[error("the {thing} from {what} is empty{fix}")]
    Empty {
        thing: &'static str,
        what: String,
        fix: &'static str,
    },
}

#[derive(Subcommand)]
pub enum ShopCommand {
    /// Register a shop: its webhook secret (SSM SecureString) and its settings (the table's
    /// CONFIG item, checked as the functions check it). Refuses a shop that has settings
    /// already unless --replace.
    Add {
        /// The shop's id, as in its webhook URL (letters, digits, `-`, `_`, `.`).
        #[arg(long)]
        shop: String,
        /// A shops file (TOML, `[shops.<id>]` tables as in examples/shops.toml); the table of
        /// --shop is used. Its `offer_pools` are not imported (`cartback codes import` does).
        #[arg(long)]
        settings: PathBuf,
        /// Read the webhook secret from this file (its first line).
        #[arg(long, conflicts_with = "secret_stdin")]
        secret_file: Option<PathBuf>,
        /// Read the webhook secret from standard input (its first line). Without either flag
        /// the shop's `webhook_secret` in --settings is used.
        #[arg(long)]
        secret_stdin: bool,
        /// Overwrite the settings and secret of a shop that exists.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Every shop with settings or a secret, and whether it receives webhooks (it needs both).
    /// Reads the whole table (a Scan for CONFIG items): an operator's occasional look.
    List {
        #[command(flatten)]
        target: Target,
        /// One JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// One shop: its settings and its secret's version and age (never its value).
    Show {
        #[arg(long)]
        shop: String,
        #[command(flatten)]
        target: Target,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove a shop. Its webhooks are ignored from then on (warm functions within 5
    /// minutes) and its pending reminders are dropped when they fire, but its privacy
    /// webhooks still work for `--keep-days`: Shopify sends `shop/redact` 48 hours after an
    /// uninstall, and it must still erase the shop's data. Its settings then expire (the
    /// table's TTL); `--purge` deletes settings and secret at once (a later `shop/redact`
    /// then gets 404). Its carts stay until they expire; `cartback erase` removes people's
    /// data at once.
    Remove {
        #[arg(long)]
        shop: String,
        /// Days the removed shop's privacy webhooks still work.
        #[arg(long, default_value_t = cartback_core::model::shop::Removal::DEFAULT_KEEP_DAYS, value_parser = clap::value_parser!(u16).range(1..=365))]
        keep_days: u16,
        /// Delete the settings and the webhook secret now, instead of keeping them for
        /// `shop/redact`.
        #[arg(long)]
        purge: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Register the platform's webhooks for a shop, pointing at this stack.
    Connect {
        #[command(subcommand)]
        platform: ConnectCommand,
    },
}

#[derive(Subcommand)]
pub enum ConnectCommand {
    /// Subscribe the shop's Shopify store to checkouts/create, checkouts/update,
    /// orders/create and orders/paid through the Admin API (GraphQL), each pointing at
    /// <webhook-base>/<shop>/shopify. Subscriptions that exist already are kept; the command
    /// can run again. Shopify signs them with the app's client secret: that is the shop's
    /// webhook secret (`cartback shop add`).
    Shopify(shopify_connect::ConnectShopify),
}

/// Which stack: a deployed one (table and secrets prefix) or the running `cartback dev`.
#[derive(Args, Clone, Debug)]
pub struct Target {
    /// The deployed DynamoDB table (default: the --stack output, else $CARTBACK_TABLE).
    #[arg(long, conflicts_with = "local")]
    table: Option<String>,
    /// The SSM prefix of the webhook secrets (default: the --stack output, else $CARTBACK_SECRETS_PREFIX, else
    /// /cartback/shops/, the template's default).
    #[arg(long)]
    secrets_prefix: Option<String>,
    /// The `cartback dev` running on --port (its moto).
    #[arg(long)]
    local: bool,
    /// The port of the `cartback dev` (with --local).
    #[arg(long, default_value_t = 8787)]
    port: u16,
}

impl Target {
    async fn registry(&self) -> Result<ShopRegistry, ShopCmdError> {
        if self.local {
            let state = dev_state(self.port).await?;
            let sdk = cartback_devstack::sdk_config(&state.moto_endpoint, &state.region).await;
            let prefix = self.secrets_prefix.clone().unwrap_or(state.secrets_prefix);
            return Ok(ShopRegistry::new(
                &sdk,
                &state.table,
                &checked_prefix(&prefix)?,
            ));
        }
        let table = deployed_table(self.table.clone()).ok_or(ShopCmdError::NoTable)?;
        let prefix = crate::stack::resolve(
            self.secrets_prefix.clone(),
            crate::stack::Setting::SecretsPrefix,
        )
        .unwrap_or_else(|| DEFAULT_SECRETS_PREFIX.to_owned());
        let sdk = cartback_aws::load_sdk_config().await;
        Ok(ShopRegistry::new(&sdk, &table, &checked_prefix(&prefix)?))
    }
}

/// The template's pattern for `SecretsPrefix`: starts and ends with `/`.
fn checked_prefix(prefix: &str) -> Result<String, BadPrefix> {
    let ok = prefix.len() >= 2
        && prefix.starts_with('/')
        && prefix.ends_with('/')
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c));
    if ok {
        Ok(prefix.to_owned())
    } else {
        Err(BadPrefix {
            prefix: prefix.to_owned(),
        })
    }
}

/// Runs one `cartback shop` command; returns what to print.
pub async fn run(command: ShopCommand) -> Result<String, ShopCmdError> {
    match command {
        ShopCommand::Add {
            shop,
            settings,
            secret_file,
            secret_stdin,
            replace,
            target,
        } => {
            let id = shop_id(&shop)?;
            let (settings, file_secret, pools) = settings_from_file(&settings, &id)?;
            let secret = match (secret_file, secret_stdin) {
                (Some(path), _) => {
                    let file = match std::fs::File::open(&path) {
                        Ok(file) => file,
                        Err(source) => return Err(ShopCmdError::Read { path, source }),
                    };
                    read_secret(&path.display().to_string(), file)?
                }
                (None, true) => read_secret("standard input", std::io::stdin().lock())?,
                (None, false) => {
                    file_secret.ok_or_else(|| ShopCmdError::NoSecret { id: id.clone() })?
                }
            };
            let registry = target.registry().await?;
            let shop = registry.add(&id, &settings, &secret, replace).await?;
            let mut out = format!(
                "{} shop `{id}`: settings on the table, webhook secret in {}",
                if replace { "stored" } else { "added" },
                registry.parameter_name(&id)
            );
            if pools > 0 {
                out.push_str(&format!(
                    "\nnote: the {pools} offer code pool(s) in the settings file were not \
                     imported; use `cartback codes import --shop {id} --pool <pool> FILE`"
                ));
            }
            out.push('\n');
            out.push_str(&show_text(&shop));
            Ok(out)
        }
        ShopCommand::List { target, json } => {
            let shops = target.registry().await?.list().await?;
            if json {
                let shops: Vec<Value> = shops.iter().map(summary_json).collect();
                return Ok(json!({ "shops": shops }).to_string());
            }
            Ok(list_text(&shops))
        }
        ShopCommand::Show { shop, target, json } => {
            let id = shop_id(&shop)?;
            let shop = target.registry().await?.show(&id).await?;
            if shop.settings.is_none() && shop.secret.is_none() {
                return Err(ShopCmdError::NoShop { id });
            }
            if json {
                return Ok(show_json(&shop).to_string());
            }
            Ok(show_text(&shop))
        }
        ShopCommand::Remove {
            shop,
            keep_days,
            purge: false,
            target,
        } => {
            let id = shop_id(&shop)?;
            let now = jiff::Timestamp::now();
            let keep_until = now
                .checked_add(jiff::SignedDuration::from_hours(24 * i64::from(keep_days)))
                .unwrap_or(now);
            if target
                .registry()
                .await?
                .retire(&id, now, keep_until)
                .await?
            {
                Ok(format!(
                    "removed shop `{id}`: its webhooks are ignored, except its privacy webhooks \
                     (Shopify's shop/redact comes 48 hours after an uninstall), which still \
                     work until {keep_until}; then its settings expire. The webhook secret \
                     stays until `cartback shop remove --shop {id} --purge`."
                ))
            } else {
                Err(ShopCmdError::NothingToRemove { id })
            }
        }
        ShopCommand::Remove {
            shop,
            purge: true,
            target,
            ..
        } => {
            let id = shop_id(&shop)?;
            let removed = target.registry().await?.remove(&id).await?;
            match (removed.settings, removed.secret) {
                (false, false) => Err(ShopCmdError::NothingToRemove { id }),
                (settings, secret) => Ok(format!(
                    "removed shop `{id}`: settings {}, webhook secret {}",
                    if settings {
                        "deleted"
                    } else {
                        "were not there"
                    },
                    if secret { "deleted" } else { "was not there" },
                )),
            }
        }
        ShopCommand::Connect {
            platform: ConnectCommand::Shopify(args),
        } => {
            // The stack first: a wrong table or prefix fails before Shopify is asked.
            let registry = args.target.registry().await?;
            let connected = shopify_connect::run(&args).await?;
            let parameter = registry
                .put_api_token(
                    &connected.shop,
                    PlatformToken::Shopify,
                    &Secret::new(connected.token.as_str()),
                )
                .await?;
            let mut out = format!(
                "{}\nThe access token is stored at {parameter} (SecureString), for `cartback doctor`.",
                connected.report
            );
            let named = registry
                .show(&connected.shop)
                .await
                .ok()
                .and_then(|shop| shop.settings)
                .and_then(|settings| settings.value.shopify_store)
                .map(String::from);
            if named.as_deref() != Some(connected.store.as_str()) {
                out.push_str(&format!(
                    "\nAdd `shopify_store = \"{}\"` to the shop's settings (`cartback shop add \
                     --replace`) so that `cartback doctor` checks these webhooks.",
                    connected.store
                ));
            }
            Ok(out)
        }
    }
}

fn shop_id(shop: &str) -> Result<ShopId, ShopCmdError> {
    ShopId::parse(shop).map_err(|source| ShopCmdError::Shop {
        shop: shop.to_owned(),
        source,
    })
}

/// The shop's table in a shops file: its settings, its `webhook_secret` and how many offer
/// pools it names.
fn settings_from_file(
    path: &Path,
    id: &ShopId,
) -> Result<(ShopSettings, Option<Secret>, usize), ShopCmdError> {
    let source = std::fs::read_to_string(path).map_err(|source| ShopCmdError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let shops = crate::simulate::parse_shops(path, &source)?;
    let raw: toml::Table = toml::from_str(&source).map_err(|source| ShopCmdError::Toml {
        path: path.to_path_buf(),
        source,
    })?;
    let Some(entry) = raw
        .get("shops")
        .and_then(|s| s.get(id.as_str()))
        .and_then(toml::Value::as_table)
    else {
        return Err(ShopCmdError::NoEntry {
            path: path.to_path_buf(),
            id: id.clone(),
        });
    };
    let pools = entry
        .get("offer_pools")
        .and_then(toml::Value::as_table)
        .map_or(0, toml::Table::len);
    Ok((shops.settings_of(id), shops.secret_of(id), pools))
}

/// The first line of `source` (a secret or a token: `thing`, from `what`), trimmed; an
/// empty one is refused, with `fix` after the reason.
pub(crate) fn first_line(
    thing: &'static str,
    what: &str,
    fix: &'static str,
    mut source: impl Read,
) -> Result<String, FirstLineError> {
    let mut text = String::new();
    source
        .read_to_string(&mut text)
        .map_err(|source| FirstLineError::Read {
            thing,
            what: what.to_owned(),
            source,
        })?;
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return Err(FirstLineError::Empty {
            thing,
            what: what.to_owned(),
            fix,
        });
    }
    Ok(line.to_owned())
}

fn read_secret(what: &str, source: impl Read) -> Result<Secret, FirstLineError> {
    first_line(
        "webhook secret",
        what,
        ": give the key the platform signs with",
        source,
    )
    .map(Secret::new)
}

fn state(shop: &RegisteredShop) -> &'static str {
    if shop.removed.is_some() {
        return "removed (privacy webhooks only)";
    }
    match (shop.settings.is_some(), shop.secret.is_some()) {
        (true, true) => "live",
        (true, false) => "no secret (webhooks get 404)",
        (false, true) => "no settings (webhooks get 404)",
        (false, false) => "absent",
    }
}

fn list_text(shops: &[RegisteredShop]) -> String {
    if shops.is_empty() {
        return "no shops: `cartback shop add` registers one".to_owned();
    }
    let width = shops
        .iter()
        .map(|s| s.id.as_str().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!("{:width$}  {:30}  name", "shop", "state");
    for shop in shops {
        let name = shop.settings.as_ref().map_or("", |s| s.value.name.as_str());
        out.push_str(&format!(
            "\n{:width$}  {:30}  {name}",
            shop.id.as_str(),
            state(shop)
        ));
    }
    out
}

fn secret_json(shop: &RegisteredShop) -> Value {
    shop.secret.as_ref().map_or(Value::Null, |s| {
        json!({
            "parameter": s.parameter,
            "version": s.version,
            "last_modified": s.last_modified,
        })
    })
}

fn summary_json(shop: &RegisteredShop) -> Value {
    json!({
        "shop": shop.id,
        "live": shop.is_live(),
        "name": shop.settings.as_ref().map(|s| s.value.name.clone()),
        "settings_version": shop.settings.as_ref().map(|s| s.version),
        "secret": secret_json(shop),
        "removed": shop.removed.map(|r| json!({ "at": r.at, "keep_until": r.keep_until })),
    })
}

fn show_json(shop: &RegisteredShop) -> Value {
    let mut value = summary_json(shop);
    value["settings"] = shop
        .settings
        .as_ref()
        .and_then(|s| serde_json::to_value(&s.value).ok())
        .unwrap_or(Value::Null);
    value
}

fn show_text(shop: &RegisteredShop) -> String {
    let mut out = format!("shop {}: {}", shop.id, state(shop));
    if let Some(removed) = shop.removed {
        out.push_str(&format!(
            "\n  removed {}; privacy webhooks handled until {}",
            removed.at, removed.keep_until
        ));
    }
    match &shop.secret {
        Some(secret) => out.push_str(&format!(
            "\n  webhook secret: {} (SecureString, version {}{})",
            secret.parameter,
            secret.version,
            secret
                .last_modified
                .map(|at| format!(", changed {at}"))
                .unwrap_or_default()
        )),
        None => out.push_str("\n  webhook secret: none"),
    }
    match &shop.settings {
        Some(settings) => {
            out.push_str(&format!(
                "\n  settings: CONFIG item version {}\n  webhooks: POST <WebhookBaseUrl>{}/<shopify|woocommerce|generic>\n",
                settings.version, shop.id
            ));
            match toml::to_string_pretty(&settings.value) {
                Ok(text) => {
                    for line in text.lines() {
                        if line.is_empty() {
                            out.push('\n');
                        } else {
                            out.push_str(&format!("\n    {line}"));
                        }
                    }
                }
                Err(e) => out.push_str(&format!("\n    (settings not shown as TOML: {e})")),
            }
        }
        None => out.push_str("\n  settings: none"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_the_first_line_and_an_empty_one_is_refused() {
        let secret = read_secret("test", "s3cr3t-key\nsecond line\n".as_bytes()).expect("read");
        assert_eq!(secret.expose(), b"s3cr3t-key");
        let err = read_secret("standard input", "\n  \n".as_bytes())
            .expect_err("empty")
            .to_string();
        assert!(err.contains("standard input is empty"), "{err}");
    }

    #[test]
    fn a_prefix_must_be_a_path_ending_in_a_slash() {
        assert_eq!(
            checked_prefix("/cartback/shops/").as_deref(),
            Ok("/cartback/shops/")
        );
        for bad in ["cartback/shops/", "/cartback/shops", "/", "/a b/"] {
            let err = checked_prefix(bad).expect_err(bad).to_string();
            assert!(err.contains("starts and ends with `/`"), "{err}");
        }
    }

    #[test]
    fn the_settings_file_must_name_the_shop() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("shops.toml");
        std::fs::write(
            &path,
            "[shops.kuura]\nname = \"Kuura\"\nfrom_address = \"hello@kuura.example\"\n\
             webhook_secret = \"k\"\n[shops.kuura.offer_pools]\nwinter = [\"A1\"]\n",
        )
        .expect("write");
        let id = ShopId::parse("kuura").expect("id");
        let (settings, secret, pools) = settings_from_file(&path, &id).expect("parsed");
        assert_eq!(settings.name, "Kuura");
        assert_eq!(secret.map(|s| s.expose().to_vec()), Some(b"k".to_vec()));
        assert_eq!(pools, 1);
        let other = ShopId::parse("other").expect("id");
        let err = settings_from_file(&path, &other)
            .expect_err("missing")
            .to_string();
        assert!(err.contains("no [shops.other] table"), "{err}");
    }
}

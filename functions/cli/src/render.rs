//! `cartback render`: one step of one cart written out exactly as the sender would send it,
//! to look at, diff, or open in a browser and a mail client.

use std::path::{Path, PathBuf};

use cartback_app::compose::{Composed, Composer, UnsubscribeLinks};
use cartback_core::messages::render::{RenderError, Renderer, TemplateDirError};
use cartback_core::model::cart::CartRecord;
use cartback_core::model::ids::{CartId, IdError, ShopId};
use cartback_core::model::sequence::{Channel, ChannelChoice};
use cartback_core::model::shop::Secret;
use cartback_core::model::time::Clock;
use cartback_core::ports::{CartStore, PortError, ShopDirectory};
use cartback_core::rules::zone::zone_of;
use cartback_local::{LOCAL_PUBLIC_URL, LOCAL_UNSUBSCRIBE_SECRET, LocalShops};
use jiff::Timestamp;
use serde::Serialize;

use crate::simulate::{self, InputError, ShopsFileError};

/// Why `render` wrote nothing (or not everything).
#[derive(Debug, thiserror::Error)]
pub enum RenderCmdError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{file}: no events")]
    NoEvents { file: String },
    #[error(transparent)]
    Shops(#[from] Box<ShopsFileError>),
    #[error("--cart: {0}")]
    Cart(#[source] IdError),
    #[error("no cart `{cart}` in {file} (for Shopify the cart id is the checkout token)")]
    NoCart { cart: String, file: String },
    #[error("cart `{cart}` exists in several shops")]
    SeveralShops { cart: String },
    /// The shop's settings could not be read.
    #[error(transparent)]
    Shop(#[from] PortError),
    #[error("shop `{shop}` is not configured")]
    NotConfigured { shop: ShopId },
    #[error("the cart's sequence `{sequence}` is not among the shop's")]
    UnknownSequence { sequence: String },
    #[error("--step {step}: sequence `{sequence}` has steps 1 to {steps}")]
    NoStep {
        step: u32,
        sequence: String,
        steps: usize,
    },
    #[error(transparent)]
    Templates(#[from] TemplateDirError),
    /// Worded as the sender words a render failure (`SendError::Render`).
    #[error("step {step}: render failed: {source}")]
    Compose { step: u32, source: RenderError },
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A `--channel` that is neither email nor sms.
#[derive(Debug, thiserror::Error)]
#[error("`{0}`: write email or sms")]
pub struct BadChannel(String);

/// What to render (the `render` command's arguments).
#[derive(clap::Args)]
pub struct RenderRequest {
    /// JSON lines, as for `simulate`; the cart's state after the last one is rendered.
    #[arg(long)]
    pub events: PathBuf,
    /// The cart id (for Shopify, the checkout token).
    #[arg(long)]
    pub cart: String,
    /// The step, from 1.
    #[arg(long)]
    pub step: u32,
    /// Render in this locale instead of the cart's (e.g. fi, pl-PL, ja).
    #[arg(long)]
    pub locale: Option<String>,
    /// email or sms (default: the step's channel; email for sms_or_email).
    #[arg(long, value_parser = parse_channel)]
    pub channel: Option<Channel>,
    /// Shop settings (TOML, as for `simulate`): branding, sequences, default locale.
    #[arg(long)]
    pub shops: Option<PathBuf>,
    /// The shop's own template directory (email/<lang>/..., sms/<lang>/...).
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Where to write the files (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_channel(value: &str) -> Result<Channel, BadChannel> {
    match value {
        "email" => Ok(Channel::Email),
        "sms" => Ok(Channel::Sms),
        other => Err(BadChannel(other.to_owned())),
    }
}

/// What was written, printed as one JSON object.
#[derive(Debug, Serialize)]
pub struct Rendered {
    pub shop: String,
    pub cart: String,
    pub step: u32,
    pub template: String,
    pub channel: &'static str,
    pub locale: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms_parts: Option<usize>,
    pub files: Vec<String>,
}

fn read(path: &Path) -> Result<String, RenderCmdError> {
    std::fs::read_to_string(path).map_err(|source| RenderCmdError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs the events (without firing any reminder after the last one), then composes the
/// step for the cart's state at that moment.
pub async fn run(request: &RenderRequest) -> Result<Rendered, RenderCmdError> {
    let file = request.events.display().to_string();
    let lines = simulate::parse_events(&file, &read(&request.events)?)?;
    let last = lines
        .last()
        .map(|l| l.at)
        .ok_or_else(|| RenderCmdError::NoEvents { file: file.clone() })?;
    let shops = match &request.shops {
        Some(path) => simulate::parse_shops(path, &read(path)?)?,
        None => LocalShops::defaults(),
    };
    let stack = simulate::run(lines, shops.clone(), Some(last), &file, |_| {}).await?;
    let wanted = CartId::parse(request.cart.as_str()).map_err(RenderCmdError::Cart)?;
    let matches: Vec<CartRecord> = stack
        .store
        .carts()
        .into_iter()
        .filter(|c| c.cart == wanted)
        .collect();
    let mut cart = match matches.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(RenderCmdError::NoCart {
                cart: request.cart.clone(),
                file,
            });
        }
        _ => {
            return Err(RenderCmdError::SeveralShops {
                cart: request.cart.clone(),
            });
        }
    };
    // The stored record, read back as the sender reads it (the version does not matter here).
    if let Ok(Some(stored)) = stack.store.cart(&cart.shop, &cart.cart).await {
        cart = stored.value;
    }
    if let Some(locale) = &request.locale
        && let Some(snapshot) = cart.snapshot.as_mut()
    {
        snapshot.locale = Some(locale.clone());
    }
    let shop = shops
        .shop(&cart.shop)
        .await?
        .ok_or_else(|| RenderCmdError::NotConfigured {
            shop: cart.shop.clone(),
        })?;
    let sequence =
        shop.sequence_named(&cart.sequence)
            .ok_or_else(|| RenderCmdError::UnknownSequence {
                sequence: cart.sequence.clone(),
            })?;
    let index = request
        .step
        .checked_sub(1)
        .filter(|i| (*i as usize) < sequence.steps.len())
        .ok_or_else(|| RenderCmdError::NoStep {
            step: request.step,
            sequence: sequence.name.clone(),
            steps: sequence.steps.len(),
        })?;
    let step = &sequence.steps[index as usize];
    let channel = request.channel.unwrap_or(match step.channel {
        ChannelChoice::Sms => Channel::Sms,
        // Email unless asked: the SMS of an sms_or_email step is `--channel sms`.
        ChannelChoice::Email | ChannelChoice::SmsOrEmail => Channel::Email,
    });
    let mut renderer = Renderer::embedded();
    if let Some(dir) = &request.templates {
        renderer = cartback_app::templates::with_shop_templates(renderer, cart.shop.as_str(), dir)?;
    }
    let links = UnsubscribeLinks {
        base_url: LOCAL_PUBLIC_URL.to_owned(),
        secret: Secret::new(LOCAL_UNSUBSCRIBE_SECRET),
    };
    let zone = zone_of(&cart, &shop);
    let now: Timestamp = stack.clock.now();
    // A pool's code is drawn only when sending: the preview shows a stand-in.
    let sample_code = step
        .offer
        .as_ref()
        .and_then(|o| o.pool.as_ref())
        .map(|pool| format!("{}-SAMPLE", pool.as_str().to_ascii_uppercase()));
    let composer = Composer {
        shop: &shop,
        sequence: &sequence,
        zone: &zone,
        renderer: &renderer,
        unsubscribe: Some(&links),
        now,
        drawn_code: sample_code.as_deref(),
    };
    let composed =
        composer
            .compose(&cart, index, channel)
            .map_err(|source| RenderCmdError::Compose {
                step: request.step,
                source,
            })?;
    std::fs::create_dir_all(&request.out).map_err(|source| RenderCmdError::Write {
        path: request.out.clone(),
        source,
    })?;
    let write = |name: &str, bytes: &[u8]| -> Result<String, RenderCmdError> {
        let path = request.out.join(name);
        if let Err(source) = std::fs::write(&path, bytes) {
            return Err(RenderCmdError::Write { path, source });
        }
        Ok(path.display().to_string())
    };
    let mut rendered = Rendered {
        shop: cart.shop.to_string(),
        cart: cart.cart.to_string(),
        step: request.step,
        template: step.template.clone(),
        channel: channel.as_str(),
        locale: composed.locale().to_string(),
        subject: None,
        html_bytes: None,
        sms_parts: None,
        files: Vec::new(),
    };
    match composed {
        Composed::Email {
            email, rendered: r, ..
        } => {
            rendered.files.push(write("message.eml", &email.raw)?);
            rendered
                .files
                .push(write("message.html", r.html.as_bytes())?);
            rendered
                .files
                .push(write("message.txt", r.text.as_bytes())?);
            rendered.html_bytes = Some(r.html.len());
            rendered.subject = Some(r.subject);
        }
        Composed::Sms {
            sms, rendered: r, ..
        } => {
            rendered.files.push(write(
                "message.sms.txt",
                format!("{}\n", sms.text).as_bytes(),
            )?);
            rendered.sms_parts = Some(r.length.segments);
        }
    }
    Ok(rendered)
}

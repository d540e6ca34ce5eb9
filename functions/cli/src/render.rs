//! `cartback render`: one step of one cart written out exactly as the sender would send it,
//! to look at, diff, or open in a browser and a mail client.

use std::path::{Path, PathBuf};

use cartback_app::compose::{Composed, Composer, UnsubscribeLinks};
use cartback_core::messages::render::Renderer;
use cartback_core::model::cart::CartRecord;
use cartback_core::model::ids::CartId;
use cartback_core::model::sequence::{Channel, ChannelChoice};
use cartback_core::model::shop::Secret;
use cartback_core::model::time::Clock;
use cartback_core::ports::{CartStore, ShopDirectory};
use cartback_core::rules::zone::zone_of;
use cartback_local::{LOCAL_PUBLIC_URL, LOCAL_UNSUBSCRIBE_SECRET, LocalShops};
use jiff::Timestamp;
use serde::Serialize;

use crate::simulate;

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

fn parse_channel(value: &str) -> Result<Channel, String> {
    match value {
        "email" => Ok(Channel::Email),
        "sms" => Ok(Channel::Sms),
        other => Err(format!("`{other}`: write email or sms")),
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

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs the events (without firing any reminder after the last one), then composes the
/// step for the cart's state at that moment.
pub async fn run(request: &RenderRequest) -> Result<Rendered, String> {
    let file = request.events.display().to_string();
    let lines =
        simulate::parse_events(&file, &read(&request.events)?).map_err(|e| e.to_string())?;
    let last = lines
        .last()
        .map(|l| l.at)
        .ok_or_else(|| format!("{file}: no events"))?;
    let shops = match &request.shops {
        Some(path) => simulate::parse_shops(path, &read(path)?)?,
        None => LocalShops::defaults(),
    };
    let stack = simulate::run(&lines, shops.clone(), Some(last), &file, |_| {})
        .await
        .map_err(|e| e.to_string())?;
    let wanted = CartId::parse(request.cart.as_str()).map_err(|e| format!("--cart: {e}"))?;
    let matches: Vec<CartRecord> = stack
        .store
        .carts()
        .into_iter()
        .filter(|c| c.cart == wanted)
        .collect();
    let mut cart = match matches.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(format!(
                "no cart `{}` in {file} (for Shopify the cart id is the checkout token)",
                request.cart
            ));
        }
        _ => return Err(format!("cart `{}` exists in several shops", request.cart)),
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
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("shop `{}` is not configured", cart.shop))?;
    let sequence = shop.sequence_named(&cart.sequence).ok_or_else(|| {
        format!(
            "the cart's sequence `{}` is not among the shop's",
            cart.sequence
        )
    })?;
    let index = request
        .step
        .checked_sub(1)
        .filter(|i| (*i as usize) < sequence.steps.len())
        .ok_or_else(|| {
            format!(
                "--step {}: sequence `{}` has steps 1 to {}",
                request.step,
                sequence.name,
                sequence.steps.len()
            )
        })?;
    let step = &sequence.steps[index as usize];
    let channel = request.channel.unwrap_or(match step.channel {
        ChannelChoice::Sms => Channel::Sms,
        // Email unless asked: the SMS of an sms_or_email step is `--channel sms`.
        ChannelChoice::Email | ChannelChoice::SmsOrEmail => Channel::Email,
    });
    let mut renderer = Renderer::embedded();
    if let Some(dir) = &request.templates {
        renderer = cartback_app::templates::with_shop_templates(renderer, cart.shop.as_str(), dir)
            .map_err(|e| e.to_string())?;
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
    let composed = composer
        .compose(&cart, index, channel)
        .map_err(|e| format!("step {}: {e}", request.step))?;
    std::fs::create_dir_all(&request.out).map_err(|e| format!("{}: {e}", request.out.display()))?;
    let write = |name: &str, bytes: &[u8]| -> Result<String, String> {
        let path = request.out.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
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

//! How a step becomes a message: the shop's templates in the recipient's locale, the offer,
//! the tracked cart link, the signed unsubscribe link and (email) the full MIME message.
//! Pure: the sender and `cartback render` both compose with it.

use cartback_core::messages::format::MessageLocale;
use cartback_core::messages::render::{
    EmailContext, Envelope, RenderError, RenderedEmail, RenderedSms, Renderer, mime_message,
};
use cartback_core::messages::unsubscribe::{self, UnsubscribeClaim};
use cartback_core::model::cart::CartRecord;
use cartback_core::model::ids::tag_value;
use cartback_core::model::sequence::{Channel, Sequence};
use cartback_core::model::shop::{Secret, Shop};
use cartback_core::ports::{OutgoingEmail, OutgoingSms};
use cartback_core::rules::decide::cart_step;
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// How the sender makes the signed unsubscribe link of each email.
#[derive(Debug, Clone)]
pub struct UnsubscribeLinks {
    /// The public base URL of the HTTP API (`https://…`), without `/unsubscribe`.
    pub base_url: String,
    pub secret: Secret,
}

impl UnsubscribeLinks {
    /// `<base>/unsubscribe?t=<token>` for `channel` of `cart`, valid for
    /// [`unsubscribe::VALIDITY`] from `sent_at`. The token carries the key of the address
    /// the channel uses (the cart's email or phone), so the unsubscribe works after the cart
    /// has expired.
    pub fn url_for(&self, cart: &CartRecord, channel: Channel, sent_at: Timestamp) -> String {
        let snapshot = cart.snapshot.as_ref();
        let contact = match channel {
            Channel::Email => snapshot.and_then(|s| s.email.as_ref()).map(|e| e.key()),
            Channel::Sms => snapshot.and_then(|s| s.phone.as_ref()).map(|p| p.key()),
        };
        let claim = UnsubscribeClaim {
            shop: cart.shop.clone(),
            cart: cart.cart.clone(),
            channel,
            contact,
        };
        let token = unsubscribe::issue(&self.secret, &claim, unsubscribe::expiry_for(sent_at));
        format!(
            "{}/unsubscribe?t={token}",
            self.base_url.trim_end_matches('/')
        )
    }
}

/// A message ready for its channel, with what was rendered.
#[derive(Debug, Clone)]
pub enum Composed {
    Email {
        email: OutgoingEmail,
        rendered: RenderedEmail,
        /// The locale the message is written in.
        locale: MessageLocale,
    },
    Sms {
        sms: OutgoingSms,
        rendered: RenderedSms,
        locale: MessageLocale,
    },
}

impl Composed {
    /// The locale the message is written in (its language and the region of its numbers).
    pub fn locale(&self) -> &MessageLocale {
        match self {
            Self::Email { locale, .. } | Self::Sms { locale, .. } => locale,
        }
    }
}

/// What composing a message needs besides the cart: a pure function of these.
pub struct Composer<'a> {
    pub shop: &'a Shop,
    pub sequence: &'a Sequence,
    /// The recipient's zone (the offer's expiry is written in it).
    pub zone: &'a TimeZone,
    pub renderer: &'a Renderer,
    pub unsubscribe: Option<&'a UnsubscribeLinks>,
    pub now: Timestamp,
    /// The single-use code claimed for this cart step when the step's offer names a pool;
    /// `None` there means the pool was empty and the step goes out without its offer.
    pub drawn_code: Option<&'a str>,
}

impl Composer<'_> {
    /// Step `step` of `cart` on `channel`, exactly as the sender sends it: the shop's
    /// templates in the recipient's locale, the offer, the tracked cart link, the signed
    /// unsubscribe link and (email) the full MIME message with its headers and SES tags.
    pub fn compose(
        &self,
        cart: &CartRecord,
        step: u32,
        channel: Channel,
    ) -> Result<Composed, RenderError> {
        let (_, version) = cart_step(cart, self.sequence, step)
            .ok_or(RenderError::NoStep(step.saturating_add(1)))?;
        let template = version.template;
        let settings = &self.shop.settings;
        let snapshot = cart.snapshot.as_ref().ok_or(RenderError::NoSnapshot)?;
        let templates = self.renderer.for_shop(self.shop.id.as_str());
        let locale = templates.locale_for(
            &channel,
            template,
            snapshot.locale.as_deref(),
            settings.default_locale.as_deref(),
        );
        let mut ctx = EmailContext::for_channel(cart, settings, step, channel, locale)?;
        if let Some(offer) = version.offer {
            match (&offer.pool, self.drawn_code) {
                // An empty pool: the step's no-offer words.
                (Some(_), None) => {}
                (Some(_), Some(code)) => {
                    ctx = ctx.with_offer(offer, self.now, self.zone);
                    if let Some(shown) = ctx.offer.as_mut() {
                        code.clone_into(&mut shown.code);
                    }
                }
                (None, _) => ctx = ctx.with_offer(offer, self.now, self.zone),
            }
        }
        match channel {
            Channel::Sms => {
                let to = snapshot
                    .phone
                    .clone()
                    .ok_or(RenderError::NoRecipient("phone number"))?;
                let rendered = templates.render_sms(template, &ctx)?;
                Ok(Composed::Sms {
                    sms: OutgoingSms {
                        to,
                        text: rendered.text.clone(),
                        sender_id: settings.sms_sender_id.clone(),
                    },
                    rendered,
                    locale: ctx.locale,
                })
            }
            Channel::Email => {
                let to = snapshot
                    .email
                    .clone()
                    .ok_or(RenderError::NoRecipient("email address"))?;
                let unsubscribe_url = self
                    .unsubscribe
                    .map(|links| links.url_for(cart, Channel::Email, self.now));
                ctx.unsubscribe_url = unsubscribe_url.clone();
                let mut rendered = templates.render_email(template, &ctx)?;
                // A subject of the step's (or its variant's) own, where it has the language.
                if let Some(subject) = version.subject.filter(|s| s.has(&ctx.lang)) {
                    rendered.subject = templates.render_subject(subject.get(&ctx.lang), &ctx)?;
                }
                let raw = mime_message(
                    &Envelope {
                        from: &settings.from_address,
                        from_name: settings.from_name.as_deref().unwrap_or(&settings.name),
                        to: &to,
                        cart,
                        step,
                        date: self.now,
                        unsubscribe_url: unsubscribe_url.as_deref(),
                        unsubscribe_mailto: settings.unsubscribe_mailto.as_ref(),
                    },
                    &rendered,
                )?;
                let mut tags = vec![
                    ("shop".into(), tag_safe(self.shop.id.as_str())),
                    ("step".into(), (step + 1).to_string()),
                    ("template".into(), tag_safe(template)),
                    // Delivery events name the cart through these (base64url ids).
                    ("shop_ref".into(), tag_value(cart.shop.as_str())),
                    ("cart_ref".into(), tag_value(cart.cart.as_str())),
                ];
                if let Some(variant) = version.name {
                    tags.push(("variant".into(), tag_safe(variant)));
                }
                let email = OutgoingEmail {
                    to,
                    from: settings.from_address.clone(),
                    raw,
                    tags,
                };
                Ok(Composed::Email {
                    email,
                    rendered,
                    locale: ctx.locale,
                })
            }
        }
    }
}

/// A value SES accepts in a message tag: letters, digits, `-` and `_`; anything else `_`.
fn tag_safe(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

//! The sender's CPU work per wake-up: `decide()`, and the email render per locale: in the
//! steady state (`email`: the message's shape compiled, its values filled into the HTML and
//! text, subject and preheader rendered by minijinja), through the full pipeline as the first
//! message of a shape goes (`email_first`: minijinja fills the MJML, mrml turns it into HTML,
//! plus text, subject and preheader), and compiling the templates for every message
//! (`email_uncached`, what the per-container template cache saves); and the whole MIME
//! message.

use std::hint::black_box;

use cartback_bench::fixtures::{self, SECRET};
use cartback_core::messages::render::{EmailContext, Envelope, LOCALES, Renderer, mime_message};
use cartback_core::model::cart::{CartEvent, CartRecord, Person, Platform};
use cartback_core::model::ids::ShopId;
use cartback_core::model::shop::{Secret, Shop, ShopSettings, SignatureCheck};
use cartback_core::platforms::webhook::{Headers, parse_webhook};
use cartback_core::rules::decide::{Decision, Situation, decide};
use cartback_core::rules::lifecycle::{Applied, apply_activity};
use cartback_core::rules::zone::{ZoneHints, recipient_zone};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

struct Setup {
    shop: Shop,
    cart: CartRecord,
    zone: TimeZone,
    due: Timestamp,
}

/// Ada's fixture checkout (2 line items, Helsinki address), stored as the webhook stores it.
fn setup() -> Setup {
    let shop_id = ShopId::parse(fixtures::SHOP).expect("shop id");
    let shop = Shop::new(shop_id.clone(), ShopSettings::defaults_for(&shop_id)).expect("shop");
    let body = fixtures::checkout(2);
    let headers = Headers::new()
        .with("X-Shopify-Topic", "checkouts/create")
        .with("X-Shopify-Hmac-Sha256", fixtures::signature(&body));
    let check = SignatureCheck::Required(Secret::new(SECRET));
    let parsed = parse_webhook(
        Platform::Shopify,
        &headers,
        &body,
        &check,
        jiff::Timestamp::UNIX_EPOCH,
    )
    .expect("fixture");
    let Some(CartEvent::Activity(activity)) = parsed.event else {
        panic!("the fixture is a checkout");
    };
    let now = activity.updated_at;
    let sequence = shop.sequence_for(&activity.snapshot).clone();
    let Applied::Changed(cart) =
        apply_activity(None, &shop.id, Platform::Shopify, &activity, &sequence, now)
    else {
        panic!("a new cart is stored");
    };
    let cart = *cart;
    let snapshot = cart.snapshot.as_ref().expect("snapshot");
    let (zone, _) = recipient_zone(
        &ZoneHints {
            explicit: None,
            country: snapshot.country.as_deref(),
            region: snapshot.region.as_deref(),
            phone_e164: None,
        },
        &shop.zone,
    );
    let due = cart.next_due_at.expect("step 1 is due");
    Setup {
        shop,
        cart,
        zone,
        due,
    }
}

fn decide_bench(c: &mut Criterion) {
    let s = setup();
    let person = Person::default();
    let sequence = s
        .shop
        .sequence_for(s.cart.snapshot.as_ref().expect("snapshot"));
    let situation = |now| Situation {
        cart: &s.cart,
        person: &person,
        sequence,
        rules: s.shop.rules(),
        zone: &s.zone,
        holdout: s.shop.settings.holdout,
        now,
    };
    let due = situation(s.due);
    assert!(matches!(decide(&due), Decision::Send { .. }));
    let early = situation(
        s.due
            .checked_sub(SignedDuration::from_mins(10))
            .expect("time"),
    );
    assert!(matches!(decide(&early), Decision::Wait { .. }));
    let mut group = c.benchmark_group("decide");
    group.bench_function("send", |b| b.iter(|| decide(black_box(&due))));
    group.bench_function("wait", |b| b.iter(|| decide(black_box(&early))));
    group.finish();
}

fn render_bench(c: &mut Criterion) {
    let s = setup();
    let renderer = Renderer::embedded();
    let ctx = EmailContext::for_cart(&s.cart, &s.shop.settings, 0).expect("context");
    let mut group = c.benchmark_group("render");
    for locale in LOCALES {
        // The context is formatted for its locale (money, dates), as the sender makes it.
        let localised = EmailContext::for_channel(
            &s.cart,
            &s.shop.settings,
            0,
            cartback_core::model::sequence::Channel::Email,
            cartback_core::messages::format::MessageLocale::resolve(Some(locale), locale),
        )
        .expect("context");
        // The first render compiles the message's shape: the ones measured fill it in.
        let compiled = renderer.for_shop("any").compiled_shapes().compiled;
        let html = renderer
            .render_email("reminder", &localised)
            .expect("renders");
        assert!(html.html.len() > 1000);
        assert_eq!(
            renderer.for_shop("any").compiled_shapes().compiled,
            compiled + 1,
            "the shape compiles"
        );
        group.bench_with_input(BenchmarkId::new("email", locale), locale, |b, _| {
            b.iter(|| renderer.render_email("reminder", black_box(&localised)))
        });
        group.bench_with_input(BenchmarkId::new("email_first", locale), locale, |b, _| {
            b.iter(|| renderer.render_email_uncached("reminder", black_box(&localised)))
        });
    }
    // What the per-container cache saves: compiling every template for each message.
    group.bench_function(BenchmarkId::new("email_uncached", "en"), |b| {
        b.iter(|| Renderer::embedded().render_email_uncached("reminder", &ctx))
    });
    // The first message of a shape in a warm container: the full pipeline, then the shape
    // compiled (minijinja and mrml once more, over its sentinels).
    let mut other_shape = ctx.clone();
    other_shape.unsubscribe_url = Some(format!("https://u.example/{}", ctx.total));
    assert!(ctx.unsubscribe_url.is_none(), "another shape");
    group.bench_function(BenchmarkId::new("email_new_shape", "en"), |b| {
        b.iter_batched(
            || {
                let fresh = Renderer::embedded();
                fresh.render_email("reminder", &other_shape).map(|_| fresh)
            },
            |fresh| fresh.map(|fresh| fresh.render_email("reminder", &ctx)),
            BatchSize::SmallInput,
        )
    });
    // The whole message SES gets: render + MIME (multipart text and HTML).
    let to = s
        .cart
        .snapshot
        .as_ref()
        .and_then(|snap| snap.email.clone())
        .expect("email");
    group.bench_function(BenchmarkId::new("message", "en"), |b| {
        b.iter(|| {
            let email = renderer.render_email("reminder", &ctx).ok()?;
            mime_message(
                &Envelope {
                    from: &s.shop.settings.from_address,
                    from_name: &s.shop.settings.name,
                    to: &to,
                    cart: &s.cart,
                    step: 0,
                    date: s.due,
                    unsubscribe_url: Some(
                        "https://abc123.execute-api.eu-west-1.amazonaws.com/unsubscribe?t=token",
                    ),
                    unsubscribe_mailto: None,
                },
                &email,
            )
            .ok()
        })
    });
    group.finish();
}

criterion_group!(benches, decide_bench, render_bench);
criterion_main!(benches);

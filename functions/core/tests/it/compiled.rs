//! Compiled email shapes: the second message of a shape is filled in without mrml, and comes
//! out byte for byte as the full pipeline writes it, for the built-in templates in every
//! locale and for a shop's own templates (which fall back to the full pipeline whenever a
//! sentinel cannot stand for a value).

use cartback_core::messages::format::MessageLocale;
use cartback_core::messages::render::{
    CompiledShapes, CustomerContext, EmailContext, ItemContext, LOCALES, OfferContext, Renderer,
    ShopContext, TemplateFile,
};
use cartback_core::model::sequence::{Channel, KNOWN_TEMPLATES};
use proptest::prelude::*;

/// Pieces of text that templates, HTML escaping or mrml could trip over.
const PIECES: &[&str] = &[
    "a",
    "Ada",
    "Lovelace",
    "&",
    "<",
    ">",
    "\"",
    "'",
    "/",
    "//",
    "&amp;",
    "<b>bold</b>",
    "</mj-text>",
    "<!-- x -->",
    "{{ shop.name }}",
    "{% if %}",
    "%}",
    "\\",
    ",",
    ".",
    "Ääkköset",
    "Łódź",
    "日本語の商品",
    "カート",
    "🎉",
    "👩‍👩‍👧",
    "€12,90",
    " ",
    "  ",
    "\n",
    "\t",
    "\u{a0}",
    "\u{3000}",
    "\u{301}",
    "https://shop.example/p/1?a=1&b=2",
    "mailto:x@y.example",
];

/// The private-use characters the compiled shapes' sentinels are made of: a message's own
/// values may have them too (a shop's settings with them are rendered in full).
const SENTINEL_LIKE: &[&str] = &["\u{e000}", "\u{e001}", "\u{f0001}", "\\u{e000}"];

/// Any text of a message's own: empty, whitespace only, short or long, with the awkward
/// pieces above.
fn text() -> impl Strategy<Value = String> {
    let pieces: Vec<&str> = PIECES.iter().chain(SENTINEL_LIKE).copied().collect();
    prop_oneof![
        1 => Just(String::new()),
        1 => "[a-z]{200,400}",
        8 => prop::collection::vec(prop::sample::select(pieces), 1..8)
            .prop_map(|pieces| pieces.concat()),
    ]
}

/// Any text of a shop's settings: as [`text`], without sentinel characters.
fn shop_text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        1 => "[a-z]{200,400}",
        8 => prop::collection::vec(prop::sample::select(PIECES), 1..8)
            .prop_map(|pieces| pieces.concat()),
    ]
}

/// A value with something to show: no whitespace at its ends, not empty.
fn core() -> impl Strategy<Value = String> {
    text().prop_filter_map("empty once trimmed", |s| {
        let t = s.trim();
        (!t.is_empty()).then(|| t.to_owned())
    })
}

fn item() -> impl Strategy<Value = ItemContext> {
    (
        text(),
        prop::option::of(text()),
        0_u32..4,
        text(),
        text(),
        prop::option::of(text()),
    )
        .prop_map(
            |(title, variant, quantity, unit_price, line_total, image_url)| ItemContext {
                title,
                variant,
                quantity,
                unit_price,
                line_total,
                image_url,
            },
        )
}

fn offer() -> impl Strategy<Value = OfferContext> {
    (text(), text(), text(), text()).prop_map(|(code, description, expires, expires_short)| {
        OfferContext {
            code,
            description,
            expires,
            expires_short,
        }
    })
}

fn shop() -> impl Strategy<Value = ShopContext> {
    (
        shop_text(),
        prop::option::of(shop_text()),
        prop_oneof![Just(String::new()), Just("#0f766e".to_owned()), shop_text()],
        prop::option::of(shop_text()),
        prop::option::of(shop_text()),
        prop::option::of(shop_text()),
    )
        .prop_map(
            |(name, logo_url, accent_color, support_email, signature, url)| ShopContext {
                name,
                logo_url,
                accent_color,
                support_email,
                signature,
                url,
            },
        )
}

prop_compose! {
    fn context()(
        lang in prop::sample::select(LOCALES),
        shop in shop(),
        first_name in prop::option::of(text()),
        items in prop::collection::vec(item(), 0..5),
        total in text(),
        cart_url in text(),
        step in 1_u32..4,
        offer in prop::option::of(offer()),
        unsubscribe_url in prop::option::of(text()),
    ) -> EmailContext {
        EmailContext {
            lang: (*lang).to_owned(),
            channel: Channel::Email,
            locale: MessageLocale::resolve(Some(lang), lang),
            shop,
            customer: CustomerContext { first_name },
            items,
            total,
            cart_url,
            step,
            offer,
            unsubscribe_url,
        }
    }
}

/// `ctx` with every value of the message's own that has something to show replaced by the
/// next of `others` (the whitespace at its ends kept): the same shape, other values.
fn revalued(ctx: &EmailContext, others: &[String]) -> EmailContext {
    let mut next = others.iter().cycle();
    let mut swap = |value: &mut String| {
        let core = value.trim();
        if core.is_empty() {
            return;
        }
        let start = value.len() - value.trim_start().len();
        let end = start + core.len();
        if let Some(other) = next.next() {
            value.replace_range(start..end, other);
        }
    };
    let mut ctx = ctx.clone();
    if let Some(name) = ctx.customer.first_name.as_mut() {
        swap(name);
    }
    for item in &mut ctx.items {
        swap(&mut item.title);
        item.variant.iter_mut().for_each(&mut swap);
        swap(&mut item.unit_price);
        swap(&mut item.line_total);
        item.image_url.iter_mut().for_each(&mut swap);
    }
    swap(&mut ctx.total);
    swap(&mut ctx.cart_url);
    if let Some(offer) = ctx.offer.as_mut() {
        swap(&mut offer.code);
        swap(&mut offer.description);
        swap(&mut offer.expires);
        swap(&mut offer.expires_short);
    }
    ctx.unsubscribe_url.iter_mut().for_each(&mut swap);
    ctx
}

proptest! {
    #![proptest_config(cartback_testkit::proptest_config(128))]

    /// For random carts in every locale and template: the message that compiles a shape,
    /// another message of the same shape (filled in) and the first again all come out as
    /// the full pipeline writes them, and every shape of the built-in templates compiles.
    #[test]
    fn compiled_emails_are_byte_identical_to_the_full_pipeline(
        ctx in context(),
        others in prop::collection::vec(core(), 1..16),
    ) {
        let renderer = Renderer::embedded();
        let other = revalued(&ctx, &others);
        for (n, template) in KNOWN_TEMPLATES.iter().enumerate() {
            let first = renderer.render_email(template, &ctx).expect("renders");
            prop_assert_eq!(&first, &renderer.render_email_uncached(template, &ctx).expect("renders"));
            let filled = renderer.render_email(template, &other).expect("renders");
            prop_assert_eq!(filled, renderer.render_email_uncached(template, &other).expect("renders"));
            prop_assert_eq!(renderer.render_email(template, &ctx).expect("renders"), first);
            prop_assert_eq!(
                renderer.for_shop("any").compiled_shapes(),
                CompiledShapes { builds: n + 1, compiled: n + 1, full: 0 },
                "{} of {}/{} fell back to the full pipeline", template, ctx.lang, template
            );
        }
    }
}

/// A realistic message: two items, one with a variant, an offer and an unsubscribe link.
fn fixture(lang: &str) -> EmailContext {
    let item = |title: &str, variant: Option<&str>, quantity: u32, price: &str| ItemContext {
        title: title.to_owned(),
        variant: variant.map(str::to_owned),
        quantity,
        unit_price: price.to_owned(),
        line_total: price.to_owned(),
        image_url: Some(format!("https://cdn.shop.example/{title}.jpg")),
    };
    EmailContext {
        lang: lang.to_owned(),
        channel: Channel::Email,
        locale: MessageLocale::resolve(Some(lang), lang),
        shop: ShopContext {
            name: "Lumi Studio".to_owned(),
            logo_url: Some("https://cdn.shop.example/logo.png".to_owned()),
            accent_color: "#0f766e".to_owned(),
            support_email: Some("hello@shop.example".to_owned()),
            signature: Some("Anna\nLumi Studio".to_owned()),
            url: Some("https://shop.example".to_owned()),
        },
        customer: CustomerContext {
            first_name: Some("Maria".to_owned()),
        },
        items: vec![
            item("Linen shirt", Some("Sage / M"), 1, "€59.00"),
            item("Mug", None, 2, "€24.90"),
        ],
        total: "€108.80".to_owned(),
        cart_url: "https://shop.example/cart/recover/8f2c?utm_source=cartback".to_owned(),
        step: 3,
        offer: Some(OfferContext {
            code: "COMEBACK10".to_owned(),
            description: "10% off your order".to_owned(),
            expires: "March 14 at 11:59 PM".to_owned(),
            expires_short: "Mar 14, 11:59 PM".to_owned(),
        }),
        unsubscribe_url: Some("https://u.example/unsubscribe?t=abc.def".to_owned()),
    }
}

/// The fixture for someone else: other name, titles, prices and links, the same shape.
fn someone_else(lang: &str) -> EmailContext {
    let mut ctx = fixture(lang);
    ctx.customer.first_name = Some("Tom & \"Jerry\" <O'Neil>".to_owned());
    ctx.items[0].title = "Kaffeebecher / 2er-Set".to_owned();
    ctx.items[0].variant = Some("日本語 🎉".to_owned());
    ctx.items[1].title = "<script>alert(1)</script>".to_owned();
    ctx.items[1].image_url = Some("https://cdn.example/a b/c&d?e=<f>".to_owned());
    ctx.total = "¥12,345".to_owned();
    ctx.cart_url = "https://other.example/r/1?k=a&utm_source=cartback".to_owned();
    ctx.unsubscribe_url = Some("https://u.example/unsubscribe?t=xyz".to_owned());
    if let Some(offer) = ctx.offer.as_mut() {
        offer.code = "SAVE-20".to_owned();
    }
    ctx
}

#[test]
fn the_second_message_of_a_shape_runs_no_mrml_and_comes_out_exact() {
    let renderer = Renderer::embedded();
    let templates = renderer.for_shop("any");
    for lang in LOCALES {
        let first = renderer
            .render_email("offer", &fixture(lang))
            .expect("renders");
        assert_eq!(
            first,
            renderer
                .render_email_uncached("offer", &fixture(lang))
                .expect("renders")
        );
        let builds = templates.compiled_shapes().builds;
        let again = renderer
            .render_email("offer", &fixture(lang))
            .expect("renders");
        let other = renderer
            .render_email("offer", &someone_else(lang))
            .expect("renders");
        assert_eq!(
            templates.compiled_shapes().builds,
            builds,
            "{lang}: compiled again"
        );
        assert_eq!(again, first);
        assert_eq!(
            other,
            renderer
                .render_email_uncached("offer", &someone_else(lang))
                .expect("renders")
        );
        assert!(
            other
                .html
                .contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
        );
    }
    assert_eq!(
        templates.compiled_shapes(),
        CompiledShapes {
            builds: LOCALES.len(),
            compiled: LOCALES.len(),
            full: 0
        }
    );
}

#[test]
fn another_shape_compiles_anew() {
    let renderer = Renderer::embedded();
    let mut ctx = fixture("fi");
    renderer.render_email("reminder", &ctx).expect("renders");
    ctx.items[1].quantity = 1;
    let fewer = renderer.render_email("reminder", &ctx).expect("renders");
    assert_eq!(
        fewer,
        renderer
            .render_email_uncached("reminder", &ctx)
            .expect("renders")
    );
    ctx.customer.first_name = None;
    renderer.render_email("reminder", &ctx).expect("renders");
    assert_eq!(renderer.for_shop("any").compiled_shapes().builds, 3);
}

fn shop_renderer(files: &[(&str, &str)]) -> Renderer {
    let files = files
        .iter()
        .map(|(name, source)| TemplateFile {
            file: format!("shop/email/{name}"),
            name: (*name).to_owned(),
            source: (*source).to_owned(),
        })
        .collect();
    Renderer::embedded()
        .with_shop_files("shop", "shop/", files)
        .expect("compiles")
}

/// Renders the fixture and someone else in English with `renderer`'s shop templates, checks
/// both against the full pipeline, and says what the shop's set did with the shape.
fn shop_renders(renderer: &Renderer) -> CompiledShapes {
    let templates = renderer.for_shop("shop");
    for ctx in [fixture("en"), someone_else("en"), fixture("en")] {
        assert_eq!(
            templates.render_email("reminder", &ctx).expect("renders"),
            templates
                .render_email_uncached("reminder", &ctx)
                .expect("renders")
        );
    }
    templates.compiled_shapes()
}

const SHOP_LAYOUT_START: &str = r#"{% extends "layout.mjml" %}
{% block lang %}en{% endblock %}
{% block body %}
          <mj-text mj-class="headline">Hello again</mj-text>
          <mj-text>"#;
const SHOP_LAYOUT_END: &str = r#"</mj-text>
{% endblock %}"#;

#[test]
fn a_shop_template_with_the_built_in_tags_compiles() {
    let source = format!(
        "{SHOP_LAYOUT_START}{{% if customer.first_name %}}Hi {{{{ customer.first_name }}}}!{{% endif %}} Your {{{{ total }}}} cart at {{{{ shop.name }}}}{SHOP_LAYOUT_END}"
    );
    let renderer = shop_renderer(&[("en/reminder.mjml", &source)]);
    assert_eq!(
        shop_renders(&renderer),
        CompiledShapes {
            builds: 1,
            compiled: 1,
            full: 0
        }
    );
    let html = renderer
        .for_shop("shop")
        .render_email("reminder", &someone_else("en"))
        .expect("renders")
        .html;
    assert!(html.contains("Hi Tom &amp; &quot;Jerry&quot; &lt;O&#x27;Neil&gt;!"));
}

#[test]
fn a_shop_template_that_looks_into_a_value_is_rendered_in_full() {
    for body in [
        r#"{% if customer.first_name == "Maria" %}Hei Maria!{% else %}Hello {{ customer.first_name }}{% endif %}"#,
        "{{ customer.first_name|upper }}",
        "{{ total|replace(\"€\", \"EUR\") }}",
        "{% if total|length > 6 %}big{% endif %}",
        "{% raw %}{{ total }}{% endraw %}",
    ] {
        let source = format!("{SHOP_LAYOUT_START}{body}{SHOP_LAYOUT_END}");
        let renderer = shop_renderer(&[("en/reminder.mjml", &source)]);
        assert_eq!(
            shop_renders(&renderer),
            CompiledShapes {
                builds: 0,
                compiled: 0,
                full: 0
            },
            "{body}"
        );
    }
}

#[test]
fn a_value_written_unescaped_into_the_mjml_is_rendered_in_full() {
    // Only built-in tags, but the name reaches mrml as it stands: its shape is not compiled.
    let source = format!(
        "{SHOP_LAYOUT_START}{{% autoescape false %}}{{{{ customer.first_name }}}}{{% endautoescape %}}{SHOP_LAYOUT_END}"
    );
    let renderer = shop_renderer(&[("en/reminder.mjml", &source)]);
    let templates = renderer.for_shop("shop");
    for name in ["Maria", "Tom", "<b>Ada</b>"] {
        let mut ctx = fixture("en");
        ctx.customer.first_name = Some(name.to_owned());
        assert_eq!(
            templates.render_email("reminder", &ctx).expect("renders"),
            templates
                .render_email_uncached("reminder", &ctx)
                .expect("renders")
        );
    }
    assert_eq!(
        templates.compiled_shapes(),
        CompiledShapes {
            builds: 1,
            compiled: 0,
            full: 1
        }
    );
}

#[test]
fn a_template_set_keeps_a_bounded_number_of_shapes() {
    let renderer = Renderer::embedded();
    let mut ctx = fixture("en");
    for quantity in 0..300 {
        ctx.items[0].quantity = quantity;
        renderer.render_email("reminder", &ctx).expect("renders");
    }
    let shapes = renderer.for_shop("any").compiled_shapes();
    assert_eq!(shapes.builds, 300);
    assert_eq!(shapes.compiled + shapes.full, 256);
    // The newest are kept: the last message's shape is filled in, not compiled again.
    renderer.render_email("reminder", &ctx).expect("renders");
    assert_eq!(renderer.for_shop("any").compiled_shapes().builds, 300);
}

//! The outbox page: every cart with its timeline — events, decisions with their reasons,
//! each email as the recipient sees it (HTML in a sandboxed frame, text part, headers) and
//! each SMS — built from the table, moto's SES and SNS records, `explain` and the journal.
//! Server-rendered with minijinja; every value is escaped (it is shoppers' input).

use std::collections::HashMap;

use cartback_core::insight::explain::{Explanation, StepStatus, short_time};
use cartback_core::model::cart::CartRecord;
use cartback_core::model::time::Clock;
use cartback_devstack::{DevStackError, PublishedSms, SentMail};
use jiff::Timestamp;
use serde::Serialize;

use super::App;
use super::actions::Action;
use super::journal::{Entry, Source};

/// Why the outbox page could not be built.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The carts could not be read, or one could not be explained.
    #[error(transparent)]
    Stack(#[from] DevStackError),
    #[error("reading moto's state: {0}")]
    MotoState(#[source] reqwest::Error),
    #[error("moto's state: {0}")]
    MotoAnswer(#[source] reqwest::Error),
    #[error("rendering the outbox: {0}")]
    Render(#[source] minijinja::Error),
}

/// The page's template (auto-escaped: its name ends in `.html`).
pub const TEMPLATE: &str = include_str!("outbox.html");
pub const TEMPLATE_NAME: &str = "outbox.html";

#[derive(Serialize)]
struct Page {
    now: String,
    speed: u32,
    version: u64,
    webhook_url: String,
    carts: Vec<CartView>,
    requests: Vec<Line>,
}

#[derive(Serialize)]
struct CartView {
    anchor: String,
    shop: String,
    cart: String,
    state: &'static str,
    summary: String,
    sequence: Option<String>,
    engagement: Option<&'static str>,
    reach: String,
    timeline: Vec<Item>,
    next: Option<String>,
    wake_up: Option<String>,
    actions: Vec<ActionView>,
}

#[derive(Serialize)]
struct ActionView {
    name: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct Item {
    #[serde(skip)]
    sort: Timestamp,
    at: String,
    /// `event`, `decision`, `email`, `sms`, `request`, `action`.
    kind: &'static str,
    title: String,
    email: Option<EmailView>,
    sms: Option<SmsView>,
}

#[derive(Serialize)]
struct EmailView {
    subject: String,
    from: String,
    to: String,
    html: String,
    text: String,
    headers: Vec<(String, String)>,
}

#[derive(Serialize)]
struct SmsView {
    to: String,
    text: String,
}

#[derive(Serialize)]
struct Line {
    at: String,
    text: String,
}

fn when(t: Timestamp) -> String {
    t.strftime("%b %d, %H:%M").to_string()
}

/// The HTML of an email for `<iframe srcdoc>`: links open outside the frame.
fn framed(html: &str) -> String {
    match html.find("<head>") {
        Some(at) => {
            let (head, rest) = html.split_at(at + "<head>".len());
            format!("{head}<base target=\"_blank\">{rest}")
        }
        None => format!("<base target=\"_blank\">{html}"),
    }
}

fn email_view(mail: &SentMail) -> Option<EmailView> {
    let parsed = mail.parsed().ok()?;
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    Some(EmailView {
        from: header("From"),
        to: header("To"),
        html: framed(&parsed.html),
        text: parsed.text,
        headers: parsed.headers.clone(),
        subject: parsed.subject,
    })
}

fn reach_words(e: &Explanation) -> String {
    let Some(reach) = &e.reach else {
        return "no contact details".to_owned();
    };
    let email = match (reach.email, reach.email_consent) {
        (false, _) => "no email",
        (true, true) => "email with marketing consent",
        (true, false) => "email without marketing consent",
    };
    let phone = match (reach.phone, reach.sms_consent) {
        (false, _) => "no phone",
        (true, true) => "phone with SMS consent",
        (true, false) => "phone without SMS consent",
    };
    format!("{email}, {phone}")
}

struct Outputs {
    emails: HashMap<String, SentMail>,
    sms: HashMap<String, PublishedSms>,
}

fn timeline(cart: &CartRecord, e: &Explanation, out: &Outputs, journal: &[Entry]) -> Vec<Item> {
    let item = |sort: Timestamp, kind: &'static str, title: String| Item {
        sort,
        at: when(sort),
        kind,
        title,
        email: None,
        sms: None,
    };
    let mut items = Vec::new();
    if let Some(at) = e.last_activity_at {
        items.push(item(
            at,
            "event",
            "Last activity on the checkout".to_owned(),
        ));
    }
    for step in &e.steps {
        let Some(at) = step.at else { continue };
        let channel = step.channel.unwrap_or("?");
        match step.status {
            StepStatus::Sent => {
                let mut sent = item(
                    at,
                    if channel == "sms" { "sms" } else { "email" },
                    format!("Step {} ({}) sent by {channel}", step.step, step.template),
                );
                sent.email = out.emails.get(&step.message_id).and_then(email_view);
                sent.sms = out.sms.get(&step.message_id).map(|sms| SmsView {
                    to: sms.phone_number.clone(),
                    text: sms.message.clone(),
                });
                items.push(sent);
            }
            StepStatus::Skipped => items.push(item(
                at,
                "decision",
                format!(
                    "Step {} ({}) skipped on {channel}: {}",
                    step.step,
                    step.template,
                    step.reason.as_deref().unwrap_or("?")
                ),
            )),
            _ => {}
        }
        if let Some(opened) = step.opened_at {
            items.push(item(opened, "event", format!("Step {} opened", step.step)));
        }
        if let Some(clicked) = step.clicked_at {
            items.push(item(
                clicked,
                "event",
                format!("Step {} clicked", step.step),
            ));
        }
    }
    for s in &e.suppressed {
        items.push(item(
            s.at,
            "event",
            format!("{} suppressed for this person: {}", s.channel, s.reason),
        ));
    }
    if let Some(at) = cart.converted_at {
        items.push(item(
            at,
            "event",
            format!(
                "Bought: order {} ({})",
                e.order_id.as_deref().unwrap_or("?"),
                e.order_total.as_deref().unwrap_or("?")
            ),
        ));
    }
    for entry in journal {
        let kind = match entry.source {
            Source::Step => continue,
            Source::Request => "request",
            Source::Sender => "decision",
            Source::Action => "action",
        };
        items.push(item(entry.at, kind, entry.text.clone()));
    }
    items.sort_by_key(|i| i.sort);
    items
}

fn actions(cart: &CartRecord) -> Vec<ActionView> {
    if !cart.is_open() {
        return Vec::new();
    }
    let emailed = cart
        .sent
        .iter()
        .any(|s| s.is_sent() && s.channel == cartback_core::model::sequence::Channel::Email);
    Action::ALL
        .into_iter()
        .filter(|a| emailed || !a.needs_email())
        .map(|a| ActionView {
            name: a.name(),
            label: match a {
                Action::Open => "Open",
                Action::Click => "Click",
                Action::Bounce => "Bounce",
                Action::Complaint => "Complaint",
                Action::Unsubscribe => "Unsubscribe",
                Action::Purchase => "Purchase",
            },
        })
        .collect()
}

/// The outbox as HTML.
pub async fn render(app: &App) -> Result<String, OutboxError> {
    let mut carts = app.stack.carts().await?;
    carts.sort_by(|a, b| {
        b.value
            .last_activity_at
            .cmp(&a.value.last_activity_at)
            .then_with(|| a.value.cart.cmp(&b.value.cart))
    });
    let data = app.moto_data().await?;
    let out = Outputs {
        emails: cartback_devstack::sent_emails(&data)
            .into_iter()
            .map(|m| (m.message_id.clone(), m))
            .collect(),
        sms: cartback_devstack::sent_sms(&data)
            .into_iter()
            .map(|s| (s.message_id.clone(), s))
            .collect(),
    };
    let journal = app.journal.entries();
    let mut views = Vec::new();
    for cart in carts {
        let cart = cart.value;
        let e = app.stack.explain(&cart.shop, &cart.cart).await?;
        let mine: Vec<Entry> = journal
            .iter()
            .filter(|j| {
                j.shop == cart.shop.as_str() && j.cart.as_deref() == Some(cart.cart.as_str())
            })
            .cloned()
            .collect();
        views.push(CartView {
            anchor: format!(
                "cart-{}",
                cartback_core::model::ids::log_hash(&[cart.shop.as_str(), cart.cart.as_str()])
            ),
            shop: cart.shop.to_string(),
            cart: cart.cart.to_string(),
            state: e.state.as_str(),
            summary: e.summary.clone(),
            sequence: e.sequence.clone(),
            engagement: e.engagement,
            reach: reach_words(&e),
            timeline: timeline(&cart, &e, &out, &mine),
            next: e.next.as_ref().map(|n| {
                format!(
                    "{} step {}{} at {}: {}",
                    n.decision,
                    n.step,
                    n.channel.map(|c| format!(" by {c}")).unwrap_or_default(),
                    short_time(n.at),
                    n.reason
                )
            }),
            wake_up: e.wake_up_at.map(short_time),
            actions: actions(&cart),
        });
    }
    let requests = journal
        .iter()
        .filter(|j| j.cart.is_none())
        .rev()
        .take(20)
        .map(|j| Line {
            at: when(j.at),
            text: j.text.clone(),
        })
        .collect();
    let page = Page {
        now: short_time(app.stack.clock.now()),
        speed: app.speed,
        version: app.journal.version(),
        webhook_url: format!("{}/webhooks/{{shop}}/shopify", app.base_url),
        carts: views,
        requests,
    };
    render_page(&app.templates, &page)
}

fn render_page(templates: &minijinja::Environment<'_>, page: &Page) -> Result<String, OutboxError> {
    templates
        .get_template(TEMPLATE_NAME)
        .and_then(|t| t.render(page))
        .map_err(OutboxError::Render)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVIL: &str = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;

    fn page() -> Page {
        let at: Timestamp = "2026-11-23T14:00:00Z".parse().expect("time");
        Page {
            now: short_time(at),
            speed: 60,
            version: 7,
            webhook_url: "http://localhost:8787/webhooks/{shop}/shopify".into(),
            carts: vec![CartView {
                anchor: "cart-0123456789abcdef".into(),
                shop: "kuura-knitwear".into(),
                cart: "c0ffee".into(),
                state: "open",
                summary: EVIL.into(),
                sequence: Some("new-visitor".into()),
                engagement: Some("none"),
                reach: "email with marketing consent, no phone".into(),
                timeline: vec![Item {
                    sort: at,
                    at: when(at),
                    kind: "email",
                    title: EVIL.into(),
                    email: Some(EmailView {
                        subject: EVIL.into(),
                        from: EVIL.into(),
                        to: EVIL.into(),
                        html: framed(&format!("<html><head></head><body>{EVIL}</body></html>")),
                        text: EVIL.into(),
                        headers: vec![("Subject".into(), EVIL.into())],
                    }),
                    sms: Some(SmsView {
                        to: "+358401234567".into(),
                        text: EVIL.into(),
                    }),
                }],
                next: Some(EVIL.into()),
                wake_up: None,
                actions: vec![ActionView {
                    name: "purchase",
                    label: "Purchase",
                }],
            }],
            requests: vec![Line {
                at: when(at),
                text: EVIL.into(),
            }],
        }
    }

    fn templates() -> minijinja::Environment<'static> {
        let mut env = minijinja::Environment::new();
        env.add_template(TEMPLATE_NAME, TEMPLATE).expect("template");
        env
    }

    #[test]
    fn shoppers_input_is_escaped_everywhere() {
        let html = render_page(&templates(), &page()).expect("renders");
        // Only the page's own refresh script.
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
    }

    #[test]
    fn emails_are_framed_in_a_sandbox_without_scripts() {
        let html = render_page(&templates(), &page()).expect("renders");
        let frame = html
            .split("<iframe ")
            .nth(1)
            .and_then(|rest| rest.split('>').next())
            .expect("an iframe");
        assert!(
            frame.starts_with(r#"sandbox="allow-popups allow-popups-to-escape-sandbox""#),
            "{frame}"
        );
        assert!(
            !frame.contains("allow-scripts") && !frame.contains("allow-same-origin"),
            "{frame}"
        );
        assert!(
            html.contains(
                "srcdoc=\"&lt;html&gt;&lt;head&gt;&lt;base target=&quot;_blank&quot;&gt;"
            ),
            "{html}"
        );
    }

    #[test]
    fn the_page_refreshes_itself_and_has_a_form_per_button() {
        let html = render_page(&templates(), &page()).expect("renders");
        assert!(html.contains(r#"<main data-version="7">"#), "{html}");
        assert!(html.contains(r#"fetch("/outbox/version""#), "{html}");
        assert!(
            html.contains(r#"<button type="submit" data-action="purchase">Purchase</button>"#),
            "{html}"
        );
        assert!(html.contains(r#"name="viewport" content="width=device-width, initial-scale=1""#));
    }
}

//! Compiled emails: for one template set, the HTML (after mrml) and the plain text of each
//! message *shape* it has rendered, with the message's own values cut out. The next message
//! of the same shape is written by copying the literal parts and escaping its values into
//! the gaps, without running minijinja over the MJML or mrml at all.
//!
//! A shape is the message's context with each of its own texts (the first name, each item's
//! title, variant, prices and image, the total, the cart link, the offer's words and the
//! unsubscribe link) replaced by a sentinel, so it holds everything that can change the
//! structure: the template and language, the shop's whole context, the number of items and
//! each one's quantity, which optional values are there (or empty), and the whitespace at the
//! ends of each value (a `trim` in a template sees it). A sentinel is a private-use character,
//! the value's number (another private-use character), `&/` and a closing private-use
//! character: rendering the shape through the full pipeline once shows where each value
//! lands and how it was written there: HTML-escaped (`&amp;&#x2f;`), escaped but for `/` (the
//! layout's `href` macro: `&amp;/`) or as it is (plain text only: `&/`), and, in an attribute
//! of an element mrml writes itself (a link, an image), escaped once more the way mrml writes
//! attribute values, as a Rust string literal (`\u{e000}…`).
//!
//! A shape is kept only when every sentinel comes out whole, every value the MJML has is in
//! the HTML escaped as it was in the MJML, and the message that brought the shape in comes
//! out of it byte for byte as the full pipeline wrote it; otherwise the shape is remembered
//! as one to render in full. A set whose own files use any tag beyond those of the built-in
//! templates (a filter, test or comparison on a value, ...) is never compiled: a sentinel
//! cannot stand for a value a template looks into. At most [`CAPACITY`] shapes are kept per
//! set, the oldest dropped first.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use minijinja::HtmlEscape;

use crate::messages::render::{
    CustomerContext, EMBEDDED_SMS, EMBEDDED_TEMPLATES, EmailContext, ItemContext, OfferContext,
};

/// Opens a sentinel.
const OPEN: char = '\u{E000}';
/// Closes a sentinel.
const CLOSE: char = '\u{E001}';
/// The value numbers: value `n` is this character plus `n` (Supplementary Private Use Area-A).
const FIRST_NUMBER: u32 = 0xF_0000;
/// How many values one message may have for its shape to be compiled.
const MAX_VALUES: u32 = 0xFFFE;
/// Between a sentinel's number and its end: an `&` and a `/` show how the value was escaped.
const PROBE: &str = "&/";
/// Shapes kept per template set; past this the oldest is dropped.
const CAPACITY: usize = 256;

/// How a value was escaped where its sentinel stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Escape {
    /// minijinja's HTML escaping (`{{ value }}` in an `.mjml` template).
    Html,
    /// HTML-escaped piece by piece between the `/`s (the layout's `href` macro).
    Href,
    /// Not at all (plain-text templates).
    Raw,
}

impl Escape {
    /// Each escape with what [`PROBE`] becomes in it.
    const ALL: [(Self, &'static str); 3] = [
        (Self::Html, "&amp;&#x2f;"),
        (Self::Href, "&amp;/"),
        (Self::Raw, PROBE),
    ];

    fn write(self, out: &mut String, value: &str) {
        // Writing into a String cannot fail.
        match self {
            Self::Html => {
                let _ = write!(out, "{}", HtmlEscape(value));
            }
            Self::Href => {
                for (i, part) in value.split('/').enumerate() {
                    if i > 0 {
                        out.push('/');
                    }
                    let _ = write!(out, "{}", HtmlEscape(part));
                }
            }
            Self::Raw => out.push_str(value),
        }
    }
}

/// How a value was written where its sentinel stands: escaped, then, in an attribute mrml
/// writes itself, escaped again as a Rust string literal (mrml writes attribute values with
/// `{:?}`: `\` doubled, a tab `\t`, private-use and other unprintable characters `\u{…}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Form {
    escape: Escape,
    attribute: bool,
}

impl Form {
    fn write(self, out: &mut String, value: &str) {
        if !self.attribute {
            self.escape.write(out, value);
            return;
        }
        let mut escaped = String::with_capacity(value.len() + 16);
        self.escape.write(&mut escaped, value);
        let quoted = format!("{escaped:?}");
        if let Some(inner) = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
            out.push_str(inner);
        }
    }
}

/// A message's shape ([`EmailContext`] with sentinels for its own texts) and those texts,
/// in sentinel order, without the whitespace at their ends (the shape keeps that).
pub(crate) struct Shape<'a> {
    pub(crate) context: EmailContext,
    pub(crate) values: Vec<&'a str>,
}

/// Cuts values out of a context, numbering them.
#[derive(Default)]
struct Cutter<'a> {
    values: Vec<&'a str>,
}

impl<'a> Cutter<'a> {
    /// `value`'s sentinel, its end whitespace kept; a value that is all whitespace (or
    /// empty) stays as it is. `None` past [`MAX_VALUES`].
    fn cut(&mut self, value: &'a str) -> Option<String> {
        let core = value.trim();
        if core.is_empty() {
            return Some(value.to_owned());
        }
        let number = u32::try_from(self.values.len())
            .ok()
            .filter(|n| *n < MAX_VALUES)?;
        let number = char::from_u32(FIRST_NUMBER + number)?;
        let start = value.len() - value.trim_start().len();
        let end = start + core.len();
        self.values.push(core);
        Some(format!(
            "{}{OPEN}{number}{PROBE}{CLOSE}{}",
            &value[..start],
            &value[end..]
        ))
    }

    fn cut_option(&mut self, value: &'a Option<String>) -> Option<Option<String>> {
        match value {
            Some(value) => self.cut(value).map(Some),
            None => Some(None),
        }
    }
}

impl<'a> Shape<'a> {
    /// `ctx`'s shape; `None` when it has too many values to number.
    pub(crate) fn of(ctx: &'a EmailContext) -> Option<Self> {
        let mut cutter = Cutter::default();
        // Every field is named: a new one stays in the shape as it is until it is cut here.
        let customer = CustomerContext {
            first_name: cutter.cut_option(&ctx.customer.first_name)?,
        };
        let items = ctx
            .items
            .iter()
            .map(|item| {
                Some(ItemContext {
                    title: cutter.cut(&item.title)?,
                    variant: cutter.cut_option(&item.variant)?,
                    quantity: item.quantity,
                    unit_price: cutter.cut(&item.unit_price)?,
                    line_total: cutter.cut(&item.line_total)?,
                    image_url: cutter.cut_option(&item.image_url)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let total = cutter.cut(&ctx.total)?;
        let cart_url = cutter.cut(&ctx.cart_url)?;
        let offer = match &ctx.offer {
            Some(offer) => Some(OfferContext {
                code: cutter.cut(&offer.code)?,
                description: cutter.cut(&offer.description)?,
                expires: cutter.cut(&offer.expires)?,
                expires_short: cutter.cut(&offer.expires_short)?,
            }),
            None => None,
        };
        let unsubscribe_url = cutter.cut_option(&ctx.unsubscribe_url)?;
        let context = EmailContext {
            lang: ctx.lang.clone(),
            channel: ctx.channel,
            locale: ctx.locale.clone(),
            shop: ctx.shop.clone(),
            customer,
            items,
            total,
            cart_url,
            step: ctx.step,
            offer,
            unsubscribe_url,
        };
        Some(Self {
            context,
            values: cutter.values,
        })
    }

    /// What a compiled shape is found by: the template (`en/reminder`) and the shape as
    /// the templates see it.
    fn key(&self, template: &str) -> Option<Key> {
        let shape = serde_json::to_string(&self.context).ok()?;
        Some((template.to_owned(), shape))
    }
}

type Key = (String, String);

/// One piece of a compiled part: text as it stands, or where value `number` goes.
#[derive(Debug)]
enum Piece {
    Text(String),
    Value { number: usize, form: Form },
}

/// A rendered part (HTML or text) cut at its sentinels.
#[derive(Debug)]
pub(crate) struct Skeleton {
    pieces: Vec<Piece>,
    text_len: usize,
}

impl Skeleton {
    /// `rendered` cut at its sentinels, for a shape of `values` values; `None` when a
    /// sentinel is broken, numbers a value the shape does not have, is escaped in a way not
    /// in `escapes`, or is written as in an attribute where `attributes` is false.
    fn parse(rendered: &str, values: usize, escapes: &[Escape], attributes: bool) -> Option<Self> {
        let mut pieces = Vec::new();
        let mut text_len = 0;
        let mut rest = rendered;
        loop {
            let at = [rest.find(OPEN), rest.find(QUOTED_OPEN)]
                .into_iter()
                .flatten()
                .min();
            let (text, sentinel) = rest.split_at(at.unwrap_or(rest.len()));
            if has_marker(text) {
                return None;
            }
            if !text.is_empty() {
                text_len += text.len();
                pieces.push(Piece::Text(text.to_owned()));
            }
            if sentinel.is_empty() {
                break;
            }
            let attribute = sentinel.starts_with(QUOTED_OPEN);
            if attribute && !attributes {
                return None;
            }
            let (_, after) = read_marker(sentinel, attribute)?;
            let (number, after) = read_marker(after, attribute)?;
            let number = u32::from(number)
                .checked_sub(FIRST_NUMBER)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n < values)?;
            let (escape, written) = Escape::ALL
                .into_iter()
                .find(|(_, written)| after.starts_with(written))
                .filter(|(escape, _)| escapes.contains(escape))?;
            let (close, after) = read_marker(&after[written.len()..], attribute)?;
            if close != CLOSE {
                return None;
            }
            pieces.push(Piece::Value {
                number,
                form: Form { escape, attribute },
            });
            rest = after;
        }
        Some(Self { pieces, text_len })
    }

    /// The sentinels: which values, escaped how.
    fn sentinels(&self) -> BTreeSet<(usize, Escape)> {
        self.pieces
            .iter()
            .filter_map(|piece| match piece {
                Piece::Value { number, form } => Some((*number, form.escape)),
                Piece::Text(_) => None,
            })
            .collect()
    }

    /// The part for a message of this shape with `values`.
    fn fill(&self, values: &[&str]) -> String {
        let mut out = String::with_capacity(self.text_len + 64 * values.len());
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Value { number, form } => {
                    if let Some(value) = values.get(*number) {
                        form.write(&mut out, value);
                    }
                }
            }
        }
        out
    }
}

/// [`OPEN`] as mrml writes it in an attribute.
const QUOTED_OPEN: &str = "\\u{e000}";

/// The character `text` starts with, written as it is or (`quoted`) as mrml writes it in an
/// attribute (`\u{e000}`), and the text after it.
fn read_marker(text: &str, quoted: bool) -> Option<(char, &str)> {
    if quoted {
        let (hex, rest) = text.strip_prefix("\\u{")?.split_once('}')?;
        let c = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)?;
        Some((c, rest))
    } else {
        let c = text.chars().next()?;
        Some((c, &text[c.len_utf8()..]))
    }
}

/// Whether `text` has a sentinel's character, as it is or as mrml writes it in an attribute.
fn has_marker(text: &str) -> bool {
    text.chars().any(is_marker)
        || text
            .match_indices("\\u{")
            .any(|(at, _)| read_marker(&text[at..], true).is_some_and(|(c, _)| is_marker(c)))
}

/// A sentinel's characters: [`OPEN`], [`CLOSE`] and the value numbers.
fn is_marker(c: char) -> bool {
    c == OPEN || c == CLOSE || (FIRST_NUMBER..FIRST_NUMBER + MAX_VALUES).contains(&u32::from(c))
}

/// A shape compiled: its HTML and text.
#[derive(Debug)]
pub(crate) struct Compiled {
    html: Skeleton,
    text: Skeleton,
}

impl Compiled {
    /// The shape's parts from its sentinel renders (`mjml` before mrml, `html` after it, and
    /// `text`), checked against `expected`, the HTML and text the full pipeline wrote for
    /// `values`; `None` when they cannot stand for every message of the shape.
    pub(crate) fn new(
        mjml: &str,
        html: &str,
        text: &str,
        values: &[&str],
        expected: (&str, &str),
    ) -> Option<Self> {
        let markup = [Escape::Html, Escape::Href];
        let before = Skeleton::parse(mjml, values.len(), &markup, false)?;
        let html = Skeleton::parse(html, values.len(), &markup, true)?;
        // mrml kept every value the MJML has, each escaped as it was there (the title comes
        // out twice: in `<title>` and as the body's `aria-label`).
        if before.sentinels() != html.sentinels() {
            return None;
        }
        let text = Skeleton::parse(text, values.len(), &Escape::ALL.map(|(e, _)| e), false)?;
        let compiled = Self { html, text };
        let (html, text) = compiled.fill(values);
        (html == expected.0 && text == expected.1).then_some(compiled)
    }

    /// The HTML and text of a message of this shape with `values`.
    pub(crate) fn fill(&self, values: &[&str]) -> (String, String) {
        (self.html.fill(values), self.text.fill(values))
    }
}

/// What a template set knows of a shape.
#[derive(Debug)]
pub(crate) enum Entry {
    Compiled(Compiled),
    /// Rendered in full every time.
    Full,
}

/// What a template set has done with the message shapes it met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompiledShapes {
    /// Shapes compiled so far (for each, mrml once over its sentinels).
    pub builds: usize,
    /// Shapes kept compiled, their messages filled in.
    pub compiled: usize,
    /// Shapes kept as ones to render in full.
    pub full: usize,
}

/// The shapes one template set has met, at most [`CAPACITY`] of them.
#[derive(Debug)]
pub(crate) struct ShapeCache {
    /// Whether the set's templates can be compiled at all (see [`cacheable_source`]).
    enabled: bool,
    entries: Mutex<Entries>,
    /// How many shapes have been compiled (for each, mrml run over its sentinels).
    builds: AtomicUsize,
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<Key, Arc<Entry>>,
    oldest_first: VecDeque<Key>,
}

/// A message looked up: its shape, and what the set knows of it.
pub(crate) struct Lookup<'a> {
    pub(crate) shape: Shape<'a>,
    key: Key,
    pub(crate) entry: Option<Arc<Entry>>,
}

impl ShapeCache {
    /// A cache for a set whose templates can (`enabled`) or cannot be compiled.
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            entries: Mutex::default(),
            builds: AtomicUsize::new(0),
        }
    }

    /// `ctx`'s shape for `template` (`en/reminder`) and what is known of it; `None` when the
    /// message is to be rendered in full without being looked up.
    pub(crate) fn lookup<'a>(&self, template: &str, ctx: &'a EmailContext) -> Option<Lookup<'a>> {
        if !self.enabled {
            return None;
        }
        let shape = Shape::of(ctx)?;
        let key = shape.key(template)?;
        let entry = self.lock().by_key.get(&key).cloned();
        Some(Lookup { shape, key, entry })
    }

    /// Compiles `lookup`'s shape with `build` and keeps the outcome, dropping the oldest
    /// shape when full.
    pub(crate) fn compile(
        &self,
        lookup: Lookup<'_>,
        build: impl FnOnce(&Shape<'_>) -> Option<Compiled>,
    ) {
        self.builds.fetch_add(1, Ordering::Relaxed);
        let entry = build(&lookup.shape).map_or(Entry::Full, Entry::Compiled);
        let mut entries = self.lock();
        if entries.by_key.contains_key(&lookup.key) {
            // Compiled meanwhile by another message of the same shape.
            return;
        }
        while entries.by_key.len() >= CAPACITY {
            let Some(oldest) = entries.oldest_first.pop_front() else {
                break;
            };
            entries.by_key.remove(&oldest);
        }
        entries.oldest_first.push_back(lookup.key.clone());
        entries.by_key.insert(lookup.key, Arc::new(entry));
    }

    pub(crate) fn stats(&self) -> CompiledShapes {
        let entries = self.lock();
        let compiled = entries
            .by_key
            .values()
            .filter(|entry| matches!(***entry, Entry::Compiled(_)))
            .count();
        CompiledShapes {
            builds: self.builds.load(Ordering::Relaxed),
            compiled,
            full: entries.by_key.len() - compiled,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map is whole after every operation on it, so a panic elsewhere leaves it usable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a shop's template `source` uses only tags that a sentinel can stand in: those of
/// the built-in templates (whose compiled output the tests compare with the full pipeline's),
/// blocks, and `extends`/`include` of a named template. `false` for anything else (a filter,
/// test or comparison of its own, `raw`, an unclosed tag, ...).
pub(crate) fn cacheable_source(source: &str) -> bool {
    static BUILT_IN: LazyLock<HashSet<String>> = LazyLock::new(|| {
        EMBEDDED_TEMPLATES
            .iter()
            .chain(EMBEDDED_SMS)
            .filter_map(|(_, source)| tags(source))
            .flatten()
            .collect()
    });
    tags(source).is_some_and(|tags| {
        tags.iter()
            .all(|tag| BUILT_IN.contains(tag) || is_structure(tag))
    })
}

/// `block name`, `endblock`, `extends "name"`, `include "name"`.
fn is_structure(tag: &str) -> bool {
    let is_name =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let is_literal = |s: &str| {
        ['"', '\''].into_iter().any(|quote| {
            s.strip_prefix(quote)
                .and_then(|s| s.strip_suffix(quote))
                .is_some_and(|inner| !inner.contains([quote, '\\']))
        })
    };
    match tag.split_once(' ') {
        Some(("block", name)) => is_name(name),
        Some(("extends" | "include", name)) => is_literal(name),
        None => tag == "endblock",
        Some(_) => false,
    }
}

/// The expression and statement tags of a template's source (`{{ … }}`, `{% … %}`), each
/// without its whitespace-control markers and with its whitespace runs made one space;
/// comments left out. `None` when a tag is not closed.
fn tags(source: &str) -> Option<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find('{') {
        let after = &rest[at + 1..];
        let close = match after.chars().next() {
            Some('{') => "}}",
            Some('%') => "%}",
            Some('#') => "#}",
            _ => {
                rest = after;
                continue;
            }
        };
        let inside = &after[1..];
        let end = inside.find(close)?;
        if close != "#}" {
            let body = &inside[..end];
            let body = body.strip_prefix(['-', '+']).unwrap_or(body);
            let body = body.strip_suffix(['-', '+']).unwrap_or(body);
            found.push(body.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        rest = &inside[end + close.len()..];
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentinel(number: u32, written: &str) -> String {
        let number = char::from_u32(FIRST_NUMBER + number).expect("a private-use character");
        format!("{OPEN}{number}{written}{CLOSE}")
    }

    #[test]
    fn tags_lose_their_whitespace_markers_and_comments_are_skipped() {
        assert_eq!(
            tags("a {%- if x  and y -%} b {# {{ z }} #}{{+ w }}{{ v -}}").expect("closed"),
            ["if x and y", "w", "v"]
        );
        assert_eq!(tags("{{ x }"), None);
    }

    #[test]
    fn the_built_in_templates_and_their_tags_are_cacheable() {
        for (name, source) in EMBEDDED_TEMPLATES.iter().chain(EMBEDDED_SMS) {
            assert!(cacheable_source(source), "{name}");
        }
        assert!(cacheable_source(
            r#"{% extends "fi/layout.mjml" %}{% block closing %}Kiitos {{ customer.first_name }}{% endblock %}"#
        ));
        for source in [
            "{{ customer.first_name|upper }}",
            r#"{% if item.title == "x" %}{% endif %}"#,
            "{% block two words %}",
            r#"{% include "a" ~ lang %}"#,
            "{% raw %}{{ total }}{% endraw %}",
            "{{ total",
        ] {
            assert!(!cacheable_source(source), "{source}");
        }
    }

    #[test]
    fn a_skeleton_is_cut_at_whole_sentinels_only() {
        let markup = [Escape::Html, Escape::Href];
        let html = format!(
            "<a href=\"{}\">{}</a>",
            sentinel(1, "&amp;/"),
            sentinel(0, "&amp;&#x2f;")
        );
        let skeleton = Skeleton::parse(&html, 2, &markup, false).expect("whole");
        assert_eq!(
            skeleton.fill(&["<Ada & Bob>", "https://x.example/a b"]),
            "<a href=\"https://x.example/a b\">&lt;Ada &amp; Bob&gt;</a>"
        );
        let quoted = "<img src=\"\\u{e000}\\u{f0000}&amp;/\\u{e001}\">";
        let skeleton = Skeleton::parse(quoted, 1, &markup, true).expect("whole");
        assert_eq!(
            skeleton.fill(&["https://x.example/a\\b\t"]),
            "<img src=\"https://x.example/a\\\\b\\t\">"
        );
        let broken = [
            // Cut short, a number the shape does not have, a form it cannot be in, a stray end.
            format!("{OPEN}{}", char::from_u32(FIRST_NUMBER).expect("char")),
            sentinel(2, "&amp;/"),
            sentinel(0, "&/"),
            sentinel(0, "&amp;"),
            format!("x{CLOSE}"),
            "\\u{e001}".to_owned(),
        ];
        for rendered in broken {
            assert!(
                Skeleton::parse(&rendered, 2, &markup, false).is_none(),
                "{rendered:?}"
            );
        }
        assert!(Skeleton::parse(quoted, 1, &markup, false).is_none());
    }

    #[test]
    fn a_value_keeps_the_whitespace_at_its_ends_in_the_shape() {
        let mut cutter = Cutter::default();
        assert_eq!(cutter.cut("  \n"), Some("  \n".to_owned()));
        assert_eq!(
            cutter.cut(" Ada Lovelace\u{a0}"),
            Some(format!(" {}\u{a0}", sentinel(0, PROBE)))
        );
        assert_eq!(cutter.values, ["Ada Lovelace"]);
    }
}

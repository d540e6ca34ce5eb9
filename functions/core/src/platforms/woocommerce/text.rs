//! Product names as WooCommerce stores them: with HTML entities (`Hoodie &ndash; Blue`), and a
//! variation's name made of its product's name and its attributes (`Hoodie - Blue, M`).

/// The text with HTML character references decoded (numeric ones and the named ones
/// WordPress writes into titles); an unknown or broken reference stays as it is. The
/// templates escape what they print, so nothing here needs to stay encoded.
pub(super) fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        // `;` is ASCII, so the bytes before it end on a character boundary.
        let decoded = rest.as_bytes()[1..]
            .iter()
            .take(11)
            .position(|&b| b == b';')
            .and_then(|end| reference(&rest[1..=end]).map(|c| (c, end + 2)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character a reference's name (between `&` and `;`) stands for.
fn reference(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| !c.is_control() || c.is_whitespace());
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "times" => '×',
        "euro" => '€',
        "pound" => '£',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "deg" => '°',
        _ => return None,
    })
}

/// A line's title and variant: a variation named `<product> - <attributes>` splits at its
/// product's name (`parent_name`); any other name is the title as it is.
pub(super) fn title_and_variant(name: &str, parent: Option<&str>) -> (String, Option<String>) {
    if let Some(parent) = parent
        && let Some(rest) = name.strip_prefix(parent)
    {
        let variant = rest
            .trim_start_matches(|c: char| {
                c.is_whitespace() || matches!(c, '-' | '–' | '—' | ',' | ':')
            })
            .trim();
        return (
            parent.to_owned(),
            (!variant.is_empty()).then(|| variant.to_owned()),
        );
    }
    (name.to_owned(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_decode_and_strays_stay() {
        assert_eq!(
            decode_entities("Ship Your Idea &ndash; Color: Black"),
            "Ship Your Idea – Color: Black"
        );
        assert_eq!(
            decode_entities("Tom &amp; Jerry&#8217;s &#x2764;"),
            "Tom & Jerry’s ❤"
        );
        assert_eq!(
            decode_entities("R&D & more &nope; &#xZZ; &"),
            "R&D & more &nope; &#xZZ; &"
        );
        assert_eq!(decode_entities("&#0; &#1114112;"), "&#0; &#1114112;");
        assert_eq!(decode_entities("ääkköset &auml;"), "ääkköset &auml;");
        assert_eq!(decode_entities("&amp;ääääää"), "&ääääää");
        assert_eq!(decode_entities("&ääääää;"), "&ääääää;");
    }

    #[test]
    fn a_variation_splits_at_its_products_name() {
        assert_eq!(
            title_and_variant("Hoodie - Blue, M", Some("Hoodie")),
            ("Hoodie".to_owned(), Some("Blue, M".to_owned()))
        );
        assert_eq!(
            title_and_variant("Hoodie – Blue", Some("Hoodie")),
            ("Hoodie".to_owned(), Some("Blue".to_owned()))
        );
        assert_eq!(
            title_and_variant("Hoodie", Some("Hoodie")),
            ("Hoodie".to_owned(), None)
        );
        assert_eq!(
            title_and_variant("Beanie", Some("Hoodie")),
            ("Beanie".to_owned(), None)
        );
        assert_eq!(
            title_and_variant("Beanie", None),
            ("Beanie".to_owned(), None)
        );
    }
}

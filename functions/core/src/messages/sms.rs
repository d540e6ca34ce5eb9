//! SMS length: GSM-7 fits 160 characters in one message (153 per part when split); any
//! character outside it switches the whole message to UCS-2: 70 (67 per part).

/// GSM 03.38 basic character set.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: each costs two septets (an escape and the character).
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// How a text is encoded and how many messages it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsLength {
    pub gsm7: bool,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

pub fn length(text: &str) -> SmsLength {
    let gsm7_units: Option<usize> = text.chars().try_fold(0usize, |units, c| {
        if GSM7_BASIC.contains(c) {
            Some(units + 1)
        } else if GSM7_EXTENDED.contains(c) {
            Some(units + 2)
        } else {
            None
        }
    });
    let (gsm7, units, single, part) = match gsm7_units {
        Some(units) => (true, units, 160, 153),
        None => (false, text.encode_utf16().count(), 70, 67),
    };
    let segments = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        units.div_ceil(part)
    };
    SmsLength {
        gsm7,
        units,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_english_is_gsm7_and_160_fit_in_one() {
        let one = "a".repeat(160);
        assert_eq!(
            length(&one),
            SmsLength {
                gsm7: true,
                units: 160,
                segments: 1
            }
        );
        assert_eq!(length(&"a".repeat(161)).segments, 2);
        assert_eq!(length(&"a".repeat(306)).segments, 2);
        assert_eq!(length(&"a".repeat(307)).segments, 3);
    }

    #[test]
    fn extension_characters_cost_two_septets() {
        assert_eq!(length("€").units, 2);
        assert_eq!(length(&"€".repeat(80)).segments, 1);
        assert_eq!(length(&"€".repeat(81)).segments, 2);
    }

    #[test]
    fn finnish_fits_gsm7_but_polish_and_japanese_need_ucs2() {
        assert!(length("Hyvää päivää, ostoskorisi odottaa").gsm7);
        let polish = length("Twój koszyk czeka – zapraszamy ponownie");
        assert!(!polish.gsm7);
        let japanese = length(&"カ".repeat(70));
        assert_eq!((japanese.gsm7, japanese.segments), (false, 1));
        assert_eq!(length(&"カ".repeat(71)).segments, 2);
    }

    #[test]
    fn empty_text_takes_no_message() {
        assert_eq!(length("").segments, 0);
    }
}

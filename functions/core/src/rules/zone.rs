//! The recipient's time zone, for quiet hours (no SMS 21:00–09:00 where the recipient is).
//!
//! [`recipient_zone`] tries, in order:
//!
//! 1. an explicit IANA zone name from the platform, if the time zone database knows it;
//! 2. the address: ISO 3166-1 alpha-2 country code plus, for countries spanning several
//!    zones, the subdivision code (`province_code` as Shopify sends it, or the ISO 3166-2
//!    suffix, with or without the `"US-"` style prefix);
//! 3. the country of the phone number (the `phonenumber` crate's metadata);
//! 4. the shop's own zone.
//!
//! # Data
//!
//! Country → zones comes from the IANA tz database's `zone.tab`, release **2025b**, copied
//! verbatim into `data/zone.tab` (public domain). Every one of its 247 country codes resolves;
//! single-zone countries use their only zone. For the 31 countries it lists with several
//! zones, [`COUNTRY_DEFAULTS`] names the one used when the region is missing or unknown: the
//! zone where most people live (US → New York, CA → Toronto, AU → Sydney, BR → São Paulo,
//! RU → Moscow, MX → Mexico City, ID → Jakarta, UZ → Tashkent, PS → Hebron, …). It also
//! covers codes that are not in `zone.tab` but turn up in addresses or phone metadata
//! (XK Kosovo, AC Ascension, TA Tristan da Cunha); `UK` is read as `GB`.
//!
//! [`REGIONS`] maps subdivisions to zones. A subdivision split between zones gets the zone of
//! the majority of its population. Covered: US (50 states + DC; the territories Shopify lists
//! as US provinces resolve as their own countries), CA, AU, BR, MX (ISO and Shopify codes),
//! RU (every subdivision outside Moscow time; the rest use the default), AR, ID, CL, ES, PT,
//! EC, NZ, KI, FM, MH, MN, PG, PS, UA, CD. Not split: KZ (one offset since 2024), MY, UZ, GL, PF,
//! UM, AQ, DE, CY (minor zones only) and CN (Xinjiang officially keeps Beijing time).
//!
//! Every zone named here is checked against the tz database bundled into the binary (the
//! `tzdb-bundle-always` feature of `jiff`), so the lookups work on hosts without
//! `/usr/share/zoneinfo`. If a zone is missing from an old system database anyway, a region
//! falls back to its country's default, and a country to the next source.

use jiff::Timestamp;
use jiff::civil::{DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use serde::{Deserialize, Serialize};

/// `zone.tab` from the IANA tz database, release 2025b (public domain).
const ZONE_TAB: &str = include_str!("../../data/zone.tab");

/// Where the zone came from (for explanations and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneSource {
    Explicit,
    Address,
    Phone,
    Shop,
}

/// What is known about where the recipient is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneHints<'a> {
    /// IANA name from the platform.
    pub explicit: Option<&'a str>,
    /// ISO 3166-1 alpha-2, any case.
    pub country: Option<&'a str>,
    /// Subdivision code without the country prefix (`"CA"`, `"BC"`), any case; `"US-CA"` works too.
    pub region: Option<&'a str>,
    pub phone_e164: Option<&'a str>,
}

/// The recipient's zone and where it came from. Never fails: falls back to `shop_zone`.
pub fn recipient_zone(hints: &ZoneHints<'_>, shop_zone: &TimeZone) -> (TimeZone, ZoneSource) {
    if let Some(tz) = hints.explicit.and_then(explicit_zone) {
        return (tz, ZoneSource::Explicit);
    }
    if let Some(tz) = address_zone(hints.country, hints.region) {
        return (tz, ZoneSource::Address);
    }
    if let Some(tz) = hints.phone_e164.and_then(phone_zone) {
        return (tz, ZoneSource::Phone);
    }
    (shop_zone.clone(), ZoneSource::Shop)
}

/// The first instant at or after `at` that is outside the daily quiet window
/// [`quiet_from`, `quiet_until`) in `zone` (the window may cross midnight, e.g. 21:00–09:00;
/// `quiet_from == quiet_until` means no quiet hours). DST-correct: on a day where the
/// window's end does not exist (spring-forward gap) use the first existing instant after it.
pub fn next_allowed(
    at: Timestamp,
    zone: &TimeZone,
    quiet_from: Time,
    quiet_until: Time,
) -> Timestamp {
    if quiet_from == quiet_until {
        return at;
    }
    // One step lands on the window's end. Only a transition that skips a whole day (Samoa,
    // 2011-12-30) can land that inside the next night's window; step again from there.
    let mut t = at;
    for _ in 0..4 {
        let next = window_exit(t, zone, quiet_from, quiet_until);
        if next == t {
            break;
        }
        t = next;
    }
    t
}

/// `at` if it is outside the window, else the instant the current window ends.
fn window_exit(at: Timestamp, zone: &TimeZone, quiet_from: Time, quiet_until: Time) -> Timestamp {
    let local = zone.to_datetime(at);
    let (date, time) = (local.date(), local.time());
    let end_date = if quiet_from < quiet_until {
        // Same-day window, e.g. 12:00–13:00.
        if quiet_from <= time && time < quiet_until {
            date
        } else {
            return at;
        }
    } else if time >= quiet_from {
        // Evening part of a window crossing midnight: it ends tomorrow morning.
        match date.tomorrow() {
            Ok(tomorrow) => tomorrow,
            // Only at the very end of jiff's supported range.
            Err(_) => return at,
        }
    } else if time < quiet_until {
        // Morning part: it ends today.
        date
    } else {
        return at;
    };
    window_end(zone, end_date.to_datetime(quiet_until), at).unwrap_or(at)
}

/// The instant the wall clock in `zone` first reads `end` at or after `at`: in a
/// spring-forward gap, the transition that skips it; in a fall-back fold, the earlier
/// occurrence unless it is already past.
fn window_end(zone: &TimeZone, end: DateTime, at: Timestamp) -> Option<Timestamp> {
    let ambiguous = zone.to_ambiguous_timestamp(end);
    let ts = match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } => ambiguous.compatible().ok()?,
        AmbiguousOffset::Gap { before, after } => {
            // `end` read with the later offset is an instant before the transition.
            let before_gap = after.to_timestamp(end).ok()?;
            match zone.following(before_gap).next() {
                Some(transition) => transition.timestamp(),
                None => before.to_timestamp(end).ok()?,
            }
        }
        AmbiguousOffset::Fold { .. } => {
            let earlier = ambiguous.earlier().ok()?;
            if earlier >= at {
                earlier
            } else {
                ambiguous.later().ok()?
            }
        }
    };
    Some(ts.max(at))
}

fn explicit_zone(name: &str) -> Option<TimeZone> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    TimeZone::get(name).ok().filter(|tz| !tz.is_unknown())
}

fn phone_zone(raw: &str) -> Option<TimeZone> {
    let number = phonenumber::parse(None, raw.trim()).ok()?;
    let id = number.country().id()?;
    country_zone(id.as_ref(), None)
}

fn address_zone(country: Option<&str>, region: Option<&str>) -> Option<TimeZone> {
    let country = country.and_then(normalize_country);
    let mut region = region.map(normalize_region).filter(|r| !r.is_empty());
    let mut country = country;
    // "US-CA": strip the prefix when it names the same country (or supply the country).
    if let Some(r) = region.as_deref()
        && let Some((prefix, rest)) = r.split_once('-')
        && let Some(prefix) = normalize_country(prefix)
        && country.as_deref().is_none_or(|c| c == prefix)
    {
        let rest = rest.to_owned();
        country = Some(prefix);
        region = Some(rest).filter(|r| !r.is_empty());
    }
    country_zone(&country?, region.as_deref())
}

/// A two-letter code, upper case; `UK` (common, but not ISO) becomes `GB`.
fn normalize_country(raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    Some(if code == "UK" { "GB".to_owned() } else { code })
}

/// Upper case without spaces or dots, so Shopify's `"Q ROO"` matches `QROO`.
fn normalize_region(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// US territories Shopify may send as provinces of `US`; zone.tab lists them as countries.
const US_TERRITORIES: [&str; 9] = ["AS", "FM", "GU", "MH", "MP", "PR", "PW", "UM", "VI"];

fn country_zone(country: &str, region: Option<&str>) -> Option<TimeZone> {
    if country == "US"
        && let Some(territory) = region.filter(|r| US_TERRITORIES.contains(r))
    {
        return country_zone(territory, None);
    }
    let by_region = region.and_then(|r| region_zone_name(country, r));
    by_region
        .into_iter()
        .chain(country_default_name(country))
        .find_map(|name| TimeZone::get(name).ok())
}

fn region_zone_name(country: &str, region: &str) -> Option<&'static str> {
    REGIONS
        .iter()
        .find(|(c, codes, _)| *c == country && codes.split(' ').any(|code| code == region))
        .map(|(_, _, zone)| *zone)
}

fn country_default_name(country: &str) -> Option<&'static str> {
    COUNTRY_DEFAULTS
        .iter()
        .find(|(c, _)| *c == country)
        .map(|(_, zone)| *zone)
        .or_else(|| {
            zone_tab()
                .find(|(c, _)| *c == country)
                .map(|(_, zone)| zone)
        })
}

/// `(country, zone)` rows of zone.tab, in file order.
fn zone_tab() -> impl Iterator<Item = (&'static str, &'static str)> {
    ZONE_TAB
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let country = fields.next()?;
            let _coordinates = fields.next()?;
            Some((country, fields.next()?))
        })
}

/// The zone for a country whose region is missing or unknown: every country zone.tab lists
/// with more than one zone, plus codes zone.tab lacks. Others use their only zone.tab row.
const COUNTRY_DEFAULTS: &[(&str, &str)] = &[
    ("AQ", "Antarctica/McMurdo"), // research stations; zone.tab's first row
    ("AR", "America/Argentina/Buenos_Aires"),
    ("AU", "Australia/Sydney"),
    ("BR", "America/Sao_Paulo"),
    ("CA", "America/Toronto"),
    ("CD", "Africa/Kinshasa"), // the capital; the east may hold more people overall
    ("CL", "America/Santiago"),
    ("CN", "Asia/Shanghai"),
    ("CY", "Asia/Nicosia"),
    ("DE", "Europe/Berlin"),
    ("EC", "America/Guayaquil"),
    ("ES", "Europe/Madrid"),
    ("FM", "Pacific/Chuuk"),
    ("GL", "America/Nuuk"),
    ("ID", "Asia/Jakarta"),
    ("KI", "Pacific/Tarawa"),
    ("KZ", "Asia/Almaty"),
    ("MH", "Pacific/Majuro"),
    ("MN", "Asia/Ulaanbaatar"),
    ("MX", "America/Mexico_City"),
    ("MY", "Asia/Kuala_Lumpur"),
    ("NZ", "Pacific/Auckland"),
    ("PF", "Pacific/Tahiti"),
    ("PG", "Pacific/Port_Moresby"),
    ("PS", "Asia/Hebron"), // the West Bank outnumbers Gaza
    ("PT", "Europe/Lisbon"),
    ("RU", "Europe/Moscow"),
    ("UA", "Europe/Kyiv"),
    ("UM", "Pacific/Midway"),
    ("US", "America/New_York"),
    ("UZ", "Asia/Tashkent"),
    // Not in zone.tab: Kosovo (a user-assigned code Shopify and libphonenumber use), and
    // Ascension and Tristan da Cunha (libphonenumber regions).
    ("XK", "Europe/Belgrade"),
    ("AC", "Atlantic/St_Helena"),
    ("TA", "Atlantic/St_Helena"),
];

/// `(country, space-separated subdivision codes, zone)`. Codes are ISO 3166-2 suffixes, plus
/// Shopify's own where they differ (Mexico). Subdivisions split between zones use the zone
/// of the majority of their population; regions not listed use the country default.
const REGIONS: &[(&str, &str, &str)] = &[
    // United States: 50 states + DC.
    // FL (panhandle Central), KY (west Central), TN (east Eastern), TX (El Paso Mountain),
    // KS/NE/ND/SD (west Mountain), OR/NV (edges Mountain), ID (north Pacific) all follow
    // their majority.
    (
        "US",
        "CT DC DE FL GA MA MD ME NC NH NJ NY OH PA RI SC VA VT WV",
        "America/New_York",
    ),
    ("US", "MI", "America/Detroit"),
    ("US", "IN", "America/Indiana/Indianapolis"),
    ("US", "KY", "America/Kentucky/Louisville"),
    (
        "US",
        "AL AR IA IL KS LA MN MO MS ND NE OK SD TN TX WI",
        "America/Chicago",
    ),
    ("US", "ID", "America/Boise"),
    ("US", "CO MT NM UT WY", "America/Denver"),
    ("US", "AZ", "America/Phoenix"),
    ("US", "CA NV OR WA", "America/Los_Angeles"),
    ("US", "AK", "America/Anchorage"),
    ("US", "HI", "Pacific/Honolulu"),
    // Canada: provinces and territories. BC's Mountain-time corners, Labrador, western NU
    // and western NT follow the majority.
    ("CA", "AB NT", "America/Edmonton"),
    ("CA", "BC", "America/Vancouver"),
    ("CA", "MB", "America/Winnipeg"),
    ("CA", "NB", "America/Moncton"),
    ("CA", "NL", "America/St_Johns"),
    ("CA", "NS PE", "America/Halifax"),
    ("CA", "NU", "America/Iqaluit"),
    ("CA", "ON QC", "America/Toronto"),
    ("CA", "SK", "America/Regina"),
    ("CA", "YT", "America/Whitehorse"),
    // Australia: states and territories (Broken Hill and Eucla follow their state).
    ("AU", "NSW ACT", "Australia/Sydney"),
    ("AU", "VIC", "Australia/Melbourne"),
    ("AU", "QLD", "Australia/Brisbane"),
    ("AU", "SA", "Australia/Adelaide"),
    ("AU", "WA", "Australia/Perth"),
    ("AU", "TAS", "Australia/Hobart"),
    ("AU", "NT", "Australia/Darwin"),
    // Brazil: 26 states + DF, as zone.tab's comments assign them (PA and AM: the east).
    ("BR", "DF ES GO MG PR RJ RS SC SP", "America/Sao_Paulo"),
    ("BR", "CE MA PB PI RN", "America/Fortaleza"),
    ("BR", "PE", "America/Recife"),
    ("BR", "AL SE", "America/Maceio"),
    ("BR", "BA", "America/Bahia"),
    ("BR", "AP PA", "America/Belem"),
    ("BR", "TO", "America/Araguaina"),
    ("BR", "MS", "America/Campo_Grande"),
    ("BR", "MT", "America/Cuiaba"),
    ("BR", "RO", "America/Porto_Velho"),
    ("BR", "RR", "America/Boa_Vista"),
    ("BR", "AM", "America/Manaus"),
    ("BR", "AC", "America/Rio_Branco"),
    // Mexico: 32 states, ISO codes then Shopify's. Tamaulipas: most people live in the
    // border municipalities on US daylight saving time (Reynosa, Matamoros, Nuevo Laredo);
    // Coahuila, Nuevo León and Chihuahua are mostly not on the border.
    ("MX", "BCN BC", "America/Tijuana"),
    ("MX", "BCS SIN NAY", "America/Mazatlan"),
    ("MX", "SON", "America/Hermosillo"),
    ("MX", "CHH CHIH", "America/Chihuahua"),
    ("MX", "NLE NL COA COAH DUR DGO", "America/Monterrey"),
    ("MX", "TAM TAMPS", "America/Matamoros"),
    ("MX", "ROO QROO", "America/Cancun"),
    ("MX", "CAM CAMP YUC", "America/Merida"),
    (
        "MX",
        "AGU AGS CMX CDMX DF DIF CHP CHIS COL GUA GTO GRO HID HGO JAL MEX MIC MICH MOR OAX \
         PUE QUE QRO SLP TAB TLA TLAX VER ZAC",
        "America/Mexico_City",
    ),
    // Russia: every subdivision off Moscow time (Sakha: the Yakutsk majority).
    ("RU", "KGD", "Europe/Kaliningrad"),
    ("RU", "KIR", "Europe/Kirov"),
    ("RU", "VGG", "Europe/Volgograd"),
    ("RU", "AST", "Europe/Astrakhan"),
    ("RU", "SAR", "Europe/Saratov"),
    ("RU", "ULY", "Europe/Ulyanovsk"),
    ("RU", "SAM UD", "Europe/Samara"),
    (
        "RU",
        "BA CHE KGN KHM ORE PER SVE TYU YAN",
        "Asia/Yekaterinburg",
    ),
    ("RU", "OMS", "Asia/Omsk"),
    ("RU", "NVS", "Asia/Novosibirsk"),
    ("RU", "ALT AL", "Asia/Barnaul"),
    ("RU", "TOM", "Asia/Tomsk"),
    ("RU", "KEM", "Asia/Novokuznetsk"),
    ("RU", "KYA KK TY", "Asia/Krasnoyarsk"),
    ("RU", "IRK BU", "Asia/Irkutsk"),
    ("RU", "ZAB", "Asia/Chita"),
    ("RU", "SA AMU", "Asia/Yakutsk"),
    ("RU", "PRI KHA YEV", "Asia/Vladivostok"),
    ("RU", "MAG", "Asia/Magadan"),
    ("RU", "SAK", "Asia/Sakhalin"),
    ("RU", "KAM", "Asia/Kamchatka"),
    ("RU", "CHU", "Asia/Anadyr"),
    // Argentina: one offset today, but the tz database keeps per-province zones.
    ("AR", "B C", "America/Argentina/Buenos_Aires"),
    ("AR", "X G S H P W N E", "America/Argentina/Cordoba"),
    ("AR", "A L Q R", "America/Argentina/Salta"),
    ("AR", "Y", "America/Argentina/Jujuy"),
    ("AR", "T", "America/Argentina/Tucuman"),
    ("AR", "K U", "America/Argentina/Catamarca"),
    ("AR", "F", "America/Argentina/La_Rioja"),
    ("AR", "J", "America/Argentina/San_Juan"),
    ("AR", "M", "America/Argentina/Mendoza"),
    ("AR", "D", "America/Argentina/San_Luis"),
    ("AR", "Z", "America/Argentina/Rio_Gallegos"),
    ("AR", "V", "America/Argentina/Ushuaia"),
    // Indonesia: Sumatra and Java; West and Central Kalimantan; the rest of Borneo,
    // Sulawesi, Bali and Nusa Tenggara; Maluku and the Papuan provinces.
    (
        "ID",
        "AC SU SB RI KR JA SS BB BE LA JK JB BT JT YO JI",
        "Asia/Jakarta",
    ),
    ("ID", "KB KT", "Asia/Pontianak"),
    ("ID", "KS KI KU BA NB NT SA ST SN SG GO SR", "Asia/Makassar"),
    ("ID", "MA MU PA PB PD PE PS PT", "Asia/Jayapura"),
    // Chile: Aysén and Magallanes (Easter Island is part of Valparaíso: not separable).
    ("CL", "AI", "America/Coyhaique"),
    ("CL", "MA", "America/Punta_Arenas"),
    // Spain: Canary Islands (provinces and community); Ceuta and Melilla.
    ("ES", "GC TF CN", "Atlantic/Canary"),
    ("ES", "CE ML", "Africa/Ceuta"),
    // Portugal: Azores, Madeira (Shopify sends "PT-20", "PT-30").
    ("PT", "20", "Atlantic/Azores"),
    ("PT", "30", "Atlantic/Madeira"),
    ("EC", "W", "Pacific/Galapagos"),
    ("NZ", "CIT", "Pacific/Chatham"),
    ("KI", "G", "Pacific/Tarawa"),
    ("KI", "P", "Pacific/Kanton"),
    ("KI", "L", "Pacific/Kiritimati"),
    ("FM", "TRK YAP", "Pacific/Chuuk"),
    ("FM", "PNI", "Pacific/Pohnpei"),
    ("FM", "KSA", "Pacific/Kosrae"),
    ("MH", "KWA", "Pacific/Kwajalein"),
    // Mongolia: Bayan-Ölgii, Khovd, Uvs.
    ("MN", "071 043 046", "Asia/Hovd"),
    ("PG", "NSB", "Pacific/Bougainville"),
    // Palestine: the Gaza Strip's governorates.
    ("PS", "GZA DEB KYS RFH NGZ", "Asia/Gaza"),
    // Ukraine: Crimea and Sevastopol keep Moscow time in practice (tz's Europe/Simferopol).
    ("UA", "43 40", "Europe/Simferopol"),
    // DR Congo: the former Kinshasa, Bas-Congo, Bandundu and Équateur provinces are west.
    ("CD", "KN BC KG KL MN EQ MO NU SU TU", "Africa/Kinshasa"),
    (
        "CD",
        "HK HL LU TA KS KC KE LO SA MA NK SK TO BU HU IT",
        "Africa/Lubumbashi",
    ),
];

/// The recipient's zone: the platform's, the address's, the phone's, else the shop's.
pub fn zone_of(cart: &crate::model::cart::CartRecord, shop: &crate::model::shop::Shop) -> TimeZone {
    let snapshot = cart.snapshot.as_ref();
    let hints = ZoneHints {
        explicit: snapshot.and_then(|s| s.time_zone.as_deref()),
        country: snapshot.and_then(|s| s.country.as_deref()),
        region: snapshot.and_then(|s| s.region.as_deref()),
        phone_e164: snapshot.and_then(|s| s.phone.as_ref()).map(|p| p.as_str()),
    };
    recipient_zone(&hints, &shop.zone).0
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn zone_tab_by_country() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
        let mut map: BTreeMap<_, BTreeSet<_>> = BTreeMap::new();
        for (country, zone) in zone_tab() {
            map.entry(country).or_default().insert(zone);
        }
        map
    }

    #[test]
    fn zone_tab_parses_into_every_country_of_the_2025b_release() {
        let map = zone_tab_by_country();
        assert_eq!(map.len(), 247);
        assert_eq!(zone_tab().count(), 418);
    }

    #[test]
    fn every_zone_named_anywhere_exists_in_the_bundled_database() {
        let bundled = jiff::tz::TimeZoneDatabase::bundled();
        let names = zone_tab()
            .map(|(_, zone)| zone)
            .chain(COUNTRY_DEFAULTS.iter().map(|(_, zone)| *zone))
            .chain(REGIONS.iter().map(|(_, _, zone)| *zone));
        for name in names {
            assert!(bundled.get(name).is_ok(), "{name} is not bundled");
            assert!(
                TimeZone::get(name).is_ok(),
                "{name} is not in the global database"
            );
        }
    }

    #[test]
    fn every_multi_zone_country_has_an_explicit_default_among_its_own_zones() {
        for (country, zones) in zone_tab_by_country() {
            let default = COUNTRY_DEFAULTS.iter().find(|(c, _)| *c == country);
            if zones.len() > 1 {
                let (_, zone) = default.unwrap_or_else(|| panic!("{country} has no default"));
                assert!(
                    zones.contains(zone),
                    "{country}: {zone} is not one of its zones"
                );
            } else {
                assert!(default.is_none(), "{country} has one zone but a default");
            }
        }
    }

    #[test]
    fn every_region_zone_belongs_to_its_country_and_codes_are_unique() {
        let map = zone_tab_by_country();
        let mut seen = BTreeSet::new();
        for (country, codes, zone) in REGIONS {
            assert!(map[country].contains(zone), "{country}: {zone}");
            for code in codes.split(' ') {
                assert_eq!(
                    code,
                    normalize_region(code),
                    "{country}-{code} is not normalised"
                );
                assert!(
                    seen.insert((*country, code)),
                    "{country}-{code} is listed twice"
                );
            }
        }
    }

    #[test]
    fn mexico_lists_all_32_iso_state_codes() {
        let iso = "AGU BCN BCS CAM CHP CHH CMX COA COL DUR GUA GRO HID JAL MEX MIC MOR NAY NLE \
                   OAX PUE QUE ROO SLP SIN SON TAB TAM TLA VER YUC ZAC";
        assert_eq!(iso.split_whitespace().count(), 32);
        for code in iso.split_whitespace() {
            assert!(region_zone_name("MX", code).is_some(), "MX-{code}");
        }
    }

    #[test]
    fn region_tables_cover_every_subdivision_of_us_ca_au_br_ar_and_cd() {
        let count = |country: &str| {
            REGIONS
                .iter()
                .filter(|(c, _, _)| *c == country)
                .map(|(_, codes, _)| codes.split(' ').count())
                .sum::<usize>()
        };
        assert_eq!(count("US"), 51);
        assert_eq!(count("CA"), 13);
        assert_eq!(count("AU"), 8);
        assert_eq!(count("BR"), 27);
        assert_eq!(count("AR"), 24);
        assert_eq!(count("CD"), 26);
    }

    #[test]
    fn every_country_code_of_zone_tab_resolves_to_a_zone() {
        for country in zone_tab_by_country().keys() {
            assert!(country_zone(country, None).is_some(), "{country}");
        }
    }
}

//! The recipient's time zone and the quiet-hours window.

use cartback_core::rules::zone::{ZoneHints, ZoneSource, next_allowed, recipient_zone};
use jiff::Timestamp;
use jiff::civil::{Time, date, time};
use jiff::tz::TimeZone;
use proptest::prelude::*;

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).expect("zone exists")
}

/// The shop zone used throughout: deliberately unlike any recipient zone below.
fn shop() -> TimeZone {
    tz("Asia/Kolkata")
}

fn resolve(hints: ZoneHints<'_>) -> (Option<String>, ZoneSource) {
    let (zone, source) = recipient_zone(&hints, &shop());
    (zone.iana_name().map(str::to_owned), source)
}

fn expect(hints: ZoneHints<'_>, zone: &str, source: ZoneSource) {
    assert_eq!(
        resolve(hints.clone()),
        (Some(zone.to_owned()), source),
        "{hints:?}"
    );
}

fn address<'a>(country: &'a str, region: Option<&'a str>) -> ZoneHints<'a> {
    ZoneHints {
        country: Some(country),
        region,
        ..ZoneHints::default()
    }
}

fn phone(number: &str) -> ZoneHints<'_> {
    ZoneHints {
        phone_e164: Some(number),
        ..ZoneHints::default()
    }
}

// ---- recipient_zone ----

#[test]
fn an_explicit_zone_wins_over_address_and_phone() {
    let hints = ZoneHints {
        explicit: Some("Asia/Tokyo"),
        country: Some("FI"),
        region: None,
        phone_e164: Some("+358401234567"),
    };
    expect(hints, "Asia/Tokyo", ZoneSource::Explicit);
}

#[test]
fn an_invalid_explicit_name_falls_through_to_the_address() {
    for bad in ["Mars/Olympus_Mons", "", "   ", "+02:00", "Etc/Unknown"] {
        let hints = ZoneHints {
            explicit: Some(bad),
            country: Some("FI"),
            ..ZoneHints::default()
        };
        expect(hints, "Europe/Helsinki", ZoneSource::Address);
    }
}

#[test]
fn an_explicit_name_is_matched_without_regard_to_case() {
    let hints = ZoneHints {
        explicit: Some(" europe/helsinki "),
        ..ZoneHints::default()
    };
    expect(hints, "Europe/Helsinki", ZoneSource::Explicit);
}

#[test]
fn a_finnish_address_is_in_helsinki() {
    expect(address("FI", None), "Europe/Helsinki", ZoneSource::Address);
}

#[test]
fn single_zone_countries_use_their_zone() {
    for (country, zone) in [
        ("PL", "Europe/Warsaw"),
        ("JP", "Asia/Tokyo"),
        ("DE", "Europe/Berlin"),
        ("GB", "Europe/London"),
        ("SE", "Europe/Stockholm"),
        ("NO", "Europe/Oslo"),
        ("IN", "Asia/Kolkata"),
        ("ZA", "Africa/Johannesburg"),
    ] {
        expect(address(country, None), zone, ZoneSource::Address);
    }
}

#[test]
fn california_is_in_los_angeles_whether_or_not_the_region_has_the_country_prefix() {
    expect(
        address("US", Some("CA")),
        "America/Los_Angeles",
        ZoneSource::Address,
    );
    expect(
        address("US", Some("US-CA")),
        "America/Los_Angeles",
        ZoneSource::Address,
    );
}

#[test]
fn a_prefixed_region_supplies_a_missing_country() {
    let hints = ZoneHints {
        region: Some("US-CA"),
        ..ZoneHints::default()
    };
    expect(hints, "America/Los_Angeles", ZoneSource::Address);
}

#[test]
fn the_us_without_a_region_is_in_new_york() {
    expect(address("US", None), "America/New_York", ZoneSource::Address);
}

#[test]
fn an_unknown_region_uses_the_country_default() {
    expect(
        address("US", Some("ZZ")),
        "America/New_York",
        ZoneSource::Address,
    );
    expect(
        address("US", Some("")),
        "America/New_York",
        ZoneSource::Address,
    );
}

#[test]
fn split_us_states_follow_their_majority() {
    for (state, zone) in [
        ("TX", "America/Chicago"),
        ("FL", "America/New_York"),
        ("TN", "America/Chicago"),
        ("ID", "America/Boise"),
        ("AZ", "America/Phoenix"),
        ("HI", "Pacific/Honolulu"),
        ("AK", "America/Anchorage"),
        ("DC", "America/New_York"),
    ] {
        expect(address("US", Some(state)), zone, ZoneSource::Address);
    }
}

#[test]
fn us_territories_sent_as_provinces_resolve_as_their_own_countries() {
    expect(
        address("US", Some("PR")),
        "America/Puerto_Rico",
        ZoneSource::Address,
    );
    expect(
        address("US", Some("GU")),
        "Pacific/Guam",
        ZoneSource::Address,
    );
}

#[test]
fn british_columbia_is_in_vancouver() {
    expect(
        address("CA", Some("BC")),
        "America/Vancouver",
        ZoneSource::Address,
    );
    expect(
        address("CA", Some("CA-BC")),
        "America/Vancouver",
        ZoneSource::Address,
    );
}

#[test]
fn canada_without_a_region_is_in_toronto() {
    expect(address("CA", None), "America/Toronto", ZoneSource::Address);
}

#[test]
fn western_australia_is_in_perth() {
    expect(
        address("AU", Some("AU-WA")),
        "Australia/Perth",
        ZoneSource::Address,
    );
    expect(
        address("AU", Some("WA")),
        "Australia/Perth",
        ZoneSource::Address,
    );
    expect(address("AU", None), "Australia/Sydney", ZoneSource::Address);
}

#[test]
fn brazil_mexico_russia_and_indonesia_resolve_by_region() {
    for (country, region, zone) in [
        ("BR", Some("AM"), "America/Manaus"),
        ("BR", None, "America/Sao_Paulo"),
        ("MX", Some("BCN"), "America/Tijuana"),
        ("MX", Some("BC"), "America/Tijuana"),
        ("MX", Some("Q ROO"), "America/Cancun"),
        ("MX", None, "America/Mexico_City"),
        ("RU", Some("SVE"), "Asia/Yekaterinburg"),
        ("RU", Some("SPE"), "Europe/Moscow"),
        ("RU", None, "Europe/Moscow"),
        ("ID", Some("BA"), "Asia/Makassar"),
        ("ID", None, "Asia/Jakarta"),
        ("ES", Some("TF"), "Atlantic/Canary"),
        ("PT", Some("PT-20"), "Atlantic/Azores"),
    ] {
        expect(address(country, region), zone, ZoneSource::Address);
    }
}

#[test]
fn lower_case_inputs_work() {
    expect(
        address("us", Some("ca")),
        "America/Los_Angeles",
        ZoneSource::Address,
    );
    expect(
        address("au", Some("au-wa")),
        "Australia/Perth",
        ZoneSource::Address,
    );
    expect(address("fi", None), "Europe/Helsinki", ZoneSource::Address);
}

#[test]
fn an_unknown_country_falls_through_to_the_phone() {
    let hints = ZoneHints {
        country: Some("ZZ"),
        phone_e164: Some("+358401234567"),
        ..ZoneHints::default()
    };
    expect(hints, "Europe/Helsinki", ZoneSource::Phone);
}

#[test]
fn a_finnish_phone_is_in_helsinki() {
    expect(phone("+358401234567"), "Europe/Helsinki", ZoneSource::Phone);
}

#[test]
fn a_japanese_phone_is_in_tokyo() {
    expect(phone("+81312345678"), "Asia/Tokyo", ZoneSource::Phone);
}

#[test]
fn nanp_numbers_resolve_to_the_country_the_phonenumber_crate_picks_by_area_code() {
    // +1 is shared by the US, Canada and much of the Caribbean; the crate matches the
    // area code, and we take the country's default zone (not the area code's zone).
    expect(phone("+12125550123"), "America/New_York", ZoneSource::Phone);
    expect(phone("+14165550123"), "America/Toronto", ZoneSource::Phone);
    expect(phone("+16045550123"), "America/Toronto", ZoneSource::Phone);
    expect(phone("+18765550123"), "America/Jamaica", ZoneSource::Phone);
}

#[test]
fn a_phone_number_the_crate_cannot_place_falls_back_to_the_shop() {
    for number in ["+15550000000", "+1", "0401234567", "not a number"] {
        expect(phone(number), "Asia/Kolkata", ZoneSource::Shop);
    }
}

#[test]
fn a_kosovo_phone_is_in_belgrade_time() {
    expect(phone("+38344123456"), "Europe/Belgrade", ZoneSource::Phone);
}

#[test]
fn nothing_known_gives_the_shop_zone() {
    expect(ZoneHints::default(), "Asia/Kolkata", ZoneSource::Shop);
}

#[test]
fn the_source_serializes_in_snake_case() {
    let json = serde_json::to_string(&ZoneSource::Explicit).expect("serializes");
    assert_eq!(json, "\"explicit\"");
    let back: ZoneSource = serde_json::from_str("\"shop\"").expect("deserializes");
    assert_eq!(back, ZoneSource::Shop);
}

// ---- next_allowed ----

const NINE_PM: Time = time(21, 0, 0, 0);
const NINE_AM: Time = time(9, 0, 0, 0);

fn helsinki() -> TimeZone {
    tz("Europe/Helsinki")
}

/// The instant at `y-m-d h:mi` local time in `zone` (unambiguous in these tests).
fn local(zone: &TimeZone, y: i16, m: i8, d: i8, h: i8, mi: i8) -> Timestamp {
    date(y, m, d)
        .at(h, mi, 0, 0)
        .to_zoned(zone.clone())
        .expect("valid local time")
        .timestamp()
}

fn utc(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn quiet(at: Timestamp, zone: &TimeZone) -> Timestamp {
    next_allowed(at, zone, NINE_PM, NINE_AM)
}

#[test]
fn half_past_ten_in_the_evening_waits_until_nine_the_next_morning() {
    let z = helsinki();
    assert_eq!(
        quiet(local(&z, 2026, 6, 10, 22, 30), &z),
        local(&z, 2026, 6, 11, 9, 0)
    );
}

#[test]
fn one_minute_to_nine_in_the_morning_waits_a_minute() {
    let z = helsinki();
    assert_eq!(
        quiet(local(&z, 2026, 6, 10, 8, 59), &z),
        local(&z, 2026, 6, 10, 9, 0)
    );
}

#[test]
fn nine_in_the_morning_is_allowed() {
    let z = helsinki();
    let at = local(&z, 2026, 6, 10, 9, 0);
    assert_eq!(quiet(at, &z), at);
}

#[test]
fn one_minute_to_nine_in_the_evening_is_allowed() {
    let z = helsinki();
    let at = local(&z, 2026, 6, 10, 20, 59);
    assert_eq!(quiet(at, &z), at);
}

#[test]
fn nine_in_the_evening_waits_until_the_next_morning() {
    let z = helsinki();
    assert_eq!(
        quiet(local(&z, 2026, 6, 10, 21, 0), &z),
        local(&z, 2026, 6, 11, 9, 0)
    );
}

#[test]
fn just_after_midnight_waits_until_nine_the_same_day() {
    let z = helsinki();
    assert_eq!(
        quiet(local(&z, 2026, 6, 11, 0, 5), &z),
        local(&z, 2026, 6, 11, 9, 0)
    );
}

#[test]
fn a_window_within_one_day_only_blocks_its_own_hours() {
    let z = helsinki();
    let (from, until) = (time(12, 0, 0, 0), time(13, 0, 0, 0));
    let before = local(&z, 2026, 6, 10, 11, 59);
    let lunch = local(&z, 2026, 6, 10, 12, 30);
    let after = local(&z, 2026, 6, 10, 13, 0);
    let night = local(&z, 2026, 6, 10, 23, 0);
    assert_eq!(next_allowed(before, &z, from, until), before);
    assert_eq!(next_allowed(lunch, &z, from, until), after);
    assert_eq!(next_allowed(after, &z, from, until), after);
    assert_eq!(next_allowed(night, &z, from, until), night);
}

#[test]
fn the_spring_forward_night_in_helsinki_ends_at_nine_summer_time() {
    // 2026-03-29 03:00 EET -> 04:00 EEST; 09:00 EEST is 06:00 UTC.
    let z = helsinki();
    let evening = local(&z, 2026, 3, 28, 23, 0);
    assert_eq!(evening, utc("2026-03-28T21:00:00Z"));
    assert_eq!(quiet(evening, &z), utc("2026-03-29T06:00:00Z"));
    let during_the_jump = utc("2026-03-29T00:59:00Z"); // 02:59 EET
    assert_eq!(quiet(during_the_jump, &z), utc("2026-03-29T06:00:00Z"));
}

#[test]
fn the_fall_back_night_in_helsinki_ends_at_nine_winter_time() {
    // 2026-10-25 04:00 EEST -> 03:00 EET; 09:00 EET is 07:00 UTC.
    let z = helsinki();
    let evening = local(&z, 2026, 10, 24, 22, 0);
    assert_eq!(evening, utc("2026-10-24T19:00:00Z"));
    assert_eq!(quiet(evening, &z), utc("2026-10-25T07:00:00Z"));
    // 03:30 happens twice; both lead to the same morning.
    let first = utc("2026-10-25T00:30:00Z");
    let second = utc("2026-10-25T01:30:00Z");
    assert_eq!(quiet(first, &z), utc("2026-10-25T07:00:00Z"));
    assert_eq!(quiet(second, &z), utc("2026-10-25T07:00:00Z"));
}

#[test]
fn a_window_ending_inside_the_spring_forward_gap_ends_when_the_clocks_jump() {
    // America/New_York 2026-03-08: 02:00 EST -> 03:00 EDT at 07:00 UTC. 02:30 never exists.
    let z = tz("America/New_York");
    let until = time(2, 30, 0, 0);
    let evening = local(&z, 2026, 3, 7, 23, 0);
    let end = next_allowed(evening, &z, NINE_PM, until);
    assert_eq!(end, utc("2026-03-08T07:00:00Z"));
    let wall = end.to_zoned(z.clone());
    assert_eq!(wall.time(), time(3, 0, 0, 0));
    assert_eq!(wall.date(), date(2026, 3, 8));
    let just_before = local(&z, 2026, 3, 8, 1, 59);
    assert_eq!(
        next_allowed(just_before, &z, NINE_PM, until),
        utc("2026-03-08T07:00:00Z")
    );
}

#[test]
fn a_window_ending_inside_a_repeated_hour_ends_at_its_next_occurrence() {
    // America/New_York 2026-11-01: 01:00-01:59 happens twice (EDT, then EST).
    let z = tz("America/New_York");
    let (from, until) = (time(0, 0, 0, 0), time(1, 30, 0, 0));
    let first_pass = utc("2026-11-01T05:10:00Z"); // 01:10 EDT
    let second_pass = utc("2026-11-01T06:10:00Z"); // 01:10 EST
    assert_eq!(
        next_allowed(first_pass, &z, from, until),
        utc("2026-11-01T05:30:00Z")
    );
    assert_eq!(
        next_allowed(second_pass, &z, from, until),
        utc("2026-11-01T06:30:00Z")
    );
}

#[test]
fn equal_from_and_until_means_no_quiet_hours() {
    let z = helsinki();
    let at = local(&z, 2026, 6, 10, 23, 0);
    assert_eq!(next_allowed(at, &z, NINE_PM, NINE_PM), at);
    assert_eq!(next_allowed(at, &z, NINE_AM, NINE_AM), at);
}

#[test]
fn samoa_skipping_a_whole_day_still_ends_outside_the_window() {
    // Pacific/Apia jumped from 2011-12-29 24:00 (-10) to 2011-12-31 00:00 (+14).
    let z = tz("Pacific/Apia");
    let at = local(&z, 2011, 12, 29, 22, 0);
    let end = quiet(at, &z);
    assert_eq!(end, local(&z, 2011, 12, 31, 9, 0));
}

fn in_window(t: Time, from: Time, until: Time) -> bool {
    if from == until {
        false
    } else if from < until {
        from <= t && t < until
    } else {
        t >= from || t < until
    }
}

const PROPERTY_ZONES: &[&str] = &[
    "UTC",
    "Europe/Helsinki",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",
    "America/Santiago",
    "America/Sao_Paulo",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Asia/Tehran",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Africa/Casablanca",
];

proptest! {
    #![proptest_config(cartback_testkit::proptest_config(2048))]

    #[test]
    fn next_allowed_is_outside_the_window_not_before_at_and_within_25_hours(
        zone in 0..PROPERTY_ZONES.len(),
        // 1995-01-01 .. 2045-01-01
        secs in 788_918_400i64..2_366_841_600i64,
        from_secs in 0i32..86_400,
        until_secs in 0i32..86_400,
    ) {
        let zone = tz(PROPERTY_ZONES[zone]);
        let at = Timestamp::from_second(secs).expect("in range");
        let time_of = |s: i32| {
            let s = i8::try_from(s / 3600).ok()
                .zip(i8::try_from(s / 60 % 60).ok())
                .zip(i8::try_from(s % 60).ok());
            let ((h, m), sec) = s.expect("fits");
            time(h, m, sec, 0)
        };
        let (from, until) = (time_of(from_secs), time_of(until_secs));
        let result = next_allowed(at, &zone, from, until);
        prop_assert!(result >= at);
        prop_assert!(result.as_second() - at.as_second() <= 25 * 3600);
        let wall = zone.to_datetime(result).time();
        prop_assert!(!in_window(wall, from, until), "{result} is {wall} local");
        if !in_window(zone.to_datetime(at).time(), from, until) {
            prop_assert_eq!(result, at);
        }
    }
}

//! `gen-carts --carts N --out FILE [--days D] [--seed S]`: N generated abandoned carts
//! spread over D days (7) as `cartback simulate` input, in time order (see
//! `cartback_bench::carts`); prints what it wrote as JSON.
//!
//! `gen-carts --one-cart-updates K --out FILE`: the fixture checkout created at 08:00 and
//! updated K - 1 more times until 08:50, then abandoned (the `simulate --stats` scenario).
//!
//! `gen-carts --burst N --out FILE [--seed S]`: N carts left within one minute, all with
//! email consent, none bought (see `cartback_bench::carts::write_burst`).
//!
//! `gen-carts --holdout-shop N --out FILE [--seed S] [--holdout-rate 8] [--treatment-rate 14]`:
//! N carts of one shop on the default 10 % holdout whose conversion depends on their arm
//! (percent), for `cartback report --events` (see `cartback_bench::carts::write_holdout_shop`;
//! `examples/holdout-shop.jsonl` is `--holdout-shop 3000 --seed 1`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use cartback_bench::{carts, fixtures};
use serde_json::json;

fn one_cart(updates: u32) -> String {
    let mut lines = Vec::new();
    for i in 0..updates.max(1) {
        let mut payload = fixtures::checkout_value(2);
        let second = if updates > 1 {
            i * 3000 / (updates - 1)
        } else {
            0
        };
        let at = format!("2026-11-02T08:{:02}:{:02}Z", second / 60, second % 60);
        payload["updated_at"] = json!(at);
        payload["line_items"][0]["quantity"] = json!(1 + i % 3);
        let topic = if i == 0 {
            "checkouts/create"
        } else {
            "checkouts/update"
        };
        lines.push(
            json!({ "at": at, "shop": fixtures::SHOP, "platform": "shopify", "topic": topic, "payload": payload })
                .to_string(),
        );
    }
    lines.join("\n") + "\n"
}

fn run() -> Result<(), String> {
    let mut carts_wanted = None;
    let mut updates = None;
    let mut holdout_shop = None;
    let mut burst = None;
    let mut rates = carts::ConversionRates::default();
    let percent = |text: String, name: &str| -> Result<u64, String> {
        let value: f64 = text.parse().map_err(|e| format!("{name}: {e}"))?;
        if !(0.0..=100.0).contains(&value) {
            return Err(format!("{name}: {value} is not a percentage"));
        }
        Ok((value * 10.0).round() as u64)
    };
    let mut out = None;
    let mut seed = 1u64;
    let mut days = 7u64;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--carts" => {
                carts_wanted = Some(
                    value()?
                        .parse::<u64>()
                        .map_err(|e| format!("--carts: {e}"))?,
                )
            }
            "--one-cart-updates" => {
                updates = Some(
                    value()?
                        .parse::<u32>()
                        .map_err(|e| format!("--one-cart-updates: {e}"))?,
                )
            }
            "--holdout-shop" => {
                holdout_shop = Some(
                    value()?
                        .parse::<u64>()
                        .map_err(|e| format!("--holdout-shop: {e}"))?,
                )
            }
            "--burst" => {
                burst = Some(
                    value()?
                        .parse::<u64>()
                        .map_err(|e| format!("--burst: {e}"))?,
                )
            }
            "--holdout-rate" => rates.holdout = percent(value()?, "--holdout-rate")?,
            "--treatment-rate" => rates.treatment = percent(value()?, "--treatment-rate")?,
            "--out" => out = Some(PathBuf::from(value()?)),
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--days" => {
                days = value()?.parse().map_err(|e| format!("--days: {e}"))?;
                if days == 0 {
                    return Err("--days: at least 1".to_owned());
                }
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: gen-carts (--carts N [--days D] | --burst N | --one-cart-updates K | --holdout-shop N [--holdout-rate P] [--treatment-rate P]) --out FILE [--seed S]"
                ));
            }
        }
    }
    let out = out.ok_or("--out FILE is required")?;
    let file = File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut writer = BufWriter::new(file);
    let error = |e: std::io::Error| format!("{}: {e}", out.display());
    if let Some(updates) = updates {
        writer
            .write_all(one_cart(updates).as_bytes())
            .map_err(error)?;
        writer.flush().map_err(error)?;
        println!("{}", json!({ "carts": 1, "updates": updates }));
        return Ok(());
    }
    if let Some(wanted) = holdout_shop {
        let written = carts::write_holdout_shop(&mut writer, wanted, seed, rates).map_err(error)?;
        writer.flush().map_err(error)?;
        println!(
            "{}",
            json!({
                "shop": carts::HOLDOUT_SHOP, "carts": written.carts, "lines": written.lines,
                "bytes": written.bytes, "orders": written.orders
            })
        );
        return Ok(());
    }
    if let Some(wanted) = burst {
        let written = carts::write_burst(&mut writer, wanted, seed).map_err(error)?;
        writer.flush().map_err(error)?;
        println!(
            "{}",
            json!({ "carts": written.carts, "lines": written.lines, "bytes": written.bytes })
        );
        return Ok(());
    }
    let wanted =
        carts_wanted.ok_or("--carts N, --one-cart-updates K or --holdout-shop N is required")?;
    let written = carts::write_over(&mut writer, wanted, days, seed).map_err(error)?;
    writer.flush().map_err(error)?;
    println!(
        "{}",
        json!({
            "carts": written.carts, "lines": written.lines, "bytes": written.bytes,
            "orders": written.orders, "recipient_events": written.recipient_events
        })
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-carts: {e}");
            ExitCode::from(2)
        }
    }
}

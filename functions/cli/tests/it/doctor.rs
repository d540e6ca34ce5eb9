//! `cartback doctor` as an operator runs it, against emulated AWS (moto): a stack set up as
//! docs/deploy.md says has nothing to fix (what moto cannot answer — SES's account and event
//! destinations, SNS's SMS sandbox — and its never-verified identities are warnings); a
//! broken one (no unsubscribe secret,
//! an unverified sending domain, a shop without its webhook secret sending from another
//! domain) gets one line per problem with what to fix, and exit code 1.

use std::process::{Command, Output};

use cartback_core::model::ids::ShopId;
use cartback_core::model::shop::ShopSettings;
use serde_json::Value;

use crate::common::emulator::Emulator;

const TABLE: &str = "cartback-doctor";
const SECRET: &str = "a-webhook-secret-for-the-doctor-test";
/// A SecureString of 64 bytes, as `openssl rand -base64 48` makes.
const UNSUBSCRIBE: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";

fn doctor(emulator: &Emulator, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(["doctor", "--table", TABLE, "--json"])
        .args(extra)
        .env("AWS_ENDPOINT_URL", &emulator.moto.endpoint)
        .env("AWS_REGION", cartback_devstack::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env_remove("CARTBACK_SECRETS_PREFIX")
        .env_remove("CARTBACK_SES_CONFIGURATION_SET")
        .env_remove("CARTBACK_SENDER_IDENTITY")
        .env_remove("CARTBACK_UNSUBSCRIBE_SECRET_PARAM")
        .output()
        .expect("cartback runs")
}

/// Each check's name and level (and the whole line, for messages).
fn lines_of(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

fn level_of<'a>(checks: &'a [Value], name: &str) -> &'a str {
    checks
        .iter()
        .find(|c| c["check"] == name)
        .and_then(|c| c["level"].as_str())
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

async fn verified_domain(emulator: &Emulator, domain: &str) {
    aws_sdk_sesv2::Client::new(&emulator.sdk)
        .create_email_identity()
        .email_identity(domain)
        .send()
        .await
        .expect("the identity is created");
}

#[tokio::test]
async fn a_stack_set_up_as_the_guide_says_has_nothing_to_fix() {
    let emulator = Emulator::start(TABLE, UNSUBSCRIBE).await;
    verified_domain(&emulator, "kuura-knitwear.example").await;
    let shop = ShopId::parse("kuura-knitwear").expect("shop id");
    let mut settings = ShopSettings::defaults_for(&shop);
    settings.from_address =
        cartback_core::model::contact::Email::parse("hello@kuura-knitwear.example").expect("email");
    cartback_devstack::connect_shop(&emulator.sdk, &emulator.names, &shop, &settings, SECRET)
        .await
        .expect("shop");

    let output = doctor(&emulator, &[]);

    let checks = lines_of(&output);
    println!("{}", String::from_utf8_lossy(&output.stdout));
    for name in ["table", "unsubscribe secret", "shop kuura-knitwear"] {
        assert_eq!(level_of(&checks, name), "ok", "{checks:?}");
    }
    // moto keeps identities but never verifies one: a warning there, a fix on AWS.
    assert_eq!(level_of(&checks, "ses identity"), "warn", "{checks:?}");
    assert!(
        checks.iter().all(|c| c["level"] != "fix"),
        "nothing to fix: {checks:?}"
    );
    assert_eq!(output.status.code(), Some(0), "{checks:?}");
}

#[tokio::test]
async fn a_broken_stack_gets_a_line_per_problem_and_exit_code_1() {
    let emulator = Emulator::start(TABLE, "too-short").await;
    // The shop sends from a domain SES does not know, and its webhook secret is missing.
    let shop = ShopId::parse("kuura-knitwear").expect("shop id");
    let mut settings = ShopSettings::defaults_for(&shop);
    settings.from_address =
        cartback_core::model::contact::Email::parse("hello@elsewhere.example").expect("email");
    cartback_devstack::connect_shop(&emulator.sdk, &emulator.names, &shop, &settings, SECRET)
        .await
        .expect("shop");
    aws_sdk_ssm::Client::new(&emulator.sdk)
        .delete_parameter()
        .name(emulator.names.webhook_secret_param("kuura-knitwear"))
        .send()
        .await
        .expect("the secret is deleted");
    verified_domain(&emulator, "kuura-knitwear.example").await;

    let output = doctor(&emulator, &["--sender-identity", "kuura-knitwear.example"]);

    let checks = lines_of(&output);
    println!("{}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(output.status.code(), Some(1), "{checks:?}");
    assert_eq!(level_of(&checks, "unsubscribe secret"), "fix");
    let shop_line = checks
        .iter()
        .find(|c| c["check"] == "shop kuura-knitwear")
        .expect("the shop's line");
    assert_eq!(shop_line["level"], "fix");
    let detail = shop_line["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("no webhook secret"), "{shop_line}");
    assert!(detail.contains("not of the SES identity"), "{shop_line}");
    assert!(
        shop_line["fix"]
            .as_str()
            .is_some_and(|f| f.contains("cartback shop add --shop kuura-knitwear")),
        "{shop_line}"
    );
    // No secret value is ever printed.
    assert!(!String::from_utf8_lossy(&output.stdout).contains("too-short"));

    // A table that is not there.
    let missing = Command::new(env!("CARGO_BIN_EXE_cartback"))
        .args(["doctor", "--table", "no-such-table", "--json"])
        .env("AWS_ENDPOINT_URL", &emulator.moto.endpoint)
        .env("AWS_REGION", cartback_devstack::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("cartback runs");
    assert_eq!(level_of(&lines_of(&missing), "table"), "fix");
    assert_eq!(missing.status.code(), Some(1));
}

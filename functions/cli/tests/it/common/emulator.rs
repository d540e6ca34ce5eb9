//! moto with the SAM template's resources, for the CLI tests that run against a table.

use std::path::Path;
use std::process::Command;

use cartback_core::model::ids::ShopId;
use cartback_core::model::shop::ShopSettings;
use cartback_devstack::{Moto, MotoOptions, Names};

/// The operator's variables a deployed-stack command reads (`functions/cli/src/stack.rs`):
/// cleared, so a test names the stack only through its own flags and variables.
const STACK_VARIABLES: [&str; 7] = [
    "CARTBACK_TABLE",
    "CARTBACK_SCHEDULE_GROUP",
    "CARTBACK_SECRETS_PREFIX",
    "CARTBACK_UNSUBSCRIBE_SECRET_PARAM",
    "CARTBACK_SES_CONFIGURATION_SET",
    "CARTBACK_SENDER_IDENTITY",
    "CARTBACK_WEBHOOK_BASE",
];

/// The `cartback` command pointed at the moto at `endpoint`: its region, dummy credentials,
/// no AWS profile and none of [`STACK_VARIABLES`].
pub fn cartback_on(endpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cartback"));
    command
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", cartback_devstack::REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE");
    for variable in STACK_VARIABLES {
        command.env_remove(variable);
    }
    command
}

/// A moto of this test's own (on a port it picks), the template's resources on it under
/// `table`, and the unsubscribe secret in SSM.
pub struct Emulator {
    pub moto: Moto,
    pub sdk: aws_config::SdkConfig,
    pub names: Names,
}

impl Emulator {
    pub async fn start(table: &str, unsubscribe_secret: &str) -> Emulator {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let binary = cartback_devstack::moto_binary(&root).expect("moto");
        let moto = Moto::start(&binary, &MotoOptions::default())
            .await
            .expect("moto starts");
        let names = Names::for_stack("cartback", table, "http://localhost:8787");
        let sdk = cartback_devstack::sdk_config(&moto.endpoint, cartback_devstack::REGION).await;
        cartback_devstack::create_resources(&sdk, &names)
            .await
            .expect("resources");
        cartback_devstack::put_secret(&sdk, &names.unsubscribe_secret_param, unsubscribe_secret)
            .await
            .expect("secret");
        Emulator { moto, sdk, names }
    }

    /// Connects `shop` with the default settings and this webhook secret.
    pub async fn connect_shop(&self, shop: &str, secret: &str) {
        let shop = ShopId::parse(shop).expect("shop id");
        cartback_devstack::connect_shop(
            &self.sdk,
            &self.names,
            &shop,
            &ShopSettings::defaults_for(&shop),
            secret,
        )
        .await
        .expect("shop");
    }
}

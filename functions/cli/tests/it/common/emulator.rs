//! moto with the SAM template's resources, for the CLI tests that run against a table.

use std::path::Path;

use cartback_core::model::ids::ShopId;
use cartback_core::model::shop::ShopSettings;
use cartback_devstack::{Moto, MotoOptions, Names};

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

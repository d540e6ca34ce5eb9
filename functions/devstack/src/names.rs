//! The names of the resources, as `infra/template.yaml` gives them.

/// The region the local stack pretends to be in (any works on moto).
pub const REGION: &str = "eu-north-1";
/// moto's default account.
pub const ACCOUNT: &str = "123456789012";

/// What the functions are told through their environment on AWS (`CARTBACK_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub region: String,
    /// `CARTBACK_TABLE`.
    pub table: String,
    /// The template's `ScheduleGroupName` (default `cartback`).
    pub schedule_group: String,
    /// The template's `SecretsPrefix` (default `/cartback/shops/`).
    pub secrets_prefix: String,
    /// The template's `UnsubscribeSecretParameter` (default `/cartback/unsubscribe-secret`).
    pub unsubscribe_secret_param: String,
    /// The SES configuration set the sender names.
    pub configuration_set: String,
    pub sender_arn: String,
    pub scheduler_role_arn: String,
    pub scheduler_dlq_arn: String,
    /// The erasure queue's name (its URL is asked of SQS).
    pub erasure_queue: String,
    /// The HTTP API's base URL, which the emails' unsubscribe links point to.
    pub public_url: String,
    /// Where BigCommerce's store API answers (`https://api.bigcommerce.com`; a test server in
    /// the end-to-end tests).
    pub bigcommerce_api_url: String,
}

impl Names {
    /// The names of a stack called `stack` (functions `<stack>-sender`, …) whose table is
    /// `table` and whose HTTP API answers at `public_url`; parameters at their defaults.
    pub fn for_stack(stack: &str, table: &str, public_url: &str) -> Self {
        Self {
            region: REGION.to_owned(),
            table: table.to_owned(),
            schedule_group: "cartback".to_owned(),
            secrets_prefix: "/cartback/shops/".to_owned(),
            unsubscribe_secret_param: "/cartback/unsubscribe-secret".to_owned(),
            configuration_set: "cartback".to_owned(),
            sender_arn: format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{stack}-sender"),
            scheduler_role_arn: format!("arn:aws:iam::{ACCOUNT}:role/{stack}-scheduler"),
            scheduler_dlq_arn: format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{stack}-scheduler-dlq"),
            erasure_queue: format!("{stack}-erasure"),
            public_url: public_url.trim_end_matches('/').to_owned(),
            bigcommerce_api_url: cartback_core::platforms::bigcommerce::api::API_BASE.to_owned(),
        }
    }

    /// The parameter holding `shop`'s BigCommerce API token.
    pub fn bigcommerce_token_param(&self, shop: &str) -> String {
        format!("{}{shop}/bigcommerce-token", self.secrets_prefix)
    }

    /// The parameter holding `shop`'s webhook secret.
    pub fn webhook_secret_param(&self, shop: &str) -> String {
        format!("{}{shop}/webhook-secret", self.secrets_prefix)
    }
}

//! One HTTPS client for every AWS client in the process, built on its first request.
//!
//! The SDK's default client loads the platform's root certificates (a ~200 KB PEM bundle,
//! base64-decoded and parsed certificate by certificate) and builds a TLS configuration
//! when each service client is constructed, so a function with three clients did that work
//! three times during Lambda's init phase: most of the gap between our cold start and a
//! hello-world `lambda_runtime` binary (docs/performance.md). Behind this wrapper the work
//! happens once, when the first AWS call needs a connection, and every client then shares
//! the same connection pool. The connector itself is the SDK's own (rustls with aws-lc,
//! its timeouts and connection poisoning); only when it is built changes.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// An [`HttpClient`] that builds the SDK's rustls HTTPS client on first use and shares it.
#[derive(Debug, Clone, Default)]
pub struct LazyHttpsClient {
    inner: Arc<OnceLock<SharedHttpClient>>,
}

impl LazyHttpsClient {
    pub fn new() -> Self {
        Self::default()
    }

    /// This client as the SDK's shared handle (clones share the one inner client).
    pub fn shared(&self) -> SharedHttpClient {
        SharedHttpClient::new(self.clone())
    }

    /// Whether the real client (and its trust store) has been built yet.
    pub fn is_built(&self) -> bool {
        self.inner.get().is_some()
    }

    fn client(&self) -> &SharedHttpClient {
        self.inner.get_or_init(|| {
            Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .build_https()
        })
    }
}

impl HttpClient for LazyHttpsClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.client().http_connector(settings, components)
    }

    // `validate_base_client_config` keeps the trait's no-op: the SDK's client uses that hook
    // to build its connector (and load the certificates) while each service client is made.

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some(Cow::Borrowed("1.x"))))
    }
}

#[cfg(all(test, feature = "dynamodb", feature = "ssm"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn service_clients_do_not_build_the_connector_until_a_request() {
        let http = LazyHttpsClient::new();
        let sdk = aws_config::SdkConfig::builder()
            .http_client(http.shared())
            .region(aws_config::Region::new("eu-north-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let _dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let _ssm = aws_sdk_ssm::Client::new(&sdk);
        assert!(
            !http.is_built(),
            "constructing clients must not build the TLS connector"
        );
        let clone = http.clone();
        let _ = clone.client();
        assert!(http.is_built(), "clones share one client");
    }
}

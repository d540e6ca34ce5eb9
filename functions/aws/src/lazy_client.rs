//! An AWS service client built on the first call that needs it, then kept for the container.
//!
//! Making a service client is not free. The first client of each SDK crate parses that
//! crate's endpoint partition table (embedded JSON) and compiles its region patterns:
//! 0.07–0.19 ms per service on x86_64, measured by `init-steps` (docs/performance.md), and
//! the SDK does it in `Client::new`. A function that made all its clients in `main` paid that
//! for every service during init, whether or not the container ever called it: the sender
//! has clients of four services, and a container that only sends emails never needs SNS.
//! Behind this wrapper init makes none, and each is made once, by its first call. The first
//! invocation pays for the clients it uses (docs/performance.md, cold start).
//!
//! Calls go through [`Deref`]: `self.client.get_item()` works as on the SDK client itself.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

type Build<C> = Box<dyn FnOnce() -> C + Send>;

/// A service client `C` made from the SDK config on first use; clones share the one client.
pub struct LazyClient<C> {
    client: Arc<LazyLock<C, Build<C>>>,
}

impl<C: Send + Sync + 'static> LazyClient<C> {
    /// A client that `build` makes from `sdk` when it is first used.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        build: impl FnOnce(&aws_config::SdkConfig) -> C + Send + 'static,
    ) -> Self {
        let sdk = sdk.clone();
        Self::from_fn(Box::new(move || build(&sdk)))
    }

    /// A client made already (tests, and callers that configure their own).
    pub fn ready(client: C) -> Self {
        Self::from_fn(Box::new(move || client))
    }

    fn from_fn(build: Build<C>) -> Self {
        Self {
            client: Arc::new(LazyLock::new(build)),
        }
    }
}

impl<C: Send + Sync + 'static> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        Self::ready(client)
    }
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self {
            client: Arc::clone(&self.client),
        }
    }
}

impl<C: Send + Sync + 'static> Deref for LazyClient<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.client
    }
}

impl<C> fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LazyClient")
    }
}

#[cfg(all(test, feature = "sns"))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn sdk() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-north-1"))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    }

    #[test]
    fn the_client_is_made_on_first_use_once_and_shared_by_clones() {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&made);
        let lazy = LazyClient::new(&sdk(), move |sdk| {
            counter.fetch_add(1, Ordering::SeqCst);
            aws_sdk_sns::Client::new(sdk)
        });
        let copy = lazy.clone();
        assert_eq!(
            made.load(Ordering::SeqCst),
            0,
            "making the wrapper makes no client"
        );
        assert_eq!(
            copy.config().region().map(|r| r.as_ref()),
            Some("eu-north-1")
        );
        assert_eq!(
            lazy.config().region().map(|r| r.as_ref()),
            Some("eu-north-1")
        );
        assert_eq!(made.load(Ordering::SeqCst), 1, "one client for both clones");
    }

    #[test]
    fn a_ready_client_is_used_as_given() {
        let lazy = LazyClient::ready(aws_sdk_sns::Client::new(&sdk()));
        assert_eq!(
            lazy.config().region().map(|r| r.as_ref()),
            Some("eu-north-1")
        );
    }
}

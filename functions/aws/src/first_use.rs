//! Handler dependencies whose last piece needs the network (a secret from SSM): built
//! without it during init, completed on the first invocation, then kept for the warm
//! container. Init stays free of network calls, and a failed read fails only that
//! invocation (the next one tries again) instead of the whole cold start.

use std::future::Future;
use std::sync::Mutex;

use tokio::sync::OnceCell;

/// `P` (built at init) becomes `T` once `fetch` succeeded.
pub struct FirstUse<P, T> {
    partial: Mutex<Option<P>>,
    ready: OnceCell<T>,
}

#[derive(Debug, thiserror::Error)]
pub enum FirstUseError<E> {
    #[error(transparent)]
    Fetch(E),
    /// Only after a panic in an earlier completion.
    #[error("the handler's dependencies were lost by an earlier failed start")]
    Lost,
}

impl<P, T> FirstUse<P, T> {
    pub fn new(partial: P) -> Self {
        Self {
            partial: Mutex::new(Some(partial)),
            ready: OnceCell::new(),
        }
    }

    /// The completed dependencies: the first call runs `fetch` (until one succeeds) and
    /// `complete`; later calls return the same value at once.
    pub async fn get<V, E, Fut>(
        &self,
        fetch: impl FnOnce() -> Fut,
        complete: impl FnOnce(P, V) -> T,
    ) -> Result<&T, FirstUseError<E>>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        self.ready
            .get_or_try_init(|| async {
                // Fetched before the partial value is taken, so a failure loses nothing.
                let value = fetch().await.map_err(FirstUseError::Fetch)?;
                let partial = self
                    .partial
                    .lock()
                    .ok()
                    .and_then(|mut p| p.take())
                    .ok_or(FirstUseError::Lost)?;
                Ok(complete(partial, value))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_fetch_is_retried_and_a_success_is_kept() {
        let deps: FirstUse<u32, String> = FirstUse::new(7);
        let failed = deps
            .get(
                || async { Err::<u32, _>("ssm down") },
                |p, v| format!("{p}-{v}"),
            )
            .await;
        assert!(matches!(failed, Err(FirstUseError::Fetch("ssm down"))));
        let ready = deps
            .get(|| async { Ok::<_, &str>(1) }, |p, v| format!("{p}-{v}"))
            .await;
        assert_eq!(ready.ok().map(String::as_str), Some("7-1"));
        let again = deps
            .get(
                || async { Err::<u32, _>("not called") },
                |p, v| format!("{p}-{v}"),
            )
            .await;
        assert_eq!(again.ok().map(String::as_str), Some("7-1"));
    }
}

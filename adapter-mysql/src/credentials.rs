//! Passwords fetched at every connect, so rotating credentials (AWS RDS IAM tokens, Vault
//! leases) are picked up by new connections without rebuilding the pool.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The error a [`PasswordProvider`] may fail with.
pub type ProviderError = Box<dyn StdError + Send + Sync + 'static>;

type ProviderFuture = Pin<Box<dyn Future<Output = Result<String, ProviderError>> + Send>>;
type ProviderFn = dyn Fn() -> ProviderFuture + Send + Sync;

/// A function called once per new connection (including the side connection that cancels a
/// query) to get the password or token to authenticate with.
///
/// Its failure makes that connect fail with [`pool_core::Error::Connect`]; the pool retries
/// with backoff. An IAM token is sent in clear text by the server's `mysql_clear_password`
/// plugin, so enable it (`enable_cleartext_plugin=true`) only together with `ssl_mode=required`.
#[derive(Clone)]
pub struct PasswordProvider(Arc<ProviderFn>);

impl PasswordProvider {
    /// Wraps an async function returning the current password.
    pub fn new<F, Fut, E>(provider: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, E>> + Send + 'static,
        E: Into<ProviderError>,
    {
        Self(Arc::new(move || {
            let fut = provider();
            Box::pin(async move { fut.await.map_err(Into::into) })
        }))
    }

    /// Calls the provider.
    pub(crate) async fn password(&self) -> Result<String, ProviderError> {
        (self.0)().await
    }
}

impl fmt::Debug for PasswordProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordProvider(..)")
    }
}

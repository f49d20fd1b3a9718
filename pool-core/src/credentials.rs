//! Credentials fetched at every connect, shared by every adapter: [`CredentialsProvider`]
//! returns a [`Secret`], so rotating passwords and tokens (AWS RDS IAM tokens, Vault leases)
//! reach new connections without rebuilding the pool, and no `Debug`, `Display`, log or error
//! ever shows them.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::error::Result;
use crate::hooks::BoxFuture;

/// A password or token. Its `Debug` and `Display` print `***`; only
/// [`expose`](Self::expose) gives the text, at the one place that sends it to the server.
///
/// ```
/// use pool_core::Secret;
///
/// let secret = Secret::new("hunter2");
/// assert_eq!(format!("{secret} {secret:?}"), "*** ***");
/// assert_eq!(secret.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password or token.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The text itself: hand it to the driver, never to a log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

type ProviderFn = dyn Fn() -> BoxFuture<'static, Result<Secret>> + Send + Sync;

/// An async function called once per connection attempt (adapters that open a side
/// connection to cancel a query call it for that one too) for the password to send. Every
/// adapter takes it through `with_password_provider`. Cheap to clone.
///
/// Its error fails that connect, which the pool retries with backoff like any connect
/// failure; say what failed, never the secret.
///
/// ```
/// use pool_core::{CredentialsProvider, Secret};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pool_core::Result<()> {
/// let provider = CredentialsProvider::new(|| async {
///     // e.g. generate an RDS IAM auth token, or read a Vault lease
///     Ok(Secret::new("token"))
/// });
/// assert_eq!(provider.fetch().await?.expose(), "token");
/// assert_eq!(format!("{provider:?}"), "CredentialsProvider(..)");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CredentialsProvider(Arc<ProviderFn>);

impl CredentialsProvider {
    /// Wraps an async function returning the current password.
    pub fn new<F, Fut>(provider: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Secret>> + Send + 'static,
    {
        Self(Arc::new(move || Box::pin(provider())))
    }

    /// Calls the function: the password for the next connect.
    pub async fn fetch(&self) -> Result<Secret> {
        (self.0)().await
    }
}

impl fmt::Debug for CredentialsProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialsProvider(..)")
    }
}

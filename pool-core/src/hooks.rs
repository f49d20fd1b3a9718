//! User hooks run at points of a connection's life.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::Result;
use crate::metadata::ConnectionMetadata;

/// A boxed, sendable future, as hooks return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A hook: an async function given the connection and its [`ConnectionMetadata`] (as sqlx
/// passes `PoolConnectionMetadata`). Written as a closure returning a boxed async block:
/// `|conn, meta| Box::pin(async move { … })`. An error from `after_connect` fails the
/// connection attempt; from `before_checkout` it discards the connection and fails the acquire;
/// from `after_checkin` it discards the connection.
pub type Hook<C> =
    Arc<dyn for<'a> Fn(&'a mut C, ConnectionMetadata) -> BoxFuture<'a, Result<()>> + Send + Sync>;

/// The hooks a pool runs.
pub(crate) struct Hooks<C> {
    pub(crate) after_connect: Option<Hook<C>>,
    pub(crate) before_checkout: Option<Hook<C>>,
    pub(crate) after_checkin: Option<Hook<C>>,
}

impl<C> Default for Hooks<C> {
    fn default() -> Self {
        Self {
            after_connect: None,
            before_checkout: None,
            after_checkin: None,
        }
    }
}

impl<C> fmt::Debug for Hooks<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("after_connect", &self.after_connect.is_some())
            .field("before_checkout", &self.before_checkout.is_some())
            .field("after_checkin", &self.after_checkin.is_some())
            .finish()
    }
}

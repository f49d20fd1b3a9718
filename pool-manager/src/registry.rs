//! [`AdapterRegistry`]: URL scheme → code that builds a pool, filled by the application with
//! the adapter crates it depends on. pool-manager itself depends on no adapter.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use pool_core::{BoxFuture, Connector, Pool, PoolConfig};

use crate::erased::AnyPool;
use crate::error::{ManagerError, Result};
use crate::redact::redact_url;

/// What a factory returns: a future that builds the type-erased pool.
pub type BuildFuture = BoxFuture<'static, pool_core::Result<AnyPool>>;

type Factory = Arc<dyn Fn(String, PoolConfig) -> BuildFuture + Send + Sync>;

/// Maps URL schemes (`postgres`, `mysql`, `sqlite`, ...) to pool factories.
///
/// ```
/// use pool_core::Pool;
/// use pool_core::testing::TestConnector;
/// use pool_manager::AdapterRegistry;
///
/// let registry = AdapterRegistry::new()
///     // The general form: any async code that builds a pool from the URL and the config.
///     .with("test", |_url, config| {
///         Box::pin(async move {
///             let pool = Pool::builder(TestConnector::new()).config(config).build().await?;
///             Ok(pool.into())
///         })
///     })
///     // The short form for connectors with a `from_url`, e.g.
///     // `.with_connector("postgres", adapter_postgres::PostgresConnector::from_url)`.
///     .with_connector("fake", |_url| Ok(TestConnector::new()));
/// assert_eq!(registry.schemes(), ["fake", "test"]);
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct AdapterRegistry {
    factories: BTreeMap<String, Factory>,
}

impl fmt::Debug for AdapterRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdapterRegistry")
            .field("schemes", &self.schemes())
            .finish()
    }
}

impl AdapterRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `factory` for URLs whose scheme is `scheme` (case-insensitive). The factory
    /// gets the URL (after `${VAR}` substitution) and the pool's configuration (its `name`
    /// set to the pool's name).
    pub fn with<F>(mut self, scheme: &str, factory: F) -> Self
    where
        F: Fn(String, PoolConfig) -> BuildFuture + Send + Sync + 'static,
    {
        self.factories
            .insert(scheme.to_ascii_lowercase(), Arc::new(factory));
        self
    }

    /// Registers a connector constructor for `scheme`: the pool is built with
    /// `Pool::builder(make(url)?).config(config).build()`.
    pub fn with_connector<M, F>(self, scheme: &str, make: F) -> Self
    where
        M: Connector,
        F: Fn(&str) -> pool_core::Result<M> + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        self.with(scheme, move |url, config| {
            let make = make.clone();
            Box::pin(async move {
                let connector = make(&url)?;
                let pool = Pool::builder(connector).config(config).build().await?;
                Ok(AnyPool::new(pool))
            })
        })
    }

    /// The registered schemes, sorted.
    pub fn schemes(&self) -> Vec<&str> {
        self.factories.keys().map(String::as_str).collect()
    }

    /// Builds the pool `pool_name` for `url`, choosing the factory by the URL's scheme. A
    /// libpq key/value string (`host=db port=5432 dbname=shop user=app`) goes to the factory of
    /// `postgres` (or else `postgresql`): PostgreSQL is the database that takes them.
    pub async fn build(&self, pool_name: &str, url: &str, config: PoolConfig) -> Result<AnyPool> {
        let scheme = match scheme_of(url) {
            Some(scheme) => scheme,
            None if is_key_value(url) => ["postgres", "postgresql"]
                .into_iter()
                .find(|s| self.factories.contains_key(*s))
                .map(str::to_owned)
                .ok_or_else(|| ManagerError::UnknownScheme {
                    pool: pool_name.to_owned(),
                    scheme: "postgres (a libpq key/value string)".to_owned(),
                    known: self.factories.keys().cloned().collect(),
                })?,
            None => {
                return Err(ManagerError::config(
                    pool_name,
                    "url",
                    format!(
                        "`{}` has no scheme (like `postgres://`) and is not a libpq key/value \
                         string (`host=… dbname=…`)",
                        redact_url(url)
                    ),
                ));
            }
        };
        let factory = self
            .factories
            .get(&scheme)
            .ok_or_else(|| ManagerError::UnknownScheme {
                pool: pool_name.to_owned(),
                scheme: scheme.clone(),
                known: self.factories.keys().cloned().collect(),
            })?;
        factory(url.to_owned(), config)
            .await
            .map_err(|source| ManagerError::Build {
                pool: pool_name.to_owned(),
                url: redact_url(url),
                source: Box::new(source),
            })
    }
}

/// True for a libpq key/value connection string: its first word is `key=…` (or `key = …`).
pub(crate) fn is_key_value(url: &str) -> bool {
    let text = url.trim_start();
    let key_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    key_end > 0 && text[key_end..].trim_start().starts_with('=')
}

/// The URL's scheme, lowercased: the text before the first `:` (`sqlite::memory:` → `sqlite`).
pub(crate) fn scheme_of(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once(':')?;
    let valid = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| scheme.to_ascii_lowercase())
}

//! Building a manager from a TOML file: pool name → `url` and any [`PoolConfig`] override.
//!
//! ```toml
//! # Applied to every pool; each pool may override any of it.
//! [defaults]
//! acquire_timeout = "5s"
//!
//! [pools.orders]
//! url = "postgres://app:${ORDERS_PASSWORD}@db.internal/orders"
//! max_size = 20
//! circuit_breaker = { failure_threshold = 3, open_duration = "30s" }
//!
//! # Read replicas inherit the pool's settings; each may override them.
//! [[pools.orders.replicas]]
//! url = "postgres://app:${ORDERS_PASSWORD}@replica1.internal/orders"
//!
//! [pools.cache]
//! url = "sqlite:///var/lib/app/cache.db"
//! max_size = 1
//! ```
//!
//! - Every key of [`PoolConfig`] may appear, with humane durations (`"500ms"`, `"30s"`,
//!   `"5m"`); nested tables (`autoscale`, `circuit_breaker`) merge key by key with the
//!   defaults. A pool's `name` is its table name and cannot be set.
//! - `${VAR}` in any string value is replaced from the environment (see
//!   [`env_subst`](crate::env_subst)), so passwords stay out of the file.
//! - A `url` may also be a libpq key/value string (`host=db port=5432 dbname=orders`): the
//!   registry builds it with the factory registered for `postgres`.
//! - A file that defines no pool is an error ([`ManagerError::NoPools`]), as is a syntax error
//!   ([`ManagerError::Syntax`]); both name the file when read with
//!   [`ManagerConfig::from_file`].
//! - Every error names the pool, the key and the reason; values are validated when the file
//!   is read, before any connection is opened. No error or `Debug` output contains a URL's
//!   password, and values read from the environment are never echoed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use pool_core::PoolConfig;
use tokio::task::JoinSet;
use toml::{Table, Value};

use crate::env_subst::{process_env, substitute};
use crate::erased::AnyPool;
use crate::error::{ManagerError, Result};
use crate::manager::PoolManager;
use crate::redact::redact_url;
use crate::registry::AdapterRegistry;

/// A parsed and validated configuration file.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ManagerConfig {
    /// The pools, by name.
    pub pools: BTreeMap<String, PoolSpec>,
}

/// One pool of the file: its URL, its configuration and its replicas.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct PoolSpec {
    url: String,
    /// The pool's configuration (defaults, then the file's overrides; `name` is the pool's).
    pub config: PoolConfig,
    /// Read replicas, in file order.
    pub replicas: Vec<ReplicaSpec>,
}

/// One read replica of a pool.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct ReplicaSpec {
    url: String,
    /// The replica's configuration (the pool's, then the replica's own overrides).
    pub config: PoolConfig,
}

impl PoolSpec {
    /// The URL, after `${VAR}` substitution: may contain a password, so never log it; see
    /// [`redacted_url`](Self::redacted_url).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

impl ReplicaSpec {
    /// The URL, after `${VAR}` substitution (may contain a password).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Debug for PoolSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolSpec")
            .field("url", &redact_url(&self.url))
            .field("config", &self.config)
            .field("replicas", &self.replicas)
            .finish()
    }
}

impl fmt::Debug for ReplicaSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicaSpec")
            .field("url", &redact_url(&self.url))
            .field("config", &self.config)
            .finish()
    }
}

impl ManagerConfig {
    /// Reads and validates the file at `path`, substituting `${VAR}` from the process
    /// environment. A syntax error and an empty configuration ([`ManagerError::NoPools`])
    /// name the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ManagerError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| e.in_file(&path.display().to_string()))
    }

    /// Parses and validates TOML text, substituting `${VAR}` from the process environment.
    /// Text that defines no pool is [`ManagerError::NoPools`].
    pub fn from_toml_str(text: &str) -> Result<Self> {
        Self::from_toml_str_with_env(text, &process_env)
    }

    /// Parses and validates TOML text, substituting `${VAR}` through `lookup` (for tests,
    /// or secrets from somewhere other than the environment).
    ///
    /// ```
    /// use pool_manager::ManagerConfig;
    ///
    /// let text = r#"
    ///     [pools.orders]
    ///     url = "postgres://app:${PW}@db/orders"
    ///     max_size = 0
    /// "#;
    /// let err = ManagerConfig::from_toml_str_with_env(text, &|_| Some("s3cret".into())).unwrap_err();
    /// assert_eq!(err.to_string(), "pool `orders`: `max_size` must be at least 1");
    /// ```
    pub fn from_toml_str_with_env(
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let mut root: Table = text.parse().map_err(|e: toml::de::Error| {
            let (line, column) = e
                .span()
                .map_or((0, 0), |span| line_column(text, span.start));
            ManagerError::Syntax {
                file: None,
                line,
                column,
                reason: e.message().trim().to_owned(),
            }
        })?;
        let mut defaults = match root.remove("defaults") {
            None => Table::new(),
            Some(Value::Table(t)) => t,
            Some(_) => return Err(ManagerError::config("", "defaults", "must be a table")),
        };
        let pools = match root.remove("pools") {
            None => Table::new(),
            Some(Value::Table(t)) => t,
            Some(_) => {
                return Err(ManagerError::config(
                    "",
                    "pools",
                    "must be a table of pools ([pools.NAME])",
                ));
            }
        };
        if let Some((key, value)) = root.iter().next() {
            let written = if value.is_table() {
                format!("`[{key}]`")
            } else {
                format!("`{key} = …`")
            };
            let guess = match key.to_ascii_lowercase().as_str() {
                "default" | "default_pool" | "defaults" | "pool_defaults" => {
                    " Did you mean `[defaults]`?"
                }
                "pool" | "pools" | "database" | "databases" => " Did you mean `[pools.NAME]`?",
                _ => "",
            };
            return Err(ManagerError::config(
                "",
                key.as_str(),
                format!(
                    "is not a top-level key (written {written}); the file may have only \
                     `[defaults]` and `[pools.NAME]`.{guess}"
                ),
            ));
        }
        let mut defaults_from_env = Vec::new();
        substitute_strings(
            &mut defaults,
            "defaults",
            "",
            lookup,
            &mut defaults_from_env,
        )?;
        reject_reserved(&defaults, "defaults", "")?;
        // The defaults alone must already be a valid set of options.
        to_config(defaults.clone(), "defaults", "", &defaults_from_env)?;

        let mut config = ManagerConfig::default();
        for (name, value) in pools {
            let spec = parse_pool(&name, value, &defaults, &defaults_from_env, lookup)?;
            config.pools.insert(name, spec);
        }
        if config.pools.is_empty() {
            return Err(ManagerError::NoPools { file: None });
        }
        Ok(config)
    }

    /// Builds every pool in parallel through `registry` and registers them in a new manager.
    /// If any pool fails to build, the pools already built are closed and the first error
    /// (by pool name) is returned.
    ///
    /// The manager keeps `registry` and this configuration, so that
    /// [`PoolManager::reload`] can later rebuild only what a new file changes.
    pub async fn build(&self, registry: &AdapterRegistry) -> Result<PoolManager> {
        let built = self.build_pools(registry, |_| true).await?;
        let manager = PoolManager::new();
        for (name, (primary, replicas)) in built {
            manager.register_replicated(name, primary, replicas)?;
        }
        manager.remember_source(registry.clone(), self.clone());
        Ok(manager)
    }

    /// Builds, in parallel, the pools whose name `wanted` accepts: name → (primary,
    /// replicas). All or nothing: if any fails, those built are closed and the first error
    /// (by pool name) is returned.
    pub(crate) async fn build_pools(
        &self,
        registry: &AdapterRegistry,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, (AnyPool, Vec<AnyPool>)>> {
        let mut builds = JoinSet::new();
        for (name, spec) in self.pools.iter().filter(|(name, _)| wanted(name)) {
            let jobs = std::iter::once((spec.url.clone(), spec.config.clone())).chain(
                spec.replicas
                    .iter()
                    .map(|r| (r.url.clone(), r.config.clone())),
            );
            for (index, (url, config)) in jobs.enumerate() {
                let registry = registry.clone();
                let name = name.clone();
                builds.spawn(async move {
                    let built = registry.build(&config.name.clone(), &url, config).await;
                    (name, index, built)
                });
            }
        }
        let mut built: BTreeMap<String, BTreeMap<usize, AnyPool>> = BTreeMap::new();
        let mut errors: BTreeMap<(String, usize), ManagerError> = BTreeMap::new();
        while let Some(joined) = builds.join_next().await {
            match joined {
                Ok((name, index, Ok(pool))) => {
                    built.entry(name).or_default().insert(index, pool);
                }
                Ok((name, index, Err(error))) => {
                    errors.insert((name, index), error);
                }
                Err(join_error) => {
                    errors.insert(
                        (String::new(), 0),
                        ManagerError::config("", "", format!("a build task failed: {join_error}")),
                    );
                }
            }
        }
        if let Some((_, error)) = errors.into_iter().next() {
            let pools: Vec<AnyPool> = built.into_values().flat_map(|m| m.into_values()).collect();
            for pool in pools {
                pool.close(std::time::Duration::from_secs(1)).await;
            }
            return Err(error);
        }
        Ok(built
            .into_iter()
            .map(|(name, mut members)| {
                let primary = members
                    .remove(&0)
                    .expect("every pool built without error has its primary");
                (name, (primary, members.into_values().collect()))
            })
            .collect())
    }
}

/// Keys of a pool table that are not [`PoolConfig`] options.
const URL: &str = "url";
const REPLICAS: &str = "replicas";

fn parse_pool(
    name: &str,
    value: Value,
    defaults: &Table,
    defaults_from_env: &[(String, String)],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<PoolSpec> {
    if name.trim().is_empty() {
        return Err(ManagerError::config(
            name,
            "",
            "a pool name must not be empty",
        ));
    }
    let Value::Table(mut table) = value else {
        return Err(ManagerError::config(
            name,
            "",
            "must be a table ([pools.NAME] with a `url`)",
        ));
    };
    // Keys whose value was read from the environment (with the text before substitution),
    // relative to this pool's table (a replica's as `replicas[i].key`): their errors must not
    // echo the value.
    let mut from_env = defaults_from_env.to_vec();
    substitute_strings(&mut table, name, "", lookup, &mut from_env)?;
    let url = take_url(&mut table, name, "")?;
    let replicas = match table.remove(REPLICAS) {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ManagerError::config(
                name,
                REPLICAS,
                "must be an array of tables ([[pools.NAME.replicas]] with a `url`)",
            ));
        }
    };
    reject_reserved(&table, name, "")?;
    let mut merged = defaults.clone();
    merge(&mut merged, table);
    let config = named(to_config(merged.clone(), name, "", &from_env)?, name);

    let mut replica_specs = Vec::with_capacity(replicas.len());
    for (i, item) in replicas.into_iter().enumerate() {
        let prefix = format!("{REPLICAS}[{i}].");
        let Value::Table(mut own) = item else {
            return Err(ManagerError::config(
                name,
                format!("{REPLICAS}[{i}]"),
                "must be a table with a `url`",
            ));
        };
        let url = take_url(&mut own, name, &prefix)?;
        if own.contains_key(REPLICAS) {
            return Err(ManagerError::config(
                name,
                format!("{prefix}{REPLICAS}"),
                "replicas cannot have replicas",
            ));
        }
        reject_reserved(&own, name, &prefix)?;
        let mut replica = merged.clone();
        merge(&mut replica, own);
        // The replica's own keys, and everything it inherits, may hold environment values.
        let replica_from_env: Vec<(String, String)> = from_env
            .iter()
            .map(|(key, template)| {
                let key = key.strip_prefix(&prefix).unwrap_or(key);
                (key.to_owned(), template.clone())
            })
            .collect();
        let config = named(
            to_config(replica, name, &prefix, &replica_from_env)?,
            &format!("{name}.replica{}", i + 1),
        );
        replica_specs.push(ReplicaSpec { url, config });
    }
    Ok(PoolSpec {
        url,
        config,
        replicas: replica_specs,
    })
}

fn named(mut config: PoolConfig, name: &str) -> PoolConfig {
    config.name = name.to_owned();
    config
}

fn take_url(table: &mut Table, pool: &str, prefix: &str) -> Result<String> {
    match table.remove(URL) {
        Some(Value::String(url)) if !url.trim().is_empty() => Ok(url),
        Some(Value::String(_)) => Err(ManagerError::config(
            pool,
            format!("{prefix}{URL}"),
            "must not be empty",
        )),
        Some(_) => Err(ManagerError::config(
            pool,
            format!("{prefix}{URL}"),
            "must be a string",
        )),
        None => Err(ManagerError::config(
            pool,
            format!("{prefix}{URL}"),
            "is required (the database's connection URL)",
        )),
    }
}

fn reject_reserved(table: &Table, pool: &str, prefix: &str) -> Result<()> {
    if table.contains_key("name") {
        return Err(ManagerError::config(
            pool,
            format!("{prefix}name"),
            "cannot be set: a pool's name is its table name ([pools.NAME])",
        ));
    }
    Ok(())
}

/// Deep-merges `overrides` into `base`: nested tables merge key by key, anything else
/// replaces.
fn merge(base: &mut Table, overrides: Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(base_table)), Value::Table(over)) => merge(base_table, over),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Deserializes and validates a [`PoolConfig`], naming the key of any error. The error of a key
/// in `from_env` (its value was read from the environment) does not show the value.
fn to_config(
    table: Table,
    pool: &str,
    prefix: &str,
    from_env: &[(String, String)],
) -> Result<PoolConfig> {
    let config: PoolConfig = serde_path_to_error::deserialize(Value::Table(table)).map_err(
        |error: serde_path_to_error::Error<toml::de::Error>| {
            let message = error.inner().message().trim().to_owned();
            let path = error.path().to_string();
            let (key, reason) = match unknown_field(&message) {
                Some(field) => {
                    let key = if path == "." || path.is_empty() {
                        field.to_owned()
                    } else if path.ends_with(field) {
                        path.clone()
                    } else {
                        format!("{path}.{field}")
                    };
                    (key, "is not a pool option".to_owned())
                }
                None => match template_of(&path, from_env) {
                    _ if string_for_non_string(&message).is_some() => {
                        let (expected, example) =
                            string_for_non_string(&message).unwrap_or_default();
                        let key = path.rsplit('.').next().unwrap_or(&path).to_owned();
                        let reason = match template_of(&path, from_env) {
                            Some(template) => format!(
                                "is a string (`\"{template}\"`) but takes {expected}: `${{VAR}}` \
                                 is replaced inside the string and the result is still a \
                                 string, so this option cannot come from the environment; \
                                 write it without quotes (`{key} = {example}`)"
                            ),
                            None => {
                                let given = message.split('"').nth(1).unwrap_or_default();
                                format!(
                                    "is the string `\"{given}\"` but takes {expected}: write \
                                     it without quotes (`{key} = {example}`)"
                                )
                            }
                        };
                        (path, reason)
                    }
                    Some(template) => {
                        let reason = without_value(&message, template);
                        (path, reason)
                    }
                    None => (path, explain_duration(&message).unwrap_or(message)),
                },
            };
            ManagerError::config(pool, format!("{prefix}{key}"), reason)
        },
    )?;
    config.validate().map_err(|error| match error {
        pool_core::Error::Config { field, reason } => {
            ManagerError::config(pool, format!("{prefix}{field}"), reason)
        }
        other => ManagerError::config(pool, prefix.trim_end_matches('.'), other.to_string()),
    })?;
    Ok(config)
}

/// The text before substitution (`"${TIMEOUT}"`) when the value at `path`, or a value inside
/// it, was read from the environment.
fn template_of<'a>(path: &str, from_env: &'a [(String, String)]) -> Option<&'a str> {
    let inside = |outer: &str, inner: &str| {
        inner == outer
            || inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.starts_with(['.', '[']))
    };
    from_env
        .iter()
        .find(|(key, _)| inside(key, path) || inside(path, key))
        .map(|(_, template)| template.as_str())
}

/// The reason for a bad value read from the environment: the variables it came from and what
/// was expected, never the value (the deserializer's message quotes it) nor the rest of the
/// string.
fn without_value(message: &str, template: &str) -> String {
    let variables: Vec<String> = template
        .split("${")
        .skip(1)
        .filter_map(|after| after.split_once('}'))
        .map(|(expr, _)| {
            let name = expr.split_once(":-").map_or(expr, |(name, _)| name);
            format!("`{name}`")
        })
        .collect();
    let is = format!(
        "comes from the environment ({}), and its value (not shown here)",
        variables.join(", ")
    );
    if message.ends_with("expected a duration") || message.starts_with("is not a duration") {
        format!("{is} is not a duration; write it like \"500ms\", \"30s\", \"5m\" or \"off\"")
    } else if let Some((_, expected)) = message.rsplit_once(", expected ") {
        format!("{is} is invalid: expected {expected}")
    } else {
        format!("{is} is invalid")
    }
}

/// What a non-string option takes and an example value, when serde's message says a string
/// was given for it (`invalid type: string "4", expected usize`).
fn string_for_non_string(message: &str) -> Option<(&'static str, &'static str)> {
    if !message.starts_with("invalid type: string") {
        return None;
    }
    let expected = message.rsplit_once(", expected ")?.1;
    match expected {
        "usize" | "u8" | "u16" | "u32" | "u64" | "i32" | "i64" | "an integer" => {
            Some(("a whole number", "10"))
        }
        "f32" | "f64" | "a number" => Some(("a number", "0.5")),
        "a boolean" => Some(("`true` or `false`", "true")),
        _ => None,
    }
}

/// humantime-serde only says "expected a duration"; humantime itself says what is wrong.
fn explain_duration(message: &str) -> Option<String> {
    if !message.ends_with("expected a duration") {
        return None;
    }
    let value = message.split('"').nth(1)?;
    let why = humantime::parse_duration(value).err()?;
    Some(format!(
        "is not a duration (`{value}`: {why}); write it like \"500ms\", \"30s\" or \"5m\""
    ))
}

/// The field named by serde's "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Applies `${VAR}` substitution to every string in `table`, naming the key on error; adds
/// the key and the text of every string that used a variable to `from_env`.
fn substitute_strings(
    table: &mut Table,
    pool: &str,
    prefix: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    from_env: &mut Vec<(String, String)>,
) -> Result<()> {
    for (key, value) in table.iter_mut() {
        substitute_value(value, pool, &format!("{prefix}{key}"), lookup, from_env)?;
    }
    Ok(())
}

fn substitute_value(
    value: &mut Value,
    pool: &str,
    key: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    from_env: &mut Vec<(String, String)>,
) -> Result<()> {
    match value {
        Value::String(s) => {
            if s.contains("${") {
                from_env.push((key.to_owned(), s.clone()));
            }
            *s = substitute(s, lookup).map_err(|reason| ManagerError::config(pool, key, reason))?;
        }
        Value::Table(t) => substitute_strings(t, pool, &format!("{key}."), lookup, from_env)?,
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute_value(item, pool, &format!("{key}[{i}]"), lookup, from_env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

//! [`SqliteConnector`]: opens [`SqliteConnection`]s for a pool.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pool_core::{Connector, Result, async_trait};

use crate::connection::SqliteConnection;
use crate::error;
use crate::open::{self, Location};
use crate::options::{Database, SqliteOptions};
use crate::url;
use crate::worker;

/// Numbers connections (thread names) and private in-memory databases, process-wide.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Opens SQLite connections, each on its own thread.
///
/// Cloning gives a connector for the same database (a private in-memory database included).
/// See the [crate documentation](crate) for URL forms, defaults and the single-writer
/// arrangement.
#[derive(Debug, Clone)]
pub struct SqliteConnector {
    options: Arc<SqliteOptions>,
    location: Arc<Location>,
    /// For in-memory databases: one connection kept open for as long as any clone of this
    /// connector lives, so the database survives the pool closing all its connections.
    anchor: Option<Arc<Mutex<Option<rusqlite::Connection>>>>,
}

impl SqliteConnector {
    /// Parses an `sqlite:` URL (see the [crate documentation](crate) for the forms and
    /// options). A malformed URL, an unknown option or a bad value is [`pool_core::Error::Config`]
    /// naming it. Nothing is opened until the first [`connect`](Connector::connect).
    ///
    /// ```
    /// use adapter_sqlite::SqliteConnector;
    ///
    /// let file = SqliteConnector::from_url("sqlite://data.db?mode=rwc&busy_timeout=5s")?;
    /// let memory = SqliteConnector::from_url("sqlite::memory:")?;
    /// assert!(SqliteConnector::from_url("sqlite://data.db?mode=rwx").is_err());
    /// # let _ = (file, memory);
    /// # Ok::<(), pool_core::Error>(())
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        Self::new(url::parse(url)?)
    }

    /// A connector from options built in code; they are validated here.
    pub fn new(options: SqliteOptions) -> Result<Self> {
        options.validate()?;
        let unique = format!(
            "adapter-sqlite-{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        );
        let location = Location::new(&options.database, &unique);
        let anchor =
            matches!(options.database, Database::Memory(_)).then(|| Arc::new(Mutex::new(None)));
        Ok(Self {
            options: Arc::new(options),
            location: Arc::new(location),
            anchor,
        })
    }

    /// A connector for the same database whose connections refuse writes
    /// (`PRAGMA query_only`): build the reader pool of the single-writer arrangement with it,
    /// next to a pool of `max_size` 1 built with `self`. An in-memory database is shared with
    /// `self`.
    ///
    /// ```
    /// use adapter_sqlite::SqliteConnector;
    ///
    /// let writer = SqliteConnector::from_url("sqlite:///var/lib/app/app.db")?;
    /// let readers = writer.read_only();
    /// assert!(readers.options().query_only);
    /// # Ok::<(), pool_core::Error>(())
    /// ```
    #[must_use]
    pub fn read_only(&self) -> Self {
        let mut options = (*self.options).clone();
        options.query_only = true;
        Self {
            options: Arc::new(options),
            location: Arc::clone(&self.location),
            anchor: self.anchor.clone(),
        }
    }

    /// The options connections are opened with.
    pub fn options(&self) -> &SqliteOptions {
        &self.options
    }
}

#[async_trait]
impl Connector for SqliteConnector {
    type Connection = SqliteConnection;

    /// Starts the connection's thread, which opens the database and applies the pragmas.
    /// Failures are [`pool_core::Error::Connect`] naming the database and, where it can tell,
    /// the cause (missing directory, not a database, read-only location).
    async fn connect(&self) -> Result<SqliteConnection> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let options = Arc::clone(&self.options);
        let location = Arc::clone(&self.location);
        let want_anchor = self
            .anchor
            .as_ref()
            .is_some_and(|a| a.lock().is_ok_and(|a| a.is_none()));
        let busy_timeout = self.options.busy_timeout;
        let ready = worker::spawn(format!("sqlite-conn-{id}"), busy_timeout, move || {
            let conn = open::open(&options, &location)?;
            let anchor = if want_anchor {
                let mut anchor_options = (*options).clone();
                anchor_options.query_only = false;
                Some(open::open(&anchor_options, &location)?)
            } else {
                None
            };
            Ok((conn, anchor))
        })
        .map_err(|e| pool_core::Error::Connect(pool_core::BackendError::connection(e)))?;
        let (handle, anchor) = match ready.await {
            Ok(Ok(opened)) => opened,
            Ok(Err(open_error)) => return Err(error::OpenError::into_error(open_error)),
            Err(_) => {
                return Err(pool_core::Error::Connect(
                    pool_core::BackendError::connection(
                        "the SQLite connection's thread exited while opening the database",
                    ),
                ));
            }
        };
        if let (Some(slot), Some(anchor)) = (&self.anchor, anchor)
            && let Ok(mut slot) = slot.lock()
            && slot.is_none()
        {
            *slot = Some(anchor);
        }
        Ok(SqliteConnection::new(handle))
    }
}

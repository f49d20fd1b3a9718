//! [`SqliteTarget`]: adapter-sqlite on database files in a directory of its own.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use adapter_sqlite::{SqliteConnection, SqliteConnector};
use pool_core::async_trait;

use crate::marker::Marker;
use crate::target::{ColumnTypes, ConformanceTarget, Native, SessionVariable};

/// The environment variable naming where the database files go (a directory of the target's
/// own is made inside it).
pub const SQLITE_DIR_ENV: &str = "CONFORMANCE_SQLITE_DIR";

/// Numbers the directories of targets made in this process.
static NEXT_DIR: AtomicU64 = AtomicU64::new(1);

/// adapter-sqlite on one database file per case, `<dir>/<marker>.db`, in a directory the
/// target makes and removes when dropped.
///
/// SQLite has no server to ask, so the target counts a pool's "sessions" as this process's
/// open file descriptors on the case's database file (Linux's `/proc/self/fd`): every SQLite
/// connection holds one, and it closes when the connection's handle does. A session is killed
/// with [`SqliteConnection::kill_for_testing`], which closes the handle under the connection.
#[derive(Debug)]
pub struct SqliteTarget {
    dir: PathBuf,
}

impl SqliteTarget {
    /// A target whose files go under `CONFORMANCE_SQLITE_DIR`, by default the system's
    /// temporary directory.
    ///
    /// # Panics
    ///
    /// When the directory cannot be created.
    pub fn from_env() -> Self {
        let parent = std::env::var_os(SQLITE_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map_or_else(std::env::temp_dir, PathBuf::from);
        Self::in_dir(&parent).unwrap_or_else(|e| {
            panic!(
                "cannot create the SQLite target's directory in {}: {e}",
                parent.display()
            )
        })
    }

    /// A target whose files go into a new directory inside `parent`.
    pub fn in_dir(parent: &Path) -> std::io::Result<Self> {
        let dir = parent.join(format!(
            "conformance-sqlite-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn database(&self, marker: &Marker) -> PathBuf {
        self.dir.join(format!("{marker}.db"))
    }
}

impl Drop for SqliteTarget {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[async_trait]
impl ConformanceTarget for SqliteTarget {
    type Connector = SqliteConnector;

    fn name(&self) -> &str {
        "sqlite"
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn connector(&self, marker: &Marker) -> pool_core::Result<SqliteConnector> {
        SqliteConnector::from_url(&format!(
            "sqlite://{}?busy_timeout=5s",
            self.database(marker).display()
        ))
    }

    fn column_types(&self) -> ColumnTypes {
        ColumnTypes {
            boolean: "BOOLEAN",
            bigint: "INTEGER",
            double: "REAL",
            text: "TEXT",
            blob: "BLOB",
            table_options: "",
        }
    }

    /// Counts to five billion in a recursive CTE: minutes of work, all inside SQLite's VM,
    /// where `sqlite3_interrupt` stops it.
    fn long_query(&self) -> String {
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000000) \
         SELECT count(*) FROM c"
            .to_owned()
    }

    /// rusqlite's `execute_batch` on the connection's own thread.
    async fn execute_native(&self, conn: &mut SqliteConnection, sql: &str) -> Result<(), Native> {
        let sql = sql.to_owned();
        conn.with_native(move |c| c.execute_batch(&sql))
            .await
            .map_err(|e| Native::Failed(e.to_string()))?
            .map_err(|e| Native::Failed(e.to_string()))
    }

    async fn kill_session(&self, conn: &mut SqliteConnection) -> Result<(), String> {
        conn.kill_for_testing().await;
        Ok(())
    }

    fn session_variable(&self) -> Result<SessionVariable, String> {
        Err(
            "SQLite has no session variables; adapter-sqlite documents that pragmas a holder \
             changes are not restored"
                .to_owned(),
        )
    }

    /// Open descriptors of this process on the case's database file.
    async fn count_sessions(&self, marker: &Marker) -> Result<Option<usize>, String> {
        let database = self.database(marker);
        let fds = match std::fs::read_dir("/proc/self/fd") {
            Ok(fds) => fds,
            Err(_) => return Ok(None),
        };
        let open = fds
            .filter_map(Result::ok)
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter(|target| *target == database)
            .count();
        Ok(Some(open))
    }

    /// Removes the case's database file and its WAL and shared-memory files.
    async fn clean_up(&self, marker: &Marker) {
        let database = self.database(marker);
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = database.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

//! [`ThrowawayPgbouncer`].

use std::fmt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::postgres::{path, run};
use super::{ThrowawayPostgres, free_port, wait_listening};

/// How PgBouncer hands server connections to clients (its `pool_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// A client keeps one server connection for its whole session; PgBouncer runs
    /// `server_reset_query` (`DISCARD ALL`) when the client leaves.
    Session,
    /// A client holds a server connection only for one transaction (or one statement outside
    /// a transaction); the next one may run on another server connection.
    Transaction,
}

impl PoolMode {
    /// The `pool_mode` setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

/// A PgBouncer of a test's own in front of a [`ThrowawayPostgres`] of its own; see the
/// [module documentation](super).
///
/// PgBouncer 1.18 from Debian's package (`/usr/sbin/pgbouncer`, installed by
/// `cargo xtask services`), run in the foreground as the `postgres` OS user (it refuses to run
/// as root) with its own ini, user list, log and port in a temporary directory; trust
/// authentication on both sides. Every database name is forwarded to the server's database of
/// the same name. Dropping it kills PgBouncer and stops the server.
pub struct ThrowawayPgbouncer {
    port: u16,
    mode: PoolMode,
    dir: tempfile::TempDir,
    child: Mutex<Option<Child>>,
    // Dropped after `child` is killed (fields drop in declaration order after `Drop::drop`).
    postgres: ThrowawayPostgres,
}

impl fmt::Debug for ThrowawayPgbouncer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrowawayPgbouncer")
            .field("port", &self.port)
            .field("mode", &self.mode)
            .field("dir", &self.dir.path())
            .field("postgres", &self.postgres)
            .finish_non_exhaustive()
    }
}

impl ThrowawayPgbouncer {
    /// Starts a throwaway PostgreSQL (trust authentication) and a PgBouncer in front of it in
    /// `mode`, with at most `pool_size` server connections per user and database
    /// (`default_pool_size`; `1` makes every client share one server connection).
    pub fn start(mode: PoolMode, pool_size: u32) -> Result<Self, String> {
        let postgres = ThrowawayPostgres::start()?;
        let dir = tempfile::Builder::new()
            .prefix("conformance-pgbouncer-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("temporary directory: {e}"))?;
        let port = free_port().map_err(|e| e.to_string())?;
        let ini = format!(
            "[databases]\n\
             * = host=127.0.0.1 port={server_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {dir}/userlist.txt\n\
             pool_mode = {mode}\n\
             default_pool_size = {pool_size}\n\
             max_client_conn = 500\n\
             server_reset_query = DISCARD ALL\n\
             ignore_startup_parameters = extra_float_digits\n\
             logfile = {dir}/pgbouncer.log\n\
             pidfile = {dir}/pgbouncer.pid\n\
             admin_users = postgres\n",
            server_port = postgres.port(),
            dir = path(dir.path()),
            mode = mode.as_str(),
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), ini).map_err(|e| e.to_string())?;
        // Trust authentication still needs the user listed.
        std::fs::write(dir.path().join("userlist.txt"), "\"postgres\" \"\"\n")
            .map_err(|e| e.to_string())?;
        run("chown", &["-R", "postgres:postgres", &path(dir.path())])?;
        let bouncer = Self {
            port,
            mode,
            dir,
            child: Mutex::new(None),
            postgres,
        };
        bouncer.spawn()?;
        Ok(bouncer)
    }

    fn spawn(&self) -> Result<(), String> {
        let (uid, gid) = (os_id("-u")?, os_id("-g")?);
        let child = Command::new("pgbouncer")
            .arg(self.dir.path().join("pgbouncer.ini"))
            .uid(uid)
            .gid(gid)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("pgbouncer: {e} (install it with `cargo xtask services`)"))?;
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        wait_listening(self.port, Duration::from_secs(30)).map_err(|e| {
            let log =
                std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default();
            format!("{e}; pgbouncer's log:\n{log}")
        })
    }

    /// What PgBouncer has logged so far (empty when the log cannot be read), for messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }

    /// PgBouncer's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pool mode PgBouncer runs in.
    pub fn mode(&self) -> PoolMode {
        self.mode
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`: through PgBouncer, TLS off (PgBouncer
    /// has no certificate here).
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// The PostgreSQL server behind PgBouncer (for side sessions that must bypass it).
    pub fn postgres(&self) -> &ThrowawayPostgres {
        &self.postgres
    }

    /// Kills PgBouncer (SIGKILL); the server behind it keeps running until dropped.
    pub fn stop(&self) -> Result<(), String> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut c) = child.take() {
            c.kill().map_err(|e| format!("killing pgbouncer: {e}"))?;
            c.wait()
                .map_err(|e| format!("waiting for pgbouncer: {e}"))?;
        }
        Ok(())
    }
}

impl Drop for ThrowawayPgbouncer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The `postgres` OS user's id (`-u`) or group id (`-g`).
fn os_id(which: &str) -> Result<u32, String> {
    let output = Command::new("id")
        .args([which, "postgres"])
        .output()
        .map_err(|e| format!("id {which} postgres: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("id {which} postgres: no such user"))
}

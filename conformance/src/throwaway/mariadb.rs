//! [`ThrowawayMariadb`].

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::{free_port, wait_listening};

/// A MariaDB server of a test's own; see the [module documentation](super).
#[derive(Debug)]
pub struct ThrowawayMariadb {
    port: u16,
    dir: tempfile::TempDir,
    child: Mutex<Option<Child>>,
    /// Replication settings (`--server-id`, binary log), empty for a standalone server.
    replication: Vec<String>,
}

impl ThrowawayMariadb {
    /// Installs a data directory and starts the server, without grant tables: user `root`, no
    /// password, database `test` created.
    pub fn start() -> Result<Self, String> {
        Self::start_with(Vec::new())
    }

    /// A server that writes a binary log with GTIDs (`server_id` 1), for replicas to follow.
    pub fn start_primary() -> Result<Self, String> {
        Self::start_with(vec![
            "--server-id=1".to_owned(),
            "--log-bin=mariadb-bin".to_owned(),
            "--binlog-format=ROW".to_owned(),
        ])
    }

    /// A replica of `primary` (`server_id` 2, `read_only`), following it by GTID from the
    /// start of its binary log.
    pub fn start_replica_of(primary: &Self) -> Result<Self, String> {
        let replica = Self::start_with(vec![
            "--server-id=2".to_owned(),
            "--skip-log-bin".to_owned(),
            "--read-only".to_owned(),
        ])?;
        replica.sql(&format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='root', \
             MASTER_USE_GTID=slave_pos; START SLAVE;",
            primary.port
        ))?;
        Ok(replica)
    }

    /// Runs `statements` with the `mariadb` command-line client, as root.
    pub fn sql(&self, statements: &str) -> Result<(), String> {
        let output = Command::new("mariadb")
            .args(["--no-defaults", "-h", "127.0.0.1", "-u", "root"])
            .arg(format!("--port={}", self.port))
            .args(["-e", statements])
            .output()
            .map_err(|e| format!("mariadb: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "mariadb -e {statements:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    fn start_with(replication: Vec<String>) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("conformance-mariadb-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let install = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .args([
                "--user=root",
                "--skip-test-db",
                "--auth-root-authentication-method=normal",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("mariadb-install-db: {e}"))?;
        if !install.status.success() {
            return Err(format!(
                "mariadb-install-db failed: {}",
                String::from_utf8_lossy(&install.stderr)
            ));
        }
        std::fs::create_dir_all(dir.path().join("data").join("test"))
            .map_err(|e| format!("creating database test: {e}"))?;
        let server = Self {
            port: free_port().map_err(|e| e.to_string())?,
            dir,
            child: Mutex::new(None),
            replication,
        };
        server.start_again()?;
        Ok(server)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mysql://root@127.0.0.1:<port>/test`.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/test", self.port)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Kills the server (SIGKILL): every session is cut, as in a crash.
    pub fn stop(&self) -> Result<(), String> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut c) = child.take() {
            c.kill().map_err(|e| format!("killing mariadbd: {e}"))?;
            c.wait().map_err(|e| format!("waiting for mariadbd: {e}"))?;
        }
        Ok(())
    }

    /// Starts the (stopped) server again on the same port and data directory.
    pub fn start_again(&self) -> Result<(), String> {
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.file("data").display()))
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", self.file("mysqld.sock").display()))
            .arg(format!("--pid-file={}", self.file("mysqld.pid").display()))
            .arg(format!("--log-error={}", self.file("error.log").display()))
            .args([
                "--user=root",
                "--bind-address=127.0.0.1",
                "--skip-grant-tables",
                "--innodb-buffer-pool-size=8M",
                "--max-connections=100",
            ])
            .args(if self.replication.is_empty() {
                vec!["--skip-log-bin".to_owned()]
            } else {
                self.replication.clone()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("mariadbd: {e}"))?;
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        wait_listening(self.port, Duration::from_secs(60))
    }
}

impl Drop for ThrowawayMariadb {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

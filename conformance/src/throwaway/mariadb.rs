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
}

impl ThrowawayMariadb {
    /// Installs a data directory and starts the server, without grant tables: user `root`, no
    /// password, database `test` created.
    pub fn start() -> Result<Self, String> {
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
                "--skip-log-bin",
                "--max-connections=100",
            ])
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

//! [`ThrowawayPostgres`].

use std::fmt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{free_port, wait_listening};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL 15 server of a test's own; see the [module documentation](super).
pub struct ThrowawayPostgres {
    port: u16,
    password: Option<String>,
    dir: tempfile::TempDir,
}

impl fmt::Debug for ThrowawayPostgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrowawayPostgres")
            .field("port", &self.port)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl ThrowawayPostgres {
    /// Initialises and starts a server with trust authentication (user `postgres`, database
    /// `postgres`).
    pub fn start() -> Result<Self, String> {
        Self::start_with(None)
    }

    /// Initialises and starts a server; with `password`, user `postgres` must log in with it
    /// (`scram-sha-256`) over TCP.
    pub fn start_with(password: Option<&str>) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("conformance-pg-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("temporary directory: {e}"))?;
        let data = dir.path().join("data");
        run("chown", &["-R", "postgres:postgres", &path(dir.path())])?;
        let mut args = vec![
            "-D".to_owned(),
            path(&data),
            "-U".to_owned(),
            "postgres".to_owned(),
            "--no-sync".to_owned(),
            "--locale=C".to_owned(),
        ];
        match password {
            Some(password) => {
                let pwfile = dir.path().join("pw");
                std::fs::write(&pwfile, password).map_err(|e| e.to_string())?;
                run("chown", &["postgres:postgres", &path(&pwfile)])?;
                args.extend([
                    "-A".to_owned(),
                    "scram-sha-256".to_owned(),
                    format!("--pwfile={}", path(&pwfile)),
                ]);
            }
            None => args.extend(["-A".to_owned(), "trust".to_owned()]),
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        as_postgres("initdb", &args)?;
        let server = Self {
            port: free_port().map_err(|e| e.to_string())?,
            password: password.map(str::to_owned),
            dir,
        };
        server.start_again()?;
        Ok(server)
    }

    /// Makes a streaming standby of `primary` (`pg_basebackup -R`: it follows the primary's
    /// WAL from the moment it starts) and starts it on its own port. Trust authentication,
    /// as the primary's; a password-protected primary is not supported.
    pub fn start_standby_of(primary: &Self) -> Result<Self, String> {
        if primary.password.is_some() {
            return Err("a standby of a password-protected throwaway primary".to_owned());
        }
        let dir = tempfile::Builder::new()
            .prefix("conformance-pg-standby-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("temporary directory: {e}"))?;
        run("chown", &["-R", "postgres:postgres", &path(dir.path())])?;
        let data = path(&dir.path().join("data"));
        let port = primary.port.to_string();
        as_postgres(
            "pg_basebackup",
            &[
                "-D",
                &data,
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        )?;
        let standby = Self {
            port: free_port().map_err(|e| e.to_string())?,
            password: None,
            dir,
        };
        standby.start_again()?;
        Ok(standby)
    }

    /// Promotes a standby to a primary (`pg_ctl promote -w`: returns once it accepts writes).
    pub fn promote(&self) -> Result<(), String> {
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                &path(&self.dir.path().join("data")),
                "-w",
                "-t",
                "60",
                "promote",
            ],
        )
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres[:password]@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        match &self.password {
            Some(p) => format!("postgres://postgres:{p}@127.0.0.1:{}/postgres", self.port),
            None => format!("postgres://postgres@127.0.0.1:{}/postgres", self.port),
        }
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`): every session is cut, as in a
    /// crash.
    pub fn stop(&self) -> Result<(), String> {
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                &path(&self.dir.path().join("data")),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        )
    }

    /// Starts the (stopped) server again on the same port and data directory.
    pub fn start_again(&self) -> Result<(), String> {
        let settings = [
            "-c listen_addresses=127.0.0.1".to_owned(),
            format!("-k {}", path(self.dir.path())),
            "-c fsync=off".to_owned(),
            "-c ssl=off".to_owned(),
            "-c max_connections=60".to_owned(),
            format!("-p {}", self.port),
        ]
        .join(" ");
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                &path(&self.dir.path().join("data")),
                "-l",
                &path(&self.dir.path().join("server.log")),
                "-w",
                "-t",
                "60",
                "-o",
                &settings,
                "start",
            ],
        )?;
        wait_listening(self.port, Duration::from_secs(30))
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

pub(super) fn path(p: &Path) -> String {
    p.display().to_string()
}

pub(super) fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn as_postgres(tool: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(format!("{BIN}/{tool}"))
        .args(args)
        .output()
        .map_err(|e| format!("runuser {tool}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

//! A throwaway PostgreSQL 15 for TLS tests: its own data directory under a temp dir, its own
//! free port, certificates generated at test time, stopped by `Drop`. It runs as the `postgres`
//! OS user, because PostgreSQL refuses to run as root.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, Weak};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// Certificates for one server: a CA, a server certificate for `localhost` signed by it, and an
/// unrelated CA that must not be trusted.
pub struct Certs {
    pub ca_pem: String,
    pub wrong_ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
}

impl Certs {
    pub fn generate() -> Self {
        let (ca_params, ca_key) = ca("adapter-postgres test CA");
        let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
        let (wrong_params, wrong_key) = ca("someone else's CA");
        let wrong_ca_pem = wrong_params.self_signed(&wrong_key).unwrap().pem();
        // Only `localhost`: connecting to 127.0.0.1 is a host name mismatch.
        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server_key = KeyPair::generate().unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_cert_pem = server.signed_by(&server_key, &issuer).unwrap().pem();
        Self {
            ca_pem,
            wrong_ca_pem,
            server_cert_pem,
            server_key_pem: server_key.serialize_pem(),
        }
    }
}

fn ca(name: &str) -> (CertificateParams, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    (params, KeyPair::generate().unwrap())
}

/// A running throwaway server; stopped (immediate shutdown) and deleted on drop.
pub struct Server {
    pub port: u16,
    pub certs: Option<Certs>,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server; with `certs`, with `ssl=on`.
    pub fn start(certs: Option<Certs>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("adapter-pg-tls-")
            .tempdir_in("/tmp")
            .unwrap();
        let data = dir.path().join("data");
        let mut settings = vec![
            "-c listen_addresses=127.0.0.1".to_owned(),
            format!("-k {}", dir.path().display()),
            "-c fsync=off".to_owned(),
        ];
        if let Some(certs) = &certs {
            std::fs::write(dir.path().join("server.crt"), &certs.server_cert_pem).unwrap();
            std::fs::write(dir.path().join("server.key"), &certs.server_key_pem).unwrap();
            std::fs::write(dir.path().join("ca.pem"), &certs.ca_pem).unwrap();
            std::fs::write(dir.path().join("wrong_ca.pem"), &certs.wrong_ca_pem).unwrap();
            settings.push("-c ssl=on".to_owned());
            settings.push(format!(
                "-c ssl_cert_file={}",
                dir.path().join("server.crt").display()
            ));
            settings.push(format!(
                "-c ssl_key_file={}",
                dir.path().join("server.key").display()
            ));
        } else {
            settings.push("-c ssl=off".to_owned());
        }
        run("chown", &["-R", "postgres:postgres", &path(dir.path())]);
        if certs.is_some() {
            // PostgreSQL refuses a key that others can read.
            run("chmod", &["600", &path(&dir.path().join("server.key"))]);
        }
        as_postgres(
            "initdb",
            &[
                "-D",
                &path(&data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "--locale=C",
            ],
        );
        let port = free_port();
        settings.push(format!("-p {port}"));
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                &path(&data),
                "-l",
                &path(&dir.path().join("server.log")),
                "-w",
                "-t",
                "60",
                "-o",
                &settings.join(" "),
                "start",
            ],
        );
        Self { port, certs, dir }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn wrong_ca_file(&self) -> PathBuf {
        self.dir.path().join("wrong_ca.pem")
    }

    /// A URL for `host` (`localhost` matches the certificate, `127.0.0.1` does not).
    pub fn url(&self, host: &str, params: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{params}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{BIN}/pg_ctl"))
            .args(["-D", &path(&data), "-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// One server shared by the tests of a file that run at the same time, stopped when the last
/// of them lets go (a static would never be dropped).
pub fn shared(slot: &'static Mutex<Weak<Server>>, start: impl FnOnce() -> Server) -> Arc<Server> {
    let mut weak = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(server) = weak.upgrade() {
        return server;
    }
    let server = Arc::new(start());
    *weak = Arc::downgrade(&server);
    server
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "{program} {args:?} failed");
}

fn as_postgres(tool: &str, args: &[&str]) {
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(format!("{BIN}/{tool}"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{tool} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

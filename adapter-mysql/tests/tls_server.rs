//! TLS against a throwaway MariaDB with a private CA (certificates made here with rcgen).
//!
//! The server gets its own data directory, port and socket, is started without grant tables
//! (any user, no password) and bound to 127.0.0.1, and is killed when the last test using it
//! drops its handle. Its certificate names only `localhost`.

mod common;

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use adapter_mysql::{MysqlConnection, MysqlConnector, MysqlOptions, SslMode, TlsRoots};
use pool_core::{ConnectionProtocol, Connector, Error};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

struct TlsServer {
    child: Child,
    dir: PathBuf,
    port: u16,
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    /// A CA that did not.
    other_ca: PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn start() -> TlsServer {
    // A fresh directory per server: the previous one may still be being removed by its Drop.
    static STARTS: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "adapter-mysql-tls-{}-{}",
        std::process::id(),
        STARTS.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let ca = make_ca("adapter-mysql test CA");
    let other = make_ca("some other CA");
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca).unwrap();
    let ca_path = write(&dir, "ca.pem", &ca.pem());
    let other_ca = write(&dir, "other-ca.pem", &other.pem());
    let cert_path = write(&dir, "server-cert.pem", &cert.pem());
    let key_path = write(&dir, "server-key.pem", &key.serialize_pem());

    let data = dir.join("data");
    let install = Command::new("mariadb-install-db")
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args([
            "--user=root",
            "--skip-test-db",
            "--auth-root-authentication-method=normal",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mariadb-install-db runs");
    assert!(install.success(), "mariadb-install-db failed");

    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let child = Command::new("mariadbd")
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--port={port}"))
        .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
        .arg(format!("--log-error={}", dir.join("error.log").display()))
        .arg(format!("--ssl-ca={}", ca_path.display()))
        .arg(format!("--ssl-cert={}", cert_path.display()))
        .arg(format!("--ssl-key={}", key_path.display()))
        .args([
            "--user=root",
            "--bind-address=127.0.0.1",
            "--skip-grant-tables",
            "--innodb-buffer-pool-size=8M",
            "--skip-log-bin",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mariadbd starts");
    let server = TlsServer {
        child,
        dir,
        port,
        ca: ca_path,
        other_ca,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the TLS test server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// The shared server: started by the first test that needs it, killed after the last.
fn server() -> Arc<TlsServer> {
    static SERVER: Mutex<Weak<TlsServer>> = Mutex::new(Weak::new());
    let mut slot = SERVER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(server) = slot.upgrade() {
        return server;
    }
    let server = Arc::new(start());
    *slot = Arc::downgrade(&server);
    server
}

/// Options for the server under the name its certificate carries (`localhost`, resolved to
/// 127.0.0.1 only, where it listens) or under its bare IP address.
fn options(server: &TlsServer, by_name: bool) -> MysqlOptions {
    let host = if by_name { "localhost" } else { "127.0.0.1" };
    MysqlOptions::new()
        .with_host(host)
        .with_port(server.port)
        .with_user("root")
        .with_driver_options(|b| b.resolved_ips(Some(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])))
}

async fn cipher(conn: &mut MysqlConnection) -> String {
    let rows = conn
        .query("SHOW SESSION STATUS LIKE 'Ssl_cipher'", &[])
        .await
        .unwrap();
    rows[0]
        .get(1)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn connect(options: MysqlOptions) -> pool_core::Result<MysqlConnection> {
    MysqlConnector::new(options).connect().await
}

#[tokio::test]
async fn verify_identity_with_the_right_ca_gets_an_encrypted_session() {
    let server = server();
    for mode in [
        SslMode::Required,
        SslMode::VerifyIdentity,
        SslMode::VerifyCa,
    ] {
        let options = options(&server, true)
            .with_ssl_mode(mode)
            .with_tls_roots(TlsRoots::CaFile(server.ca.clone()));
        let mut conn = connect(options)
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert!(!cipher(&mut conn).await.is_empty(), "{mode:?}: encrypted");
    }
}

#[tokio::test]
async fn the_ssl_ca_url_parameter_is_used() {
    let server = server();
    let url = format!(
        "mysql://root@localhost:{}/?ssl_mode=verify_identity&ssl_ca={}",
        server.port,
        server.ca.display()
    );
    let options = MysqlOptions::from_url(&url)
        .unwrap()
        .with_driver_options(|b| b.resolved_ips(Some(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])));
    let mut conn = connect(options).await.expect("verified TLS");
    assert!(!cipher(&mut conn).await.is_empty());
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_is_refused_when_tls_is_required() {
    let server = server();
    for roots in [
        TlsRoots::CaFile(server.other_ca.clone()),
        TlsRoots::WebPki,
        TlsRoots::System,
    ] {
        let options = options(&server, true)
            .with_ssl_mode(SslMode::Required)
            .with_tls_roots(roots.clone());
        let error = connect(options).await.unwrap_err();
        assert!(matches!(error, Error::Connect(_)), "{roots:?}: {error:?}");
        assert!(
            error.to_string().contains("certificate"),
            "{roots:?}: {error}"
        );
    }
}

#[tokio::test]
async fn a_host_name_the_certificate_does_not_name_is_refused() {
    let server = server();
    let options = options(&server, false)
        .with_ssl_mode(SslMode::VerifyIdentity)
        .with_tls_roots(TlsRoots::CaFile(server.ca.clone()));
    let error = connect(options).await.unwrap_err();
    assert!(error.to_string().contains("not valid for name"), "{error}");
}

#[tokio::test]
async fn verify_ca_still_refuses_a_host_name_mismatch_because_of_mysql_async() {
    // Documented in the `tls` module: mysql_async 0.37 cannot skip only the name check with
    // the current rustls, so `verify_ca` fails closed. When this starts to connect, upstream
    // has fixed it: update the docs.
    let server = server();
    let options = options(&server, false)
        .with_ssl_mode(SslMode::VerifyCa)
        .with_tls_roots(TlsRoots::CaFile(server.ca.clone()));
    let error = connect(options).await.unwrap_err();
    assert!(error.to_string().contains("not valid for name"), "{error}");
}

#[tokio::test]
async fn accepting_invalid_certs_encrypts_without_authenticating() {
    let server = server();
    let options = options(&server, false)
        .with_ssl_mode(SslMode::Required)
        .with_tls_roots(TlsRoots::CaFile(server.other_ca.clone()))
        .with_danger_accept_invalid_certs(true);
    let mut conn = connect(options).await.expect("unauthenticated TLS");
    assert!(!cipher(&mut conn).await.is_empty());
}

#[tokio::test]
async fn preferred_encrypts_when_the_server_offers_tls() {
    let server = server();
    let mut conn = connect(options(&server, false).with_ssl_mode(SslMode::Preferred))
        .await
        .unwrap();
    assert!(!cipher(&mut conn).await.is_empty());
    let mut plain = connect(options(&server, false).with_ssl_mode(SslMode::Disabled))
        .await
        .unwrap();
    assert!(cipher(&mut plain).await.is_empty());
}

#[tokio::test]
async fn a_query_timeout_cancels_over_a_verified_tls_session() {
    let server = server();
    let options = options(&server, true)
        .with_ssl_mode(SslMode::VerifyIdentity)
        .with_tls_roots(TlsRoots::CaFile(server.ca.clone()));
    let mut conn = connect(options).await.unwrap();
    conn.set_query_timeout(Some(Duration::from_millis(200)));
    let started = Instant::now();
    let error = conn.query("SELECT SLEEP(5)", &[]).await.unwrap_err();
    assert!(matches!(error, Error::QueryTimeout(_)), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        common::scalar(&mut conn, "SELECT 1", &[]).await.as_i64(),
        Some(1)
    );
}

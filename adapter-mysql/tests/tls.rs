//! TLS modes against the test server, which has TLS disabled: `preferred` falls back to plain
//! TCP, anything that requires TLS refuses to connect rather than downgrade.

mod common;

use adapter_mysql::{MysqlConnector, SslMode, TlsRoots};
use pool_core::{ConnectionProtocol, Connector, Error};

#[tokio::test]
async fn preferred_falls_back_to_plain_tcp_on_a_server_without_tls() {
    let connector = MysqlConnector::new(common::options().with_ssl_mode(SslMode::Preferred));
    let mut conn = connector.connect().await.expect("connect without TLS");
    let cipher = conn
        .query("SHOW SESSION STATUS LIKE 'Ssl_cipher'", &[])
        .await
        .unwrap();
    assert_eq!(cipher[0].get(1).and_then(|v| v.as_str()), Some(""));
}

#[tokio::test]
async fn every_mode_that_requires_tls_refuses_a_server_without_it() {
    for mode in [
        SslMode::Required,
        SslMode::VerifyCa,
        SslMode::VerifyIdentity,
    ] {
        let connector = MysqlConnector::new(
            common::options()
                .with_ssl_mode(mode)
                .with_tls_roots(TlsRoots::WebPki),
        );
        let error = connector.connect().await.unwrap_err();
        assert!(matches!(error, Error::Connect(_)), "{mode:?}: {error:?}");
        assert!(error.to_string().contains("SSL"), "{mode:?}: {error}");
    }
}

#[tokio::test]
async fn disabled_connects_in_plain_text() {
    let connector = MysqlConnector::new(common::options().with_ssl_mode(SslMode::Disabled));
    let mut conn = connector.connect().await.unwrap();
    conn.ping().await.unwrap();
}

#[tokio::test]
async fn preferred_learns_once_that_the_server_has_no_tls() {
    // A TCP relay in front of the server that counts connections.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = relay.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&accepted);
    let upstream = common::options();
    let target = format!("{}:{}", upstream.host(), upstream.port());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = relay.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });

    let connector = MysqlConnector::new(
        common::options()
            .with_port(port)
            .with_ssl_mode(SslMode::Preferred),
    );
    let mut first = connector.connect().await.unwrap();
    first.ping().await.unwrap();
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "TLS try, then plain"
    );
    let mut second = connector.connect().await.unwrap();
    second.ping().await.unwrap();
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "plain at once"
    );
}

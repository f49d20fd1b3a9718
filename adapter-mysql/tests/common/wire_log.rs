//! A TCP relay between the adapter and the test server that records every command the client
//! sends, so a test can state exactly what a return put on the wire (nothing, a `ROLLBACK`, a
//! `COM_RESET_CONNECTION`) instead of inferring it from server counters other tests also move.
//!
//! Needs plain TCP (`ssl_mode=disabled`, no compression): it reads the MySQL packet headers. A
//! command is a client packet with sequence id 0; handshake packets have higher ids.

use std::sync::{Arc, Mutex};

use adapter_mysql::{MysqlOptions, SslMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `COM_QUERY`: SQL text.
pub const COM_QUERY: u8 = 0x03;
/// `COM_PING`.
pub const COM_PING: u8 = 0x0e;
/// `COM_STMT_PREPARE`: SQL text.
pub const COM_STMT_PREPARE: u8 = 0x16;
/// `COM_STMT_EXECUTE`.
pub const COM_STMT_EXECUTE: u8 = 0x17;
/// `COM_RESET_CONNECTION`.
pub const COM_RESET_CONNECTION: u8 = 0x1f;

/// One command as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub code: u8,
    /// The rest of the packet: the SQL for `COM_QUERY` and `COM_STMT_PREPARE`.
    pub body: Vec<u8>,
}

impl Command {
    /// The SQL of a `COM_QUERY`, if this is one.
    pub fn query(&self) -> Option<String> {
        (self.code == COM_QUERY).then(|| String::from_utf8_lossy(&self.body).into_owned())
    }
}

/// The commands every client of the relay has sent so far, in order.
#[derive(Debug, Clone, Default)]
pub struct WireLog {
    commands: Arc<Mutex<Vec<Command>>>,
}

impl WireLog {
    /// How many commands were sent so far: a mark to look at what follows.
    pub fn mark(&self) -> usize {
        self.commands.lock().unwrap().len()
    }

    /// The commands sent since `mark`.
    pub fn since(&self, mark: usize) -> Vec<Command> {
        self.commands.lock().unwrap()[mark..].to_vec()
    }
}

/// Starts a relay to the test server; `options` connect through it (plain TCP).
pub async fn relay(options: MysqlOptions) -> (MysqlOptions, WireLog) {
    let upstream = format!("{}:{}", options.host(), options.port());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = WireLog::default();
    let commands = Arc::clone(&log.commands);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let commands = Arc::clone(&commands);
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(&upstream).await {
                    pipe(client, server, commands).await;
                }
            });
        }
    });
    let options = options
        .with_driver_options(|b| b.ip_or_hostname("127.0.0.1").tcp_port(port))
        .with_ssl_mode(SslMode::Disabled);
    (options, log)
}

async fn pipe(client: TcpStream, server: TcpStream, commands: Arc<Mutex<Vec<Command>>>) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
        let _ = to_client.shutdown().await;
    });
    let mut pending = Vec::new();
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let n = match from_client.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        // Recorded before it is forwarded, so a call that got its answer is always logged.
        while pending.len() >= 4 {
            let len = usize::from(pending[0])
                | usize::from(pending[1]) << 8
                | usize::from(pending[2]) << 16;
            if pending.len() < 4 + len {
                break;
            }
            if pending[3] == 0 && len > 0 {
                commands.lock().unwrap().push(Command {
                    code: pending[4],
                    body: pending[5..4 + len].to_vec(),
                });
            }
            pending.drain(..4 + len);
        }
        if to_server.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to_server.shutdown().await;
    let _ = down.await;
}

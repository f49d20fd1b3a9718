//! Sockets carry the keepalive defaults, so a peer that vanished while the connection sat idle
//! is noticed in about a minute, not the kernel's two hours.

mod common;

use std::process::Command;

use pool_core::Value;

/// The kernel's keepalive timer on our end of the connection, as `ss` shows it, in seconds.
fn keepalive_timer_seconds(local_port: i64) -> Option<u64> {
    let output = Command::new("ss")
        .args(["-tno", "state", "established"])
        .arg(format!("( sport = :{local_port} )"))
        .output()
        .expect("ss (iproute2) is installed");
    let text = String::from_utf8_lossy(&output.stdout);
    let timer = text.split("timer:(keepalive,").nth(1)?.split(',').next()?;
    // e.g. "59sec", "1min", "1min59sec", "119min"
    let mut seconds = 0;
    let mut number = String::new();
    let mut rest = timer;
    while !rest.is_empty() {
        let c = rest.chars().next()?;
        if c.is_ascii_digit() {
            number.push(c);
            rest = &rest[1..];
        } else if let Some(r) = rest.strip_prefix("min") {
            seconds += number.parse::<u64>().ok()? * 60;
            number.clear();
            rest = r;
        } else if let Some(r) = rest.strip_prefix("sec") {
            seconds += number.parse::<u64>().ok()?;
            number.clear();
            rest = r;
        } else if let Some(r) = rest.strip_prefix("ms") {
            number.clear();
            rest = r;
        } else {
            return None;
        }
    }
    Some(seconds)
}

#[tokio::test]
async fn idle_connections_are_probed_within_a_minute() {
    let mut conn = common::connect().await;
    let port = common::scalar(
        &mut conn,
        "SELECT client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()",
        &[],
    )
    .await;
    let Value::I64(port) = port else {
        panic!("client_port is {port:?}");
    };
    let seconds = keepalive_timer_seconds(port).expect("a keepalive timer on the socket");
    eprintln!("keepalive timer: {seconds}s");
    assert!(seconds <= 60, "first probe in {seconds}s");
}

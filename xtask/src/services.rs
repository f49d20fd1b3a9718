//! Makes sure the machine's PostgreSQL and MariaDB answer before tests that need them run.
//!
//! The servers are shared: this module only ever *starts* them (with the machine's documented
//! commands) and never stops or reconfigures them.

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

struct Service {
    name: &'static str,
    address: &'static str,
    start: &'static str,
}

const SERVICES: [Service; 2] = [
    Service {
        name: "PostgreSQL",
        address: "127.0.0.1:5432",
        start: "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -n 1) main start",
    },
    Service {
        name: "MariaDB",
        address: "127.0.0.1:3306",
        start: "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    },
];

/// How long a server gets to start answering: MariaDB's first start after a crash can run
/// recovery for a while.
const START_DEADLINE: Duration = Duration::from_secs(90);

/// Starts every service that does not answer and waits until all do; an error names the one
/// that never came up.
pub(crate) fn ensure_running() -> Result<(), String> {
    for service in &SERVICES {
        if answers(service.address) {
            continue;
        }
        eprintln!(
            "xtask: {} is not answering on {}; starting it",
            service.name, service.address
        );
        let status = Command::new("sh").arg("-c").arg(service.start).status();
        if let Err(e) = status {
            return Err(format!("could not run `{}`: {e}", service.start));
        }
        let started = Instant::now();
        while !answers(service.address) {
            if started.elapsed() > START_DEADLINE {
                return Err(format!(
                    "{} did not answer on {} within {:?} after `{}`",
                    service.name, service.address, START_DEADLINE, service.start
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    Ok(())
}

fn answers(address: &str) -> bool {
    let address: SocketAddr = address.parse().expect("service addresses are constants");
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
}

/// Installs Debian's Chromium when it is missing: the dashboard test renders the page in a real
/// headless browser, and CI must not skip it.
pub(crate) fn ensure_chromium() -> Result<(), String> {
    if std::env::var_os("CHROMIUM").is_some() {
        return Ok(());
    }
    ensure_debian_package("chromium", &["chromium"])
}

/// Installs Debian's Prometheus (which provides `promtool`) when it is missing: a test evaluates
/// every documented PromQL expression and alert in a real Prometheus, and CI must not skip it.
pub(crate) fn ensure_prometheus() -> Result<(), String> {
    ensure_debian_package("prometheus", &["prometheus", "promtool"])
}

/// Installs Debian's PgBouncer when it is missing: the conformance matrix's `pgbouncer` column
/// and the adapter's cancel-through-a-pooler test start a throwaway PgBouncer in front of a
/// throwaway PostgreSQL, and CI must not skip them.
pub(crate) fn ensure_pgbouncer() -> Result<(), String> {
    ensure_debian_package("pgbouncer", &["pgbouncer"])
}

/// Installs `package` with apt-get unless every command of `commands` is already on `PATH`;
/// an error names the package when it still lacks one of them afterwards.
fn ensure_debian_package(package: &str, commands: &[&str]) -> Result<(), String> {
    let all_present = || commands.iter().all(|name| on_path(name));
    if all_present() {
        return Ok(());
    }
    eprintln!("xtask: {package} is missing; installing Debian's package");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package}"
        ))
        .status()
        .map_err(|e| format!("could not run apt-get: {e}"))?;
    if status.success() && all_present() {
        Ok(())
    } else {
        Err(format!(
            "could not install {package} (apt-get install -y {package}): it should provide {}",
            commands.join(", ")
        ))
    }
}

fn on_path(name: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

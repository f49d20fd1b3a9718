//! The load test's outage switch behaves like a database going away and coming back.

use benches::load::outage::Switch;
use pool_core::testing::{Behavior, TestConnector};
use pool_core::{ConnectionProtocol, Connector, Error};

#[tokio::test]
async fn an_outage_kills_open_connections_and_fails_connects_until_it_ends() {
    let up = TestConnector::new();
    let down = TestConnector::new();
    down.faults().set_connect(Behavior::Fail);
    let (switch, outage) = Switch::new(up, down);

    let mut before = switch.connect().await.expect("the database is up");
    assert!(!before.is_broken());
    assert!(before.query("SELECT 1", &[]).await.is_ok());

    outage.begin();
    assert!(
        before.is_broken(),
        "a connection opened before the outage is dead"
    );
    assert!(before.query("SELECT 1", &[]).await.is_err());
    match switch.connect().await {
        Err(Error::Connect(_)) => {}
        other => panic!("expected a connect error during the outage, got {other:?}"),
    }

    outage.end();
    let mut after = switch.connect().await.expect("the database is back");
    assert!(!after.is_broken());
    assert!(after.query("SELECT 1", &[]).await.is_ok());
    assert!(
        before.is_broken(),
        "connections from before the outage stay dead"
    );
}

#[tokio::test]
async fn a_connector_that_still_answers_during_the_outage_is_refused_anyway() {
    let (switch, outage) = Switch::new(TestConnector::new(), TestConnector::new());
    outage.begin();
    assert!(matches!(switch.connect().await, Err(Error::Connect(_))));
}

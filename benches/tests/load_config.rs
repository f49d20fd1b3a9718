//! The load test runs the configuration users get: `PoolConfig::default()` unless its command
//! line asks for a change, and its report names every change.

use std::time::Duration;

use benches::load::args::Args;
use clap::Parser;
use pool_core::PoolConfig;

fn parse(flags: &[&str]) -> Args {
    let argv = ["load"].iter().chain(flags).copied();
    Args::try_parse_from(argv).expect("valid load-test flags")
}

#[test]
fn without_flags_the_pool_runs_the_defaults_and_the_report_says_so() {
    let args = parse(&["--duration", "30"]);
    let mut expected = PoolConfig::default();
    expected.name = "load".into();
    assert_eq!(args.pool_config(), expected);
    assert!(args.overrides().is_empty(), "{:?}", args.overrides());
}

#[test]
fn every_flag_that_changes_the_pool_is_named_in_the_report() {
    let args = parse(&[
        "--extreme",
        "100",
        "--pool-size",
        "50",
        "--min-size",
        "80",
        "--acquire-timeout",
        "2.5",
        "--scale-down-cooldown",
        "3",
    ]);
    let config = args.pool_config();
    assert_eq!(config.max_size, 50);
    assert_eq!(
        config.min_size,
        Some(50),
        "min_size is capped at max_size, as the pool would"
    );
    assert_eq!(config.acquire_timeout, Duration::from_millis(2500));
    assert_eq!(config.autoscale.scale_down_cooldown, Duration::from_secs(3));
    assert_eq!(
        args.overrides(),
        [
            "max_size 50",
            "min_size 50",
            "acquire_timeout 2.5s",
            "scale-down cooldown 3s"
        ]
    );
}

#[test]
fn a_span_that_is_not_one_is_refused_with_its_name_not_a_panic() {
    for (flag, value) in [
        ("--acquire-timeout", "inf"),
        ("--acquire-timeout", "-1"),
        ("--scale-down-cooldown", "NaN"),
        ("--scale-down-cooldown", "soon"),
        ("--hold-ms", "1e300"),
        ("--outage-secs", "-0.5"),
    ] {
        // `flag=value`, or clap would take a negative number for a flag of its own.
        let given = format!("{flag}={value}");
        let error = Args::try_parse_from(["load", "--duration", "1", given.as_str()])
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains(flag) && error.contains(value),
            "{flag} {value}: {error}"
        );
    }
}

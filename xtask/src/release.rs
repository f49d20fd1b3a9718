//! What a release needs besides green tests: documentation that docs.rs can build without a
//! warning, and crates that `cargo package` accepts.

use std::process::Command;

use clap::Args;

/// The library crates published to crates.io, in dependency order; `benches` and `xtask` have
/// `publish = false`.
pub(crate) const PUBLISHED: &[&str] = &[
    "pool-core",
    "adapter-postgres",
    "adapter-mysql",
    "adapter-sqlite",
    "pool-manager",
    "conformance",
];

/// Options of `cargo xtask package`.
#[derive(Debug, Args)]
pub(crate) struct PackageArgs {
    /// Only assemble and check the manifests and file lists; skip building each packaged crate
    /// from its `.crate` file (the slow part).
    #[arg(long)]
    no_verify: bool,
}

impl PackageArgs {
    /// CI's run: verified, as `cargo publish` would.
    pub(crate) fn verified() -> Self {
        Self { no_verify: false }
    }
}

/// `cargo doc --no-deps --all-features --workspace` with every rustdoc warning an error (broken
/// intra-doc links, bad HTML, unclosed code blocks): what docs.rs would show.
pub(crate) fn docs() -> Result<(), String> {
    run(
        Command::new(cargo())
            .args(["doc", "--no-deps", "--all-features", "--workspace"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
}

/// `cargo package` of every published crate at once: cargo resolves the workspace's own crates
/// among them locally, so a crate is checked against the versions it will be published with.
pub(crate) fn package(args: &PackageArgs) -> Result<(), String> {
    let mut command = Command::new(cargo());
    // `--allow-dirty`: what is checked is the manifests and the sources as they are, so the
    // task also runs on a work tree with uncommitted changes.
    command.args(["package", "--allow-dirty"]);
    for krate in PUBLISHED {
        command.args(["--package", krate]);
    }
    if args.no_verify {
        command.arg("--no-verify");
    }
    run(&mut command)
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    eprintln!("xtask: {shown}");
    let status = command
        .status()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

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
    /// CI's run: manifests and file lists only. Verifying rebuilds every dependency in a
    /// target directory of its own (about 4 minutes here), which would push CI past its
    /// 20-minute budget; the crates' sources are built and tested by CI anyway. Run
    /// `cargo xtask package` (verified) before a release.
    pub(crate) fn manifests_only() -> Self {
        Self { no_verify: true }
    }
}

/// `cargo doc --no-deps --all-features --workspace` with every rustdoc warning an error (broken
/// intra-doc links, bad HTML, unclosed code blocks): what docs.rs would show.
pub(crate) fn docs() -> Result<(), String> {
    crate::run(
        Command::new(crate::cargo_path())
            .args(["doc", "--no-deps", "--all-features", "--workspace"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )
}

/// `cargo package` of every published crate at once: cargo resolves the workspace's own crates
/// among them locally, so a crate is checked against the versions it will be published with.
pub(crate) fn package(args: &PackageArgs) -> Result<(), String> {
    let mut command = Command::new(crate::cargo_path());
    // `--allow-dirty`: what is checked is the manifests and the sources as they are, so the
    // task also runs on a work tree with uncommitted changes.
    command.args(["package", "--allow-dirty"]);
    for krate in PUBLISHED {
        command.args(["--package", krate]);
    }
    if args.no_verify {
        command.arg("--no-verify");
    }
    crate::run(&mut command)
}

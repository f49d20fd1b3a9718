//! `benches`: placeholder crate; its issue fills it in.

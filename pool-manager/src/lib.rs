//! `pool-manager`: placeholder crate; its issue fills it in.

//! `adapter-postgres`: placeholder crate; its issue fills it in.

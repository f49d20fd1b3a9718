//! `adapter-sqlite`: placeholder crate; its issue fills it in.

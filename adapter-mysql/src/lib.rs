//! `adapter-mysql`: placeholder crate; its issue fills it in.

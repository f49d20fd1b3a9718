//! The atomics the fast lane's handshake is made of, from one place, so that the model check
//! (`cargo xtask loom`) can swap in loom's.
//!
//! Only this handshake goes through here: the stash's slots, its `closed` and `over_capacity`
//! flags and the waiter queue's presence flag. In every normal build
//! these are the `std` and crossbeam types themselves (plain re-exports: no wrapper, no cost).
//! Built as this crate's unit tests with `--cfg pool_loom`, they are loom's, and
//! [`AtomicCell`] is a loom-aware stand-in with crossbeam's orderings (crossbeam offers no
//! `AtomicCell` under loom). Everything else in the crate keeps `std` atomics: loom objects work
//! only inside `loom::model`, so in that build only the model tests can run.

#[cfg(not(all(test, pool_loom)))]
pub(crate) use crossbeam_utils::atomic::AtomicCell;
#[cfg(not(all(test, pool_loom)))]
pub(crate) use std::sync::atomic;

#[cfg(all(test, pool_loom))]
pub(crate) use loom::sync::atomic;
#[cfg(all(test, pool_loom))]
pub(crate) use loom_cell::AtomicCell;

#[cfg(all(test, pool_loom))]
#[allow(unsafe_code)] // Owning a value through a raw pointer; see the SAFETY notes.
mod loom_cell {
    use loom::cell::UnsafeCell;
    use loom::sync::atomic::{AtomicPtr, Ordering};

    /// crossbeam's `AtomicCell` as the stash uses it (`new`, `swap`, `take`), rebuilt on one
    /// loom `AtomicPtr` word so that loom sees the real operations with the real orderings:
    /// for a value of one word crossbeam's `swap` is a single `AcqRel` swap, and `take` is
    /// `swap(Default::default())`.
    ///
    /// The value lives in a box owned by the word. Each box holds a loom `UnsafeCell`, which
    /// records the thread that stored the value: a thread that takes the value without
    /// having synchronised with that store fails the check (a data race on the connection),
    /// which plain memory behind a pointer would hide from loom.
    pub(crate) struct AtomicCell<T> {
        /// Never null: always a pointer from `Box::into_raw`, owned by the cell.
        ptr: AtomicPtr<UnsafeCell<T>>,
    }

    impl<T> AtomicCell<T> {
        pub(crate) fn new(value: T) -> Self {
            Self {
                ptr: AtomicPtr::new(boxed(value)),
            }
        }

        pub(crate) fn swap(&self, value: T) -> T {
            let old = self.ptr.swap(boxed(value), Ordering::AcqRel);
            // SAFETY: `old` came from `Box::into_raw` (in `new` or an earlier `swap`) and the
            // swap removed it from the cell, so this thread is its only owner.
            let old = *unsafe { Box::from_raw(old) };
            // The read of the stored value that loom checks for a race.
            old.with_mut(|_| ());
            old.into_inner()
        }

        pub(crate) fn take(&self) -> T
        where
            T: Default,
        {
            self.swap(T::default())
        }
    }

    impl<T> Drop for AtomicCell<T> {
        fn drop(&mut self) {
            // SAFETY: the pointer came from `Box::into_raw` and the cell still owns it;
            // `&mut self` means nobody else can reach it.
            self.ptr
                .with_mut(|ptr| drop(unsafe { Box::from_raw(*ptr) }));
        }
    }

    fn boxed<T>(value: T) -> *mut UnsafeCell<T> {
        Box::into_raw(Box::new(UnsafeCell::new(value)))
    }
}

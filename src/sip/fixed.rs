//! A fixed-capacity vector of `Copy` values whose spare capacity is never
//! written.
//!
//! `heapless::Vec::new` (and a `MaybeUninit<[T; N]>` field) is built by
//! copying an all-uninitialised constant, and LLVM turns that copy into a
//! `memset` of zeros: 7 KiB of headers per parse, 8 KiB of rewriter scratch
//! per rewrite (seen in the benchmark's machine code). An array repeat of an
//! inline `const` uninitialised element emits nothing at all.
//!
//! Invariant, kept by every method: `len <= N`, and the first `len`
//! elements of `buf` are initialised. `T: Copy`, so nothing is dropped.

use core::fmt;
use core::mem::MaybeUninit;

pub(crate) struct FixedVec<T: Copy, const N: usize> {
    len: usize,
    buf: [MaybeUninit<T>; N],
}

impl<T: Copy, const N: usize> FixedVec<T, N> {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        FixedVec {
            len: 0,
            buf: [const { MaybeUninit::uninit() }; N],
        }
    }

    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub(crate) fn is_full(&self) -> bool {
        self.len == N
    }

    /// Appends `v`, or gives it back when full.
    #[inline(always)]
    pub(crate) fn push(&mut self, v: T) -> Result<(), T> {
        let Some(slot) = self.buf.get_mut(self.len) else {
            return Err(v);
        };
        slot.write(v);
        self.len += 1;
        Ok(())
    }

    /// Appends all of `items`, or nothing when they do not fit.
    #[inline(always)]
    pub(crate) fn extend_from_slice(&mut self, items: &[T]) -> Result<(), ()> {
        let end = self.len + items.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(())?;
        for (d, v) in dst.iter_mut().zip(items) {
            d.write(*v);
        }
        self.len = end;
        Ok(())
    }

    /// Forgets the elements from `len` on.
    #[inline(always)]
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: `len <= N` and the first `len` elements are initialised
        // (the invariant), and `MaybeUninit<T>` has the layout of `T`.
        unsafe { core::slice::from_raw_parts(self.buf.as_ptr().cast::<T>(), self.len) }
    }

    #[inline(always)]
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`; the borrow of `self` is unique.
        unsafe { core::slice::from_raw_parts_mut(self.buf.as_mut_ptr().cast::<T>(), self.len) }
    }
}

impl<T: Copy, const N: usize> core::ops::Deref for FixedVec<T, N> {
    type Target = [T];

    #[inline(always)]
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy, const N: usize> Clone for FixedVec<T, N> {
    fn clone(&self) -> Self {
        let mut v = FixedVec::new();
        // Cannot fail: the same capacity.
        let _ = v.extend_from_slice(self.as_slice());
        v
    }
}

impl<T: Copy + fmt::Debug, const N: usize> fmt::Debug for FixedVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_slice().fmt(f)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod test {
    use super::*;

    #[test]
    fn test_push_extend_truncate_and_limits() {
        let mut v: FixedVec<u16, 4> = FixedVec::new();
        assert_eq!(v.as_slice(), &[] as &[u16]);
        v.push(1).unwrap();
        v.extend_from_slice(&[2, 3]).unwrap();
        assert_eq!(v.as_slice(), &[1, 2, 3]);
        assert_eq!(v.extend_from_slice(&[4, 5]), Err(()));
        assert_eq!(v.as_slice(), &[1, 2, 3]);
        v.push(4).unwrap();
        assert!(v.is_full());
        assert_eq!(v.push(5), Err(5));
        v.as_mut_slice().reverse();
        assert_eq!(v.as_slice(), &[4, 3, 2, 1]);
        let c = v.clone();
        v.truncate(1);
        assert_eq!(v.as_slice(), &[4]);
        assert_eq!(v.len(), 1);
        v.truncate(9);
        assert_eq!(v.len(), 1);
        assert_eq!(c.as_slice(), &[4, 3, 2, 1]);
        assert_eq!(format!("{c:?}"), "[4, 3, 2, 1]");
        let mut e: FixedVec<u8, 0> = FixedVec::new();
        assert!(e.is_full());
        assert_eq!(e.push(1), Err(1));
        assert_eq!(e.extend_from_slice(&[]), Ok(()));
    }
}

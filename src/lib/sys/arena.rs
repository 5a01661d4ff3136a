//! A global allocator for the programs started once per connection or per
//! message (qmail-smtpd, qmail-queue): small blocks come from a fixed
//! region of zero pages (.bss) in power-of-two size classes, a freed block
//! goes onto its class's free list and nothing is ever returned to the
//! kernel. musl's allocator, by contrast, maps and unmaps a page for a
//! size class that empties and fills again; after qmail-smtpd has started
//! qmail-queue each unmap costs a TLB shootdown, and a profile of the
//! 1 KiB SMTP work put musl's malloc, free and munmap at ~17 % of
//! qmail-smtpd's CPU. Blocks above the largest class, blocks with an
//! alignment above a page, and everything once the region is used up go
//! to the system allocator.
//!
//! A block's class follows from its `Layout` alone, so blocks carry no
//! header. One lock (a flag, never contended in these single-threaded
//! programs) guards the bump offset and the free lists.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// Bytes of the region: untouched pages cost nothing.
const SPACE: usize = 8 << 20;
/// The smallest class, 16 bytes (as log2).
const MIN_SHIFT: u32 = 4;
/// The largest class, 128 KiB (as log2): qmail-smtpd's and qmail-queue's
/// 64 KiB buffers fit.
const MAX_SHIFT: u32 = 17;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
/// Alignment the region itself has.
const PAGE: usize = 4096;

#[repr(C, align(4096))]
struct Space(UnsafeCell<[u8; SPACE]>);

struct State {
    /// Offset of the first never-used byte.
    next: usize,
    /// Head of each class's free list (a freed block holds the next).
    free: [*mut u8; CLASSES],
}

/// The allocator; install with `#[global_allocator]`.
pub struct Arena {
    lock: AtomicBool,
    state: UnsafeCell<State>,
    space: Space,
}

// SAFETY: `state` is only touched with `lock` held (see `with`), and the
// bytes of `space` are handed out as disjoint blocks, each owned by one
// caller at a time as GlobalAlloc's contract says.
unsafe impl Sync for Arena {}

impl Arena {
    // No Default: a value is 8 MiB, meant only for a static.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Arena {
        Arena {
            lock: AtomicBool::new(false),
            state: UnsafeCell::new(State {
                next: 0,
                free: [std::ptr::null_mut(); CLASSES],
            }),
            space: Space(UnsafeCell::new([0; SPACE])),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        // SAFETY: the flag was false and is now ours: no other reference
        // to the state exists until it is released below.
        let r = f(unsafe { &mut *self.state.get() });
        self.lock.store(false, Ordering::Release);
        r
    }

    fn base(&self) -> *mut u8 {
        self.space.0.get().cast()
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        let (b, p) = (self.base() as usize, ptr as usize);
        p >= b && p < b + SPACE
    }

    /// A block for `layout` and whether it is fresh (still zero), or None
    /// when the system allocator must serve it.
    fn take(&self, layout: Layout) -> Option<(*mut u8, bool)> {
        let class = class_of(layout)?;
        let size = 1usize << (class as u32 + MIN_SHIFT);
        let align = layout.align().max(1 << MIN_SHIFT);
        let base = self.base();
        self.with(|s| {
            let head = s.free[class];
            if !head.is_null() && (head as usize).is_multiple_of(align) {
                // SAFETY: a free-list entry is a block of this class that
                // was freed to us; its first word holds the next entry
                // (written by `give`), aligned since blocks are 16-aligned.
                s.free[class] = unsafe { head.cast::<*mut u8>().read() };
                return Some((head, false));
            }
            let at = s.next.next_multiple_of(align);
            let end = at.checked_add(size).filter(|&e| e <= SPACE)?;
            s.next = end;
            // SAFETY: `at + size <= SPACE`: the block lies in the region.
            Some((unsafe { base.add(at) }, true))
        })
    }

    fn give(&self, ptr: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            return; // never ours: `owns` said otherwise only for a bug
        };
        self.with(|s| {
            // SAFETY: the block is ours, at least 16 bytes, 16-aligned,
            // and no longer used by the caller: its first word may hold
            // the list's link.
            unsafe { ptr.cast::<*mut u8>().write(s.free[class]) };
            s.free[class] = ptr;
        });
    }
}

/// The class index of `layout`, or None for the system allocator.
fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > PAGE {
        return None;
    }
    let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    let shift = size.next_power_of_two().trailing_zeros();
    (shift <= MAX_SHIFT).then(|| (shift - MIN_SHIFT) as usize)
}

// SAFETY: every block handed out is either the system allocator's or a
// block of the region of at least the layout's size and alignment that no
// other live allocation overlaps (bump blocks are disjoint; a freed block
// is reused only after its owner gave it back). Blocks go back to where
// they came from: `owns` tells region blocks from system ones.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.take(layout) {
            Some((p, _)) => p,
            // SAFETY: the caller's layout, passed on unchanged.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match self.take(layout) {
            Some((p, true)) => p, // never written: still the zero page
            // SAFETY: a reused block of at least `layout.size()` bytes.
            Some((p, false)) => unsafe {
                p.write_bytes(0, layout.size());
                p
            },
            // SAFETY: the caller's layout, passed on unchanged.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.owns(ptr) {
            self.give(ptr, layout);
        } else {
            // SAFETY: not a region block, so the system allocator's, with
            // the layout it was allocated with.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: `new_size`, rounded up to the
        // alignment, does not overflow isize.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let owned = self.owns(ptr);
        if owned && class_of(new) == class_of(layout) {
            return ptr; // the block already has room
        }
        if !owned && class_of(new).is_none() {
            // SAFETY: a system block, with its layout; big stays big.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: `new` is a valid non-zero layout (new_size > 0 by the
        // contract); the copy stays within both blocks; the old block is
        // given back with the layout it was allocated with.
        unsafe {
            let p = self.alloc(new);
            if !p.is_null() {
                std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let l = |s, a| Layout::from_size_align(s, a).unwrap();
        assert_eq!(class_of(l(1, 1)), Some(0));
        assert_eq!(class_of(l(16, 8)), Some(0));
        assert_eq!(class_of(l(17, 8)), Some(1));
        assert_eq!(class_of(l(8, 64)), Some(2));
        assert_eq!(class_of(l(128 << 10, 8)), Some(CLASSES - 1));
        assert_eq!(class_of(l((128 << 10) + 1, 8)), None);
        assert_eq!(class_of(l(16, 8192)), None);
    }

    #[test]
    fn blocks_are_disjoint_reused_and_zeroed() {
        static A: Arena = Arena::new();
        let a = &A;
        let l24 = Layout::from_size_align(24, 8).unwrap();
        let l4k = Layout::from_size_align(4000, 64).unwrap();
        // SAFETY: layouts are non-zero; every block is freed once, with
        // its layout, and not used afterwards.
        unsafe {
            let p = a.alloc(l24);
            let q = a.alloc(l24);
            assert!(a.owns(p) && a.owns(q));
            assert!((p as usize).abs_diff(q as usize) >= 32);
            p.write_bytes(0xaa, 24);
            a.dealloc(p, l24);
            let z = a.alloc_zeroed(l24);
            assert_eq!(z, p, "a freed block is reused first");
            assert!(std::slice::from_raw_parts(z, 24).iter().all(|&b| b == 0));
            let r = a.alloc(l4k);
            assert!((r as usize).is_multiple_of(64));
            let grown = a.realloc(q, l24, 30);
            assert_eq!(grown, q, "same class: in place");
            q.write_bytes(7, 30);
            let moved = a.realloc(q, Layout::from_size_align(30, 8).unwrap(), 300);
            assert_ne!(moved, q);
            assert!(
                std::slice::from_raw_parts(moved, 30)
                    .iter()
                    .all(|&b| b == 7)
            );
            let big = Layout::from_size_align(1 << 20, 8).unwrap();
            let s = a.alloc(big);
            assert!(!s.is_null() && !a.owns(s));
            a.dealloc(s, big);
            for (p, l) in [(z, l24), (r, l4k)] {
                a.dealloc(p, l);
            }
            // Grown past the largest class: to the system, contents kept.
            let out = a.realloc(moved, Layout::from_size_align(300, 8).unwrap(), 1 << 20);
            assert!(!out.is_null() && !a.owns(out));
            assert!(std::slice::from_raw_parts(out, 30).iter().all(|&b| b == 7));
            a.dealloc(out, big);
        }
    }

    #[test]
    fn full_region_falls_back_to_the_system() {
        static A: Arena = Arena::new();
        let a = &A;
        let l = Layout::from_size_align(128 << 10, 8).unwrap();
        let n = SPACE / (128 << 10);
        // SAFETY: non-zero layouts; the blocks are never used or freed.
        unsafe {
            for _ in 0..n {
                assert!(a.owns(a.alloc(l)));
            }
            let p = a.alloc(l);
            assert!(!p.is_null() && !a.owns(p));
            a.dealloc(p, l);
        }
    }
}

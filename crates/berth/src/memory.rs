//! The allocator's settings for a process that moves layers.
//!
//! hyper reads a download in buffers of about 400 KiB, and a pull holds a few
//! dozen of them between the socket, the blob file and the unpack. glibc's
//! malloc serves blocks that large with a fresh `mmap` (its threshold starts at
//! 128 KiB, and moves only up to the largest block freed so far), and gives the
//! free top of a heap back to the kernel once it passes twice that, so the pages
//! of every buffer were faulted in and zeroed anew: 12 ms of the receiving
//! thread's CPU in a 100 MB pull, and 9% of its time on 2 cores. With these
//! thresholds the pages stay in the heap for the next buffer. The cost: a heap
//! that held a transfer's buffers keeps up to [`TRIM_THRESHOLD`] of free memory.

/// Blocks up to this size come from malloc's heaps, not from `mmap`.
const MMAP_THRESHOLD: libc::c_int = 4 << 20;
/// Free memory at the top of a heap that is kept rather than returned.
const TRIM_THRESHOLD: libc::c_int = 32 << 20;

/// Sets the thresholds: called first thing by the daemon, before other
/// threads exist. (The registry server gained nothing from it in a push.)
pub fn tune_for_transfers() {
    // SAFETY: mallopt only changes malloc's parameters; no pointers are involved.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minor page faults of the calling thread so far.
    fn faults() -> i64 {
        // SAFETY: getrusage writes the struct we pass and nothing else.
        unsafe {
            let mut u: libc::rusage = std::mem::zeroed();
            assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut u), 0);
            u.ru_minflt
        }
    }

    #[test]
    fn the_pages_of_freed_transfer_buffers_are_reused() {
        tune_for_transfers();
        // On a thread of its own: its heap and its fault count are its own.
        std::thread::spawn(|| {
            let fill = || (0..40).map(|_| vec![1u8; 400 << 10]).collect::<Vec<_>>();
            drop(fill());
            let before = faults();
            drop(fill());
            let refaulted = faults() - before;
            // 16 MB of fresh pages would be about 4,000 faults.
            assert!(
                refaulted < 100,
                "{refaulted} page faults refilling freed buffers"
            );
        })
        .join()
        .unwrap();
    }
}

use crate::psi::process_rss;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Something that can give memory back when pressure is high: flush a buffer, drop a cache,
/// shrink a pool.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use loader_memory::{CleanupHook, CleanupHooks};
///
/// struct DropCache;
/// impl CleanupHook for DropCache {
///     fn name(&self) -> &str { "drop lookup cache" }
///     fn run(&self) -> u64 { 4096 }
/// }
/// let hooks = CleanupHooks::new();
/// hooks.register(Arc::new(DropCache));
/// let outcomes = hooks.run_all();
/// assert_eq!(outcomes[0].name, "drop lookup cache");
/// assert_eq!(outcomes[0].reported, 4096);
/// assert_eq!(outcomes.last().unwrap().name, "malloc_trim");
/// ```
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait CleanupHook: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> &str;

    /// Frees what it can now. Returns the bytes it knows it released (0 when it cannot
    /// tell; the registry measures the resident set around it either way).
    fn run(&self) -> u64;
}

/// What one hook did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupOutcome {
    /// The hook's name.
    pub name: String,
    /// Bytes the hook said it released.
    pub reported: u64,
    /// Resident set before the hook ran.
    pub rss_before: u64,
    /// Resident set after the hook ran.
    pub rss_after: u64,
}

impl CleanupOutcome {
    /// How much the resident set fell while the hook ran (0 if it rose).
    pub fn rss_freed(&self) -> u64 {
        self.rss_before.saturating_sub(self.rss_after)
    }
}

impl fmt::Display for CleanupOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: reported {}, rss {} -> {}",
            self.name,
            crate::ByteSize(self.reported),
            crate::ByteSize(self.rss_before),
            crate::ByteSize(self.rss_after)
        )
    }
}

/// The cleanup hooks of a process, run in registration order when pressure is high, always
/// followed by returning freed heap memory to the operating system (`malloc_trim` on glibc).
///
/// Cloning gives another handle to the same list, so layers and downstream services can each
/// register their own hooks on the handle they are given.
#[derive(Clone, Default)]
pub struct CleanupHooks {
    hooks: Arc<Mutex<Vec<Arc<dyn CleanupHook>>>>,
}

impl fmt::Debug for CleanupHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.lock().iter().map(|h| h.name().to_owned()).collect();
        f.debug_struct("CleanupHooks")
            .field("hooks", &names)
            .finish()
    }
}

impl CleanupHooks {
    /// An empty list (the final `malloc_trim` step is always there).
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<dyn CleanupHook>>> {
        self.hooks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a hook after those already registered.
    pub fn register(&self, hook: Arc<dyn CleanupHook>) {
        self.lock().push(hook);
    }

    /// Adds a closure as a hook.
    pub fn register_fn(
        &self,
        name: impl Into<String>,
        run: impl Fn() -> u64 + Send + Sync + 'static,
    ) {
        self.register(Arc::new(FnHook {
            name: name.into(),
            run: Box::new(run),
        }));
    }

    /// Number of registered hooks.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no hook is registered.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Runs every hook in order, then returns freed memory to the operating system, and
    /// reports what each step freed.
    pub fn run_all(&self) -> Vec<CleanupOutcome> {
        // Run outside the lock, so a hook may register another without deadlocking.
        let hooks: Vec<Arc<dyn CleanupHook>> = self.lock().clone();
        let mut outcomes = Vec::with_capacity(hooks.len() + 1);
        for hook in hooks {
            outcomes.push(measured(hook.name(), || hook.run()));
        }
        outcomes.push(measured("malloc_trim", return_freed_memory));
        outcomes
    }
}

fn measured(name: &str, run: impl FnOnce() -> u64) -> CleanupOutcome {
    let rss_before = process_rss().unwrap_or(0);
    let reported = run();
    let rss_after = process_rss().unwrap_or(0);
    CleanupOutcome {
        name: name.to_owned(),
        reported,
        rss_before,
        rss_after,
    }
}

struct FnHook {
    name: String,
    run: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl CleanupHook for FnHook {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self) -> u64 {
        (self.run)()
    }
}

/// Gives freed heap pages back to the operating system. glibc keeps freed memory in its
/// arenas; after a burst of batch buffers that can be hundreds of megabytes of resident set
/// that nothing uses (measured: 330 MB down to 26 MB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn return_freed_memory() -> u64 {
    // SAFETY: malloc_trim takes no pointers and only walks glibc's own arenas under their
    // locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
    0
}

/// Other allocators return memory on their own schedule; there is nothing portable to call.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_freed_memory() -> u64 {
    0
}

/// Lets glibc keep up to `bytes` of freed heap memory for reuse instead of handing it back
/// to the operating system at every free, and serves blocks below `bytes / 2` from its heap
/// rather than from a fresh mapping each. Returns whether the allocator took the settings.
///
/// Why: a load frees and allocates batch buffers of a few megabytes all the time. glibc's
/// defaults return such memory at once and fault it in again for the next batch, and those
/// page faults measured a tenth of loader's CPU time (26,000 faults per million rows; 6,000
/// with this). Memory still goes back under pressure: [`CleanupHooks::run_all`] ends with
/// `malloc_trim`, which releases every free page whatever this threshold says.
///
/// This is a process-wide setting, for a program to choose (the `loader` command does);
/// a library that embeds loader keeps its allocator as it was unless it calls this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn keep_freed_memory(bytes: u64) -> bool {
    let trim = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only changes glibc's own tuning parameters under its locks; it takes
    // no pointers and may be called from any thread at any time.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, trim) == 1
            && libc::mallopt(libc::M_MMAP_THRESHOLD, trim / 2) == 1
    }
}

/// Other allocators keep their own policy; there is nothing portable to set.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_memory(_bytes: u64) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Minor page faults of the calling thread so far.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    fn thread_page_faults() -> i64 {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes one rusage into the pointer it is given, which is valid.
        let usage = unsafe {
            assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()), 0);
            usage.assume_init()
        };
        usage.ru_minflt
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn kept_memory_serves_the_next_batch_without_page_faults() {
        // Three 8 MiB buffers at once, freed together: glibc's defaults hand them back to
        // the OS and fault them in again each round (about 6,000 faults a round).
        let round = || {
            let buffers: Vec<Vec<u8>> = (0..3)
                .map(|_| {
                    let mut buffer = Vec::with_capacity(8 << 20);
                    buffer.resize(8 << 20, 1u8);
                    buffer
                })
                .collect();
            std::hint::black_box(&buffers);
        };
        assert!(keep_freed_memory(64 << 20));
        round();
        let before = thread_page_faults();
        for _ in 0..10 {
            round();
        }
        let faults = thread_page_faults() - before;
        assert!(
            faults < 1_000,
            "{faults} page faults for 10 rounds of reused buffers"
        );
        // And pressure still gets it all back.
        let outcomes = CleanupHooks::new().run_all();
        assert_eq!(
            outcomes.last().map(|o| o.name.as_str()),
            Some("malloc_trim")
        );
    }

    #[test]
    fn hooks_run_in_order_then_memory_goes_back_to_the_os() {
        let hooks = CleanupHooks::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        for name in ["flush", "drop caches", "shrink buffers"] {
            let order = Arc::clone(&order);
            hooks.register_fn(name, move || {
                order.lock().unwrap().push(name);
                10
            });
        }
        let mut mock = MockCleanupHook::new();
        mock.expect_name().return_const("mocked".to_owned());
        mock.expect_run().times(1).return_const(7u64);
        hooks.register(Arc::new(mock));

        let outcomes = hooks.run_all();
        let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "flush",
                "drop caches",
                "shrink buffers",
                "mocked",
                "malloc_trim"
            ]
        );
        assert_eq!(
            *order.lock().unwrap(),
            ["flush", "drop caches", "shrink buffers"]
        );
        assert_eq!(outcomes[3].reported, 7);
        assert!(outcomes.iter().all(|o| o.rss_before > 0));
    }

    #[test]
    fn malloc_trim_gives_fragmented_memory_back() {
        // Allocate many small blocks, free all but every 64th so glibc cannot shrink the heap
        // top on its own, then trim.
        let mut blocks: Vec<Vec<u8>> = (0..200_000).map(|i| vec![i as u8; 512]).collect();
        let keep: Vec<Vec<u8>> = blocks.iter().step_by(64).cloned().collect();
        blocks.clear();
        blocks.shrink_to_fit();
        let outcome = CleanupHooks::new().run_all().pop().unwrap();
        assert_eq!(outcome.name, "malloc_trim");
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(outcome.rss_freed() > 16 << 20, "{outcome}");
        }
        drop(keep);
    }

    #[test]
    fn a_hook_may_register_another_while_running() {
        let hooks = CleanupHooks::new();
        let inner = hooks.clone();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        hooks.register_fn("registers", move || {
            let counted = Arc::clone(&counted);
            inner.register_fn("late", move || {
                counted.fetch_add(1, Ordering::SeqCst);
                0
            });
            0
        });
        hooks.run_all();
        hooks.run_all();
        assert!(calls.load(Ordering::SeqCst) >= 1);
        assert_eq!(hooks.len(), 3);
    }
}

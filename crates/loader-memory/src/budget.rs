use crate::{Error, Result};
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use tokio::sync::Notify;

/// A budget of bytes that work reserves before it holds data.
///
/// Cloning a budget gives another handle to the same budget. Reservations are RAII guards:
/// dropping a [`Reservation`] gives its bytes back and wakes waiters. Waiting comes in two
/// flavours, [`reserve`](Self::reserve) for async code and
/// [`reserve_blocking`](Self::reserve_blocking) for blocking threads (CSV parsing runs there),
/// and both are woken by any release.
///
/// # Example
///
/// ```
/// use loader_memory::MemoryBudget;
/// let budget = MemoryBudget::new(1000);
/// let a = budget.try_reserve(600).unwrap();
/// assert!(budget.try_reserve(600).is_err(), "only 400 left");
/// drop(a);
/// let _b = budget.try_reserve(600).unwrap();
/// assert!(budget.try_reserve(2000).is_err(), "larger than the whole budget");
/// ```
#[derive(Clone)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
    tally: Option<Arc<Tally>>,
}

/// Bytes held through one [`MemoryBudget::tallied`] handle: what one file, say, holds now and
/// the most it held at once. The budget itself still bounds the total.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use loader_memory::{MemoryBudget, Tally};
/// let budget = MemoryBudget::new(1000);
/// let tally = Arc::new(Tally::default());
/// let per_file = budget.tallied(Arc::clone(&tally));
/// let a = per_file.try_reserve(300).unwrap();
/// let b = per_file.try_reserve(200).unwrap();
/// drop(a);
/// let _other = budget.try_reserve(100).unwrap(); // not through the tally
/// assert_eq!((tally.current(), tally.peak()), (200, 500));
/// drop(b);
/// assert_eq!(tally.current(), 0);
/// ```
#[derive(Debug, Default)]
pub struct Tally {
    current: std::sync::atomic::AtomicU64,
    peak: std::sync::atomic::AtomicU64,
}

impl Tally {
    /// Bytes held now.
    pub fn current(&self) -> u64 {
        self.current.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The most bytes held at once.
    pub fn peak(&self) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn add(&self, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.current.fetch_add(bytes, Relaxed) + bytes;
        self.peak.fetch_max(now, Relaxed);
    }

    fn sub(&self, bytes: u64) {
        self.current
            .fetch_sub(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

struct Inner {
    state: Mutex<State>,
    blocking_waiters: Condvar,
    async_waiters: Notify,
}

#[derive(Debug, Clone, Copy)]
struct State {
    capacity: u64,
    reserved: u64,
    peak: u64,
}

enum Grant {
    Granted,
    Wait,
    TooLarge { capacity: u64 },
}

impl State {
    fn try_grant(&mut self, bytes: u64) -> Grant {
        if bytes == 0 {
            return Grant::Granted;
        }
        if bytes > self.capacity {
            return Grant::TooLarge {
                capacity: self.capacity,
            };
        }
        // Compared this way round so that a capacity shrunk below `reserved` cannot
        // underflow: new work simply waits until enough is released.
        if self.reserved.saturating_add(bytes) <= self.capacity {
            self.reserved += bytes;
            self.peak = self.peak.max(self.reserved);
            Grant::Granted
        } else {
            Grant::Wait
        }
    }
}

impl fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = *self.lock();
        f.debug_struct("MemoryBudget")
            .field("capacity", &state.capacity)
            .field("reserved", &state.reserved)
            .field("peak", &state.peak)
            .finish()
    }
}

impl MemoryBudget {
    /// A budget of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        MemoryBudget {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    capacity,
                    reserved: 0,
                    peak: 0,
                }),
                blocking_waiters: Condvar::new(),
                async_waiters: Notify::new(),
            }),
            tally: None,
        }
    }

    /// A handle on the same budget whose reservations are also counted in `tally`.
    pub fn tallied(&self, tally: Arc<Tally>) -> MemoryBudget {
        MemoryBudget {
            inner: Arc::clone(&self.inner),
            tally: Some(tally),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock()
    }

    /// Total bytes this budget may hand out.
    pub fn capacity(&self) -> u64 {
        self.lock().capacity
    }

    /// Bytes held by live reservations.
    pub fn reserved(&self) -> u64 {
        self.lock().reserved
    }

    /// Bytes that could be reserved now without waiting.
    pub fn available(&self) -> u64 {
        let state = self.lock();
        state.capacity.saturating_sub(state.reserved)
    }

    /// The most bytes ever held at once.
    pub fn peak_reserved(&self) -> u64 {
        self.lock().peak
    }

    /// Changes the capacity. Shrinking below what is reserved revokes nothing: live
    /// reservations stay valid, and new ones wait until usage is back under the new capacity.
    /// Waiters asking for more than the new capacity fail with [`Error::ExceedsBudget`].
    pub fn set_capacity(&self, capacity: u64) {
        self.lock().capacity = capacity;
        self.inner.wake_all();
    }

    /// Reserves `bytes` now or fails.
    ///
    /// # Errors
    ///
    /// [`Error::ExceedsBudget`] when `bytes` is more than the whole capacity,
    /// [`Error::Insufficient`] when it does not fit right now.
    pub fn try_reserve(&self, bytes: u64) -> Result<Reservation> {
        let mut state = self.lock();
        match state.try_grant(bytes) {
            Grant::Granted => Ok(self.guard(bytes)),
            Grant::TooLarge { capacity } => Err(Error::ExceedsBudget {
                requested: bytes,
                capacity,
            }),
            Grant::Wait => Err(Error::Insufficient {
                requested: bytes,
                available: state.capacity.saturating_sub(state.reserved),
            }),
        }
    }

    /// Reserves `bytes`, waiting asynchronously until they fit.
    ///
    /// # Errors
    ///
    /// [`Error::ExceedsBudget`] when `bytes` is more than the whole capacity (now, or after a
    /// resize while waiting): such a request could never be granted.
    pub async fn reserve(&self, bytes: u64) -> Result<Reservation> {
        loop {
            // Register interest before looking, so that a release between the look and the
            // wait is not missed.
            let notified = self.inner.async_waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.lock().try_grant(bytes) {
                Grant::Granted => return Ok(self.guard(bytes)),
                Grant::TooLarge { capacity } => {
                    return Err(Error::ExceedsBudget {
                        requested: bytes,
                        capacity,
                    });
                }
                Grant::Wait => {}
            }
            notified.await;
        }
    }

    /// Reserves `bytes`, blocking this thread until they fit. For use on blocking threads
    /// only, never on an async executor's worker.
    ///
    /// # Errors
    ///
    /// [`Error::ExceedsBudget`] as for [`reserve`](Self::reserve).
    pub fn reserve_blocking(&self, bytes: u64) -> Result<Reservation> {
        let mut state = self.lock();
        loop {
            match state.try_grant(bytes) {
                Grant::Granted => return Ok(self.guard(bytes)),
                Grant::TooLarge { capacity } => {
                    return Err(Error::ExceedsBudget {
                        requested: bytes,
                        capacity,
                    });
                }
                Grant::Wait => {
                    state = self
                        .inner
                        .blocking_waiters
                        .wait(state)
                        // No code holding this lock can panic (see `lock`).
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
        }
    }

    fn guard(&self, bytes: u64) -> Reservation {
        if let Some(tally) = &self.tally {
            tally.add(bytes);
        }
        Reservation {
            inner: Arc::clone(&self.inner),
            bytes,
            tally: self.tally.clone(),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code holding this lock can panic, so poisoning cannot leave the state torn.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wake_all(&self) {
        self.blocking_waiters.notify_all();
        self.async_waiters.notify_waiters();
    }

    fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        {
            let mut state = self.lock();
            state.reserved = state.reserved.saturating_sub(bytes);
        }
        self.wake_all();
    }
}

/// Bytes held from a [`MemoryBudget`]; given back when dropped.
///
/// # Example
///
/// ```
/// use loader_memory::MemoryBudget;
/// let budget = MemoryBudget::new(100);
/// let mut held = budget.try_reserve(80).unwrap();
/// held.shrink_to(30);
/// assert_eq!(budget.available(), 70);
/// held.try_grow(50).unwrap();
/// assert_eq!(held.bytes(), 80);
/// drop(held);
/// assert_eq!(budget.available(), 100);
/// ```
#[must_use = "a reservation is released as soon as it is dropped"]
pub struct Reservation {
    inner: Arc<Inner>,
    bytes: u64,
    tally: Option<Arc<Tally>>,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Gives back everything above `bytes` (no-op when already at or below).
    pub fn shrink_to(&mut self, bytes: u64) {
        if bytes < self.bytes {
            self.release(self.bytes - bytes);
            self.bytes = bytes;
        }
    }

    fn release(&self, bytes: u64) {
        if let Some(tally) = &self.tally {
            tally.sub(bytes);
        }
        self.inner.release(bytes);
    }

    /// Holds `extra` more bytes if they fit now.
    ///
    /// # Errors
    ///
    /// [`Error::ExceedsBudget`] or [`Error::Insufficient`], as for
    /// [`MemoryBudget::try_reserve`] with the grown total.
    pub fn try_grow(&mut self, extra: u64) -> Result<()> {
        let mut state = self.inner.lock();
        let total = self.bytes + extra;
        if total > state.capacity {
            return Err(Error::ExceedsBudget {
                requested: total,
                capacity: state.capacity,
            });
        }
        match state.try_grant(extra) {
            Grant::Granted => {
                self.bytes = total;
                if let Some(tally) = &self.tally {
                    tally.add(extra);
                }
                Ok(())
            }
            _ => Err(Error::Insufficient {
                requested: extra,
                available: state.capacity.saturating_sub(state.reserved),
            }),
        }
    }

    /// Holds `extra` more bytes, blocking this thread until they fit.
    ///
    /// # Errors
    ///
    /// [`Error::ExceedsBudget`] when the grown total is more than the whole capacity.
    pub fn grow_blocking(&mut self, extra: u64) -> Result<()> {
        let mut state = self.inner.lock();
        loop {
            let total = self.bytes + extra;
            if total > state.capacity {
                return Err(Error::ExceedsBudget {
                    requested: total,
                    capacity: state.capacity,
                });
            }
            match state.try_grant(extra) {
                Grant::Granted => {
                    self.bytes = total;
                    if let Some(tally) = &self.tally {
                        tally.add(extra);
                    }
                    return Ok(());
                }
                _ => {
                    state = self
                        .inner
                        .blocking_waiters
                        .wait(state)
                        // No code holding this lock can panic (see `lock`).
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn request_larger_than_budget_is_an_error_not_a_deadlock() {
        let budget = MemoryBudget::new(100);
        assert!(matches!(
            budget.reserve_blocking(101),
            Err(Error::ExceedsBudget {
                requested: 101,
                capacity: 100
            })
        ));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(runtime.block_on(budget.reserve(101)).is_err());
    }

    #[tokio::test]
    async fn async_reserve_waits_for_release() {
        let budget = MemoryBudget::new(100);
        let held = budget.try_reserve(70).unwrap();
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(50).await.map(|r| r.bytes()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "must wait while only 30 bytes are free"
        );
        drop(held);
        assert_eq!(waiter.await.unwrap().unwrap(), 50);
        assert_eq!(budget.reserved(), 0);
    }

    #[test]
    fn blocking_reserve_waits_for_release_on_another_thread() {
        let budget = MemoryBudget::new(100);
        let held = budget.try_reserve(90).unwrap();
        let waiter = std::thread::spawn({
            let budget = budget.clone();
            move || budget.reserve_blocking(50).map(|r| r.bytes())
        });
        std::thread::sleep(Duration::from_millis(20));
        assert!(!waiter.is_finished());
        drop(held);
        assert_eq!(waiter.join().unwrap().unwrap(), 50);
    }

    #[tokio::test]
    async fn shrinking_below_a_waiting_request_fails_it() {
        let budget = MemoryBudget::new(100);
        let held = budget.try_reserve(100).unwrap();
        let waiter = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(80).await.map(|r| r.bytes()) }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        budget.set_capacity(50);
        assert!(matches!(
            waiter.await.unwrap(),
            Err(Error::ExceedsBudget { .. })
        ));
        drop(held);
    }

    #[test]
    fn shrinking_capacity_makes_new_work_wait_until_under_it() {
        let budget = MemoryBudget::new(100);
        let held = budget.try_reserve(80).unwrap();
        budget.set_capacity(60);
        assert!(
            budget.try_reserve(1).is_err(),
            "over the new capacity already"
        );
        drop(held);
        assert!(budget.try_reserve(60).is_ok());
    }

    #[test]
    fn peak_is_recorded() {
        let budget = MemoryBudget::new(100);
        let a = budget.try_reserve(40).unwrap();
        let b = budget.try_reserve(50).unwrap();
        drop((a, b));
        assert_eq!(budget.peak_reserved(), 90);
        assert_eq!(budget.reserved(), 0);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Reserve(u64),
        Release(usize),
        Shrink(usize, u64),
        Grow(usize, u64),
        Resize(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..400).prop_map(Op::Reserve),
            any::<usize>().prop_map(Op::Release),
            (any::<usize>(), 0u64..400).prop_map(|(i, b)| Op::Shrink(i, b)),
            (any::<usize>(), 0u64..200).prop_map(|(i, b)| Op::Grow(i, b)),
            (50u64..600).prop_map(Op::Resize),
        ]
    }

    proptest! {
        /// Under any sequence of reserve, release, shrink, grow and resize, the bytes granted
        /// never exceed the capacity in force when they were granted, and the budget's own
        /// count always equals the sum of live reservations.
        #[test]
        fn budget_is_never_over_committed(ops in proptest::collection::vec(op(), 1..200)) {
            let budget = MemoryBudget::new(300);
            let mut live: Vec<Reservation> = Vec::new();
            for op in ops {
                match op {
                    Op::Reserve(bytes) => {
                        let before = budget.reserved();
                        match budget.try_reserve(bytes) {
                            Ok(r) => {
                                prop_assert!(bytes == 0 || before + bytes <= budget.capacity());
                                live.push(r);
                            }
                            Err(Error::ExceedsBudget { .. }) => prop_assert!(bytes > budget.capacity()),
                            Err(Error::Insufficient { .. }) => prop_assert!(before + bytes > budget.capacity()),
                            Err(other) => prop_assert!(false, "unexpected {other}"),
                        }
                    }
                    Op::Release(i) if !live.is_empty() => {
                        let i = i % live.len();
                        drop(live.swap_remove(i));
                    }
                    Op::Shrink(i, bytes) if !live.is_empty() => {
                        let i = i % live.len();
                        live[i].shrink_to(bytes);
                    }
                    Op::Grow(i, extra) if !live.is_empty() => {
                        let i = i % live.len();
                        let before = budget.reserved();
                        if live[i].try_grow(extra).is_ok() {
                            prop_assert!(extra == 0 || before + extra <= budget.capacity());
                        }
                    }
                    Op::Resize(capacity) => budget.set_capacity(capacity),
                    _ => {}
                }
                let sum: u64 = live.iter().map(Reservation::bytes).sum();
                prop_assert_eq!(budget.reserved(), sum);
            }
            drop(live);
            prop_assert_eq!(budget.reserved(), 0);
        }
    }
}

//! The client transactions' timers (RFC 3261 §17.1.1.2, §17.1.2.2, §16.6
//! step 11), every branch's in one queue.
//!
//! A task and a timer per forwarded request would cost a spawn, and a
//! wake-up of some thread when its first timer fires, for every request,
//! although almost every branch is answered long before that. Here arming
//! a timer is a push under a lock, and one task wakes at most once a
//! [`TICK`] to fire everything that is due. Nothing is cancelled: a timer
//! that fires for a branch that has its final response finds nothing to do.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::{Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::transaction::{ServerKey, T1};
use super::{Core, run_now_or_spawn};

/// How late a timer may fire: timers due within one tick are fired
/// together. 10 ms against T1's 500 ms.
pub const TICK: Duration = Duration::from_millis(10);

/// One branch's timers, between two firings.
pub struct BranchTimer {
    pub key: ServerKey,
    pub branch: String,
    /// When the request was first sent: timers B, F and C count from there.
    pub started: Instant,
    /// The current retransmission interval (timers A and E double it).
    pub interval: Duration,
    /// Over UDP: retransmit. Over a stream only the timeouts apply.
    pub unreliable: bool,
    pub invite: bool,
}

impl BranchTimer {
    pub fn new(key: ServerKey, branch: String, unreliable: bool, invite: bool) -> BranchTimer {
        BranchTimer { key, branch, started: Instant::now(), interval: T1, unreliable, invite }
    }
}

/// Every armed timer, soonest first.
#[derive(Default)]
pub struct Timers {
    queue: Mutex<BinaryHeap<Reverse<Armed>>>,
    /// Wakes the firing task when a timer is armed earlier than any other.
    armed_earlier: Notify,
}

struct Armed {
    at: Instant,
    timer: BranchTimer,
}

impl PartialEq for Armed {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Armed {}
impl PartialOrd for Armed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Armed {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

impl Timers {
    /// Fire `timer` at `at` (at most a [`TICK`] late).
    pub fn arm(&self, at: Instant, timer: BranchTimer) {
        let earliest = {
            let mut queue = self.queue();
            let earliest = queue.peek().is_none_or(|Reverse(first)| at < first.at);
            queue.push(Reverse(Armed { at, timer }));
            earliest
        };
        if earliest {
            self.armed_earlier.notify_one();
        }
    }

    /// Wake the firing task, e.g. to let it see that the core is gone.
    pub fn wake(&self) {
        self.armed_earlier.notify_one();
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, BinaryHeap<Reverse<Armed>>> {
        // Plain data: a panic elsewhere cannot leave the heap half-changed.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything due by `now`, soonest first, and when the next one is due.
    fn due(&self, now: Instant) -> (Vec<BranchTimer>, Option<Instant>) {
        let mut queue = self.queue();
        let mut due = Vec::new();
        while let Some(Reverse(first)) = queue.peek() {
            if first.at > now {
                return (due, Some(first.at));
            }
            if let Some(Reverse(armed)) = queue.pop() {
                due.push(armed.timer);
            }
        }
        (due, None)
    }
}

/// Fire the core's timers until the core is gone.
pub async fn run(core: Weak<Core>) {
    loop {
        let Some(strong) = core.upgrade() else { return };
        let timers = strong.timers.clone();
        let (due, next) = timers.due(Instant::now() + TICK / 2);
        for timer in due {
            run_now_or_spawn(strong.clone().on_timer(timer));
        }
        // Hold no strong reference while asleep, so the core can go.
        drop(strong);
        let notified = timers.armed_earlier.notified();
        match next {
            // Wait for the next one, but not less than a tick: timers due
            // close together fire in one wake-up.
            Some(at) => {
                let at = at.max(Instant::now() + TICK);
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = notified => {}
                }
            }
            // Nothing armed: sleep until something is (or the core goes,
            // which notifies too).
            None => notified.await,
        }
    }
}

//! The scheduling queue, with kube-scheduler's rules: an active queue by
//! priority then age, backoff from 1 s doubling to 10 s, unschedulable pods
//! held until a cluster event may help them (or 5 minutes at most), and
//! pods with scheduling gates held until the gates are gone.
//!
//! Time is passed in, so the rules are tested without sleeping.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Upstream's `podInitialBackoffDuration`.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Upstream's `podMaxBackoffDuration`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream's `podMaxInUnschedulablePodsDuration`.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

/// Where a queued pod waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Ready to be scheduled.
    Active,
    /// Waiting out its backoff after a failed attempt.
    Backoff,
    /// Failed as unschedulable: waits for a cluster event.
    Unschedulable,
    /// Has scheduling gates.
    Gated,
    /// Popped and being scheduled.
    InFlight,
}

#[derive(Debug, Clone)]
struct Entry {
    priority: i32,
    /// When the pod first entered the queue: its age for ordering.
    added: Instant,
    attempts: u32,
    stage: Stage,
    /// When backoff ends, or when the pod entered the unschedulable pool.
    since: Instant,
    gated: bool,
    /// Changed while in flight: requeue at once after the attempt.
    dirty: bool,
}

/// Active-queue order: higher priority first, then older first.
type ActiveKey = (Reverse<i32>, Instant, String);

/// The queue, keyed by pod uid.
#[derive(Debug, Default)]
pub struct SchedulingQueue {
    entries: HashMap<String, Entry>,
    active: BTreeSet<ActiveKey>,
    initial_backoff: Option<Duration>,
    max_backoff: Option<Duration>,
}

impl SchedulingQueue {
    /// A queue with upstream's backoff (1 s doubling to 10 s).
    pub fn new() -> Self {
        Self::default()
    }

    /// A queue with other backoff bounds (from configuration).
    pub fn with_backoff(initial: Duration, max: Duration) -> Self {
        SchedulingQueue {
            initial_backoff: Some(initial),
            max_backoff: Some(max),
            ..Default::default()
        }
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let initial = self.initial_backoff.unwrap_or(INITIAL_BACKOFF);
        let max = self.max_backoff.unwrap_or(MAX_BACKOFF);
        let doublings = attempts.saturating_sub(1).min(16);
        (initial * 2u32.pow(doublings)).min(max)
    }

    fn activate(&mut self, uid: &str) {
        if let Some(e) = self.entries.get_mut(uid) {
            e.stage = Stage::Active;
            self.active
                .insert((Reverse(e.priority), e.added, uid.to_string()));
        }
    }

    fn deactivate(&mut self, uid: &str) {
        if let Some(e) = self.entries.get(uid)
            && e.stage == Stage::Active
        {
            self.active
                .remove(&(Reverse(e.priority), e.added, uid.to_string()));
        }
    }

    /// Adds a pending pod, or updates one already queued. An update may lift
    /// gates or change priority; it also gives an unschedulable pod another try.
    pub fn upsert(&mut self, uid: &str, priority: i32, gated: bool, now: Instant) {
        match self.entries.get(uid).map(|e| e.stage) {
            None => {
                self.entries.insert(
                    uid.to_string(),
                    Entry {
                        priority,
                        added: now,
                        attempts: 0,
                        stage: Stage::Gated,
                        since: now,
                        gated,
                        dirty: false,
                    },
                );
                if !gated {
                    self.activate(uid);
                }
            }
            Some(Stage::InFlight) => {
                let e = self.entries.get_mut(uid).expect("present");
                (e.priority, e.gated, e.dirty) = (priority, gated, true);
            }
            Some(stage) => {
                self.deactivate(uid);
                let e = self.entries.get_mut(uid).expect("present");
                (e.priority, e.gated) = (priority, gated);
                match (gated, stage) {
                    (true, _) => e.stage = Stage::Gated,
                    (false, Stage::Backoff) => {}
                    // As upstream: an update moves an unschedulable pod on,
                    // but through the rest of its backoff.
                    (false, Stage::Unschedulable) => self.release(uid, now),
                    (false, _) => self.activate(uid),
                }
            }
        }
    }

    /// Drops a pod (deleted, or bound by someone else).
    pub fn remove(&mut self, uid: &str) {
        self.deactivate(uid);
        self.entries.remove(uid);
    }

    /// Moves pods whose backoff ended, and unschedulable pods held too long,
    /// to the active queue. Returns when the next such move is due.
    pub fn tick(&mut self, now: Instant) -> Option<Instant> {
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        for (uid, e) in &self.entries {
            let at = match e.stage {
                Stage::Backoff => e.since,
                Stage::Unschedulable => e.since + MAX_UNSCHEDULABLE,
                _ => continue,
            };
            if at <= now {
                due.push(uid.clone());
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        for uid in due {
            self.activate(&uid);
        }
        next
    }

    /// The next pod to schedule (highest priority, then oldest), now in flight,
    /// with how many attempts it had.
    pub fn pop(&mut self, now: Instant) -> Option<(String, u32)> {
        self.tick(now);
        let key = self.active.pop_first()?;
        let e = self
            .entries
            .get_mut(&key.2)
            .expect("active pods are entries");
        e.stage = Stage::InFlight;
        e.attempts += 1;
        Some((key.2, e.attempts))
    }

    /// The attempt bound the pod (or it was dropped): it leaves the queue.
    pub fn done(&mut self, uid: &str) {
        self.entries.remove(uid);
    }

    /// The attempt found no node: the pod waits for a cluster event, unless it
    /// changed meanwhile, in which case it backs off and retries.
    pub fn unschedulable(&mut self, uid: &str, now: Instant) {
        let backoff = self.entries.get(uid).map(|e| self.backoff(e.attempts));
        let Some(e) = self.entries.get_mut(uid) else {
            return;
        };
        if e.gated {
            e.stage = Stage::Gated;
        } else if std::mem::take(&mut e.dirty) {
            e.stage = Stage::Backoff;
            e.since = now + backoff.unwrap_or(INITIAL_BACKOFF);
        } else {
            e.stage = Stage::Unschedulable;
            e.since = now;
        }
    }

    /// The attempt failed for another reason (a plugin error, a failed bind):
    /// the pod retries after its backoff.
    pub fn retry(&mut self, uid: &str, now: Instant) {
        let backoff = self.entries.get(uid).map(|e| self.backoff(e.attempts));
        if let Some(e) = self.entries.get_mut(uid) {
            e.dirty = false;
            e.stage = if e.gated {
                Stage::Gated
            } else {
                Stage::Backoff
            };
            e.since = now + backoff.unwrap_or(INITIAL_BACKOFF);
        }
    }

    /// A cluster event that may make unschedulable pods fit (a node added or
    /// changed, a pod deleted): they go back, through backoff if it has not
    /// ended yet.
    pub fn cluster_changed(&mut self, now: Instant) {
        let waiting: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.stage == Stage::Unschedulable)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in waiting {
            self.release(&uid, now);
        }
    }

    /// Moves an unschedulable pod on: to the active queue if its backoff
    /// (counted from its last failure) has ended, else to wait out the rest.
    fn release(&mut self, uid: &str, now: Instant) {
        let Some(backoff) = self.entries.get(uid).map(|e| self.backoff(e.attempts)) else {
            return;
        };
        let e = self.entries.get_mut(uid).expect("present");
        let backoff_ends = e.since + backoff;
        if backoff_ends <= now {
            self.activate(uid);
        } else {
            e.stage = Stage::Backoff;
            e.since = backoff_ends;
        }
    }

    /// Where a pod is, if queued.
    pub fn stage(&self, uid: &str) -> Option<Stage> {
        self.entries.get(uid).map(|e| e.stage)
    }

    /// How many pods wait in each stage, for the `scheduler_pending_pods` metric.
    pub fn pending(&self) -> HashMap<Stage, usize> {
        let mut out = HashMap::new();
        for e in self.entries.values() {
            *out.entry(e.stage).or_default() += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn higher_priority_first_then_older_first() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new();
        q.upsert("old-low", 0, false, t0);
        q.upsert("new-high", 10, false, secs(t0, 2));
        q.upsert("new-low", 0, false, secs(t0, 1));
        let order: Vec<String> =
            std::iter::from_fn(|| q.pop(secs(t0, 3)).map(|(u, _)| u)).collect();
        assert_eq!(order, ["new-high", "old-low", "new-low"]);
    }

    #[test]
    fn backoff_doubles_from_one_second_to_ten() {
        let q = SchedulingQueue::new();
        let got: Vec<u64> = (1..=6).map(|a| q.backoff(a).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn a_failed_attempt_waits_out_its_backoff() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new();
        q.upsert("p", 0, false, t0);
        assert_eq!(q.pop(t0), Some(("p".into(), 1)));
        q.retry("p", t0);
        assert_eq!(q.pop(t0 + Duration::from_millis(999)), None);
        assert_eq!(q.tick(t0), Some(secs(t0, 1)));
        assert_eq!(q.pop(secs(t0, 1)), Some(("p".into(), 2)));
        q.retry("p", secs(t0, 1));
        assert_eq!(q.pop(secs(t0, 2)), None, "second backoff is 2 s");
        assert!(q.pop(secs(t0, 3)).is_some());
    }

    #[test]
    fn unschedulable_pods_wait_for_a_cluster_event_or_five_minutes() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new();
        q.upsert("p", 0, false, t0);
        q.pop(t0);
        q.unschedulable("p", t0);
        assert_eq!(q.pop(secs(t0, 60)), None, "no event: stays put");
        q.cluster_changed(secs(t0, 60));
        assert_eq!(q.pop(secs(t0, 60)).map(|(u, _)| u), Some("p".into()));
        q.unschedulable("p", secs(t0, 60));
        assert_eq!(q.pop(secs(t0, 359)), None);
        assert!(q.pop(secs(t0, 360)).is_some(), "flushed after 5 minutes");
    }

    #[test]
    fn an_event_right_after_a_failure_still_respects_backoff() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new();
        q.upsert("p", 0, false, t0);
        q.pop(t0);
        q.unschedulable("p", t0);
        q.cluster_changed(t0 + Duration::from_millis(100));
        assert_eq!(q.stage("p"), Some(Stage::Backoff));
        assert!(q.pop(secs(t0, 1)).is_some());
    }

    #[test]
    fn an_update_to_an_unschedulable_pod_respects_its_backoff() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new();
        q.upsert("p", 0, false, t0);
        q.pop(t0);
        q.unschedulable("p", t0);
        q.upsert("p", 0, false, t0 + Duration::from_millis(10));
        assert_eq!(q.stage("p"), Some(Stage::Backoff));
        assert_eq!(q.pop(t0 + Duration::from_millis(999)), None);
        assert!(q.pop(secs(t0, 1)).is_some());
        q.unschedulable("p", secs(t0, 1));
        // Long after the backoff: straight back to the active queue.
        q.upsert("p", 0, false, secs(t0, 30));
        assert!(q.pop(secs(t0, 30)).is_some());
    }

    #[test]
    fn gated_pods_wait_until_their_gates_are_removed() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new();
        q.upsert("p", 0, true, t0);
        assert_eq!(q.pop(t0), None);
        q.cluster_changed(t0);
        assert_eq!(q.stage("p"), Some(Stage::Gated));
        q.upsert("p", 0, false, secs(t0, 1));
        assert!(q.pop(secs(t0, 1)).is_some());
    }

    #[test]
    fn a_pod_updated_while_in_flight_retries_instead_of_waiting() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::new();
        q.upsert("p", 0, false, t0);
        q.pop(t0);
        q.upsert("p", 0, false, t0);
        q.unschedulable("p", t0);
        assert_eq!(q.stage("p"), Some(Stage::Backoff));
        q.remove("p");
        assert_eq!(q.stage("p"), None);
        assert_eq!(q.pop(secs(t0, 5)), None, "a removed pod is gone for good");
    }
}

//! The one event bus. Publishing never waits: every subscriber has a bounded queue, and a
//! subscriber whose queue is full misses the event; the count of missed events is published
//! as a `subscriber-lagged` event once the subscriber has room again.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use qcity_platform::clock::now_ms;
use qcity_types::{Event, EventKind};

/// A subscriber's receiving end.
pub type EventReceiver = mpsc::Receiver<Arc<Event>>;

/// The bus. Ids are assigned under the same lock that fans out, so every subscriber sees
/// events in id order.
#[derive(Debug)]
pub struct Bus {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    next_id: u64,
    subs: Vec<Subscriber>,
}

#[derive(Debug)]
struct Subscriber {
    name: String,
    tx: mpsc::Sender<Arc<Event>>,
    missed: u64,
}

impl Bus {
    /// A bus whose first event gets id `first_id` (one past the last stored id).
    pub fn new(first_id: u64) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                next_id: first_id.max(1),
                subs: Vec::new(),
            }),
        })
    }

    /// Subscribes with a queue of `capacity` events.
    pub fn subscribe(&self, name: &str, capacity: usize) -> EventReceiver {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.lock().subs.push(Subscriber {
            name: name.to_string(),
            tx,
            missed: 0,
        });
        rx
    }

    /// Subscribes and, under the same lock, takes a snapshot, so the subscriber sees every
    /// event after the snapshot and none before it.
    pub fn subscribe_with<T>(
        &self,
        name: &str,
        capacity: usize,
        snapshot: impl FnOnce() -> T,
    ) -> (T, EventReceiver) {
        let mut inner = self.lock();
        let (tx, rx) = mpsc::channel(capacity.max(1));
        inner.subs.push(Subscriber {
            name: name.to_string(),
            tx,
            missed: 0,
        });
        (snapshot(), rx)
    }

    /// The id the next event will get.
    pub fn next_id(&self) -> u64 {
        self.lock().next_id
    }

    /// Publishes an event and returns it with its id.
    pub fn publish(&self, kind: EventKind) -> Arc<Event> {
        let (event, recovered) = {
            let mut inner = self.lock();
            let event = Arc::new(Event {
                id: inner.next_id,
                ts_ms: now_ms(),
                kind,
            });
            inner.next_id += 1;
            let mut recovered = Vec::new();
            inner
                .subs
                .retain_mut(|sub| match sub.tx.try_send(event.clone()) {
                    Ok(()) => {
                        if sub.missed > 0 {
                            recovered.push((sub.name.clone(), std::mem::take(&mut sub.missed)));
                        }
                        true
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        sub.missed += 1;
                        true
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                });
            (event, recovered)
        };
        for (subscriber, missed) in recovered {
            tracing::warn!(%subscriber, missed, "event subscriber lagged");
            self.publish(EventKind::SubscriberLagged { subscriber, missed });
        }
        event
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave Inner half-updated in a harmful way.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: usize) -> EventKind {
        EventKind::EngineStopping {
            reason: n.to_string(),
        }
    }

    #[test]
    fn ids_are_monotonic_and_start_after_the_store() {
        let bus = Bus::new(41);
        let mut rx = bus.subscribe("t", 8);
        assert_eq!(bus.publish(ev(0)).id, 41);
        assert_eq!(bus.publish(ev(1)).id, 42);
        assert_eq!(rx.try_recv().unwrap().id, 41);
        assert_eq!(rx.try_recv().unwrap().id, 42);
    }

    #[test]
    fn a_full_subscriber_never_blocks_and_its_lag_is_reported() {
        let bus = Bus::new(1);
        let mut slow = bus.subscribe("slow", 2);
        let mut fast = bus.subscribe("fast", 100);
        for n in 0..5 {
            bus.publish(ev(n));
        }
        // slow kept the first two, missed three.
        assert_eq!(slow.try_recv().unwrap().id, 1);
        assert_eq!(slow.try_recv().unwrap().id, 2);
        assert!(slow.try_recv().is_err());
        bus.publish(ev(5));
        let got: Vec<_> = std::iter::from_fn(|| fast.try_recv().ok()).collect();
        let lag = got.iter().find_map(|e| match &e.kind {
            EventKind::SubscriberLagged { subscriber, missed } => {
                Some((subscriber.clone(), *missed))
            }
            _ => None,
        });
        assert_eq!(lag, Some(("slow".to_string(), 3)));
    }

    #[test]
    fn closed_subscribers_are_dropped() {
        let bus = Bus::new(1);
        drop(bus.subscribe("gone", 1));
        bus.publish(ev(0));
        assert!(bus.lock().subs.is_empty());
    }
}

//! The soak's running totals: one atomic per event kind, shared by every user task, read by the
//! sampler for its per-interval rates and by the summary.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the soak counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum C {
    /// Sends acknowledged over the WebSocket.
    AckedWs,
    /// Sends answered by REST (made while the device was offline).
    AckedRest,
    /// `message.new` frames received by primary devices (live and replayed).
    Delivered,
    /// `message.updated` frames received by primary devices.
    Updated,
    /// Frames received while resuming, before the `hello` ack.
    Replayed,
    /// Connections dropped without a close frame (half of them with a TCP reset).
    DropAbrupt,
    /// Connections closed with a WebSocket close frame.
    DropClean,
    /// Successful reconnects of primary devices (not their first connect), resumed with their
    /// cursors.
    Reconnects,
    /// Connections closed by the server (any code), then resumed.
    ServerCloses,
    /// Second-device sessions: login, live for a while, logout (which must close the socket).
    Guests,
    Edits,
    Reactions,
    Typing,
    Reads,
    /// History pages, over the WebSocket or REST.
    HistoryPages,
    /// Other REST calls (conversation list, members, profile).
    RestCalls,
    /// Refused commands and failed calls that should not fail (see the log for each).
    Errors,
    /// `rate_limited` answers (expected now and then for typing).
    RateLimited,
    /// The same change (conversation, mod_seq) received twice by one device.
    Duplicates,
}

pub const ALL: [C; 19] = [
    C::AckedWs,
    C::AckedRest,
    C::Delivered,
    C::Updated,
    C::Replayed,
    C::DropAbrupt,
    C::DropClean,
    C::Reconnects,
    C::ServerCloses,
    C::Guests,
    C::Edits,
    C::Reactions,
    C::Typing,
    C::Reads,
    C::HistoryPages,
    C::RestCalls,
    C::Errors,
    C::RateLimited,
    C::Duplicates,
];

impl C {
    pub fn name(self) -> &'static str {
        match self {
            C::AckedWs => "acked_ws",
            C::AckedRest => "acked_rest",
            C::Delivered => "delivered",
            C::Updated => "updated",
            C::Replayed => "replayed",
            C::DropAbrupt => "drops_abrupt",
            C::DropClean => "drops_clean",
            C::Reconnects => "reconnects",
            C::ServerCloses => "server_closes",
            C::Guests => "guest_sessions",
            C::Edits => "edits",
            C::Reactions => "reactions",
            C::Typing => "typing",
            C::Reads => "reads",
            C::HistoryPages => "history_pages",
            C::RestCalls => "rest_calls",
            C::Errors => "errors",
            C::RateLimited => "rate_limited",
            C::Duplicates => "duplicates",
        }
    }
}

#[derive(Default)]
pub struct Counters {
    values: [AtomicU64; ALL.len()],
    /// Primary devices connected now.
    pub online: AtomicU64,
}

impl Counters {
    pub fn add(&self, c: C) {
        self.values[c as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, c: C) -> u64 {
        self.values[c as usize].load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        let mut map: BTreeMap<&'static str, u64> =
            ALL.iter().map(|c| (c.name(), self.get(*c))).collect();
        map.insert("online", self.online.load(Ordering::Relaxed));
        map
    }
}

/// Prints the first errors of a run in full, then only counts them.
pub fn report_error(counters: &Counters, what: impl std::fmt::Display) {
    counters.add(C::Errors);
    if counters.get(C::Errors) <= 50 {
        eprintln!("soak: error: {what}");
    }
}

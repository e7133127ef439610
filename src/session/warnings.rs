//! A rate limit on refused-payload warnings: a flood of junk must not bury
//! the conversation under warning lines.

use std::time::Duration;

use tokio::time::Instant;

use super::SessionEvent;
use crate::protocol::OpenError;

/// Refused payloads shown one by one per [`WARNING_WINDOW`]; the rest are
/// counted and summed up, so a flood cannot bury the conversation.
const WARNINGS_PER_WINDOW: usize = 10;
const WARNING_WINDOW: Duration = Duration::from_secs(10);

/// Rate limit on refused-payload warnings.
#[derive(Default)]
pub(super) struct WarningBudget {
    window_start: Option<Instant>,
    shown: usize,
    suppressed: usize,
    /// Payloads refused lately (a hash of each), so one that arrives
    /// twice (through two broker sessions while an old one is drained, or
    /// on two epochs' topics) is warned about once.
    recent: std::collections::VecDeque<u64>,
    /// The room, for the one notice about a newer sotto; `None` once given.
    newer_notice_for: Option<String>,
}

/// Wire versions taken for a newer sotto's rather than for garbage: the
/// next few after ours. A payload starting with any other byte is warned
/// about as junk, so junk cannot pass for an upgrade notice.
const NEWER_VERSIONS: std::ops::RangeInclusive<u8> =
    crate::protocol::wire::WIRE_VERSION + 1..=crate::protocol::wire::WIRE_VERSION + 8;

/// How many refused payloads are remembered to warn about each once.
const RECENT_REFUSALS: usize = 256;

impl WarningBudget {
    /// A budget for the session of `room`.
    pub(super) fn for_room(room: &str) -> Self {
        Self {
            newer_notice_for: Some(room.to_owned()),
            ..Self::default()
        }
    }

    /// The warning for `err`, or `None` when the budget is spent.
    pub(super) fn admit(&mut self, err: OpenError) -> Option<SessionEvent> {
        if let OpenError::UnknownVersion(version) = err
            && NEWER_VERSIONS.contains(&version)
        {
            // Not an attack to count: a member upgraded. Said once.
            return self.newer_notice_for.take().map(|room| {
                SessionEvent::Warning(format!(
                    "a member uses a newer sotto; upgrade to read {room}"
                ))
            });
        }
        self.spend().then_some(SessionEvent::Dropped(err))
    }

    /// The warning for a refused `payload`, unless the same bytes were
    /// refused lately.
    pub(super) fn admit_payload(&mut self, err: OpenError, payload: &[u8]) -> Option<SessionEvent> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        payload.hash(&mut hasher);
        let digest = hasher.finish();
        if self.recent.contains(&digest) {
            return None;
        }
        if self.recent.len() >= RECENT_REFUSALS {
            self.recent.pop_front();
        }
        self.recent.push_back(digest);
        self.admit(err)
    }

    /// A refusal that is not an [`OpenError`] (a membership change the log
    /// refused), under the same budget.
    pub(super) fn admit_text(&mut self, text: String) -> Option<SessionEvent> {
        self.spend().then_some(SessionEvent::Warning(text))
    }

    fn spend(&mut self) -> bool {
        let now = Instant::now();
        let start = *self.window_start.get_or_insert(now);
        if now.duration_since(start) >= WARNING_WINDOW && self.suppressed == 0 {
            self.window_start = Some(now);
            self.shown = 0;
        }
        if self.shown < WARNINGS_PER_WINDOW {
            self.shown += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }

    pub(super) fn summary_due(&self) -> Option<Instant> {
        (self.suppressed > 0)
            .then_some(self.window_start)
            .flatten()
            .map(|start| start + WARNING_WINDOW)
    }

    pub(super) fn summary(&mut self) -> Option<SessionEvent> {
        let count = std::mem::take(&mut self.suppressed);
        self.window_start = Some(Instant::now());
        self.shown = 0;
        (count > 0).then_some(SessionEvent::DroppedMore { count })
    }
}

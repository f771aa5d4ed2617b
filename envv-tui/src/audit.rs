//! The audit screen's model: rows newest first, paged from the agent as the
//! selection nears the end, the newest page refreshed for the live tail,
//! and this machine's events shown the moment the agent records them.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use proto_ipc::{AuditFilter, AuditRow};
use uuid::Uuid;

/// Rows per page asked of the agent: big enough that scrolling rarely
/// waits, small enough that a page is a few milliseconds.
pub const PAGE: u32 = 500;

/// One line of the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `None`: recorded by this machine, not shipped yet.
    pub seq: Option<i64>,
    pub event_id: Uuid,
    /// RFC 3339.
    pub at: String,
    pub actor: Option<Uuid>,
    /// The actor's email as the control plane knows it (former members too).
    pub actor_email: Option<String>,
    pub action: String,
    pub target: Option<String>,
    /// The secret names (or the target) in one line, made once.
    pub summary: String,
    /// The details as JSON text.
    pub details: String,
}

impl Row {
    pub fn from_agent(row: AuditRow) -> Row {
        let names = serde_json::from_str::<serde_json::Value>(&row.details)
            .ok()
            .and_then(|d| {
                let names = d.get("secret_names")?.as_array()?;
                Some(
                    names
                        .iter()
                        .filter_map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })
            .filter(|n| !n.is_empty());
        // A user as a target (role changes, removals, grants) by email.
        let target = row.target_email.clone().or_else(|| row.target.clone());
        Row {
            summary: names.or(target).unwrap_or_default(),
            seq: Some(row.seq),
            event_id: row.event_id,
            at: row.at,
            actor: row.actor,
            actor_email: row.actor_email,
            action: row.action,
            target: row.target,
            details: row.details,
        }
    }
}

#[derive(Debug, Default)]
pub struct AuditView {
    /// Newest first.
    pub rows: Vec<Row>,
    pub next_cursor: Option<String>,
    /// A page is on its way.
    pub loading: bool,
    /// The first page has answered (an empty trail is not "loading").
    pub loaded: bool,
    pub error: Option<String>,
    pub filter: AuditFilter,
    /// The filter as the user typed it.
    pub filter_text: String,
    pub selected: usize,
    /// The first row on screen; the renderer keeps the selection in view.
    pub offset: usize,
    /// Bumped when the team or the filter changes, so late pages of the
    /// old query are dropped.
    pub generation: u64,
}

impl AuditView {
    /// Starts over (new team or filter): the request for the first page.
    pub fn restart(&mut self) -> AuditFilter {
        self.generation += 1;
        self.rows.clear();
        self.next_cursor = None;
        self.selected = 0;
        self.offset = 0;
        self.loaded = false;
        self.error = None;
        self.loading = true;
        self.page(None)
    }

    fn page(&self, cursor: Option<String>) -> AuditFilter {
        AuditFilter {
            cursor,
            limit: Some(PAGE),
            newest_first: true,
            ..self.filter.clone()
        }
    }

    /// The newest page again, for the live tail.
    pub fn head(&self) -> AuditFilter {
        self.page(None)
    }

    /// The next older page, when the selection is within two screens of
    /// the end and there is one.
    pub fn more(&mut self, screen: usize) -> Option<AuditFilter> {
        if self.loading || self.selected + 2 * screen < self.rows.len() {
            return None;
        }
        let cursor = self.next_cursor.clone()?;
        self.loading = true;
        Some(self.page(Some(cursor)))
    }

    /// An older page (or the first) arrived.
    pub fn on_page(&mut self, events: Vec<AuditRow>, next_cursor: Option<String>) {
        self.loading = false;
        self.loaded = true;
        self.error = None;
        self.drop_shipped(&events);
        self.rows.extend(events.into_iter().map(Row::from_agent));
        self.next_cursor = next_cursor;
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }

    /// This machine's unshipped copies of events the server now lists.
    fn drop_shipped(&mut self, events: &[AuditRow]) -> usize {
        let before = self.rows.len();
        self.rows
            .retain(|r| r.seq.is_some() || events.iter().all(|e| e.event_id != r.event_id));
        before - self.rows.len()
    }

    /// The newest page arrived: what is new goes on top, and replaces this
    /// machine's unshipped copy of the same event. True when the page is
    /// full and reaches no row already here: events in between are missing,
    /// and the view should start over.
    pub fn on_head(&mut self, events: Vec<AuditRow>) -> bool {
        self.loaded = true;
        self.error = None;
        let newest = self.rows.iter().filter_map(|r| r.seq).max().unwrap_or(0);
        let gap = newest > 0
            && events.len() >= PAGE as usize
            && events.iter().all(|e| e.seq > newest + 1);
        if gap {
            return true;
        }
        let dropped = self.drop_shipped(&events);
        let fresh: Vec<Row> = events
            .into_iter()
            .filter(|e| e.seq > newest)
            .map(Row::from_agent)
            .collect();
        let added = fresh.len();
        self.rows.splice(0..0, fresh);
        // Keep the selected row under the cursor unless it was the top one
        // (then follow the tail).
        if self.selected > 0 {
            self.selected = (self.selected + added).saturating_sub(dropped);
        }
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        false
    }

    /// This machine recorded an event; it shows before the server has it,
    /// if the filter would let it through.
    /// The user id of an actor the loaded rows name by `email`.
    pub fn actor_by_email(&self, email: &str) -> Option<Uuid> {
        self.rows.iter().find_map(|r| {
            r.actor_email
                .as_deref()
                .filter(|e| e.eq_ignore_ascii_case(email))
                .and(r.actor)
        })
    }

    pub fn on_local(&mut self, row: Row) {
        let f = &self.filter;
        let passes = f.action.as_deref().is_none_or(|a| a == row.action)
            && f.secret
                .as_deref()
                .is_none_or(|s| row.summary.split(", ").any(|n| n == s))
            && f.actor.is_none_or(|a| Some(a) == row.actor)
            && f.until.is_none();
        if !passes || self.rows.iter().any(|r| r.event_id == row.event_id) {
            return;
        }
        self.rows.insert(0, row);
        if self.selected > 0 {
            self.selected += 1;
        }
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.selected)
    }

    pub fn move_by(&mut self, delta: isize) {
        let last = self.rows.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    pub fn to_end(&mut self) {
        self.selected = self.rows.len().saturating_sub(1);
    }

    /// Moves `offset` so the selection is on a screen of `height` rows.
    pub fn scroll_into_view(&mut self, height: usize) {
        if height == 0 {
            return;
        }
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(self.rows.len().saturating_sub(height));
    }
}

/// Parses the filter line: `action:decrypt secret:DB_URL actor:bob@example.com
/// since:2d until:2026-11-01`; a bare word is a secret name. Emails are
/// looked up with `actor_id`.
pub fn parse_filter(
    text: &str,
    now: DateTime<Utc>,
    actor_id: impl Fn(&str) -> Option<Uuid>,
) -> Result<AuditFilter, String> {
    let mut filter = AuditFilter::default();
    for word in text.split_whitespace() {
        let (key, value) = word.split_once(':').unwrap_or(("secret", word));
        match key {
            "action" => filter.action = Some(value.to_owned()),
            "secret" => filter.secret = Some(value.to_owned()),
            "actor" => {
                let id = value
                    .parse::<Uuid>()
                    .ok()
                    .or_else(|| actor_id(value))
                    .ok_or_else(|| format!("no member {value} in this team"))?;
                filter.actor = Some(id);
            }
            "since" => filter.since = Some(parse_time(value, now)?),
            "until" => filter.until = Some(parse_time(value, now)?),
            other => {
                return Err(format!(
                    "unknown filter `{other}`; use action:, secret:, actor:, since:, until:"
                ));
            }
        }
    }
    Ok(filter)
}

/// RFC 3339, a date (midnight UTC), or an age: `30m`, `12h`, `7d`.
fn parse_time(value: &str, now: DateTime<Utc>) -> Result<String, String> {
    let bad = || format!("`{value}` is not a time: use 2026-11-01, RFC 3339, or 30m, 12h, 7d");
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc).to_rfc3339());
    }
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let at = day.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc();
        return Ok(at.to_rfc3339());
    }
    let (split, _) = value.char_indices().last().ok_or_else(bad)?;
    let (n, unit) = value.split_at(split);
    let n: i64 = n.parse().ok().filter(|n| *n >= 0).ok_or_else(bad)?;
    let age = match unit {
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    let at = now.checked_sub_signed(age).ok_or_else(bad)?;
    Ok(at.to_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64) -> AuditRow {
        AuditRow {
            seq,
            event_id: Uuid::from_u128(seq as u128),
            at: "2026-11-28T10:00:00+00:00".into(),
            actor: None,
            actor_email: None,
            target_email: None,
            action: "get".into(),
            target: None,
            details: r#"{"secret_names":["A","B"]}"#.into(),
        }
    }

    #[test]
    fn the_head_page_adds_only_new_rows_and_replaces_local_copies() {
        let mut view = AuditView::default();
        view.restart();
        view.on_page((1..=3).rev().map(row).collect(), None);
        let mut local = Row::from_agent(row(4));
        local.seq = None;
        view.on_local(local);
        assert_eq!(view.rows.len(), 4);
        assert!(!view.on_head((2..=5).rev().map(row).collect()));
        let seqs: Vec<_> = view.rows.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [5, 4, 3, 2, 1].map(Some));
        assert_eq!(view.rows[0].summary, "A, B");
    }

    #[test]
    fn a_local_event_shipped_before_the_first_page_shows_once() {
        let mut view = AuditView::default();
        view.restart();
        let mut local = Row::from_agent(row(3));
        local.seq = None;
        view.on_local(local);
        view.on_page((1..=3).rev().map(row).collect(), None);
        let seqs: Vec<_> = view.rows.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [3, 2, 1].map(Some));
    }

    #[test]
    fn a_full_head_page_past_a_gap_asks_to_start_over() {
        let mut view = AuditView::default();
        view.restart();
        view.on_page((1..=3).rev().map(row).collect(), None);
        let far = i64::from(PAGE) + 10;
        assert!(view.on_head((11..=far).rev().map(row).collect()));
        assert_eq!(view.rows.len(), 3, "nothing added across the gap");
    }

    #[test]
    fn more_pages_are_asked_for_near_the_end_only() {
        let mut view = AuditView::default();
        view.restart();
        view.on_page((1..=100).rev().map(row).collect(), Some("c".into()));
        assert!(view.more(20).is_none(), "far from the end");
        view.move_by(70);
        let next = view.more(20).expect("near the end");
        assert_eq!(next.cursor.as_deref(), Some("c"));
        assert!(view.more(20).is_none(), "one page at a time");
    }

    #[test]
    fn filters_parse_with_ages_dates_and_emails() {
        let now = "2026-11-28T12:00:00Z".parse().unwrap();
        let bob = Uuid::from_u128(7);
        let lookup = |email: &str| (email == "bob@example.com").then_some(bob);
        let f = parse_filter(
            "action:get DB_URL actor:bob@example.com since:2h",
            now,
            lookup,
        )
        .unwrap();
        assert_eq!(f.action.as_deref(), Some("get"));
        assert_eq!(f.secret.as_deref(), Some("DB_URL"));
        assert_eq!(f.actor, Some(bob));
        assert_eq!(f.since.as_deref(), Some("2026-11-28T10:00:00+00:00"));
        let f = parse_filter("until:2026-11-01", now, lookup).unwrap();
        assert_eq!(f.until.as_deref(), Some("2026-11-01T00:00:00+00:00"));
        for bad in [
            "actor:eve@example.com",
            "since:soon",
            "since:2д",
            "since:é",
            "since:99999999999d",
            "until:-99999999999m",
            "colour:red",
            "since:",
        ] {
            assert!(parse_filter(bad, now, lookup).is_err(), "{bad}");
        }
    }
}

//! Events and their deliveries in PostgreSQL.

use kasir_domain::{Delivery, Event, EventType};

use super::batch::{INSERT_DELIVERY, INSERT_EVENT};
use super::tx::{unstorable, PgTx};
use crate::codec::mode_of;
use crate::{EventFilter, EventRecords, Listed, PageRequest, Result, Scope, StreamCursor, StreamStart, StreamedEvent};

impl EventRecords for PgTx<'_> {
    fn insert_events(&mut self, scope: &Scope, events: &[Event]) -> Result<()> {
        for e in events {
            self.events.add(e.kind);
            self.hold(
                INSERT_EVENT,
                Some(e.id.clone()),
                vec![
                    e.id.as_str().into(),
                    scope.account_id.as_str().into(),
                    scope.mode.as_str().into(),
                    e.kind.as_str().into(),
                    e.object_id().as_str().into(),
                    e.created_at.as_micros().into(),
                    serde_json::to_string(e)?.into(),
                ],
            )?;
        }
        Ok(())
    }

    fn events_of(&mut self, scope: &Scope, object_id: &str) -> Result<Vec<Event>> {
        self.docs(
            "events",
            "SELECT data FROM events WHERE account_id = $1 AND mode = $2 AND object_id = $3 ORDER BY seq",
            &[&scope.account_id, &scope.mode.as_str(), &object_id],
        )
    }

    fn event(&mut self, scope: &Scope, id: &str) -> Result<Option<Event>> {
        self.doc("events", scope, id, false)
    }

    fn event_raw(&mut self, id: &str) -> Result<Option<(Scope, Event, String)>> {
        self.before_read("events", Some(id), false)?;
        let Some(r) = self.cached_query_opt("SELECT account_id, mode, data FROM events WHERE id = $1", &[&id])? else {
            return Ok(None);
        };
        let data: String = r.get(2);
        let event: Event = serde_json::from_str(&data)?;
        Ok(Some((Scope { account_id: r.get(0), mode: mode_of(r.get(1))? }, event, data)))
    }

    fn list_events(&mut self, scope: &Scope, filter: &EventFilter<'_>, page: &PageRequest) -> Listed<Event> {
        self.list(
            "events",
            scope,
            page,
            "AND ($4::TEXT IS NULL OR object_id = $4) AND ($5::TEXT IS NULL OR type = $5)",
            &[&filter.object_id, &filter.kind.map(EventType::as_str)],
            filter.object_id.is_some_and(unstorable),
        )
    }

    fn insert_delivery(&mut self, scope: &Scope, d: &Delivery) -> Result<()> {
        self.hold(
            INSERT_DELIVERY,
            None,
            vec![
                d.event.as_str().into(),
                scope.account_id.as_str().into(),
                scope.mode.as_str().into(),
                serde_json::to_string(d)?.into(),
            ],
        )
    }

    fn deliveries_of(&mut self, scope: &Scope, event_id: &str) -> Result<Vec<Delivery>> {
        self.docs(
            "deliveries",
            "SELECT data FROM deliveries WHERE event_id = $1 AND account_id = $2 AND mode = $3 ORDER BY seq",
            &[&event_id, &scope.account_id, &scope.mode.as_str()],
        )
    }

    fn stream_start(&mut self) -> Result<StreamStart> {
        // Every transaction below the snapshot's xmin has ended: start just after them, and leave out
        // those between xmin and xmax that had committed too (all but the running ones).
        let r = self.cached_query_one(
            "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint,
                    array(SELECT x::text::bigint FROM pg_snapshot_xip(s) x)
             FROM (SELECT pg_current_snapshot() s) q",
            &[],
        )?;
        let (xmin, xmax, running): (i64, i64, Vec<i64>) = (r.get(0), r.get(1), r.get(2));
        Ok(StreamStart { cursor: StreamCursor { tx: xmin - 1, seq: i64::MAX }, xmax, running })
    }

    fn stream_horizon(&mut self) -> Result<i64> {
        let r = self.cached_query_one("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint", &[])?;
        Ok(r.get(0))
    }

    fn stream_position(&mut self, scope: &Scope, event_id: &str) -> Result<Option<StreamCursor>> {
        if unstorable(event_id) {
            return Ok(None);
        }
        self.before_read("events", Some(event_id), false)?;
        let row = self.cached_query_opt(
            "SELECT tx, seq FROM events WHERE id = $1 AND account_id = $2 AND mode = $3",
            &[&event_id, &scope.account_id, &scope.mode.as_str()],
        )?;
        Ok(row.map(|r| StreamCursor { tx: r.get(0), seq: r.get(1) }))
    }

    fn stream_after(&mut self, scope: &Scope, cursor: StreamCursor, limit: usize) -> Result<Vec<StreamedEvent>> {
        self.before_read("events", None, false)?;
        // Only events of transactions below the snapshot's xmin: all of those have ended, so no event a
        // later read finds can come before the ones read now, however the commits were ordered.
        let rows = self.cached_query(
            "SELECT tx, seq, id, type, data FROM events
             WHERE account_id = $1 AND mode = $2 AND (tx, seq) > ($3, $4)
               AND tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
             ORDER BY tx, seq LIMIT $5",
            &[&scope.account_id, &scope.mode.as_str(), &cursor.tx, &cursor.seq, &(limit as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| StreamedEvent {
                at: StreamCursor { tx: r.get(0), seq: r.get(1) },
                id: r.get(2),
                kind: r.get(3),
                data: r.get(4),
            })
            .collect())
    }
}

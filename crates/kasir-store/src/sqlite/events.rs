//! Events and their deliveries in SQLite.

use kasir_domain::{Delivery, Event, EventType};
use rusqlite::{params, OptionalExtension};

use super::tx::SqliteTx;
use crate::codec::mode_of;
use crate::{EventFilter, EventRecords, Listed, PageRequest, Result, Scope, StreamCursor, StreamStart, StreamedEvent};

impl EventRecords for SqliteTx<'_> {
    fn insert_events(&mut self, scope: &Scope, events: &[Event]) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO events (id, account_id, mode, type, object_id, created_at, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for e in events {
            self.events.add(e.kind);
            st.execute(params![
                e.id,
                scope.account_id,
                scope.mode.as_str(),
                e.kind.as_str(),
                e.object_id(),
                e.created_at.as_micros(),
                serde_json::to_string(e)?
            ])?;
        }
        Ok(())
    }

    fn events_of(&mut self, scope: &Scope, object_id: &str) -> Result<Vec<Event>> {
        self.docs(
            "SELECT data FROM events WHERE account_id = ?1 AND mode = ?2 AND object_id = ?3 ORDER BY seq",
            &[&scope.account_id, &scope.mode.as_str(), &object_id],
        )
    }

    fn event(&mut self, scope: &Scope, id: &str) -> Result<Option<Event>> {
        self.get_doc("events", scope, id)
    }

    fn event_raw(&mut self, id: &str) -> Result<Option<(Scope, Event, String)>> {
        let mut st = self.conn.prepare_cached("SELECT account_id, mode, data FROM events WHERE id = ?1")?;
        let row: Option<(String, String, String)> =
            st.query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
        let Some((account_id, mode, data)) = row else { return Ok(None) };
        let event: Event = serde_json::from_str(&data)?;
        Ok(Some((Scope { account_id, mode: mode_of(&mode)? }, event, data)))
    }

    fn list_events(&mut self, scope: &Scope, filter: &EventFilter<'_>, page: &PageRequest) -> Listed<Event> {
        self.list(
            "events",
            scope,
            page,
            "AND (?4 IS NULL OR object_id = ?4) AND (?5 IS NULL OR type = ?5)",
            &[&filter.object_id, &filter.kind.map(EventType::as_str)],
        )
    }

    fn insert_delivery(&mut self, scope: &Scope, d: &Delivery) -> Result<()> {
        self.conn
            .prepare_cached("INSERT INTO deliveries (event_id, account_id, mode, data) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![d.event, scope.account_id, scope.mode.as_str(), serde_json::to_string(d)?])?;
        Ok(())
    }

    fn deliveries_of(&mut self, scope: &Scope, event_id: &str) -> Result<Vec<Delivery>> {
        self.docs(
            "SELECT data FROM deliveries WHERE event_id = ?1 AND account_id = ?2 AND mode = ?3 ORDER BY seq",
            &[&event_id, &scope.account_id, &scope.mode.as_str()],
        )
    }

    fn stream_start(&mut self) -> Result<StreamStart> {
        // One writer commits in `seq` order: what is committed is a prefix of `seq`.
        let seq: i64 = self.conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?;
        Ok(StreamStart { cursor: StreamCursor { tx: 0, seq }, xmax: 0, running: Vec::new() })
    }

    fn stream_horizon(&mut self) -> Result<i64> {
        Ok(i64::MAX)
    }

    fn stream_position(&mut self, scope: &Scope, event_id: &str) -> Result<Option<StreamCursor>> {
        let mut st =
            self.conn.prepare_cached("SELECT tx, seq FROM events WHERE id = ?1 AND account_id = ?2 AND mode = ?3")?;
        Ok(st
            .query_row(params![event_id, scope.account_id, scope.mode.as_str()], |r| {
                Ok(StreamCursor { tx: r.get(0)?, seq: r.get(1)? })
            })
            .optional()?)
    }

    fn stream_after(&mut self, scope: &Scope, cursor: StreamCursor, limit: usize) -> Result<Vec<StreamedEvent>> {
        // `tx` is always 0 here (one writer commits in `seq` order): `seq` alone orders the stream, on
        // the index the lists use.
        let mut st = self.conn.prepare_cached(
            "SELECT tx, seq, id, type, data FROM events
             WHERE account_id = ?1 AND mode = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
        )?;
        let rows = st.query_map(params![scope.account_id, scope.mode.as_str(), cursor.seq, limit as i64], |r| {
            Ok(StreamedEvent {
                at: StreamCursor { tx: r.get(0)?, seq: r.get(1)? },
                id: r.get(2)?,
                kind: r.get(3)?,
                data: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

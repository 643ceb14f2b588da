//! The job table in SQLite. The writer is the only writer, so select-then-update cannot hand one job
//! to two workers.

use std::time::Duration;

use kasir_domain::Timestamp;
use rusqlite::params;

use super::tx::SqliteTx;
use crate::{Job, JobRecords, Result};

impl SqliteTx<'_> {
    /// Up to `limit` due, unleased jobs of these kinds, kind by kind, oldest first; `tries` counts the
    /// try about to be made.
    fn due_jobs(&self, kinds: &[&str], now: Timestamp, limit: usize) -> Result<Vec<Job>> {
        let mut jobs = Vec::new();
        for kind in kinds {
            if jobs.len() >= limit {
                break;
            }
            let mut st = self.conn.prepare_cached(
                "SELECT id, kind, payload, tries, run_at FROM jobs
                 WHERE kind = ?1 AND run_at <= ?2 AND locked_until <= ?2 ORDER BY run_at LIMIT ?3",
            )?;
            let rows = st.query_map(params![kind, now.as_micros(), (limit - jobs.len()) as i64], |r| {
                Ok(Job {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    payload: r.get(2)?,
                    tries: r.get::<_, u32>(3)? + 1,
                    run_at: Timestamp::from_micros(r.get(4)?),
                })
            })?;
            for j in rows {
                jobs.push(j?);
            }
        }
        Ok(jobs)
    }
}

impl JobRecords for SqliteTx<'_> {
    fn insert_job(&mut self, kind: &str, payload: &str, run_at: Timestamp, now: Timestamp) -> Result<()> {
        let mut st =
            self.conn.prepare_cached("INSERT INTO jobs (kind, payload, run_at, created_at) VALUES (?1, ?2, ?3, ?4)")?;
        st.execute(params![kind, payload, run_at.as_micros(), now.as_micros()])?;
        Ok(())
    }

    fn claim_jobs(&mut self, kinds: &[&str], now: Timestamp, limit: usize, lease: Duration) -> Result<Vec<Job>> {
        let jobs = self.due_jobs(kinds, now, limit)?;
        let until = now.plus(lease).as_micros();
        let mut up = self.conn.prepare_cached("UPDATE jobs SET locked_until = ?2, tries = tries + 1 WHERE id = ?1")?;
        for j in &jobs {
            up.execute(params![j.id, until])?;
        }
        Ok(jobs)
    }

    fn take_due_jobs(&mut self, kinds: &[&str], now: Timestamp, limit: usize) -> Result<Vec<Job>> {
        let jobs = self.due_jobs(kinds, now, limit)?;
        for j in &jobs {
            self.delete_job(j.id)?;
        }
        Ok(jobs)
    }

    fn insert_leased_job(
        &mut self,
        kind: &str,
        payload: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Option<i64>> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO jobs (kind, payload, run_at, created_at, locked_until, tries) VALUES (?1, ?2, ?3, ?4, ?5, 1)",
        )?;
        st.execute(params![kind, payload, now.as_micros(), now.as_micros(), until.as_micros()])?;
        Ok(Some(self.conn.last_insert_rowid()))
    }

    fn delete_job(&mut self, id: i64) -> Result<()> {
        self.conn.prepare_cached("DELETE FROM jobs WHERE id = ?1")?.execute(params![id])?;
        Ok(())
    }

    fn reschedule_job(&mut self, id: i64, run_at: Timestamp) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE jobs SET run_at = ?2, locked_until = 0 WHERE id = ?1")?
            .execute(params![id, run_at.as_micros()])?;
        Ok(())
    }

    fn park_job(&mut self, id: i64, run_at: Timestamp) -> Result<()> {
        self.conn.execute(
            "UPDATE jobs SET run_at = ?2, locked_until = 0, tries = max(tries - 1, 0) WHERE id = ?1",
            params![id, run_at.as_micros()],
        )?;
        Ok(())
    }

    fn has_due_job(&mut self, kinds: &[&str], now: Timestamp) -> Result<bool> {
        for kind in kinds {
            // An index range scan on (kind, run_at): cheap however many jobs wait for later.
            let mut st = self
                .conn
                .prepare_cached("SELECT 1 FROM jobs WHERE kind = ?1 AND run_at <= ?2 AND locked_until <= ?2 LIMIT 1")?;
            if st.exists(params![kind, now.as_micros()])? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn job_counts(&mut self, now: Timestamp) -> Result<(i64, i64, i64)> {
        let now = now.as_micros();
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(run_at <= ?1 AND locked_until <= ?1), 0),
                    coalesce(sum(locked_until > ?1), 0),
                    coalesce(sum(run_at > ?1 AND locked_until <= ?1), 0) FROM jobs",
            params![now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    }

    fn due_by_kind(&mut self, now: Timestamp) -> Result<Vec<(String, i64, Timestamp)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT kind, count(*), min(run_at) FROM jobs WHERE run_at <= ?1 AND locked_until <= ?1 GROUP BY kind",
        )?;
        let rows =
            st.query_map(params![now.as_micros()], |r| Ok((r.get(0)?, r.get(1)?, Timestamp::from_micros(r.get(2)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

//! The job table in PostgreSQL: claimed with `FOR UPDATE SKIP LOCKED`, so any number of processes share it.

use std::time::Duration;

use kasir_domain::Timestamp;
use postgres::Row;

use super::batch::{DELETE_JOB, INSERT_JOB, RESCHEDULE_JOB};
use super::tx::PgTx;
use crate::{Job, JobRecords, Result};

/// Jobs from `id, kind, payload, tries, run_at` rows, oldest first; `extra_tries` is added to the stored
/// count so that `tries` includes the try about to be made.
fn jobs_of(rows: &[Row], extra_tries: u32) -> Vec<Job> {
    let mut jobs: Vec<Job> = rows
        .iter()
        .map(|r| Job {
            id: r.get(0),
            kind: r.get(1),
            payload: r.get(2),
            tries: r.get::<_, i32>(3) as u32 + extra_tries,
            run_at: Timestamp::from_micros(r.get(4)),
        })
        .collect();
    jobs.sort_by_key(|j| (j.run_at, j.id));
    jobs
}

fn owned(kinds: &[&str]) -> Vec<String> {
    kinds.iter().map(|k| k.to_string()).collect()
}

impl JobRecords for PgTx<'_> {
    fn insert_job(&mut self, kind: &str, payload: &str, run_at: Timestamp, now: Timestamp) -> Result<()> {
        self.hold(
            INSERT_JOB,
            None,
            vec![kind.into(), payload.into(), run_at.as_micros().into(), now.as_micros().into()],
        )
    }

    fn claim_jobs(&mut self, kinds: &[&str], now: Timestamp, limit: usize, lease: Duration) -> Result<Vec<Job>> {
        self.before_write()?;
        let rows = self.cached_query(
            "UPDATE jobs SET locked_until = $3, tries = tries + 1
             WHERE id IN (SELECT id FROM jobs WHERE kind = ANY($1) AND run_at <= $2 AND locked_until <= $2
                          ORDER BY run_at LIMIT $4 FOR UPDATE SKIP LOCKED)
             RETURNING id, kind, payload, tries, run_at",
            &[&owned(kinds), &now.as_micros(), &now.plus(lease).as_micros(), &(limit as i64)],
        )?;
        Ok(jobs_of(&rows, 0))
    }

    fn take_due_jobs(&mut self, kinds: &[&str], now: Timestamp, limit: usize) -> Result<Vec<Job>> {
        self.before_write()?;
        let rows = self.cached_query(
            "DELETE FROM jobs
             WHERE id IN (SELECT id FROM jobs WHERE kind = ANY($1) AND run_at <= $2 AND locked_until <= $2
                          ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id, kind, payload, tries, run_at",
            &[&owned(kinds), &now.as_micros(), &(limit as i64)],
        )?;
        Ok(jobs_of(&rows, 1))
    }

    fn insert_leased_job(
        &mut self,
        kind: &str,
        payload: &str,
        now: Timestamp,
        _until: Timestamp,
    ) -> Result<Option<i64>> {
        // Learning the id would cost a round trip per job; the job goes out with the batch, unleased.
        self.insert_job(kind, payload, now, now)?;
        Ok(None)
    }

    fn delete_job(&mut self, id: i64) -> Result<()> {
        self.hold(DELETE_JOB, Some(id.to_string()), vec![id.into()])
    }

    fn reschedule_job(&mut self, id: i64, run_at: Timestamp) -> Result<()> {
        self.hold(RESCHEDULE_JOB, Some(id.to_string()), vec![id.into(), run_at.as_micros().into()])
    }

    fn park_job(&mut self, id: i64, run_at: Timestamp) -> Result<()> {
        self.before_write()?;
        self.cached_execute(
            "UPDATE jobs SET run_at = $2, locked_until = 0, tries = GREATEST(tries - 1, 0) WHERE id = $1",
            &[&id, &run_at.as_micros()],
        )?;
        Ok(())
    }

    fn has_due_job(&mut self, kinds: &[&str], now: Timestamp) -> Result<bool> {
        self.before_read("jobs", None, false)?;
        // One index probe per kind. The plain form (`kind = ANY($1) … LIMIT 1`) gets a generic plan that
        // scans the whole table, expecting an early match: with every timer in the future, each look
        // read every row (measured: most of PostgreSQL's time under create+confirm load).
        let row = self.cached_query_opt(
            "SELECT 1 FROM unnest($1::text[]) AS k(kind)
             CROSS JOIN LATERAL (SELECT 1 FROM jobs j WHERE j.kind = k.kind AND j.run_at <= $2
                                 AND j.locked_until <= $2 ORDER BY j.run_at LIMIT 1) due
             LIMIT 1",
            &[&owned(kinds), &now.as_micros()],
        )?;
        Ok(row.is_some())
    }

    fn job_counts(&mut self, now: Timestamp) -> Result<(i64, i64, i64)> {
        self.before_read("jobs", None, false)?;
        let r = self.cached_query_one(
            "SELECT count(*) FILTER (WHERE run_at <= $1 AND locked_until <= $1),
                    count(*) FILTER (WHERE locked_until > $1),
                    count(*) FILTER (WHERE run_at > $1 AND locked_until <= $1) FROM jobs",
            &[&now.as_micros()],
        )?;
        Ok((r.get(0), r.get(1), r.get(2)))
    }

    fn due_by_kind(&mut self, now: Timestamp) -> Result<Vec<(String, i64, Timestamp)>> {
        self.before_read("jobs", None, false)?;
        let rows = self.cached_query(
            "SELECT kind, count(*), min(run_at) FROM jobs WHERE run_at <= $1 AND locked_until <= $1 GROUP BY kind",
            &[&now.as_micros()],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), Timestamp::from_micros(r.get(2)))).collect())
    }
}

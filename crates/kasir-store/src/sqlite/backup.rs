//! A consistent copy of a live SQLite database, made with SQLite's online backup beside a running
//! server: pages are copied a step at a time, and a step that sees the source change starts the copy
//! again from where SQLite says, so the copy is of one committed state.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;

use crate::StoreError;

/// Pages copied per step (1 MiB at the default 4 KiB page).
const PAGES_PER_STEP: i32 = 256;

/// Copies the database at `source` to `dest` (which must not exist), calling `progress(done, total)`
/// in pages after each step. The copy is written beside `dest` and renamed into place once complete,
/// so a backup that fails leaves no file that looks whole.
pub(crate) fn backup(source: &Path, dest: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<(), StoreError> {
    if dest.exists() {
        return Err(StoreError::Unavailable(format!("{} exists; give a new file", dest.display())));
    }
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let from = Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    from.busy_timeout(Duration::from_secs(5))?;
    {
        let mut to = Connection::open(&partial)?;
        let b = Backup::new(&from, &mut to)?;
        loop {
            let step = b.step(PAGES_PER_STEP)?;
            let p = b.progress();
            let total = p.pagecount.max(0) as u64;
            progress(total.saturating_sub(p.remaining.max(0) as u64), total);
            match step {
                StepResult::Done => break,
                StepResult::More => {}
                // The writer holds the file for a moment: try again shortly.
                StepResult::Busy | StepResult::Locked => std::thread::sleep(Duration::from_millis(10)),
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
    // The copy is in the source's journal mode (WAL); make it one self-contained file before it is
    // moved (a server opening it turns WAL back on).
    let _: String = Connection::open(&partial)?.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    std::fs::rename(&partial, dest)
        .map_err(|e| StoreError::Unavailable(format!("cannot move the copy into place: {e}")))?;
    Ok(())
}

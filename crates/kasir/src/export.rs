//! `kasir export payins|refunds --since … [--until …] --format csv|jsonl`: a reconciliation file of the
//! objects made in a time range, read through the API a page at a time and written as it is read. The
//! CSV columns are the dashboard's (`kasir_app::reports`).

use std::io::Write as _;

use kasir_app::reports;
use serde_json::Value;

use kasir_client::ListParams;

use crate::remote::Connection;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    Payins,
    Refunds,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// What to export.
    pub what: What,
    /// Objects made at or after this RFC 3339 time (`2026-12-01T00:00:00+07:00`).
    #[arg(long)]
    pub since: String,
    /// Objects made before this RFC 3339 time; now without it.
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Where to write; standard output without it.
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,
}

fn check_time(flag: &str, t: &str) -> Result<(), String> {
    kasir_domain::Timestamp::parse_rfc3339(t)
        .map(drop)
        .ok_or_else(|| format!("{flag} {t:?} is not an RFC 3339 time, such as 2026-12-01T00:00:00+07:00"))
}

/// A row of the CSV for one object as the API answers it.
fn csv_row(what: What, v: &Value) -> Result<String, String> {
    Ok(match what {
        What::Payins => {
            let p: kasir_domain::Payin = serde_json::from_value(v.clone()).map_err(|e| format!("a payin: {e}"))?;
            reports::csv_line(&reports::payin_row(&p))
        }
        What::Refunds => {
            let r: kasir_domain::Refund = serde_json::from_value(v.clone()).map_err(|e| format!("a refund: {e}"))?;
            reports::csv_line(&reports::refund_row(&r))
        }
    })
}

pub fn export(args: ExportArgs) -> Result<(), String> {
    check_time("--since", &args.since)?;
    if let Some(u) = &args.until {
        check_time("--until", u)?;
    }
    let kasir = args.connection.key()?.client(&args.connection.base());
    let mut out: Box<dyn std::io::Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let (path, name) = match args.what {
        What::Payins => ("/v3/payin", "payins"),
        What::Refunds => ("/v3/refund", "refunds"),
    };
    if args.format == Format::Csv {
        let header = match args.what {
            What::Payins => reports::csv_line(&reports::PAYIN_COLUMNS),
            What::Refunds => reports::csv_line(&reports::REFUND_COLUMNS),
        };
        out.write_all(header.as_bytes()).map_err(|e| e.to_string())?;
    }
    let mut params = ListParams::default().filter("created_from", &args.since);
    if let Some(u) = &args.until {
        params = params.filter("created_to", u);
    }
    let mut objects = kasir.list::<Value>(path, params);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let mut written = 0usize;
    let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    runtime.block_on(async {
        while let Some(v) = objects.next().await.map_err(|e| format!("{path}: {e}"))? {
            let line = match args.format {
                Format::Csv => csv_row(args.what, &v)?,
                Format::Jsonl => format!("{v}\n"),
            };
            out.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
            written += 1;
            if on_terminal && written.is_multiple_of(100) {
                eprint!("\rexported {written} {name}");
                let _ = std::io::stderr().flush();
            }
        }
        Ok::<_, String>(())
    })?;
    // On a terminal the count was kept up to date on this line; the total ends it, or stands alone.
    eprintln!("{}exported {written} {name}", if on_terminal { "\r" } else { "" });
    out.flush().map_err(|e| e.to_string())
}

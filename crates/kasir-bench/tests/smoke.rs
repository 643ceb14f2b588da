//! The benchmark's smoke run: every scenario for a moment, so the tool cannot rot. It asserts nothing
//! about speed, only that each part ran and reported.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_benchmark_runs_every_scenario_and_reports() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_kasir-bench"));
    let kasir = bench.with_file_name("kasir");
    assert!(kasir.exists(), "{} is built with the workspace", kasir.display());
    let workdir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-smoke");
    let mut cmd = Command::new(&bench);
    cmd.arg("--smoke").arg("--kasir").arg(&kasir).arg("--workdir").arg(&workdir);
    match std::env::var("KASIR_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            cmd.env("KASIR_BENCH_POSTGRES_URL", url);
        }
        _ => {
            cmd.env_remove("KASIR_BENCH_POSTGRES_URL");
        }
    }
    let out = cmd.output().expect("run kasir-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kasir-bench --smoke failed:\n{stdout}\n{stderr}");
    for part in [
        "create+confirm (c=16)      ",
        "GET payin (c=16)",
        "GET checkout page (c=16)",
        "GET checkout page / GET payin",
        "create+confirm at",
        "kasir-sqlite",
        "ceiling",
        "Ratios",
        "Lifecycle",
        "burst:",
        "Memory: idle RSS",
        "200 of 200 live confirms",
        "settled: 200 succeeded in Kasir, 200 charged of 200 pushes",
    ] {
        assert!(stdout.contains(part.trim_end()), "the report lacks {part:?}:\n{stdout}");
    }
    if std::env::var("KASIR_TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty()) {
        assert!(stdout.contains("kasir-postgres"), "PostgreSQL was measured:\n{stdout}");
    }
    println!("{stdout}");
}

/// `--only` runs the parts named and nothing else.
#[test]
fn only_runs_the_parts_named() {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_kasir-bench"));
    let kasir = bench.with_file_name("kasir");
    let workdir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-smoke-only");
    let out = Command::new(&bench)
        .args(["--smoke", "--no-localstripe", "--only", "burst,memory", "--kasir"])
        .arg(&kasir)
        .arg("--workdir")
        .arg(&workdir)
        .env_remove("KASIR_BENCH_POSTGRES_URL")
        .output()
        .expect("run kasir-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kasir-bench --only failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for part in ["burst:", "Memory: idle RSS"] {
        assert!(stdout.contains(part), "the report lacks {part:?}:\n{stdout}");
    }
    for part in ["Ratios", "GET payin", "steady", "peak RSS under load", "OVO ("] {
        assert!(!stdout.contains(part), "{part:?} was not asked for:\n{stdout}");
    }

    let out = Command::new(&bench).args(["--only", "nothing"]).output().expect("run kasir-bench");
    assert!(!out.status.success(), "an unknown part is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing"));
}

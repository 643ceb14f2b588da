//! Webhook signatures, checked by code not written here: the `standardwebhooks` package from PyPI for the
//! Standard Webhooks headers, and Python's own `hmac` for Tazapay's `signature`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use kasir_domain::Clock as _;
use serde_json::json;

use crate::helpers::{confirm, new_payin, Hit, Receiver, TestApp};

/// A Python with `standardwebhooks` installed: `KASIR_TEST_PYTHON`, or a virtualenv made on first use.
/// Without Python or PyPI the test is skipped with a message, except under CI, where it fails.
///
/// The SQLite and PostgreSQL variants run at once, as two threads (`cargo test`) or two processes
/// (nextest), so the virtualenv is made under a file lock (`flock`, which excludes both): two half-made
/// venvs in one directory would break each other.
fn python() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("KASIR_TEST_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&tmp).unwrap();
    let lock = std::fs::File::create(tmp.join("standardwebhooks-venv.lock")).unwrap();
    lock.lock().unwrap();
    let venv = tmp.join("standardwebhooks-venv");
    let py = venv.join("bin").join("python");
    let has_package =
        |py: &PathBuf| Command::new(py).args(["-c", "import standardwebhooks"]).status().is_ok_and(|s| s.success());
    if !has_package(&py) {
        // A venv left half-made by an interrupted run is started over.
        let _ = std::fs::remove_dir_all(&venv);
        let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success())
            && Command::new(&py)
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "standardwebhooks"])
                .status()
                .is_ok_and(|s| s.success());
        if !made || !has_package(&py) {
            let msg = "python3 with the standardwebhooks package is needed to verify signatures independently \
                       (python3 -m venv + pip install standardwebhooks failed); set KASIR_TEST_PYTHON to a Python that has it";
            assert!(std::env::var("CI").is_err(), "{msg}");
            eprintln!("SKIPPED signature verification: {msg}");
            return None;
        }
    }
    Some(py)
}

const VERIFY: &str = r#"
import base64, hashlib, hmac, json, sys
from standardwebhooks.webhooks import Webhook
req = json.load(sys.stdin)
body = req["body"]
headers = req["headers"]
# Standard Webhooks, by the reference implementation, with every secret given.
for secret in req["secrets"]:
    Webhook(secret).verify(body, headers)
# Tazapay: base64(HMAC-SHA256(secret as shown, id + body + created_at)).
event = json.loads(body)
want = base64.b64encode(hmac.new(req["tazapay_secret"].encode(), (event["id"] + body + event["created_at"]).encode(), hashlib.sha256).digest()).decode()
assert headers["signature"] == want, (headers["signature"], want)
# A verifier that parses created_at and writes it again as Go's RFC3339Nano (as Tazapay's clients do)
# signs the same message.
from datetime import datetime, timezone
at = datetime.strptime(event["created_at"].replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z" if "." in event["created_at"] else "%Y-%m-%dT%H:%M:%S%z")
frac = ("%06d" % at.microsecond).rstrip("0")
again = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + ("." + frac if frac else "") + "Z"
assert again == event["created_at"], (again, event["created_at"])
print("verified")
"#;

fn verify(py: &PathBuf, hit: &Hit, secrets: &[&str], tazapay_secret: &str) -> Result<(), String> {
    let headers: serde_json::Map<String, serde_json::Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature", "signature"]
            .iter()
            .map(|h| (h.to_string(), json!(hit.header(h))))
            .collect();
    let input = json!({
        "body": String::from_utf8(hit.body.clone()).unwrap(),
        "headers": headers,
        "secrets": secrets,
        "tazapay_secret": tazapay_secret,
    });
    let mut child = Command::new(py)
        .args(["-c", VERIFY])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("verified") {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

backend_tests! {
async fn signatures_verify_with_independent_implementations_across_a_rotation() {
    let Some(py) = python() else { return };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let account = app.account().await;
    let now = app.clock.now();
    let acct = account.clone();
    let old = app.store.write(move |tx| kasir_app::accounts::signing_secrets(tx, &acct, now)).await.unwrap().remove(0);
    assert!(old.starts_with("whsec_"));

    let id = app.kasir.create_payin(&new_payin(5_000_000).webhook_url(&receiver.url)).await.unwrap().id;
    let pat = app.kasir.confirm_payin_with(&id, &confirm("81234567890")).await.unwrap().latest_payment_attempt;
    let hits = receiver.wait_for(5, |h| h.len() == 1).await;
    verify(&py, &hits[0], &[&old], &old).expect("signed with the account's secret");
    assert!(verify(&py, &hits[0], &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], &old).is_err(), "another secret fails");
    let mut tampered = hits[0].clone();
    tampered.body = String::from_utf8(tampered.body).unwrap().replace("requires_action", "succeeded").into_bytes();
    assert!(verify(&py, &tampered, &[&old], &old).is_err(), "a changed body fails");

    // Rotate: for 24 hours both secrets sign; Tazapay's header uses the new one.
    let acct = account.clone();
    let new = app.store.write(move |tx| kasir_app::accounts::rotate_secret(tx, &acct, now)).await.unwrap();
    app.kasir.sandbox_attempt(&pat, true, None).await.unwrap();
    let hits = receiver.wait_for(5, |h| h.len() == 2).await;
    assert_eq!(hits[1].header("webhook-signature").split(' ').count(), 2);
    verify(&py, &hits[1], &[&new, &old], &new).expect("both secrets verify during the overlap");

    // The overlap lasts 24 hours from the rotation.
    let acct = account.clone();
    let rec = app.store.read(move |tx| tx.account(&acct)).await.unwrap().unwrap();
    assert_eq!(rec.previous_webhook_secret.as_ref().map(|p| p.1), Some(now.plus(Duration::from_secs(24 * 3600))));
    // Once it has lapsed only the new secret signs. (The lapse is set rather than waited for, so that
    // the signing timestamp stays within the verifier's five-minute tolerance.)
    let (acct, new2, old2) = (account.clone(), new.clone(), old.clone());
    app.store
        .write(move |tx| tx.set_webhook_secret(&acct, &new2, Some((&old2, now.minus(Duration::from_secs(1))))))
        .await
        .unwrap();
    let evt = hits[1].header("webhook-id");
    app.kasir.resend_event(&evt).await.unwrap();
    let hits = receiver.wait_for(5, |h| h.len() == 3).await;
    assert_eq!(hits[2].header("webhook-signature").split(' ').count(), 1);
    verify(&py, &hits[2], &[&new], &new).expect("the new secret verifies");
    assert!(verify(&py, &hits[2], &[&old], &new).is_err(), "the old secret no longer does");
}
}

backend_tests! {
async fn an_accounts_first_signing_secret_is_set_once() {
    // Two transactions that both found no secret (two processes on PostgreSQL, or `kasir
    // webhook-secret show` beside a server's first delivery): only the first sets one, and the other
    // signs with it, so the secret the merchant is shown is the one webhooks carry.
    use kasir_store::StoreError;
    let app = TestApp::spawn().await;
    let acct = app.account().await;
    app.sql("UPDATE accounts SET webhook_secret = NULL, previous_webhook_secret = NULL").await;
    let (a, first, second) = (acct.clone(), "first-secret", "second-secret");
    let set = app
        .store
        .write(move |tx| Ok::<_, StoreError>((tx.init_webhook_secret(&a, first)?, tx.init_webhook_secret(&a, second)?)))
        .await
        .unwrap();
    assert_eq!(set, (true, false));
    let now = app.clock.now();
    let secrets = app.store.write(move |tx| kasir_app::accounts::signing_secrets(tx, &acct, now)).await.unwrap();
    assert_eq!(secrets, [first]);
}
}

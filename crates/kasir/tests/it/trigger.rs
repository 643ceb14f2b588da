//! `kasir trigger EVENT`: the event really happens on the server, through its API and the sandbox
//! controls, and its webhook is sent as for any payment.

use std::process::Command;

use crate::helpers::{Receiver, TestApp};

fn trigger(base: &str, args: &[&str]) -> std::process::Output {
    crate::serve::remote(base, &[&["trigger"], args].concat()).output().expect("kasir trigger")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_makes_each_event_happen_and_its_webhook_arrive() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let everything = kasir_client::EndpointSettings {
        url: Some(receiver.url.clone()),
        enabled_events: Some(vec!["*".into()]),
        status: None,
    };
    app.kasir.create_webhook_endpoint(&everything).await.unwrap();
    let a = app.base.clone();
    let three = tokio::task::spawn_blocking(move || trigger(&a, &["payin.succeeded", "--count", "3"])).await.unwrap();
    assert!(three.status.success(), "{}", String::from_utf8_lossy(&three.stderr));
    // Not on a terminal: the finished bar alone, no carriage returns.
    assert_eq!(
        String::from_utf8_lossy(&three.stderr),
        format!("[{}] 3/3\n", "#".repeat(30)),
        "the progress bar's last line"
    );
    for event in ["refund.succeeded", "checkout.paid", "payment_attempt.failed", "payin.cancelled", "checkout.expired"]
    {
        let a = app.base.clone();
        let one = tokio::task::spawn_blocking(move || trigger(&a, &[event])).await.unwrap();
        let out = String::from_utf8_lossy(&one.stdout).to_string();
        assert!(one.status.success(), "{event}: {}", String::from_utf8_lossy(&one.stderr));
        assert!(out.starts_with(&format!("{event}: ")), "{out}");
    }
    let hits = receiver
        .wait_for(10, |h| {
            let n = |t: &str| h.iter().filter(|x| x.json()["type"] == t).count();
            n("payin.succeeded") >= 5
                && n("refund.succeeded") == 1
                && n("checkout.paid") == 1
                && n("payment_attempt.failed") == 1
                && n("checkout.expired") == 1
        })
        .await;
    // payin.succeeded: three triggered, and one each under the refund and the checkout.
    assert_eq!(hits.iter().filter(|h| h.json()["type"] == "payin.succeeded").count(), 5);
    // payin.cancelled is recorded (its webhook is off by default, as the account's switches have it):
    // the triggered one, and the expired checkout's payin.
    let cancelled = app.get("/v3/event?type=payin.cancelled").await;
    assert_eq!(cancelled.data()["data"].as_array().unwrap().len(), 2);

    let a = app.base.clone();
    let bad = tokio::task::spawn_blocking(move || trigger(&a, &["payin.processing"])).await.unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--list"));
    let list = Command::new(env!("CARGO_BIN_EXE_kasir")).args(["trigger", "--list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("refund.succeeded"));
}

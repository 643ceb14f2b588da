//! The dashboard in headless Chromium, on SQLite: a support person on a phone finds a paid payin by
//! its reference, refunds it from the button and sees the refund succeed and its webhook delivered,
//! exports the list as CSV (checked row by row), is refused a developer's page and its post, and a
//! user is locked out after five wrong passwords; a developer on a desktop makes and revokes a key
//! (the revoked key gets 401), adds a webhook endpoint that receives the next event, and sees the
//! LIVE banner. Every page on the way is photographed for `docs/dashboard/`.

use std::time::Duration;

use fantoccini::Locator;
use kasir_app::users::Role;

use crate::browser::{bounded, Browser, Look, PHONE};
use crate::dashboard::{paid, pay, user, PASSWORD};
use kasir_client::ListParams;

use crate::helpers::{basic, confirm, new_payin, Receiver, TestApp};

const DESKTOP: Look = Look { phone: false, javascript: true, languages: "id-ID,id" };

async fn sign_in(b: &Browser, base: &str, email: &str, password: &str) {
    b.go(&format!("{base}/dashboard/login")).await;
    b.fill("#email", email).await;
    b.fill("#password", password).await;
    b.click("form button[type=submit]").await;
}

/// The browser's session cookie, for requests made beside it.
async fn session(b: &Browser) -> String {
    let c = b.client.get_named_cookie("kasir_session").await.expect("a session cookie");
    format!("kasir_session={}", c.value())
}

async fn csrf(b: &Browser) -> String {
    let e = b.client.find(Locator::Css("input[name=csrf]")).await.expect("a form");
    e.attr("value").await.unwrap().unwrap_or_default()
}

#[tokio::test]
async fn a_support_person_finds_a_paid_payin_refunds_it_sees_its_webhook_and_exports_the_list() {
    bounded(async {
        let app = TestApp::spawn().await;
        let receiver = Receiver::start().await;
        user(&app, "cs@tokokopi.id", Role::Support).await;
        let order = new_payin(7_700_000).reference_id("ORDER-1001").webhook_url(&receiver.url);
        let id = pay(&app, &order, &confirm("81234567890")).await;
        // Others around it, one whose reference a spreadsheet would run.
        paid(&app, "=HYPERLINK(\"http://evil.example\",\"x\")", "ani@example.com", "81311112222").await;
        paid(&app, "ORDER-1002", "+budi@example.com", "81355556666").await;
        app.create_payin(5_000_000).await;

        let Some(b) = Browser::start(PHONE).await else { return };
        b.go(&format!("{}/dashboard", app.base)).await;
        b.wait_url(&format!("{}/dashboard/login", app.base), 5).await;
        b.shot_for("dashboard", "login").await;
        sign_in(&b, &app.base, "cs@tokokopi.id", PASSWORD).await;
        b.wait_text("30 hari terakhir", 5).await;
        let home = b.wait_text("Rp 231.000", 5).await;
        assert!(home.contains("75,0%"), "3 of 4 paid, written as Indonesians do: {home}");
        b.shot_for("dashboard", "home").await;

        b.go(&format!("{}/dashboard/payins", app.base)).await;
        b.fill("#q", "ORDER-1001").await;
        b.click(".filters button").await;
        b.wait_url(&format!("{}/dashboard/payins?q=ORDER-1001", app.base), 5).await;
        let list = b.wait_text("ORDER-1001", 5).await;
        assert!(!list.contains("ORDER-1002"));
        assert!(list.contains("+62 *******7890"), "the phone masked: {list}");
        b.shot_for("dashboard", "payins").await;
        b.click(&format!("a[href='/dashboard/payins/{id}']")).await;
        b.wait_text("payin.succeeded", 5).await;
        b.click("#refund").await;
        b.wait_text("Kembalikan seluruh pembayaran ini?", 5).await;
        b.client.find(Locator::Css("#reason")).await.unwrap().select_by_value("customer_request").await.unwrap();
        b.shot_for("dashboard", "refund").await;
        b.click("#confirm-refund").await;
        b.wait_text("refund.pending", 5).await;
        let refund = app.kasir.refunds(ListParams::default().filter("payin", &id)).next().await.unwrap().unwrap();
        assert_eq!((refund.reason.as_str(), refund.status.as_str()), ("Customer request", "pending"));
        let rfd = refund.id.as_str();
        app.kasir.sandbox_refund(rfd, true, None).await.unwrap();
        receiver.wait_for(5, |h| h.iter().any(|h| h.json()["type"] == "refund.succeeded")).await;
        // The delivery is on the page once its try is recorded.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            b.go(&format!("{}/dashboard/payins/{id}", app.base)).await;
            let page = b.wait_text("refund.succeeded", 5).await;
            let html = b.client.source().await.unwrap();
            let at = html.find("<strong>refund.succeeded</strong>").unwrap();
            if html[at..].find("badge ok\">200").is_some_and(|i| i < html[at..].find("</li>").unwrap()) {
                assert!(page.contains("succeeded"));
                break;
            }
            assert!(std::time::Instant::now() < deadline, "refund.succeeded's delivery never showed 200");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        b.shot_for("dashboard", "payin").await;

        // The CSV of the whole list, row by row against the API.
        let cookie = session(&b).await;
        let http = reqwest::Client::new();
        let csv =
            http.get(format!("{}/dashboard/payins.csv", app.base)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let text = csv.text().await.unwrap();
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0], kasir_app::reports::PAYIN_COLUMNS.join(","));
        let payins = app.kasir.payins(ListParams::default()).all().await.unwrap();
        assert_eq!(lines.len(), payins.len() + 1);
        for (line, p) in lines[1..].iter().zip(&payins) {
            let cells = split_csv(line);
            assert_eq!(cells[0], p.id);
            assert_eq!(cells[2], p.status);
            assert_eq!(cells[4], (p.amount / 100).to_string());
            let reference = p.reference_id.as_str();
            let email = p.extra.get("customer_details").and_then(|c| c["email"].as_str()).unwrap_or("");
            for (cell, value) in [(&cells[6], reference), (&cells[7], email)] {
                if value.starts_with(['=', '+', '-', '@']) {
                    assert_eq!(*cell, format!("'{value}"), "a formula is text");
                } else {
                    assert_eq!(cell, value);
                }
            }
        }
        let filtered = http
            .get(format!("{}/dashboard/payins.csv?status=succeeded&q=ORDER-1002", app.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(filtered.matches("\r\n").count(), 2, "the header and the one match: {filtered}");

        // A developer's page, and a post crafted to it, are refused.
        b.go(&format!("{}/dashboard/keys", app.base)).await;
        b.wait_text("Peran Anda tidak boleh", 5).await;
        b.shot_for("dashboard", "forbidden").await;
        let token = csrf(&b).await;
        let before = app.row_counts().await;
        let crafted = http
            .post(format!("{}/dashboard/keys", app.base))
            .header("cookie", &cookie)
            .form(&[("csrf", token.as_str()), ("mode", "live"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(crafted.status(), 403);
        assert_eq!(app.row_counts().await, before, "no key made");

        // Five wrong passwords lock a user out; the page says until when.
        b.click("footer button").await;
        b.wait_text("Anda sudah keluar", 5).await;
        // Each answer is waited for before the next try: leaving the page while a sign-in is in flight
        // could cancel it, and the lock would come a try later.
        for i in 0..5 {
            sign_in(&b, &app.base, "cs@tokokopi.id", "not my password").await;
            b.wait_text(if i < 4 { "Email atau kata sandi salah" } else { "dikunci sampai" }, 5).await;
        }
        b.shot_for("dashboard", "locked").await;
    })
    .await
}

/// A CSV line's cells (quoted cells unquoted).
fn split_csv(line: &str) -> Vec<String> {
    let (mut cells, mut cell, mut quoted, mut chars) = (Vec::new(), String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            (c, _) => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}

#[tokio::test]
async fn a_developer_makes_and_revokes_a_key_and_adds_an_endpoint_that_gets_the_next_event() {
    bounded(async {
        let app = TestApp::spawn().await;
        user(&app, "dev@tokokopi.id", Role::Developer).await;
        let Some(b) = Browser::start(DESKTOP).await else { return };
        sign_in(&b, &app.base, "dev@tokokopi.id", PASSWORD).await;
        b.wait_text("30 hari terakhir", 5).await;

        b.go(&format!("{}/dashboard/keys", app.base)).await;
        b.client.find(Locator::Css("#mode")).await.unwrap().select_by_value("test").await.unwrap();
        b.fill("#key-password", PASSWORD).await;
        b.click("#create-key").await;
        b.wait_text("hanya ditampilkan sekali", 5).await;
        let access = b.client.find(Locator::Css("#made-access")).await.unwrap().text().await.unwrap();
        let secret = b.client.find(Locator::Css("#made-secret")).await.unwrap().text().await.unwrap();
        b.shot_for("dashboard", "keys").await;
        let auth = basic(&access, &secret);
        let works = app.send("GET", "/v3/payin", Some(&auth), &[], None).await;
        assert_eq!(works.status, 200, "the new key works");
        b.click(&format!("button[data-key='{access}']")).await;
        b.wait_text("Dicabut", 5).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let refused = app.send("GET", "/v3/payin", Some(&auth), &[], None).await;
        refused.assert_error(401, 111, "Authorization");

        let receiver = Receiver::start().await;
        b.go(&format!("{}/dashboard/webhooks", app.base)).await;
        b.fill("#endpoint-url", &receiver.url).await;
        b.fill("#endpoint-events", "payin.succeeded, refund.succeeded").await;
        b.click("#add-endpoint").await;
        b.wait_text("Tersimpan", 5).await;
        b.shot_for("dashboard", "webhooks").await;
        // A payin with no webhook_url of its own: its success goes to the endpoint.
        let id = pay(&app, &new_payin(5_000_000), &confirm("81234567890")).await;
        let hits = receiver.wait_for(5, |h| !h.is_empty()).await;
        assert_eq!(hits[0].json()["type"], "payin.succeeded");
        assert_eq!(hits[0].json()["data"]["id"], id.as_str());

        b.go(&format!("{}/dashboard/deliveries", app.base)).await;
        b.wait_text(&receiver.url, 5).await;
        // The switch to live data, kept on the session, and its banner on every page.
        b.click("button.switch").await;
        b.wait_text("LIVE: uang sungguhan", 5).await;
        b.go(&format!("{}/dashboard/payins", app.base)).await;
        let live = b.wait_text("LIVE: uang sungguhan", 5).await;
        assert!(!live.contains(&id), "live data has no test payin");
        b.shot_for("dashboard", "live").await;
    })
    .await
}

//! The hosted pages in a real browser: headless Chromium driven over WebDriver (chromedriver), on
//! SQLite, with a short sandbox delay and the test's clock for time. Every page on the way is
//! photographed (`target/screenshots/`; with `KASIR_BLESS_DOCS=1` also `docs/checkout/`, which
//! `docs/checkout.md` shows). Without Chromium these tests say so and pass; under `CI` they fail.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::{Receiver, Settings, TestApp};

const SANDBOX_DELAY: Duration = Duration::from_secs(2);

fn find_binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    names.iter().flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n))).find(|p| p.is_file())
}

/// How a browser is set up: a phone or a desktop, JavaScript on or off, which languages it asks for.
#[derive(Clone, Copy)]
pub(crate) struct Look {
    pub phone: bool,
    pub javascript: bool,
    pub languages: &'static str,
}

pub(crate) const PHONE: Look = Look { phone: true, javascript: true, languages: "id-ID,id" };

pub(crate) struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    /// chromedriver leads its own process group, so its Chromium goes with it even when a test fails.
    fn drop(&mut self) {
        let group = self.driver.id();
        if group > 1 {
            // The group is chromedriver's own (process_group(0)): its browsers go with it.
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{group}")]).status();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    /// A fresh browser, or `None` (said why) when this machine has no Chromium and this is not CI.
    pub(crate) async fn start(look: Look) -> Option<Browser> {
        let chromium = find_binary("KASIR_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]);
        let driver = find_binary("KASIR_CHROMEDRIVER", &["chromedriver"]);
        let (Some(chromium), Some(driver_bin)) = (chromium, driver) else {
            let msg = "browser tests need Chromium and chromedriver (Debian: apt-get install chromium chromium-driver)";
            assert!(std::env::var_os("CI").is_none(), "{msg}");
            eprintln!("SKIPPED browser test: {msg}");
            return None;
        };
        let port = free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let (w, h) = if look.phone { (390, 844) } else { (1280, 860) };
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={w},{h}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if look.phone {
            args.push("--force-device-scale-factor=1".into());
        }
        if !look.javascript {
            args.push("--blink-settings=scriptEnabled=false".into());
        }
        let prefs = json!({"intl.accept_languages": look.languages});
        let mut options = json!({"binary": chromium, "args": args, "prefs": prefs});
        if look.phone {
            // chromedriver taps a touch screen through script, so with script off it clicks instead.
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": w, "height": h, "pixelRatio": 1.0, "touch": look.javascript}});
        }
        let caps: serde_json::Map<String, Value> =
            serde_json::from_value(json!({"browserName": "chrome", "goog:chromeOptions": options})).unwrap();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::new(connector.clone()).capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver on {url} does not start a session: {e}"),
            }
        };
        Some(Browser { client, driver, _profile: profile })
    }

    pub(crate) async fn go(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// Waits (up to `secs`) until the page's text holds `text`.
    pub(crate) async fn wait_text(&self, text: &str, secs: u64) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let body = match self.client.find(Locator::Css("body")).await {
                Ok(b) => b.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if body.contains(text) {
                return body;
            }
            if std::time::Instant::now() > deadline {
                let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                panic!("{text:?} did not appear on {url} within {secs} s; the page says:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn wait_url(&self, prefix: &str, secs: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            if url.starts_with(prefix) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "still on {url}, not {prefix}, after {secs} s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn click(&self, css: &str) {
        let e = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        e.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let e = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Photographs the page as `name.png` (for `docs/checkout/`).
    async fn shot(&self, name: &str) {
        self.shot_for("checkout", name).await
    }

    /// Photographs the page as `name.png`, for `docs/{doc}/`.
    pub(crate) async fn shot_for(&self, doc: &str, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = root.join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        if std::env::var_os("KASIR_BLESS_DOCS").is_some() {
            let docs = root.join("docs").join(doc);
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::write(docs.join(format!("{name}.png")), &png).unwrap();
        }
    }
}

/// Runs a browser test, failing it if it has not ended within two minutes: a WebDriver call that never
/// answers must fail the test, not hold up the suite.
pub(crate) async fn bounded(test: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(Duration::from_secs(120), test).await.is_err() {
        panic!("the browser test did not end within 120 s");
    }
}

/// A shop: its thank-you and cart pages, and a page that pays with Kasir's script in a popup.
struct Shop {
    base: String,
}

impl Shop {
    async fn start() -> Shop {
        use axum::extract::Query;
        use axum::response::Html;
        use axum::routing::get;
        let shop = |q: Query<std::collections::HashMap<String, String>>| async move {
            let (kasir, token) =
                (q.0.get("kasir").cloned().unwrap_or_default(), q.0.get("token").cloned().unwrap_or_default());
            Html(format!(
                r#"<!doctype html><html><head><title>Shop</title><script src="{kasir}/js/v2.0.js?ver=6.7"></script></head>
<body><h1>Toko</h1><button id="pay">Pay with OVO</button><p id="result">none</p>
<script>
document.getElementById("pay").addEventListener("click", function () {{
  window.tazapay.checkout({{
    clientToken: "{token}", style: null, config: {{ popup: true }},
    callbacks: {{
      onPaymentSuccess: function () {{ document.getElementById("result").textContent = "success"; }},
      onPaymentFail: function () {{ document.getElementById("result").textContent = "fail"; }},
      onPaymentCancel: function () {{ document.getElementById("result").textContent = "cancel"; }}
    }}
  }});
}});
</script></body></html>"#
            ))
        };
        let app = axum::Router::new()
            .route(
                "/thanks",
                get(|| async { Html("<!doctype html><title>Thanks</title><h1>Terima kasih atas pesanan Anda</h1>") }),
            )
            .route("/cart", get(|| async { Html("<!doctype html><title>Cart</title><h1>Keranjang belanja</h1>") }))
            .route("/shop", get(shop));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Shop { base }
    }
}

/// A Kasir for a shop named "Toko Kopi", the name its customers see on the pages.
async fn spawn() -> TestApp {
    let app = TestApp::spawn_with(Settings { sandbox_delay: SANDBOX_DELAY, ..Settings::default() }).await;
    let now = kasir_domain::Clock::now(&app.clock);
    app.store
        .write(move |tx| {
            let id = kasir_app::accounts::default_account(tx, now)?;
            kasir_app::accounts::rename(tx, &id, MERCHANT)
        })
        .await
        .expect("the shop's name");
    app
}

const MERCHANT: &str = "Toko Kopi";

/// A checkout for `amount`, its customer's OVO number known, paying back to `shop`, as JSON.
async fn checkout(app: &TestApp, shop: &Shop, amount: i64, webhook: Option<&str>) -> Value {
    use kasir_client::{Item, Phone};
    let item = |name: &str, quantity, amount| Item { name: name.into(), quantity, amount, description: None };
    let mut new = crate::checkout::new_checkout(amount);
    new.success_url = format!("{}/thanks", shop.base);
    new.cancel_url = format!("{}/cart", shop.base);
    new.customer_details = new.customer_details.phone(Phone::indonesian("81234567890"));
    new.items = vec![item("Kopi Susu Gula Aren", 2, amount / 4), item("Roti Bakar", 1, amount / 2)];
    new.webhook_url = webhook.map(str::to_string);
    serde_json::to_value(app.kasir.create_checkout(&new).await.unwrap()).unwrap()
}

/// Lets the sandbox answer the push now.
async fn sandbox_answers(app: &TestApp) {
    app.advance(SANDBOX_DELAY + Duration::from_millis(100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_pays_on_a_phone_and_is_sent_back_to_the_shop_once_paid() {
    bounded(async {
        let Some(b) = Browser::start(PHONE).await else { return };
        let (app, shop, receiver) = (spawn().await, Shop::start().await, Receiver::start().await);
        let c = checkout(&app, &shop, 15_000_000, Some(&receiver.url)).await;
        b.go(c["url"].as_str().unwrap()).await;
        let page = b.wait_text("Buat Pesanan", 5).await;
        assert!(page.contains("Rp 150.000") && page.contains("Kopi Susu Gula Aren") && page.contains("OVO"), "{page}");
        assert!(page.contains(MERCHANT), "the shop's name: {page}");
        b.shot("1-checkout-phone").await;
        b.click("button[type=submit]").await;
        b.wait_text("Nomor ponsel OVO", 5).await;
        let prefilled = b.client.find(Locator::Css("input[name=phone]")).await.unwrap().prop("value").await.unwrap();
        assert_eq!(prefilled.as_deref(), Some("081234567890"), "the number the shop gave");
        b.shot("2-ovo-phone").await;
        b.click("form button[type=submit]").await;
        let waiting = b.wait_text("Setujui pembayaran di OVO", 5).await;
        assert!(
            waiting.contains("+62 *******7890") && !waiting.contains("81234567890"),
            "the number is masked: {waiting}"
        );
        assert!(waiting.contains("Masukkan PIN OVO"), "{waiting}");
        b.shot("3-waiting-phone").await;
        // Until Kasir has the success, the customer stays here; once it has it, the receipt shows by itself.
        sandbox_answers(&app).await;
        let receipt = b.wait_text("Pembayaran berhasil", 10).await;
        assert!(receipt.contains("Rp 150.000") && receipt.contains("WIB") && receipt.contains(MERCHANT), "{receipt}");
        b.shot("4-receipt-phone").await;
        b.wait_url(&format!("{}/thanks", shop.base), 10).await;
        b.wait_text("Terima kasih", 5).await;
        let paid = receiver.wait_for(10, |h| h.iter().any(|h| h.json()["type"] == "checkout.paid")).await;
        let paid = paid.iter().find(|h| h.json()["type"] == "checkout.paid").unwrap().json();
        assert_eq!(paid["data"]["payment_status"], "paid");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_push_says_why_and_a_new_request_to_another_number_pays() {
    bounded(async {
        let Some(b) = Browser::start(PHONE).await else { return };
        let (app, shop) = (spawn().await, Shop::start().await);
        let c = checkout(&app, &shop, 15_000_000, None).await;
        b.go(&format!("{}/ovo", c["url"].as_str().unwrap())).await;
        b.wait_text("Bayar dengan OVO", 5).await;
        b.fill("input[name=phone]", "0811 0000 0017").await; // the sandbox's "declined in the OVO app"
        b.click("form button[type=submit]").await;
        b.wait_text("Setujui pembayaran di OVO", 5).await;
        sandbox_answers(&app).await;
        let failed = b.wait_text("Pembayaran ditolak di aplikasi OVO.", 10).await;
        assert!(
            failed.contains("Kirim ulang ke +62 *******0017") && failed.contains("Kirim permintaan baru"),
            "{failed}"
        );
        b.shot("5-declined-phone").await;
        b.fill("input[name=phone]", "+62 812-3456-7890").await;
        b.click("form:last-of-type button[type=submit]").await;
        let waiting = b.wait_text("Setujui pembayaran di OVO", 5).await;
        assert!(waiting.contains("*******7890"), "{waiting}");
        sandbox_answers(&app).await;
        b.wait_text("Pembayaran berhasil", 10).await;
        let attempts = app.kasir.checkout(c["id"].as_str().unwrap()).await.unwrap().extra["payment_attempts"].clone();
        assert_eq!(attempts.as_array().unwrap().len(), 2, "{attempts}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandboxs_failing_amount_fails_with_its_message() {
    bounded(async {
        let Some(b) = Browser::start(PHONE).await else { return };
        let (app, shop) = (spawn().await, Shop::start().await);
        let c = checkout(&app, &shop, kasir_domain::sandbox::FAILING_AMOUNT, None).await;
        b.go(&format!("{}/ovo", c["url"].as_str().unwrap())).await;
        b.click("form button[type=submit]").await;
        b.wait_text("Setujui pembayaran di OVO", 5).await;
        sandbox_answers(&app).await;
        let failed = b.wait_text("Pembayaran ditolak di aplikasi OVO.", 10).await;
        assert!(failed.contains("Rp 100.000"), "{failed}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_javascript_off_the_forms_and_refreshes_carry_the_customer_through() {
    bounded(async {
        let Some(b) = Browser::start(Look { javascript: false, ..PHONE }).await else { return };
        let (app, shop) = (spawn().await, Shop::start().await);
        let c = checkout(&app, &shop, 15_000_000, None).await;
        b.go(c["url"].as_str().unwrap()).await;
        b.click("button[type=submit]").await;
        b.wait_text("Nomor ponsel OVO", 5).await;
        b.click("form button[type=submit]").await;
        b.wait_text("Setujui pembayaran di OVO", 5).await;
        sandbox_answers(&app).await;
        // The waiting page refreshes itself every few seconds; the receipt refreshes to the shop.
        b.wait_text("Pembayaran berhasil", 12).await;
        b.wait_url(&format!("{}/thanks", shop.base), 12).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_english_browser_gets_english_and_the_switch_turns_it_indonesian() {
    bounded(async {
        let Some(b) = Browser::start(Look { phone: false, languages: "en-US,en", ..PHONE }).await else { return };
        let (app, shop) = (spawn().await, Shop::start().await);
        let c = checkout(&app, &shop, 15_000_000, None).await;
        b.go(c["url"].as_str().unwrap()).await;
        let page = b.wait_text("Place Your Order", 5).await;
        assert!(page.contains("Payment method") && page.contains("Rp 150.000"), "{page}");
        b.shot("6-checkout-desktop-en").await;
        b.click("a.lang").await;
        b.wait_text("Buat Pesanan", 5).await;
        b.click("button[type=submit]").await;
        b.wait_text("Nomor ponsel OVO", 5).await; // the choice is remembered
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_checkout_says_so_and_leads_back_to_the_shop() {
    bounded(async {
        let Some(b) = Browser::start(PHONE).await else { return };
        let (app, shop) = (spawn().await, Shop::start().await);
        let c = checkout(&app, &shop, 15_000_000, None).await;
        app.advance(Duration::from_secs(24 * 3600 + 1)).await;
        app.idle().await;
        b.go(c["url"].as_str().unwrap()).await;
        b.wait_text("Waktu pembayaran habis", 5).await;
        b.shot("7-expired-phone").await;
        b.click("a.button").await;
        b.wait_url(&format!("{}/cart", shop.base), 5).await;
        assert_eq!(app.kasir.checkout(c["id"].as_str().unwrap()).await.unwrap().status, "expired");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_sdk_opens_a_popup_and_calls_on_payment_success() {
    bounded(async {
        let Some(b) = Browser::start(Look { phone: false, ..PHONE }).await else { return };
        let (app, shop) = (spawn().await, Shop::start().await);
        let c = checkout(&app, &shop, 15_000_000, None).await;
        let page = format!("{}/shop?kasir={}&token={}", shop.base, app.base, c["token"].as_str().unwrap());
        b.go(&page).await;
        let main = b.client.window().await.unwrap();
        b.click("#pay").await;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let popup = loop {
            let windows = b.client.windows().await.unwrap();
            if let Some(w) = windows.into_iter().find(|w| *w != main) {
                break w;
            }
            assert!(std::time::Instant::now() < deadline, "no popup opened");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        b.client.switch_to_window(popup).await.unwrap();
        b.wait_text("Buat Pesanan", 5).await;
        b.click("button[type=submit]").await;
        b.wait_text("Nomor ponsel OVO", 5).await;
        b.click("form button[type=submit]").await;
        b.wait_text("Setujui pembayaran di OVO", 5).await;
        sandbox_answers(&app).await;
        // The receipt tells the shop's window, and the popup closes.
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while b.client.windows().await.unwrap().len() > 1 {
            assert!(std::time::Instant::now() < deadline, "the popup did not close");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        b.client.switch_to_window(main).await.unwrap();
        let result = b.client.find(Locator::Css("#result")).await.unwrap().text().await.unwrap();
        assert_eq!(result, "success");
        assert_eq!(app.kasir.checkout(c["id"].as_str().unwrap()).await.unwrap().extra["payment_status"], "paid");
    })
    .await;
}

//! chromedriver and headless chromium for browser tests, started by a test and stopped with it.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

/// chromedriver and headless chromium, started for one test and stopped with it.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless chromium session (installing Debian's packages when
    /// they are missing, as `.ci/run` does).
    ///
    /// # Panics
    ///
    /// When they cannot be installed or started.
    pub async fn start() -> Browser {
        let (chromium, chromedriver) = ("/usr/bin/chromium", "/usr/bin/chromedriver");
        // `.ci/run` installs them; a test on a machine without them installs them as CI does, and
        // fails, saying so, if it cannot.
        if !std::path::Path::new(chromium).exists() || !std::path::Path::new(chromedriver).exists() {
            let script = "apt-get update -qq && apt-get install -y -qq chromium chromium-driver";
            let installed = std::process::Command::new("sh").args(["-c", script]).status().is_ok_and(|s| s.success());
            assert!(
                installed && std::path::Path::new(chromedriver).exists(),
                "the browser tests need Debian's chromium and chromium-driver, and `{script}` failed"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("an address").port();
        let driver = std::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver starts (apt-get install chromium-driver; .ci/run installs it)");
        let profile = tempfile::tempdir().expect("a profile folder");
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--no-first-run", "--disable-quic", "--window-size=1440,1000",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("an object"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Browser { client, driver, _profile: profile },
                Err(err) => last = Some(err),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start a session: {last:?}");
    }

    /// The element `css` selects, waited for up to 10 s.
    ///
    /// # Panics
    ///
    /// When there is none, with the page's source.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                let source = self.client.source().await.unwrap_or_default();
                panic!("no `{css}` on {url}: {e}\n{source}")
            }
        }
    }

    /// Clicks `css`, which loads a new page, and waits until the new page has replaced the old
    /// one (so that nothing is read from the page being left).
    pub async fn follow(&self, css: &str) {
        self.leaving().await;
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("{css} clicked: {e}"));
        self.arrived(css).await;
    }

    /// Marks the page, for [`Browser::arrived`] to see it replaced.
    pub async fn leaving(&self) {
        self.client.execute("window.__leaving = true;", vec![]).await.expect("a script");
    }

    /// Waits until the page marked by [`Browser::leaving`] is replaced and the new one loaded.
    pub async fn arrived(&self, after: &str) {
        for _ in 0..200 {
            let left = self
                .client
                .execute("return window.__leaving !== true && document.readyState === 'complete';", vec![])
                .await;
            if left.is_ok_and(|v| v == serde_json::Value::Bool(true)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{after} loaded no new page");
    }

    /// The text of the element `css` selects.
    ///
    /// # Panics
    ///
    /// When there is none.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("its text")
    }

    /// The page's global `__xss`, which the test payloads would set (null when unset).
    ///
    /// # Panics
    ///
    /// When the script cannot run.
    pub async fn xss(&self) -> serde_json::Value {
        self.client.execute("return window.__xss === undefined ? null : window.__xss;", vec![]).await.expect("a script")
    }

    /// Saves a screenshot as `target/screenshots/NAME.png`.
    ///
    /// # Panics
    ///
    /// When it cannot be taken or written.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).expect("a screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is written");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

//! A small client for a running `vigil serve`, over its JSON API.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// Talks to one server.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the server at `server` (`http://127.0.0.1:9270`).
    pub fn new(server: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client { base: server.trim_end_matches('/').to_owned(), agent }
    }

    /// `GET /api/v1{path}` with query parameters (those without a value left out).
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or answers with an error.
    pub fn get(&self, path: &str, query: &[(&str, Option<String>)]) -> anyhow::Result<Value> {
        let mut request = self.agent.get(format!("{}/api/v1{path}", self.base));
        for (key, value) in query {
            if let Some(value) = value {
                request = request.query(*key, value);
            }
        }
        self.answer(request.call())
    }

    /// `POST /api/v1{path}` with a JSON body.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or answers with an error.
    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.answer(self.agent.post(format!("{}/api/v1{path}", self.base)).send_json(body))
    }

    fn answer(&self, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> anyhow::Result<Value> {
        let mut response = response
            .with_context(|| format!("cannot reach vigil at {}: is `vigil serve` running there?", self.base))?;
        let status = response.status();
        let body: Value = response
            .body_mut()
            .read_json()
            .with_context(|| format!("{}: answered {status} with a body that is not JSON", self.base))?;
        if !status.is_success() {
            let reason = body.pointer("/error/reason").and_then(Value::as_str).unwrap_or("no reason given");
            bail!("{} answered {status}: {reason}", self.base);
        }
        Ok(body)
    }
}

//! A small client for a running `vigil serve`, over its JSON API.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// Talks to one server.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    authorization: Option<String>,
}

impl Client {
    /// A client of the server `args` name, sending its API key, trusting its `--ca-cert` (or
    /// the public authorities).
    ///
    /// # Errors
    ///
    /// When the `--ca-cert` file cannot be read or holds no certificate.
    pub fn new(args: &crate::cli::ServerArgs) -> anyhow::Result<Client> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = &args.ca_cert {
            let pem = std::fs::read(path).with_context(|| format!("--ca-cert {}", path.display()))?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                bail!("--ca-cert {}: no certificate in it", path.display());
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .tls_config(tls.build())
            .build()
            .into();
        let authorization = args.api_key.as_ref().map(|key| format!("ApiKey {key}"));
        Ok(Client { base: args.server.trim_end_matches('/').to_owned(), agent, authorization })
    }

    /// `GET /api/v1{path}` with query parameters (those without a value left out).
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or answers with an error.
    pub fn get(&self, path: &str, query: &[(&str, Option<String>)]) -> anyhow::Result<Value> {
        let mut request = self.agent.get(format!("{}/api/v1{path}", self.base));
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
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
        let mut request = self.agent.post(format!("{}/api/v1{path}", self.base));
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
        self.answer(request.send_json(body))
    }

    /// `POST` or `PUT /api/v1{path}` with a text body of `content_type`.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or answers with an error.
    pub fn send_text(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        content_type: &str,
        body: &str,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut request = if method == "PUT" { self.agent.put(url) } else { self.agent.post(url) };
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
        for (key, value) in query {
            request = request.query(*key, value);
        }
        self.answer(request.header("content-type", content_type).send(body))
    }

    /// `GET /api/v1{path}`, whose answer is text (an export).
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or answers with an error.
    pub fn get_text(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<String> {
        let mut request = self.agent.get(format!("{}/api/v1{path}", self.base));
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
        for (key, value) in query {
            request = request.query(*key, value);
        }
        let mut response = request
            .call()
            .with_context(|| format!("cannot reach vigil at {}: is `vigil serve` running there?", self.base))?;
        let status = response.status();
        let text =
            response.body_mut().read_to_string().with_context(|| format!("{}: an unreadable answer", self.base))?;
        if !status.is_success() {
            let reason = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|b| b.pointer("/error/reason").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "no reason given".into());
            bail!("{} answered {status}: {reason}", self.base);
        }
        Ok(text)
    }

    /// `DELETE /api/v1{path}`.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or answers with an error.
    pub fn delete(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let mut request = self.agent.delete(format!("{}/api/v1{path}", self.base));
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
        for (key, value) in query {
            request = request.query(*key, value);
        }
        self.answer(request.call())
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

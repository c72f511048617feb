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
        let query = query.iter().filter_map(|(key, value)| value.as_deref().map(|value| (*key, value)));
        self.answer(self.prepare(self.agent.get(self.url(path)), query).call())
    }

    /// `POST /api/v1{path}` with a JSON body.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or answers with an error.
    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.answer(self.prepare(self.agent.post(self.url(path)), []).send_json(body))
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
        let request = if method == "PUT" { self.agent.put(self.url(path)) } else { self.agent.post(self.url(path)) };
        let query = query.iter().map(|(key, value)| (*key, value.as_str()));
        self.answer(self.prepare(request, query).header("content-type", content_type).send(body))
    }

    /// `GET /api/v1{path}`, whose answer is text (an export).
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or answers with an error.
    pub fn get_text(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<String> {
        let query = query.iter().map(|(key, value)| (*key, value.as_str()));
        let mut response = self.reached(self.prepare(self.agent.get(self.url(path)), query).call())?;
        let status = response.status();
        let text =
            response.body_mut().read_to_string().with_context(|| format!("{}: an unreadable answer", self.base))?;
        if !status.is_success() {
            let body = serde_json::from_str::<Value>(&text).unwrap_or_default();
            return Err(self.refusal(status, &body));
        }
        Ok(text)
    }

    /// `DELETE /api/v1{path}`.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or answers with an error.
    pub fn delete(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let query = query.iter().map(|(key, value)| (*key, value.as_str()));
        self.answer(self.prepare(self.agent.delete(self.url(path)), query).call())
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// The request with the key and the query parameters.
    fn prepare<'q, B>(
        &self,
        mut request: ureq::RequestBuilder<B>,
        query: impl IntoIterator<Item = (&'q str, &'q str)>,
    ) -> ureq::RequestBuilder<B> {
        if let Some(authorization) = &self.authorization {
            request = request.header("authorization", authorization);
        }
        for (key, value) in query {
            request = request.query(key, value);
        }
        request
    }

    /// The response, or why the server could not be reached.
    fn reached(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<ureq::http::Response<ureq::Body>> {
        response.with_context(|| format!("cannot reach vigil at {}: is `vigil serve` running there?", self.base))
    }

    /// The error of an answer that is not a success, with the server's reason.
    fn refusal(&self, status: ureq::http::StatusCode, body: &Value) -> anyhow::Error {
        let reason = body.pointer("/error/reason").and_then(Value::as_str).unwrap_or("no reason given");
        anyhow::anyhow!("{} answered {status}: {reason}", self.base)
    }

    fn answer(&self, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> anyhow::Result<Value> {
        let mut response = self.reached(response)?;
        let status = response.status();
        let body: Value = response
            .body_mut()
            .read_json()
            .with_context(|| format!("{}: answered {status} with a body that is not JSON", self.base))?;
        if !status.is_success() {
            return Err(self.refusal(status, &body));
        }
        Ok(body)
    }
}

//! HTTP from inside a namespace: the daemon's /metrics and /status, and Prometheus's API,
//! all listening on a namespace's loopback.

use std::time::Duration;

use crate::Netns;

/// An HTTP GET from inside a namespace (e.g. to a daemon listening on its loopback):
/// (status code, body). A status other than 2xx is returned, not an error.
pub fn http_get(ns: &Netns, addr: &str, target: &str) -> std::io::Result<(u16, String)> {
    http_get_authorized(ns, addr, target, None)
}

/// As [`http_get`], with an `Authorization` header.
pub fn http_get_authorized(
    ns: &Netns,
    addr: &str,
    target: &str,
    authorization: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let url = format!("http://{addr}{target}");
    let authorization = authorization.map(str::to_string);
    ns.enter(move || {
        // A client of this thread's own, so its connection is made in the namespace; no
        // proxy from the environment, since the address is only reachable from here.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let mut request = agent.get(&url);
        if let Some(a) = &authorization {
            request = request.header("Authorization", a);
        }
        let mut response = request.call().map_err(ureq::Error::into_io)?;
        let code = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(ureq::Error::into_io)?;
        Ok((code, body))
    })
}

/// Percent-encodes a URL query value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

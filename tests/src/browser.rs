//! A real browser for the pages people look at: headless Chromium started inside a
//! namespace and driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
//! file descriptors 3 and 4, one JSON message per NUL), so a test can open a page, wait
//! real time, read the rendered DOM by script, and take screenshots at a chosen size. Every
//! request the browser makes is logged (`--log-net-log`) for the test to check.

use std::{
    io::{BufRead, BufReader, Write},
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{Netns, TempDir};

/// A headless Chromium, killed when dropped.
pub struct Browser {
    child: Child,
    to: std::fs::File,
    from: BufReader<std::fs::File>,
    next_id: u64,
    /// The browser's profile and its network log.
    dir: TempDir,
}

/// A page open in the browser.
pub struct Tab {
    session: String,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: a plain pipe(2) into an array of two descriptors.
    let r = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(r, 0, "pipe: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned here.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    /// Starts Chromium in `ns` (its requests go to that namespace's addresses).
    pub fn launch(ns: &Netns) -> Browser {
        let dir = TempDir::new("chromium");
        let (cmd_read, cmd_write) = pipe(); // we write commands, the browser reads (fd 3)
        let (ev_read, ev_write) = pipe(); // the browser writes answers (fd 4), we read
        let (r3, w4) = (cmd_read.as_raw_fd(), ev_write.as_raw_fd());
        let mut cmd = ns.command("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-sync",
            "--remote-debugging-pipe",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.0.join("profile").display()
        ))
        .arg(format!(
            "--log-net-log={}",
            dir.0.join("netlog.json").display()
        ))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only dup2 between fork and exec, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(r3, 3) < 0 || libc::dup2(w4, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .expect("start chromium (cargo xtask setup installs it)");
        drop(cmd_read);
        drop(ev_write);
        Browser {
            child,
            to: std::fs::File::from(cmd_write),
            from: BufReader::new(std::fs::File::from(ev_read)),
            next_id: 0,
            dir,
        }
    }

    /// Sends a command (to a page's session, or to the browser) and waits for its answer;
    /// events in between are skipped.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to the browser");
        loop {
            let mut buf = Vec::new();
            let n = self
                .from
                .read_until(0, &mut buf)
                .expect("read from the browser");
            assert!(n > 0, "the browser closed its pipe during {method}");
            buf.pop();
            let answer: Value = serde_json::from_slice(&buf).expect("JSON from the browser");
            if answer["id"] == json!(id) {
                if let Some(e) = answer.get("error") {
                    panic!("{method} failed: {e}");
                }
                return answer["result"].clone();
            }
        }
    }

    /// Opens `url` in a new page of `width` × `height` CSS pixels.
    pub fn open(&mut self, url: &str, width: u32, height: u32, mobile: bool) -> Tab {
        let target = self.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let id = target["targetId"]
            .as_str()
            .expect("a target id")
            .to_string();
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": id, "flatten": true }),
        );
        let tab = Tab {
            session: attached["sessionId"]
                .as_str()
                .expect("a session")
                .to_string(),
        };
        self.call(
            Some(&tab.session),
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        );
        self.call(Some(&tab.session), "Page.enable", json!({}));
        self.call(Some(&tab.session), "Page.navigate", json!({ "url": url }));
        tab
    }

    /// The value of a script evaluated in the page.
    pub fn eval(&mut self, tab: &Tab, expression: &str) -> Value {
        let r = self.call(
            Some(&tab.session),
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("the page's script failed: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page, for at most `limit`.
    pub fn wait_for(&mut self, tab: &Tab, expression: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.eval(tab, expression) == json!(true) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// A PNG of what the page shows, the whole page when `full`.
    pub fn screenshot(&mut self, tab: &Tab, full: bool) -> Vec<u8> {
        let r = self.call(
            Some(&tab.session),
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": full }),
        );
        opd_gateway::web::decode_base64(r["data"].as_str().expect("image data"))
            .expect("base64 from the browser")
    }

    /// Every request the browser made, as (initiator, URL): the initiator is the origin of
    /// the page that asked for it, empty for the browser's own (a navigation typed in, its
    /// update checks). From the network log, complete only at exit: so this closes the
    /// browser.
    pub fn close_and_requests(mut self) -> Vec<(String, String)> {
        let _ = self.call(None, "Browser.close", json!({}));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        requests_in_netlog(&self.dir.0.join("netlog.json"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir.0
    }
}

/// (initiator, URL) of the requests in a Chromium network log.
fn requests_in_netlog(path: &PathBuf) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A log cut short at exit lacks its closing brackets.
    let log: Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(','))))
        .unwrap_or_else(|e| panic!("the network log {} does not parse: {e}", path.display()));
    let mut out: Vec<(String, String)> = Vec::new();
    for e in log["events"].as_array().into_iter().flatten() {
        let p = &e["params"];
        if let Some(url) = p["url"].as_str() {
            let initiator = p["initiator"].as_str().unwrap_or("").to_string();
            let r = (initiator, url.to_string());
            if !out.contains(&r) {
                out.push(r);
            }
        }
    }
    out
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

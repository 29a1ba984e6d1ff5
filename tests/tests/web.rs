//! The office's page, as a person sees it: headless Chromium opens the page a real daemon
//! serves in the test bed under traffic. The rendered numbers are `/status`'s, the page
//! follows the gateway tick by tick without a reload, shows an agency held back at a glance,
//! switches language, charts the history it recorded, shows the needs report and the policy
//! in force, and asks nothing of any other host. A listener on the network answers only with
//! the credential. Needs root; run by `cargo xtask test`.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use opd_gateway::{
    history::{self, Store, synthetic},
    metrics::Status,
};
use opd_testbed::{
    AgencyText, Forwarding, Limit, PolicyText, SimNetwork, Stream, TempDir, Way, browser::Browser,
    env_path, http_get, http_get_authorized,
};
use serde_json::Value;

const MBPS: f64 = 1e6;
const ADDR: &str = "127.0.0.1:9477";
const PAGE: &str = "http://127.0.0.1:9477/";

fn policy() -> PolicyText {
    PolicyText::site()
        .capacity("40Mbps", "30Mbps")
        .tick("500ms")
        .unclassified("drop")
        .agency(
            AgencyText::new("dinkes")
                .name("Dinas Kesehatan & KB")
                .vlans(&[110])
                .upload(Limit::rate("5Mbps"))
                .download(Limit::guaranteed("10Mbps", "30Mbps")),
        )
        .agency(
            AgencyText::new("bpbd")
                .tier("critical")
                .vlans(&[120])
                .upload(Limit::rate("5Mbps"))
                .download(Limit::guaranteed("8Mbps", "30Mbps")),
        )
        .agency(
            AgencyText::new("wifi")
                .tier("public")
                .vlans(&[130])
                .upload(Limit::rate("5Mbps"))
                .download(Limit::guaranteed("1Mbps", "30Mbps")),
        )
}

fn status(net: &SimNetwork) -> Status {
    let (code, body) = http_get(&net.gateway, ADDR, "/status").expect("GET /status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("status JSON")
}

/// Mbps with one decimal as the page writes it.
fn shown(bps: u64, lang: &str) -> String {
    let s = format!("{:.1}", bps as f64 / 1e6);
    if lang == "id" { s.replace('.', ",") } else { s }
}

const ROWS: &str = r#"JSON.stringify({
  tick: Number(document.querySelector('#tick').dataset.tick),
  rows: [...document.querySelectorAll('#agencies tbody tr')].map(r => ({
    id: r.dataset.agency,
    held: r.classList.contains('held'),
    hosts: Number(r.querySelector('td[data-hosts]').dataset.hosts),
    hostsText: r.querySelector('td[data-hosts]').textContent,
    cells: Object.fromEntries([...r.querySelectorAll('td[data-bps]')].map(c =>
      [c.className.split(' ')[0], [Number(c.dataset.bps), c.textContent]]))
  }))
})"#;

#[test]
fn the_page_shows_who_gets_what_follows_every_tick_and_asks_nothing_outside() {
    let net = SimNetwork::new(&[110, 120, 130], Forwarding::Redirect);
    let dir = TempDir::new("web");
    let path = dir.write("policy.toml", &policy().to_string());
    // Four made-up weeks of a regency in the store before the daemon starts (dinkes, bpbd
    // and public WiFi among its agencies), so the history has a month to chart; the daemon
    // then adds what it records.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (site, agencies, rows) = synthetic::regency(28, now - now % 300 - 28 * 86_400, 2026);
    // Rows of the daemon's own "minute" (2 s here), or it refuses the store.
    Store::open(&history::path_in(&net.state_dir), Duration::from_secs(2))
        .unwrap()
        .write_five(&site, &agencies, &rows)
        .unwrap();
    let _gw = net.start_gateway_args(&path, "0s", &["--history-minute", "2s"]);
    net.wait_reachable(&[110, 120, 130]);
    // dinkes and bpbd within their guarantees; public WiFi flooding, held back to what is
    // left.
    let start = Instant::now() + Duration::from_millis(300);
    let long = Duration::from_secs(40);
    let _streams: Vec<Stream> = [(110u16, 6.0), (120, 4.0), (130, 40.0)]
        .iter()
        .map(|&(vid, mbps)| net.steady_stream(vid, Way::Download, start, long, mbps * MBPS))
        .collect();
    std::thread::sleep(Duration::from_secs(12)); // history rows of 2 s "minutes"

    let mut browser = Browser::launch(&net.gateway);
    let tab = browser.open(PAGE, 1280, 900, false);
    assert!(
        browser.wait_for(
            &tab,
            "document.querySelectorAll('#agencies tbody tr').length === 3",
            Duration::from_secs(20)
        ),
        "the page never showed the three agencies"
    );

    // Each agency's numbers are /status's: read the page, then /status, until both show the
    // same tick.
    let mut compared = false;
    // The page shows a tick until its next poll, /status the newest: try for a while, with
    // /status read just before and just after the page.
    for _ in 0..150 {
        let before = status(&net);
        let page: Value = serde_json::from_str(browser.eval(&tab, ROWS).as_str().unwrap()).unwrap();
        let after = status(&net);
        let Some(s) = [before, after]
            .into_iter()
            .find(|s| page["tick"].as_u64() == Some(s.tick))
        else {
            std::thread::sleep(Duration::from_millis(37));
            continue;
        };
        for a in &s.agencies {
            let row = page["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == a.id.as_str())
                .unwrap_or_else(|| panic!("no row for {}", a.id));
            let f = &a.download;
            for (cell, bps) in [
                ("rate", f.rate_bps),
                ("allocated", f.allocated_bps),
                ("guaranteed", f.guaranteed_bps),
                ("ceiling", f.ceiling_bps),
                ("demand", f.demand_bps),
                ("dropped", f.dropped_bps),
            ] {
                assert_eq!(row["cells"][cell][0].as_u64(), Some(bps), "{} {cell}", a.id);
                assert_eq!(
                    row["cells"][cell][1].as_str(),
                    Some(shown(bps, "id").as_str()),
                    "{} {cell} as written",
                    a.id
                );
            }
            // Each agency's one host on the agency side, active while its stream runs.
            assert_eq!(
                row["hosts"].as_u64(),
                Some(u64::from(f.hosts)),
                "{} hosts",
                a.id
            );
            assert_eq!(f.hosts, 1, "{}: one active host", a.id);
            assert_eq!(row["hostsText"].as_str(), Some("1"), "{}", a.id);
            let held = f.dropped_bps > 0 && f.dropped_bps > (f.rate_bps + f.dropped_bps) / 200;
            assert_eq!(
                row["held"].as_bool(),
                Some(held),
                "{}: held back shown",
                a.id
            );
        }
        let wifi = page["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "wifi")
            .unwrap();
        assert_eq!(
            wifi["held"], true,
            "public WiFi flooding is held back, in red"
        );
        compared = true;
        break;
    }
    assert!(compared, "the page and /status never showed the same tick");

    // A web page elsewhere reaching in through a name that resolves to loopback (DNS
    // rebinding) is turned away; the gateway's own names are served.
    let raw = |host: &str| -> String {
        net.gateway.enter(|| {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(ADDR).expect("connect");
            write!(
                s,
                "GET /status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out.lines().next().unwrap_or("").to_string()
        })
    };
    assert!(
        raw("rebind.example:9477").starts_with("HTTP/1.1 421"),
        "{}",
        raw("rebind.example:9477")
    );
    assert!(raw("localhost:9477").starts_with("HTTP/1.1 200"));
    assert!(raw("[::1]:9477").starts_with("HTTP/1.1 200"));

    // It follows the gateway without a reload: within two ticks (1 s) a newer tick.
    let tick = |b: &mut Browser| {
        b.eval(&tab, "Number(document.querySelector('#tick').dataset.tick)")
            .as_u64()
            .unwrap()
    };
    let loads = |b: &mut Browser| b.eval(&tab, "performance.getEntriesByType('navigation').length");
    let (t0, n0) = (tick(&mut browser), loads(&mut browser));
    std::thread::sleep(Duration::from_millis(1000));
    let t1 = tick(&mut browser);
    assert!(t1 > t0, "the page still shows tick {t0} two ticks later");
    assert_eq!(loads(&mut browser), n0, "updated without reloading");

    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let save = |name: &str, png: Vec<u8>| {
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{name}: empty"
        );
        std::fs::write(target.join(name), png).unwrap();
    };
    save("web-now-id.png", browser.screenshot(&tab, false));

    // English by the switch.
    browser.eval(&tab, "document.querySelector('#lang').click()");
    assert!(browser.wait_for(
        &tab,
        "document.querySelector('nav a[data-tab=now]').textContent === 'Now'",
        Duration::from_secs(5)
    ));
    let page: Value = serde_json::from_str(browser.eval(&tab, ROWS).as_str().unwrap()).unwrap();
    let text = page["rows"][0]["cells"]["guaranteed"][1]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains('.') && !text.contains(','),
        "English decimals: {text}"
    );
    save("web-now-en.png", browser.screenshot(&tab, false));

    // The history it recorded, charted.
    browser.eval(
        &tab,
        "document.querySelector('#hAgency').value = 'dinkes'; location.hash = '#history'",
    );
    browser.eval(&tab, "document.querySelector('[data-range=hour]').click()");
    assert!(
        browser.wait_for(
            &tab,
            "!!document.querySelector('#hChart path[data-series=passed]') && \
             document.querySelector('#hChart path[data-series=passed]').getAttribute('d').split('L').length > 3",
            Duration::from_secs(10)
        ),
        "no history chart for dinkes"
    );
    // A week of it: the made-up weeks before, the recorded minutes at the end.
    browser.eval(&tab, "document.querySelector('[data-range=week]').click()");
    assert!(browser.wait_for(
        &tab,
        "!!document.querySelector('#hChart') && \
         document.querySelector('#hChart path[data-series=passed]').getAttribute('d').split('L').length > 1000",
        Duration::from_secs(10)
    ));
    save("web-history-en.png", browser.screenshot(&tab, false));

    // The policy in force.
    browser.eval(&tab, "location.hash = '#policy'");
    let fingerprint = status(&net).policy;
    assert!(browser.wait_for(
        &tab,
        &format!("document.querySelector('#pFingerprint').textContent === '{fingerprint}'"),
        Duration::from_secs(10)
    ));
    assert_eq!(
        browser.eval(&tab, "document.querySelectorAll('#pFiles details').length"),
        1
    );

    // The needs report over what was recorded.
    let report = browser.open(&format!("{PAGE}report?lang=id"), 1100, 1400, false);
    assert!(
        browser.wait_for(
            &report,
            "document.body && document.body.innerText.includes('Dinas Kesehatan & KB') && \
             document.body.innerText.includes('RSUD Kabupaten') && \
             document.querySelectorAll('svg').length === 10",
            Duration::from_secs(10)
        ),
        "the report page did not render the ten agencies of the history"
    );

    // On a phone.
    let phone = browser.open(&format!("{PAGE}?lang=id"), 390, 844, true);
    assert!(browser.wait_for(
        &phone,
        "document.querySelectorAll('#agencies tbody tr').length === 3",
        Duration::from_secs(20)
    ));
    let fits = browser.eval(
        &phone,
        "document.documentElement.scrollWidth <= window.innerWidth + 1",
    );
    assert_eq!(fits, true, "the page is wider than a phone");
    save("web-phone-id.png", browser.screenshot(&phone, false));

    // What the page asked for: the gateway and nothing else. (The browser's own update
    // checks have no page as initiator and are not the page's doing.)
    let requests = browser.close_and_requests();
    let origin = PAGE.trim_end_matches('/');
    let by_page: Vec<&(String, String)> = requests.iter().filter(|(i, _)| i == origin).collect();
    let outside: Vec<&String> = by_page
        .iter()
        .map(|(_, u)| u)
        .filter(|u| !u.starts_with(PAGE) && !u.starts_with("data:"))
        .collect();
    assert!(
        by_page
            .iter()
            .any(|(_, u)| u.starts_with(&format!("{PAGE}status"))),
        "the network log shows no request of the page to /status: {requests:?}"
    );
    assert!(
        outside.is_empty(),
        "the page asked outside the gateway: {outside:?}"
    );
    eprintln!(
        "the page made {} distinct requests, all to the gateway",
        by_page.len()
    );
}

#[test]
fn a_listener_on_the_network_answers_only_with_the_credential() {
    let net = SimNetwork::new(&[110], Forwarding::Redirect);
    let dir = TempDir::new("web-auth");
    let path = dir.write(
        "policy.toml",
        &PolicyText::site()
            .capacity("40Mbps", "40Mbps")
            .agency(
                AgencyText::new("dinkes")
                    .vlans(&[110])
                    .upload(Limit::rate("5Mbps"))
                    .download(Limit::rate("5Mbps")),
            )
            .to_string(),
    );
    // Without a credential, a listener on the network is refused at start.
    let mut cmd = net
        .gateway
        .command(env_path("OPD_GATEWAY_BIN").to_str().unwrap());
    cmd.args(["run", "--listen", "0.0.0.0:9477", "--policy"])
        .arg(&path)
        .arg("--pin-dir")
        .arg(&net.pin_dir)
        .arg("--no-history")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon started on 0.0.0.0 without a credential");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("--credential"), "{err}");

    let secret = "kunci-rahasia-diskominfo";
    let cred = dir.write("credential", &format!("{secret}\n"));
    let gw = net.start_gateway_args(
        &path,
        "0s",
        &[
            "--listen",
            "0.0.0.0:9477",
            "--credential",
            cred.to_str().unwrap(),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(&net.gateway, ADDR, "/status").is_err() {
        assert!(Instant::now() < deadline, "not serving");
        std::thread::sleep(Duration::from_millis(100));
    }
    for target in ["/", "/status", "/metrics", "/policy.json"] {
        let (code, body) = http_get(&net.gateway, ADDR, target).unwrap();
        assert_eq!(code, 401, "{target} without the credential: {body}");
        let (code, _) =
            http_get_authorized(&net.gateway, ADDR, target, Some("Bearer not-the-secret")).unwrap();
        assert_eq!(code, 401, "{target} with a wrong credential");
        let (code, _) = http_get_authorized(
            &net.gateway,
            ADDR,
            target,
            Some(&format!("Bearer {secret}")),
        )
        .unwrap();
        assert_eq!(code, 200, "{target} with the token");
    }
    // As a browser sends it: basic authentication, any user name.
    let basic = format!(
        "Basic {}",
        encode_base64(format!("admin:{secret}").as_bytes())
    );
    let (code, _) = http_get_authorized(&net.gateway, ADDR, "/", Some(&basic)).unwrap();
    assert_eq!(code, 200);
    assert!(
        gw.log().contains("every request needs the credential"),
        "the daemon says so in its log"
    );
    assert!(
        !gw.log().contains(secret),
        "the secret never reaches the log"
    );
}

fn encode_base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

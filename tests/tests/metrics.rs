//! Prometheus metrics of the running daemon: the text passes `promtool check metrics`, and a
//! real Prometheus server scraping it under traffic sees the configured rates.
//! Needs root; run by `cargo xtask test`.

use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use opd_testbed::{
    AgencyText, Bed, DAEMON_ADDR, Forwarding, Limit, Metrics, PolicyText, Process, Stream, Way,
    http_get, url_encode,
};

const PROMETHEUS: &str = "127.0.0.1:9090";

#[test]
fn metrics_pass_promtool_and_prometheus_sees_the_configured_rates() {
    let vids = [110u16, 120, 130];
    let limits = [8.0, 16.0, 24.0]; // Mbps, download
    let policy = PolicyText::simulated_regency(Forwarding::Redirect)
        .unclassified("drop")
        .agencies(vids.iter().zip(limits).map(|(vid, mbps)| {
            AgencyText::new(&format!("vlan{vid}"))
                .name(&format!("Agency on VLAN {vid}"))
                .vlans(&[*vid])
                .upload(Limit::rate("1Mbps"))
                .download(Limit::rate(&format!("{mbps}Mbps")))
        }));
    let bed = Bed::start(&vids, Forwarding::Redirect, &policy, "0s");
    let (net, dir) = (&bed.net, &bed.dir);
    let total = Duration::from_secs(16);
    let start = Instant::now();
    let flows: Vec<Stream> = vids
        .iter()
        .zip(limits)
        .map(|(&vid, mbps)| net.steady_stream(vid, Way::Download, start, total, 2.0 * mbps * 1e6))
        .collect();

    // The exposition as the daemon serves it, checked by Prometheus's own linter.
    std::thread::sleep(Duration::from_secs(2));
    let metrics = Metrics::scrape(&net.gateway);
    let text = metrics.text();
    let exported = metrics.names();
    for family in [
        "opd_gateway_agency_passed_bytes_total",
        "opd_gateway_agency_dropped_packets_total",
        "opd_gateway_agency_ecn_marked_packets_total",
        "opd_gateway_agency_allocated_bytes_per_second",
        "opd_gateway_agency_guaranteed_bytes_per_second",
        "opd_gateway_agency_ceiling_bytes_per_second",
        "opd_gateway_agency_demand_bytes_per_second",
        "opd_gateway_uplink_capacity_bytes_per_second",
        "opd_gateway_uplink_utilisation_ratio",
        "opd_gateway_uplink_carried_bytes_per_second",
        "opd_gateway_uplink_carried_ratio",
        "opd_gateway_uplink_divided_bytes_per_second",
        "opd_gateway_uplink_resend_room_bytes_per_second",
        "opd_gateway_agency_tcp_dropped_bytes_total",
        "opd_gateway_agency_active_hosts",
        "opd_gateway_agency_policed_packets_total",
        "opd_gateway_agency_host_dropped_packets_total",
        "opd_gateway_agency_new_hosts_total",
        "opd_gateway_host_table_entries",
        "opd_gateway_tick_duration_seconds_bucket",
        "opd_gateway_policy_reloads_total",
        "opd_gateway_policy_last_success_timestamp_seconds",
        "opd_gateway_policy_info",
        "opd_gateway_build_info",
    ] {
        assert!(exported.contains(family), "{family} missing from:\n{text}");
    }
    assert!(!text.contains("198.18."), "no addresses in labels");
    dashboard_uses_only(&exported);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package) is installed by `cargo xtask setup`");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    eprintln!(
        "promtool check metrics: {} {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check metrics failed");

    // A real Prometheus, in the gateway's namespace, scraping every second.
    let config = dir.write(
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: opd-gateway\n    static_configs:\n      - targets: ['{DAEMON_ADDR}']\n"
        ),
    );
    let mut cmd = net.gateway.command("prometheus");
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.0.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={PROMETHEUS}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _prometheus = Process::spawn(cmd, "prometheus");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http_get(&net.gateway, PROMETHEUS, "/-/ready"), Ok((200, _))) {
        assert!(
            Instant::now() < deadline,
            "prometheus did not become ready within 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep((start + Duration::from_secs(14)).saturating_duration_since(Instant::now()));
    let query = |q: &str| -> Vec<(String, f64)> {
        let (code, body) = http_get(
            &net.gateway,
            PROMETHEUS,
            &format!("/api/v1/query?query={}", url_encode(q)),
        )
        .expect("query prometheus");
        assert_eq!(code, 200, "{q}: {body}");
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        v["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{q}: {body}"))
            .iter()
            .map(|r| {
                (
                    r["metric"]["agency"].as_str().unwrap_or("").to_string(),
                    r["value"][1].as_str().unwrap().parse::<f64>().unwrap(),
                )
            })
            .collect()
    };
    let rates =
        query("rate(opd_gateway_agency_passed_bytes_total{direction=\"download\"}[6s]) * 8");
    let allocated =
        query("opd_gateway_agency_allocated_bytes_per_second{direction=\"download\"} * 8");
    eprintln!("PromQL passed rates (bit/s): {rates:?}\nallocated (bit/s): {allocated:?}");
    assert_eq!(rates.len(), 3, "{rates:?}");
    for (vid, mbps) in vids.iter().zip(limits) {
        let id = format!("vlan{vid}");
        let r = rates
            .iter()
            .find(|(a, _)| *a == id)
            .unwrap_or_else(|| panic!("{id} missing: {rates:?}"))
            .1;
        assert!(
            (r / (mbps * 1e6) - 1.0).abs() <= 0.05,
            "{id}: PromQL rate {r} vs limit {mbps} Mbps"
        );
        let a = allocated.iter().find(|(a, _)| *a == id).unwrap().1;
        assert!(
            (a / (mbps * 1e6) - 1.0).abs() <= 0.001,
            "{id}: allocated {a} vs {mbps} Mbps"
        );
    }
    // `opd-gateway status`, as an admin on call would run it (JSON and the table).
    let bin = opd_testbed::env_path("OPD_GATEWAY_BIN");
    let out = opd_testbed::sh(
        net.gateway
            .command(bin.to_str().unwrap())
            .args(["status", "--json"]),
    );
    let status: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    let agencies = status["agencies"].as_array().expect("agencies");
    assert_eq!(agencies.len(), 3);
    for (a, mbps) in agencies.iter().zip(limits) {
        let rate = a["download"]["rate_bps"].as_f64().unwrap();
        assert!(
            (rate / (mbps * 1e6) - 1.0).abs() <= 0.05,
            "status rate {rate} vs {mbps} Mbps: {a}"
        );
        assert!(
            a["download"]["dropped_bps"].as_f64().unwrap() > 0.0,
            "flooded at 2×: drops show"
        );
    }
    let table = opd_testbed::sh(net.gateway.command(bin.to_str().unwrap()).arg("status"));
    let table = String::from_utf8_lossy(&table.stdout);
    eprintln!("{table}");
    assert!(
        table.contains("vlan130") && table.contains("DOWNLOAD") && table.contains("24.0"),
        "{table}"
    );
    // One host each (the agency side's address), policed by host: Prometheus sees one
    // active host per agency and every frame policed by its host; the addresses themselves
    // only in `status --hosts`.
    let active = query("opd_gateway_agency_active_hosts{direction=\"download\"}");
    assert_eq!(active.len(), 3, "{active:?}");
    assert!(active.iter().all(|(_, n)| *n == 1.0), "{active:?}");
    let by_agency =
        query("opd_gateway_agency_policed_packets_total{direction=\"download\",by=\"agency\"}");
    let by_host =
        query("opd_gateway_agency_policed_packets_total{direction=\"download\",by=\"host\"}");
    eprintln!("policed by agency {by_agency:?}, by host {by_host:?}");
    assert!(by_host.iter().all(|(_, n)| *n > 1000.0), "{by_host:?}");
    assert!(by_agency.iter().all(|(_, n)| *n == 0.0), "{by_agency:?}");
    let out = opd_testbed::sh(
        net.gateway
            .command(bin.to_str().unwrap())
            .args(["status", "--hosts", "vlan110", "--json"]),
    );
    let hosts: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("status --hosts --json is JSON");
    eprintln!("{hosts}");
    let list = hosts["list"].as_array().expect("a list of hosts");
    let host = list
        .iter()
        .find(|h| h["direction"] == "download")
        .unwrap_or_else(|| panic!("no download host: {hosts}"));
    assert_eq!(host["address"], net.hosts[0].agency_ip.to_string());
    let rate = host["rate_bps"].as_f64().unwrap();
    assert!(
        (rate / 8e6 - 1.0).abs() <= 0.1,
        "the host's rate {rate} vs its agency's 8 Mbps"
    );
    assert!(host["dropped_bps"].as_f64().unwrap() > 0.0, "{host}");
    let listed = opd_testbed::sh(
        net.gateway
            .command(bin.to_str().unwrap())
            .args(["status", "--hosts", "vlan110"]),
    );
    let listed = String::from_utf8_lossy(&listed.stdout);
    eprintln!("{listed}");
    assert!(
        listed.contains(&net.hosts[0].agency_ip.to_string()) && listed.contains("download"),
        "{listed}"
    );
    let unknown = net
        .gateway
        .command(bin.to_str().unwrap())
        .args(["status", "--hosts", "nobody"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        !unknown.status.success() && said.contains("no agency `nobody`"),
        "{said}"
    );
    // Flooded at twice their limits, the agencies took twice what they passed of the
    // uplink: the dropped half crossed it too.
    let offered: f64 = limits.iter().map(|mbps| 2.0 * mbps * 1e6).sum();
    let carried = query("opd_gateway_uplink_carried_bytes_per_second{direction=\"download\"} * 8");
    eprintln!("PromQL carried (bit/s): {carried:?}, offered {offered}");
    assert_eq!(carried.len(), 1, "{carried:?}");
    assert!(
        (carried[0].1 / offered - 1.0).abs() <= 0.1,
        "carried {} vs offered {offered}",
        carried[0].1
    );
    let line = table
        .lines()
        .filter(|l| l.contains("uplink carried (rate + drops)"))
        .nth(1)
        .unwrap_or_else(|| panic!("no download carried line: {table}"));
    let shown: f64 = line
        .split("drops) ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        (shown * 1e6 / offered - 1.0).abs() <= 0.1,
        "status shows {shown} Mbps carried, {offered} offered: {line}"
    );
    for f in flows {
        f.finish();
    }
}

/// deploy/grafana-dashboard.json parses, has its panels and queries, and every metric its
/// queries name is one the running daemon exports.
fn dashboard_uses_only(exported: &BTreeSet<String>) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("deploy/grafana-dashboard.json");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(dash["uid"].is_string() && dash["title"].is_string());
    let mut queries = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr" | "definition", serde_json::Value::String(q)) => {
                            out.push(q.clone())
                        }
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash, &mut queries);
    let panels = dash["panels"].as_array().expect("panels");
    let graphs = panels.iter().filter(|p| p["type"] != "row").count();
    assert!(
        graphs >= 8 && queries.len() >= 15,
        "{graphs} panels, {} queries",
        queries.len()
    );
    let mut used = BTreeSet::new();
    for q in &queries {
        let mut rest = q.as_str();
        while let Some(i) = rest.find("opd_gateway_") {
            let name: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[i + name.len()..];
            used.insert(name);
        }
    }
    let missing: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
    eprintln!("the dashboard queries {} metrics: {used:?}", used.len());
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics the gateway does not export: {missing:?}"
    );
}

//! The history in a real run: the daemon records a row for every agency each minute (a
//! minute shortened to 2 s here), a `kill -9` and a restart lose at most one of them, and
//! `opd-gateway report` over the run tells the traffic that was sent. Needs root; run by
//! `cargo xtask test`.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use opd_gateway::history::{self, Store};
use opd_testbed::{
    AgencyText, Forwarding, Limit, PolicyText, SimNetwork, Stream, TempDir, Way, env_path,
    traffic::TAGGED_OVERHEAD,
};

const MBPS: f64 = 1e6;
/// The history's "minute" in this test.
const MINUTE: i64 = 2;
/// Payload of the test bed's datagrams.
const PAYLOAD: usize = 1400;

#[test]
fn rows_every_minute_survive_kill_9_and_the_report_tells_what_was_sent() {
    let policy = PolicyText::site()
        .capacity("100Mbps", "100Mbps")
        .tick("500ms")
        .unclassified("drop")
        .agency(
            AgencyText::new("dinkes")
                .vlans(&[110])
                .upload(Limit::rate("5Mbps"))
                .download(Limit::guaranteed("10Mbps", "50Mbps")),
        )
        .agency(
            AgencyText::new("bpbd")
                .vlans(&[120])
                .upload(Limit::rate("5Mbps"))
                .download(Limit::guaranteed("10Mbps", "50Mbps")),
        )
        .agency(
            AgencyText::new("disdik")
                .vlans(&[130])
                .upload(Limit::rate("5Mbps"))
                .download(Limit::guaranteed("10Mbps", "50Mbps")),
        );
    let net = SimNetwork::new(&[110, 120, 130], Forwarding::Redirect);
    let dir = TempDir::new("history");
    let path = dir.write("policy.toml", &policy.to_string());
    let minute = format!("{MINUTE}s");
    let args = ["--history-minute", minute.as_str()];
    let mut gw = net.start_gateway_args(&path, "0s", &args);
    net.wait_reachable(&[110, 120, 130]);
    let started = unix_now();

    // dinkes and bpbd send for 10 s, all of it recorded before the crash; disdik sends
    // across the crash and the restart.
    let start = Instant::now() + Duration::from_millis(500);
    let short = Duration::from_secs(10);
    let long = Duration::from_secs(22);
    let streams: Vec<Stream> = [(110u16, 8.0, short), (120, 4.0, short), (130, 2.0, long)]
        .iter()
        .map(|&(vid, mbps, d)| net.steady_stream(vid, Way::Download, start, d, mbps * MBPS))
        .collect();
    std::thread::sleep((start + Duration::from_secs(13)).saturating_duration_since(Instant::now()));
    let killed = unix_now();
    gw.signal(libc::SIGKILL);
    let _ = gw.stop();
    let mut gw = net.start_gateway_args(&path, "0s", &args);
    let sent: Vec<u64> = streams
        .into_iter()
        .map(|s| s.finish().1.iter().map(|r| r.sent).sum())
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    // A report while the daemon writes: read-only, beside it.
    let during = Command::new(env_path("OPD_GATEWAY_BIN"))
        .args(["report", "--format", "csv", "--state-dir"])
        .arg(&net.state_dir)
        .output()
        .expect("run opd-gateway report");
    assert!(
        during.status.success() && String::from_utf8_lossy(&during.stdout).contains("disdik,"),
        "a report beside the running daemon failed: {}",
        String::from_utf8_lossy(&during.stderr)
    );
    assert!(
        gw.running(),
        "the daemon kept running while the report read"
    );
    // A clean stop writes the minute so far.
    gw.stop();
    let stopped = unix_now();

    // Rows for every agency, every minute, but at most one lost to the crash.
    let store = Store::open_read(&history::path_in(&net.state_dir)).expect("the history");
    for id in ["dinkes", "bpbd", "disdik"] {
        let rows = store.minutes(id, 0, i64::MAX).unwrap();
        let starts: Vec<i64> = rows.iter().map(|r| r.start).collect();
        let first_full = (started / MINUTE + 1) * MINUTE;
        let last_full = (stopped / MINUTE - 1) * MINUTE;
        let expected = (first_full..last_full).step_by(MINUTE as usize).count();
        let missing: Vec<i64> = (first_full..last_full)
            .step_by(MINUTE as usize)
            .filter(|t| !starts.contains(t))
            .collect();
        eprintln!(
            "{id}: {} minute rows, {expected} full minutes between start and stop, missing {missing:?} \
             (killed at {killed})",
            rows.len()
        );
        assert!(
            missing.len() <= 1,
            "{id}: minutes missing {missing:?}; at most the one of the crash may be"
        );
        for r in &rows {
            assert!(r.secs as i64 <= MINUTE, "{id}: a row of {} s", r.secs);
        }
    }

    // The report, as an admin runs it, over the whole run.
    let bin = env_path("OPD_GATEWAY_BIN");
    let out = Command::new(&bin)
        .args(["report", "--format", "csv", "--state-dir"])
        .arg(&net.state_dir)
        .output()
        .expect("run opd-gateway report");
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let passed_gb = |id: &str| -> f64 {
        let line = csv
            .lines()
            .find(|l| l.starts_with(&format!("{id},")) && l.contains(",download,"))
            .unwrap_or_else(|| panic!("no download row for {id} in\n{csv}"));
        line.split(',')
            .nth(col("passed_gb"))
            .unwrap()
            .parse()
            .unwrap()
    };
    let frame = (PAYLOAD + TAGGED_OVERHEAD) as f64;
    for (id, sent) in ["dinkes", "bpbd"].iter().zip(&sent) {
        let sent_gb = *sent as f64 * frame / 1e9;
        let got = passed_gb(id);
        eprintln!(
            "{id}: sent {sent_gb:.6} GB, report {got:.6} GB ({:.3})",
            got / sent_gb
        );
        assert!(
            (got / sent_gb - 1.0).abs() <= 0.05,
            "{id}: the report says {got} GB passed, {sent_gb} GB were sent"
        );
    }
    // disdik's crash minute and the daemon's absence are missing from its figure, never
    // more than was sent.
    let sent_gb = sent[2] as f64 * frame / 1e9;
    let got = passed_gb("disdik");
    eprintln!(
        "disdik: sent {sent_gb:.6} GB, report {got:.6} GB ({:.3})",
        got / sent_gb
    );
    assert!(
        got <= sent_gb * 1.05 && got >= sent_gb * 0.8,
        "disdik: {got} of {sent_gb} GB"
    );
    // The table reads in the admin's language.
    let out = Command::new(&bin)
        .args(["report", "--lang", "id", "--state-dir"])
        .arg(&net.state_dir)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("Laporan kebutuhan") && table.contains("dinkes"),
        "{table}"
    );
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

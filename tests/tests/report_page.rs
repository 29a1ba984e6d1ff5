//! The needs report's page as the head of the office sees it: `opd-gateway report --format
//! html` over a stored history, opened in headless Chromium. The rendered page shows every
//! agency with the figures the report computed, in Bahasa Indonesia by default, and its
//! screenshots are written to target/ for the docs.

use std::{path::Path, process::Command};

use opd_gateway::{
    history::{self, Store, synthetic},
    report::{self, OfficeHours, Report},
};
use opd_testbed::{TempDir, env_path};

/// Monday 2026-01-05 00:00 WIB.
const MONDAY: i64 = 1_767_546_000;

fn chromium(args: &[&str], page: &Path) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (cargo xtask setup installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_html_report_renders_every_agency_with_its_figures() {
    let dir = TempDir::new("report-page");
    // A made-up regency of ten agencies over four weeks.
    let (site, agencies, rows) = synthetic::regency(28, MONDAY, 2026);
    let mut store = Store::open(
        &history::path_in(&dir.0),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    store.write_five(&site, &agencies, &rows).unwrap();
    drop(store);
    let expected = Report::compute(
        &Store::open_read(&history::path_in(&dir.0))
            .unwrap()
            .read(i64::MIN / 2, i64::MAX / 2)
            .unwrap(),
        &report::Options {
            from: MONDAY,
            to: MONDAY + 28 * 86_400,
            agencies: Vec::new(),
            office: OfficeHours::default(),
            headroom_percent: 20,
        },
    );
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    // The table and the CSV of the same history, for the docs.
    for (format, file) in [("table", "report.txt"), ("csv", "report.csv")] {
        report(&dir.0, format, "en", &target.join(file));
    }
    for (lang, page_name) in [("id", "report-id"), ("en", "report-en")] {
        let page = dir.0.join(format!("{page_name}.html"));
        report(&dir.0, "html", lang, &page);
        let dom = chromium(&["--dump-dom"], &page);
        let text = visible_text(&dom);
        for a in &expected.agencies {
            assert!(
                text.contains(&a.name),
                "{lang}: {} missing from the page",
                a.name
            );
            // The download p95 as the page writes it: Mbps with one decimal, a decimal
            // comma in Bahasa Indonesia.
            let p95 = format!("{:.1}", a.dirs.download.p95 as f64 / 1000.0);
            let p95 = if lang == "id" {
                p95.replace('.', ",")
            } else {
                p95
            };
            assert!(text.contains(&p95), "{lang}: {}'s p95 {p95} missing", a.id);
        }
        let words = if lang == "id" {
            ["Laporan", "jaminan"]
        } else {
            ["report", "guarantee"]
        };
        for w in words {
            assert!(
                text.to_lowercase().contains(&w.to_lowercase()),
                "{lang}: {w} missing"
            );
        }
        assert_eq!(
            dom.matches("<svg").count(),
            expected.agencies.len(),
            "{lang}: one chart per agency"
        );
        // Screenshots for the docs: the top of the page, and a phone's width.
        let shot = target.join(format!("{page_name}.png"));
        chromium(
            &[
                &format!("--screenshot={}", shot.display()),
                "--window-size=1100,1500",
            ],
            &page,
        );
        let png = std::fs::read(&shot).expect("a screenshot");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 20_000,
            "{lang}: the screenshot is empty"
        );
        eprintln!(
            "{lang}: {} bytes of page, screenshot {}",
            std::fs::metadata(&page).unwrap().len(),
            shot.display()
        );
    }
}

/// `opd-gateway report` over the history in `state_dir`, as an admin runs it, into `output`.
fn report(state_dir: &Path, format: &str, lang: &str, output: &Path) {
    let out = Command::new(env_path("OPD_GATEWAY_BIN"))
        .args(["report", "--format", format, "--lang", lang, "--state-dir"])
        .arg(state_dir)
        .arg("--output")
        .arg(output)
        .output()
        .expect("run opd-gateway report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The text of a rendered DOM: tags dropped, entities for &, < and > decoded.
fn visible_text(dom: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
}

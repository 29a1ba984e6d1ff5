use std::time::Duration;

use super::*;
use crate::history::synthetic;

fn temp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("opd-web-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn the_page_is_self_contained_and_small() {
    assert!(PAGE.len() < 200_000, "{} bytes", PAGE.len());
    for outside in [
        "http://", "https://", "src=\"", "@import", "url(", "//fonts", "cdn",
    ] {
        assert!(
            !PAGE.contains(outside),
            "the page refers outside: {outside}"
        );
    }
    // It reads only the gateway's own endpoints.
    for endpoint in ["\"/status\"", "/history.json", "/report", "/policy.json"] {
        assert!(PAGE.contains(endpoint), "{endpoint}");
    }
    // Every text key exists in both languages.
    let keys = |lang: &str| -> Vec<String> {
        let marker = format!("  {lang}: {{");
        let start = PAGE.find(&marker).unwrap() + marker.len();
        let body = &PAGE[start..];
        let body = &body[..body.find("}").unwrap()];
        let mut k: Vec<String> = body
            .split(['{', ','])
            .filter_map(|kv| kv.split_once(':').map(|(k, _)| k.trim().to_string()))
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys("id"), keys("en"));
    for t in PAGE.split("data-t=\"").skip(1) {
        let key = &t[..t.find('"').unwrap()];
        assert!(
            keys("id").iter().any(|k| k == key),
            "no text for data-t=\"{key}\""
        );
    }
}

#[test]
fn a_credential_is_read_from_its_file_and_checked_as_basic_or_bearer() {
    let dir = temp("cred");
    let path = dir.join("secret");
    std::fs::write(&path, "  s3cret-of-the-office \n").unwrap();
    let c = Credential::read(&path).unwrap();
    assert!(c.admits(Some("Bearer s3cret-of-the-office")));
    // admin:s3cret-of-the-office
    assert!(c.admits(Some("Basic YWRtaW46czNjcmV0LW9mLXRoZS1vZmZpY2U=")));
    assert!(!c.admits(Some("Basic YWRtaW46d3Jvbmc=")), "admin:wrong");
    assert!(!c.admits(Some("Bearer s3cret-of-the-offic")));
    assert!(!c.admits(None));
    assert!(!c.admits(Some("Digest whatever")));
    assert_eq!(format!("{c:?}"), "Credential(…)", "never in a log");
    std::fs::write(&path, "\n").unwrap();
    assert!(
        Credential::read(&path)
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    std::fs::write(&path, "short").unwrap();
    let e = Credential::read(&path).unwrap_err().to_string();
    assert!(e.contains("too short") && e.contains("at least 12"), "{e}");
    let e = Credential::read(&dir.join("none")).unwrap_err().to_string();
    assert!(e.contains("cannot read"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn base64_as_browsers_send_it() {
    assert_eq!(decode_base64("YQ==").unwrap(), b"a");
    assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
    assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
    assert!(decode_base64("Y").is_none());
    assert!(decode_base64("!!!!").is_none());
}

#[test]
fn series_and_report_come_from_the_store() {
    let dir = temp("series");
    let (site, agencies, rows) = synthetic::regency(10, 1_767_546_000, 7);
    let now = rows.last().unwrap().start + 300;
    let mut store = Store::open(&history::path_in(&dir), Duration::from_secs(60)).unwrap();
    store.write_five(&site, &agencies, &rows).unwrap();
    drop(store);
    let web = Web::new(Some(dir.clone()), None);
    let s = web.series("rsud", Range::Week, now).unwrap();
    assert_eq!(s.step, 300);
    assert_eq!(s.download.len(), 7 * 288);
    assert_eq!(s.guaranteed[1], 40_000_000);
    let first = rows
        .iter()
        .find(|r| r.agency == "rsud" && r.start >= now - 7 * 86_400)
        .unwrap();
    assert_eq!(s.download[0].passed, first.traffic.download.passed * 1000);
    // The last hour has no minute rows in a made-up history of 5-minute rows.
    assert!(
        web.series("rsud", Range::Hour, now)
            .unwrap()
            .download
            .is_empty()
    );
    assert!(matches!(
        web.series("nobody", Range::Day, now),
        Err(WebError::UnknownAgency(_))
    ));
    let page = web.report(None, None, Lang::En).unwrap();
    assert!(page.contains("RSUD Kabupaten") && page.contains("<svg"));
    assert!(matches!(
        web.report(Some("2026-02-01"), Some("2026-01-01"), Lang::Id),
        Err(WebError::BadRequest(_))
    ));
    assert!(matches!(
        web.report(Some("kemarin"), None, Lang::Id),
        Err(WebError::BadRequest(_))
    ));
    let none = Web::new(None, None);
    assert!(matches!(
        none.series("rsud", Range::Day, now),
        Err(WebError::NoHistory)
    ));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_policy_view_shows_the_policy_in_force_and_the_last_reload() {
    let dir = temp("policy");
    let path = dir.join("policy.toml");
    std::fs::write(
        &path,
        "[site]\nlan = \"eth1\"\nwan = \"eth2\"\ncapacity = { upload = \"100Mbps\", download = \"100Mbps\" }\n\n\
         [[agency]]\nid = \"dinkes\"\nvlans = [110]\nupload = { rate = \"10Mbps\" }\ndownload = { rate = \"10Mbps\" }\n",
    )
    .unwrap();
    let policy = crate::policy::load(&path).unwrap();
    let web = Web::new(None, None);
    assert_eq!(web.policy_view().last_reload, None);
    web.policy_applied(&policy, &path);
    let v = web.policy_view();
    assert_eq!(v.fingerprint, format!("{:016x}", policy.fingerprint));
    assert_eq!(v.files.len(), 1);
    assert!(v.files[0].text.contains("dinkes"));
    std::fs::write(&path, "[site]\nlan = \"eth1\"\nwan = \"eth2\"\nrat = 1\n").unwrap();
    let err = crate::policy::load(&path).unwrap_err();
    web.reloaded("rejected", Some(&err));
    let v = web.policy_view();
    let r = v.last_reload.unwrap();
    assert_eq!(r.result, "rejected");
    assert!(
        r.messages_en
            .iter()
            .any(|m| m.contains("unknown key `rat`")),
        "{:?}",
        r.messages_en
    );
    assert!(!r.messages_id.is_empty());
    assert_eq!(
        v.fingerprint,
        format!("{:016x}", policy.fingerprint),
        "the running one stays"
    );
    let _ = std::fs::remove_dir_all(dir);
}

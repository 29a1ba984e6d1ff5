//! iperf3 as the receiving end of a test's TCP transfers, and the figures made of what it
//! received.

use std::{net::Ipv4Addr, thread::JoinHandle};

use crate::{Netns, sh};

/// An iperf3 server in `ns` on `addr`:`port` for one test: what it received (TCP payload)
/// in each half second from the start of the test, as (start s, bits/s).
pub fn receiver(ns: &Netns, addr: Ipv4Addr, port: u16) -> JoinHandle<Vec<(f64, f64)>> {
    let mut c = ns.command("iperf3");
    c.args(["-s", "-1", "-J", "-i", "0.5"]).args([
        "-B",
        &addr.to_string(),
        "-p",
        &port.to_string(),
    ]);
    std::thread::spawn(move || {
        let out = sh(&mut c);
        let json: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("iperf3 server JSON");
        json["intervals"]
            .as_array()
            .expect("iperf3 intervals")
            .iter()
            .map(|i| {
                let sum = &i["sum"];
                (
                    sum["start"].as_f64().expect("interval start"),
                    sum["bits_per_second"].as_f64().expect("interval rate"),
                )
            })
            .collect()
    })
}

/// The mean of the half-second rates of [`receiver`] that start in `[from, to)` s, Mbps.
pub fn mean_rate(bins: &[(f64, f64)], from: f64, to: f64) -> f64 {
    let got: Vec<f64> = bins
        .iter()
        .filter(|(t, _)| *t >= from - 1e-3 && *t < to - 1e-3)
        .map(|(_, r)| *r)
        .collect();
    assert!(!got.is_empty(), "no iperf3 interval in [{from}, {to}) s");
    got.iter().sum::<f64>() / got.len() as f64 / 1e6
}

/// Jain's fairness index of `x`: 1 when all are equal, 1/n when one has everything.
pub fn jain(x: &[f64]) -> f64 {
    let sum: f64 = x.iter().sum();
    let squares: f64 = x.iter().map(|v| v * v).sum();
    sum * sum / (x.len() as f64 * squares)
}

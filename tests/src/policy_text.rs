//! Policies as the tests, the demo and the benchmarks write them: TOML text built key by
//! key, so each test states only what its policy needs and the text is what an admin would
//! write in a policy file.
//!
//! ```
//! use opd_testbed::{AgencyText, Forwarding, Limit, PolicyText};
//!
//! let text = PolicyText::simulated_regency(Forwarding::Redirect)
//!     .unclassified("drop")
//!     .agency(
//!         AgencyText::new("dinkes")
//!             .vlans(&[110])
//!             .upload(Limit::rate("10Mbps"))
//!             .download(Limit::guaranteed("5Mbps", "60Mbps")),
//!     )
//!     .to_string();
//! ```

use std::fmt;

use crate::Forwarding;

/// `key = value` lines in the order they were set; setting a key again replaces its value.
#[derive(Clone, Debug, Default)]
struct Keys(Vec<(&'static str, String)>);

impl Keys {
    fn set(&mut self, key: &'static str, value: String) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key, value)),
        }
    }
}

impl fmt::Display for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.0 {
            writeln!(f, "{k} = {v}")?;
        }
        Ok(())
    }
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A policy file: `[site]` and its agencies.
#[derive(Clone, Debug)]
pub struct PolicyText {
    site: Keys,
    agencies: Vec<AgencyText>,
}

impl PolicyText {
    /// A site on the simulated network's ports, `lan` and `wan`; it still needs a capacity.
    pub fn site() -> PolicyText {
        let mut site = Keys::default();
        site.set("lan", quoted("lan"));
        site.set("wan", quoted("wan"));
        PolicyText {
            site,
            agencies: Vec::new(),
        }
    }

    /// The simulated network's usual site: a 1 Gbps uplink each way, native XDP.
    pub fn simulated_regency(forwarding: Forwarding) -> PolicyText {
        PolicyText::site()
            .name("Simulated regency")
            .capacity("1Gbps", "1Gbps")
            .forwarding(forwarding)
            .xdp_mode("native")
    }

    fn set(mut self, key: &'static str, value: String) -> PolicyText {
        self.site.set(key, value);
        self
    }

    pub fn name(self, name: &str) -> PolicyText {
        self.set("name", quoted(name))
    }

    pub fn capacity(self, upload: &str, download: &str) -> PolicyText {
        let value = format!(
            "{{ upload = {}, download = {} }}",
            quoted(upload),
            quoted(download)
        );
        self.set("capacity", value)
    }

    pub fn headroom(self, headroom: &str) -> PolicyText {
        self.set("headroom", quoted(headroom))
    }

    pub fn tick(self, tick: &str) -> PolicyText {
        self.set("tick", quoted(tick))
    }

    pub fn expiry(self, expiry: &str) -> PolicyText {
        self.set("expiry", quoted(expiry))
    }

    /// `"shared"` or `"guaranteed"`.
    pub fn fallback(self, fallback: &str) -> PolicyText {
        self.set("fallback", quoted(fallback))
    }

    pub fn forwarding(self, forwarding: Forwarding) -> PolicyText {
        let value = match forwarding {
            Forwarding::Redirect => "redirect",
            Forwarding::Bridge => "bridge",
        };
        self.set("forwarding", quoted(value))
    }

    /// `"native"` or `"generic"`.
    pub fn xdp_mode(self, mode: &str) -> PolicyText {
        self.set("xdp_mode", quoted(mode))
    }

    /// The agencies' default: `"fair"` or `"shared"`.
    pub fn hosts(self, hosts: &str) -> PolicyText {
        self.set("hosts", quoted(hosts))
    }

    /// `"pass"`, `"drop"` or an agency id.
    pub fn unclassified(self, unclassified: &str) -> PolicyText {
        self.set("unclassified", quoted(unclassified))
    }

    pub fn agency(mut self, agency: AgencyText) -> PolicyText {
        self.agencies.push(agency);
        self
    }

    pub fn agencies(mut self, agencies: impl IntoIterator<Item = AgencyText>) -> PolicyText {
        self.agencies.extend(agencies);
        self
    }
}

impl fmt::Display for PolicyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[site]\n{}", self.site)?;
        for a in &self.agencies {
            write!(f, "\n{a}")?;
        }
        Ok(())
    }
}

/// One `[[agency]]` table.
#[derive(Clone, Debug)]
pub struct AgencyText {
    keys: Keys,
}

impl AgencyText {
    pub fn new(id: &str) -> AgencyText {
        let mut keys = Keys::default();
        keys.set("id", quoted(id));
        AgencyText { keys }
    }

    fn set(mut self, key: &'static str, value: String) -> AgencyText {
        self.keys.set(key, value);
        self
    }

    pub fn name(self, name: &str) -> AgencyText {
        self.set("name", quoted(name))
    }

    /// `"critical"`, `"standard"` or `"public"`.
    pub fn tier(self, tier: &str) -> AgencyText {
        self.set("tier", quoted(tier))
    }

    pub fn weight(self, weight: u32) -> AgencyText {
        self.set("weight", weight.to_string())
    }

    pub fn vlans(self, vids: &[u16]) -> AgencyText {
        let list: Vec<String> = vids.iter().map(u16::to_string).collect();
        self.set("vlans", format!("[{}]", list.join(", ")))
    }

    /// (outer, inner) VLAN pairs.
    pub fn qinq(self, pairs: &[(u16, u16)]) -> AgencyText {
        let list: Vec<String> = pairs.iter().map(|(o, i)| format!("[{o}, {i}]")).collect();
        self.set("qinq", format!("[{}]", list.join(", ")))
    }

    pub fn upload(self, limit: Limit) -> AgencyText {
        self.set("upload", limit.to_string())
    }

    pub fn download(self, limit: Limit) -> AgencyText {
        self.set("download", limit.to_string())
    }

    /// `"fair"` (each active host its share) or `"shared"` (one bucket for the agency).
    pub fn hosts(self, hosts: &str) -> AgencyText {
        self.set("hosts", quoted(hosts))
    }

    /// The same limit both ways.
    pub fn both(self, limit: Limit) -> AgencyText {
        self.upload(limit.clone()).download(limit)
    }
}

impl fmt::Display for AgencyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[[agency]]\n{}", self.keys)
    }
}

/// An agency's limit in one direction: `{ guaranteed, ceiling, burst }` or `{ rate }`.
#[derive(Clone, Debug)]
pub struct Limit(Keys);

impl Limit {
    /// Guaranteed and ceiling both at `rate`.
    pub fn rate(rate: &str) -> Limit {
        Limit(Keys(vec![("rate", quoted(rate))]))
    }

    pub fn guaranteed(guaranteed: &str, ceiling: &str) -> Limit {
        Limit(Keys(vec![
            ("guaranteed", quoted(guaranteed)),
            ("ceiling", quoted(ceiling)),
        ]))
    }

    /// No guarantee, up to `ceiling`.
    pub fn ceiling(ceiling: &str) -> Limit {
        Limit(Keys(vec![("ceiling", quoted(ceiling))]))
    }

    /// The bucket depth, as time at the rate in force.
    pub fn burst(mut self, burst: &str) -> Limit {
        self.0.set("burst", quoted(burst));
        self
    }

    /// The most one host of the agency may pass in this direction.
    pub fn host_ceiling(mut self, ceiling: &str) -> Limit {
        self.0.set("host_ceiling", quoted(ceiling));
        self
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = (self.0)
            .0
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        write!(f, "{{ {} }}", pairs.join(", "))
    }
}

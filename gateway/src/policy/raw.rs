//! The policy as written: TOML into types that keep every value's position. Strict: an
//! unknown key is an error, never ignored.

use serde::Deserialize;
use toml::Spanned;

use super::{Fallback, Forwarding, Tier, XdpMode};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub site: Option<Spanned<Site>>,
    #[serde(default)]
    pub agency: Vec<Spanned<Agency>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub name: Option<String>,
    pub lan: Spanned<String>,
    pub wan: Spanned<String>,
    pub capacity: Option<Spanned<PerDirection>>,
    pub headroom: Option<Spanned<String>>,
    pub tick: Option<Spanned<String>>,
    pub expiry: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub fallback: Option<Fallback>,
    pub forwarding: Option<Forwarding>,
    pub xdp_mode: Option<XdpMode>,
    pub unclassified: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerDirection {
    pub upload: Spanned<String>,
    pub download: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agency {
    pub id: Spanned<String>,
    pub name: Option<String>,
    pub tier: Option<Tier>,
    pub weight: Option<Spanned<i64>>,
    #[serde(default)]
    pub vlans: Vec<Spanned<i64>>,
    #[serde(default)]
    pub qinq: Vec<Spanned<[i64; 2]>>,
    #[serde(default)]
    pub prefixes: Vec<Spanned<String>>,
    pub upload: Spanned<Limit>,
    pub download: Spanned<Limit>,
    #[serde(default)]
    pub schedule: Vec<Spanned<Schedule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Shorthand for guaranteed = ceiling = rate.
    pub rate: Option<Spanned<String>>,
    pub guaranteed: Option<Spanned<String>>,
    pub ceiling: Option<Spanned<String>>,
    pub burst: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub days: Spanned<Vec<String>>,
    pub hours: Spanned<String>,
    pub upload: Option<Spanned<Override>>,
    pub download: Option<Spanned<Override>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub guaranteed: Option<Spanned<String>>,
    pub ceiling: Option<Spanned<String>>,
}

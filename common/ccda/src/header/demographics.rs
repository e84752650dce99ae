//! CDA datatypes for people and places: addresses (US Realm fielded form with
//! country GB), telecoms as URLs, person names, administrative gender.

use crate::fhir::{Address, ContactPoint, HumanName};
use crate::xml::Xml;

pub fn address(x: &mut Xml, a: Option<&Address>, default_use: &str) {
    let Some(a) = a.filter(|a| !a.line.is_empty() || a.city.is_some() || a.postal_code.is_some())
    else {
        x.empty("addr", &[("nullFlavor", "UNK")]);
        return;
    };
    let use_ = match a.use_.as_deref() {
        Some("home") => "HP",
        Some("work") => "WP",
        Some("temp") => "TMP",
        Some("old") => "BAD",
        _ => default_use,
    };
    x.open("addr", &[("use", use_)]);
    let lines: Vec<&str> = a
        .line
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    // US Realm allows at most 4 street lines: fold any extra into the fourth.
    for (i, l) in lines.iter().enumerate().take(4) {
        if i == 3 && lines.len() > 4 {
            x.leaf("streetAddressLine", &[], &lines[3..].join(", "));
        } else {
            x.leaf("streetAddressLine", &[], l);
        }
    }
    if lines.is_empty() {
        x.empty("streetAddressLine", &[("nullFlavor", "UNK")]);
    }
    match a.city.as_deref().or(a.district.as_deref()) {
        Some(c) => x.leaf("city", &[], c),
        None => x.empty("city", &[("nullFlavor", "UNK")]),
    }
    if let Some(d) = a.district.as_deref().filter(|_| a.city.is_some()) {
        x.leaf("county", &[], d);
    }
    if let Some(pc) = a.postal_code.as_deref() {
        x.leaf("postalCode", &[], pc);
    }
    x.leaf("country", &[], "GB");
    x.close();
}

pub fn telecoms(x: &mut Xml, t: &[ContactPoint], max: usize) {
    let mut n = 0;
    for c in t {
        if n >= max {
            break;
        }
        let Some(v) = c.value.as_deref().map(str::trim).filter(|v| !v.is_empty()) else {
            continue;
        };
        let scheme = match c.system.as_deref() {
            Some("phone") => "tel:",
            Some("fax") => "fax:",
            Some("email") => "mailto:",
            _ => continue,
        };
        let value: String = if scheme == "mailto:" {
            v.to_string()
        } else {
            v.chars().filter(|c| !c.is_whitespace()).collect()
        };
        let use_ = match c.use_.as_deref() {
            Some("home") => "HP",
            Some("work") => "WP",
            Some("mobile") => "MC",
            Some("temp") => "TMP",
            _ => "",
        };
        let url = format!("{scheme}{value}");
        if use_.is_empty() {
            x.empty("telecom", &[("value", &url)]);
        } else {
            x.empty("telecom", &[("use", use_), ("value", &url)]);
        }
        n += 1;
    }
    if n == 0 {
        x.empty("telecom", &[("nullFlavor", "UNK")]);
    }
}

pub fn person_name(x: &mut Xml, n: Option<&HumanName>) {
    let Some(n) = n else {
        x.empty("name", &[("nullFlavor", "UNK")]);
        return;
    };
    x.open("name", &[("use", "L")]);
    for p in &n.prefix {
        x.leaf("prefix", &[], p);
    }
    for g in &n.given {
        x.leaf("given", &[], g);
    }
    if n.given.is_empty() {
        x.empty("given", &[("nullFlavor", "UNK")]);
    }
    match n.family.as_deref() {
        Some(f) => x.leaf("family", &[], f),
        None => x.empty("family", &[("nullFlavor", "UNK")]),
    }
    x.close();
}

pub fn gender(x: &mut Xml, g: Option<&str>) {
    let (code, disp) = match g {
        Some("male") => ("M", "Male"),
        Some("female") => ("F", "Female"),
        Some("other") => ("UN", "Undifferentiated"),
        _ => {
            x.empty("administrativeGenderCode", &[("nullFlavor", "UNK")]);
            return;
        }
    };
    x.empty(
        "administrativeGenderCode",
        &[
            ("code", code),
            ("codeSystem", "2.16.840.1.113883.5.1"),
            ("displayName", disp),
        ],
    );
}

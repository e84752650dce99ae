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

/// A US Realm Person Name (fielded: `given`, `family`). `use="L"` (legal)
/// only for the `official` name. A name sent only as `text` is split into
/// fields (`SMITH, John`, or `Mr John Smith`: the last word is the family
/// name), so the patient is never shown nameless.
pub fn person_name(x: &mut Xml, n: Option<&HumanName>) {
    let Some(n) = n else {
        x.empty("name", &[("nullFlavor", "UNK")]);
        return;
    };
    let fielded = n.family.as_deref().is_some_and(|f| !f.trim().is_empty())
        || n.given.iter().any(|g| !g.trim().is_empty());
    let (prefix, given, family): (Vec<&str>, Vec<&str>, Option<&str>) = if fielded {
        (
            n.prefix.iter().map(String::as_str).collect(),
            n.given
                .iter()
                .map(String::as_str)
                .filter(|g| !g.trim().is_empty())
                .collect(),
            n.family.as_deref().filter(|f| !f.trim().is_empty()),
        )
    } else {
        split_text_name(n.text.as_deref().unwrap_or(""))
    };
    if n.use_.as_deref() == Some("official") {
        x.open("name", &[("use", "L")]);
    } else {
        x.open("name", &[]);
    }
    for p in prefix {
        x.leaf("prefix", &[], p);
    }
    for g in &given {
        x.leaf("given", &[], g);
    }
    if given.is_empty() {
        x.empty("given", &[("nullFlavor", "UNK")]);
    }
    match family {
        Some(f) => x.leaf("family", &[], f),
        None => x.empty("family", &[("nullFlavor", "UNK")]),
    }
    x.close();
}

const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir", "dame",
];

/// `(prefixes, given names, family name)` of a free-text name.
fn split_text_name(text: &str) -> (Vec<&str>, Vec<&str>, Option<&str>) {
    if let Some((family, rest)) = text.split_once(',') {
        let (prefix, given) = titles(rest.split_whitespace().collect());
        let family = Some(family.trim()).filter(|f| !f.is_empty());
        return (prefix, given, family);
    }
    let (prefix, mut words) = titles(text.split_whitespace().collect());
    let family = words.pop();
    (prefix, words, family)
}

fn titles(words: Vec<&str>) -> (Vec<&str>, Vec<&str>) {
    let n = words
        .iter()
        .take_while(|w| TITLES.contains(&w.trim_end_matches('.').to_ascii_lowercase().as_str()))
        .count();
    let (p, g) = words.split_at(n);
    (p.to_vec(), g.to_vec())
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

#[cfg(test)]
mod tests {
    use super::split_text_name;

    #[test]
    fn text_names_are_split_into_fields() {
        assert_eq!(
            split_text_name("Mr John Henry SMITH"),
            (vec!["Mr"], vec!["John", "Henry"], Some("SMITH"))
        );
        assert_eq!(
            split_text_name("SMITH, Jane"),
            (vec![], vec!["Jane"], Some("SMITH"))
        );
        assert_eq!(split_text_name("Cher"), (vec![], vec![], Some("Cher")));
        assert_eq!(split_text_name("  "), (vec![], vec![], None));
    }
}

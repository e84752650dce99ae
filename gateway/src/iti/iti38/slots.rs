//! Stored-query parameters: slot values (`'a'`, `('a','b')`, several `Value`s), patient ids
//! in CX form, and the time and code filters.

use xhuma_common::NhsNumber;

use super::super::discovery::{NHS_OID, NHS_OID_99};
use super::super::registry::RIM_NS;
use crate::soap::element::Element;

/// All values of every slot named `name`, unquoted and split, one list per slot.
pub fn values(query: &Element, name: &str) -> Vec<Vec<String>> {
    query
        .children_named(RIM_NS, "Slot")
        .filter(|s| s.attr("name").map(str::trim) == Some(name))
        .map(|slot| {
            let mut out = Vec::new();
            if let Some(list) = slot.child(RIM_NS, "ValueList") {
                for v in list.children_named(RIM_NS, "Value") {
                    split_list(v.text_trimmed(), &mut out);
                }
            }
            out
        })
        .collect()
}

/// True when at least one slot named `name` is present.
pub fn present(query: &Element, name: &str) -> bool {
    query
        .children_named(RIM_NS, "Slot")
        .any(|s| s.attr("name").map(str::trim) == Some(name))
}

/// `('a', 'b')` → `a`, `b`; `'a'` → `a`; `a` → `a`.
fn split_list(raw: &str, out: &mut Vec<String>) {
    let raw = raw.trim();
    let inner = raw
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(raw);
    let mut cur = String::new();
    let mut quoted = false;
    for c in inner.chars() {
        match c {
            '\'' | '\u{2018}' | '\u{2019}' => quoted = !quoted,
            ',' if !quoted => {
                push_value(&mut cur, out);
            }
            c => cur.push(c),
        }
    }
    push_value(&mut cur, out);
}

fn push_value(cur: &mut String, out: &mut Vec<String>) {
    let v = cur.trim();
    if !v.is_empty() {
        out.push(v.to_string());
    }
    cur.clear();
}

/// A patient id of the forms the ITI-55 answer advertises: `NHS^^^&OID&ISO` with the NHS
/// number OID or its `.99` variant (or a bare NHS number). Returns the number and the OID
/// the caller used.
pub fn patient_id(cx: &str) -> Option<(NhsNumber, &'static str)> {
    let cx = cx
        .trim()
        .trim_matches(|c| c == '\'' || c == '\u{2018}' || c == '\u{2019}');
    let mut comps = cx.split('^');
    let id = comps.next()?.trim();
    let authority = comps.nth(2).map(|a| {
        // HD: namespace&universalId&type
        a.split('&').nth(1).unwrap_or("").trim().to_string()
    });
    let oid = match authority.as_deref() {
        None | Some("") | Some(NHS_OID) => NHS_OID,
        Some(NHS_OID_99) => NHS_OID_99,
        Some(_) => return None,
    };
    NhsNumber::parse(id).ok().map(|n| (n, oid))
}

/// A creationTime bound: the digits of an HL7 DTM (4 to 14 of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeBound(String);

// === impl TimeBound ===

impl TimeBound {
    pub fn parse(v: &str) -> Option<Self> {
        let digits: String = v.trim().chars().take_while(char::is_ascii_digit).collect();
        (4..=14).contains(&digits.len()).then_some(Self(digits))
    }

    /// `from <= t` at the bound's precision (`t` is 14 digits).
    pub fn at_or_before(&self, t: &str) -> bool {
        t.get(..self.0.len()).is_some_and(|p| p >= self.0.as_str())
    }

    /// `t < to` at the bound's precision.
    pub fn after(&self, t: &str) -> bool {
        t.get(..self.0.len()).is_some_and(|p| p < self.0.as_str())
    }
}

/// Codes of a `code^^scheme` list, code part only.
pub fn codes(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.split('^').next().unwrap_or("").trim().to_string())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splits_lists() {
        let mut out = Vec::new();
        split_list("('urn:a', 'urn:b')", &mut out);
        split_list("'x^^y'", &mut out);
        split_list("200412252300", &mut out);
        assert_eq!(out, ["urn:a", "urn:b", "x^^y", "200412252300"]);
    }

    #[test]
    fn both_patient_id_forms() {
        let (n, oid) = patient_id("'9690937278^^^&2.16.840.1.113883.2.1.4.1&ISO'").unwrap();
        assert_eq!((n.to_string().as_str(), oid), ("9690937278", NHS_OID));
        let (_, oid) = patient_id("9690937278^^^&2.16.840.1.113883.2.1.4.1.99&ISO").unwrap();
        assert_eq!(oid, NHS_OID_99);
        assert!(patient_id("9690937278").is_some());
        assert!(patient_id("st3498702^^^&1.3.6.1.4.1.21367.2005.3.7&ISO").is_none());
        assert!(patient_id("9690937277^^^&2.16.840.1.113883.2.1.4.1&ISO").is_none());
        assert!(patient_id("9690937278^^^&1.2.3&ISO").is_none());
    }

    #[test]
    fn time_bounds() {
        let now = "20260101120000";
        assert!(TimeBound::parse("2026").unwrap().at_or_before(now));
        assert!(TimeBound::parse("202601011200").unwrap().at_or_before(now));
        assert!(!TimeBound::parse("202601011201").unwrap().at_or_before(now));
        assert!(TimeBound::parse("20260102").unwrap().after(now));
        assert!(!TimeBound::parse("20260101").unwrap().after(now));
        assert!(TimeBound::parse("20").is_none());
    }
}

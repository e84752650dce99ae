//! Observation values and reference ranges as CDA datatypes: PQ when the
//! quantity has a value and a whitespace-free unit, IVL_PQ for `<`/`>`
//! comparators, ST otherwise; CD for coded values, BL for booleans.

use crate::codes;
use crate::describe;
use crate::fhir::{Observation, Quantity, ReferenceRange};
use crate::xml::Xml;

pub(super) fn unit_of(q: &Quantity) -> Option<&str> {
    let u = if q.system.as_deref() == Some("http://unitsofmeasure.org") {
        q.code.as_deref().or(q.unit.as_deref())
    } else {
        q.unit.as_deref().or(q.code.as_deref())
    };
    u.map(str::trim).filter(|u| !u.is_empty())
}

/// A quantity that can be a PQ: a value, and a unit without whitespace.
pub(super) fn pq_ok(q: &Quantity) -> bool {
    q.value.is_some()
        && q.comparator.is_none()
        && unit_of(q).is_none_or(|u| !u.contains(char::is_whitespace))
}

/// `<elem xsi:type="PQ" value unit/>` (unit `1` when none).
pub(super) fn pq(x: &mut Xml, elem: &str, q: &Quantity) {
    let v = q.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
    x.empty(
        elem,
        &[
            ("xsi:type", "PQ"),
            ("value", &v),
            ("unit", unit_of(q).unwrap_or("1")),
        ],
    );
}

/// A bound inside IVL_PQ (no xsi:type).
fn bound(x: &mut Xml, elem: &str, q: &Quantity, inclusive: Option<&str>) {
    let v = q.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let mut a = vec![("value", v.as_str()), ("unit", unit_of(q).unwrap_or("1"))];
    if let Some(i) = inclusive {
        a.push(("inclusive", i));
    }
    x.empty(elem, &a);
}

/// The observation's `value`: PQ, IVL_PQ (for `<`/`>`), ST, CD or BL.
/// Returns false when the observation has no value.
pub fn value(x: &mut Xml, o: &Observation) -> bool {
    if let Some(q) = &o.value_quantity {
        if q.value.is_some() && pq_ok(q) {
            pq(x, "value", q);
            return true;
        } else if let (Some(c), true) = (
            q.comparator.as_deref(),
            q.value.is_some() && unit_of(q).is_none_or(|u| !u.contains(char::is_whitespace)),
        ) {
            x.open("value", &[("xsi:type", "IVL_PQ")]);
            match c {
                "<" => bound(x, "high", q, Some("false")),
                "<=" => bound(x, "high", q, Some("true")),
                ">" => bound(x, "low", q, Some("false")),
                _ => bound(x, "low", q, Some("true")),
            }
            x.close();
            return true;
        }
        x.leaf("value", &[("xsi:type", "ST")], &describe::quantity(q));
        return true;
    }
    if let Some(s) = &o.value_string {
        x.leaf("value", &[("xsi:type", "ST")], s);
        return true;
    }
    if let Some(c) = &o.value_codeable_concept {
        codes::concept(x, "value", Some(c), Some("CD"), None);
        return true;
    }
    if let Some(b) = o.value_boolean {
        x.empty(
            "value",
            &[
                ("xsi:type", "BL"),
                ("value", if b { "true" } else { "false" }),
            ],
        );
        return true;
    }
    false
}

pub fn reference_range(x: &mut Xml, r: &ReferenceRange) {
    let numeric = |q: &Option<Quantity>| q.as_ref().is_none_or(pq_ok);
    let has_ivl = (r.low.is_some() || r.high.is_some()) && numeric(&r.low) && numeric(&r.high);
    let text = crate::sections::results::range_text(r);
    if text.is_empty() && !has_ivl {
        return;
    }
    x.open("referenceRange", &[]);
    x.open("observationRange", &[]);
    if !text.is_empty() {
        x.leaf("text", &[], &text);
    }
    if has_ivl {
        x.open("value", &[("xsi:type", "IVL_PQ")]);
        if let Some(l) = &r.low {
            bound(x, "low", l, None);
        }
        if let Some(h) = &r.high {
            bound(x, "high", h, None);
        }
        x.close();
    } else {
        x.empty("value", &[("xsi:type", "IVL_PQ"), ("nullFlavor", "NI")]);
    }
    x.close();
    x.close();
}

//! The Medication Activity's `doseQuantity`, from the statement's dosage (or
//! the authorising plan's dosage instruction): one dose as a PQ, a GP
//! Connect `doseRange` (`1-2 tablets`) as an IVL_PQ with `low`/`high`.

use super::Med;
use crate::codes::{self, SNOMED};
use crate::fhir::{Dosage, Quantity, Range};
use crate::xml::Xml;

/// One structured dose of a dosage line.
#[derive(Clone, Copy)]
enum Dose<'a> {
    Single(&'a Quantity),
    Range(&'a Range),
}

/// `doseQuantity`: the one structured dose of the statement's dosage (or of
/// the plan's dosage instruction). No dose, or several different ones:
/// `nullFlavor="NI"`, and the Free Text Sig carries the instruction.
pub(super) fn dose(x: &mut Xml, m: &Med<'_>) {
    let mut doses = from(&m.ms.dosage);
    if doses.is_empty()
        && let Some(p) = m.plan
    {
        doses = from(&p.dosage_instruction);
    }
    let same = doses.windows(2).all(|w| key(w[0]) == key(w[1]));
    match doses.first().filter(|_| same) {
        Some(Dose::Single(q)) => pq(x, "doseQuantity", q),
        Some(Dose::Range(r)) => {
            x.open("doseQuantity", &[]);
            for (name, q) in [("low", &r.low), ("high", &r.high)] {
                if let Some(q) = q.as_ref().filter(|q| q.value.is_some()) {
                    pq(x, name, q);
                }
            }
            x.close();
        }
        None => x.empty("doseQuantity", &[("nullFlavor", "NI")]),
    }
}

/// The structured doses of a dosage list: `doseQuantity` when it has a value,
/// else a `doseRange` with a low or high value.
fn from(ds: &[Dosage]) -> Vec<Dose<'_>> {
    let valued = |q: &Option<Quantity>| q.as_ref().is_some_and(|q| q.value.is_some());
    ds.iter()
        .filter_map(|d| match (&d.dose_quantity, &d.dose_range) {
            (Some(q), _) if q.value.is_some() => Some(Dose::Single(q)),
            (_, Some(r)) if valued(&r.low) || valued(&r.high) => Some(Dose::Range(r)),
            _ => None,
        })
        .collect()
}

/// What makes two doses the same dose: value, code and unit of each bound.
type QuantityKey<'a> = Option<(String, Option<&'a str>, Option<&'a str>)>;

fn key(d: Dose<'_>) -> (QuantityKey<'_>, QuantityKey<'_>) {
    match d {
        Dose::Single(q) => (quantity_key(Some(q)), None),
        Dose::Range(r) => (quantity_key(r.low.as_ref()), quantity_key(r.high.as_ref())),
    }
}

fn quantity_key(q: Option<&Quantity>) -> QuantityKey<'_> {
    q.map(|q| {
        (
            q.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
            q.code.as_deref(),
            q.unit.as_deref(),
        )
    })
}

/// One PQ (`doseQuantity`, or a range's `low`/`high`). A UCUM unit is carried
/// as `@unit`; a dose form unit (`tablet`, SNOMED) leaves `@unit` at its
/// default `1`, as C-CDA asks for pre-coordinated products, and travels as a
/// SNOMED translation; any other unit only as the translation's original
/// text, never as a non-UCUM `@unit`.
fn pq(x: &mut Xml, name: &'static str, q: &Quantity) {
    let value = q.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let system = q.system.as_deref().map(|s| s.trim_end_matches('/'));
    let code = q
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.contains(char::is_whitespace));
    match (system, code) {
        (Some("http://unitsofmeasure.org"), Some(c)) => {
            x.empty(name, &[("value", &value), ("unit", c)]);
        }
        (Some(codes::SNOMED_URI), Some(c)) => {
            x.open(name, &[("value", &value)]);
            let mut a = vec![
                ("value", value.as_str()),
                ("code", c),
                ("codeSystem", SNOMED),
                ("codeSystemName", "SNOMED CT"),
            ];
            if let Some(u) = q.unit.as_deref() {
                a.push(("displayName", u));
            }
            x.empty("translation", &a);
            x.close();
        }
        _ => match q.unit.as_deref() {
            Some(u) => {
                x.open(name, &[("value", &value)]);
                x.open("translation", &[("value", &value), ("nullFlavor", "OTH")]);
                x.leaf("originalText", &[], u);
                x.close();
                x.close();
            }
            None => x.empty(name, &[("value", &value)]),
        },
    }
}

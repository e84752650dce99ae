//! The CDA building blocks every part of the document writes: `templateId`, entry ids, the
//! reference from an entry into its narrative, and times (HL7 TS and IVL_TS from FHIR dates).
//!
//! Used by [`crate::header`], [`crate::narrative`] and every module under [`crate::sections`];
//! it depends on none of them.

use crate::xml::Xml;
use crate::{Context, dates};

/// `templateId` without and (when `ext` is set) with its version extension, as C-CDA R2.1
/// asks for every template it revises.
pub fn template(x: &mut Xml, root: &str, ext: &str) {
    x.empty("templateId", &[("root", root)]);
    if !ext.is_empty() {
        x.empty("templateId", &[("root", root), ("extension", ext)]);
    }
}

/// An `id` stable for this document and `key` ([`Context::id_for`]).
pub fn id(x: &mut Xml, cx: &Context, key: &str) {
    x.empty("id", &[("root", &cx.id_for(key))]);
}

/// `<text><reference value="#id"/></text>`: an entry's pointer into its section's narrative.
pub fn text_ref(x: &mut Xml, id: &str) {
    x.open("text", &[]);
    x.empty("reference", &[("value", &format!("#{id}"))]);
    x.close();
}

/// HL7 TS for a FHIR date; a malformed one is noted in `warnings`.
pub fn ts(s: Option<&str>, what: &str, warnings: &mut Vec<String>) -> Option<String> {
    let v = s?;
    let t = dates::ts(Some(v));
    if t.is_none() {
        warnings.push(format!(
            "{what}: malformed date, shown as recorded and not coded"
        ));
    }
    t
}

/// `<elem [xsi:type=IVL_TS]><low/><high/></elem>`; `low` is nullFlavor UNK when absent.
pub fn ivl(x: &mut Xml, elem: &'static str, xsi: bool, low: Option<&str>, high: Option<&str>) {
    if xsi {
        x.open(elem, &[("xsi:type", "IVL_TS")]);
    } else {
        x.open(elem, &[]);
    }
    match low {
        Some(l) => x.empty("low", &[("value", l)]),
        None => x.empty("low", &[("nullFlavor", "UNK")]),
    }
    if let Some(h) = high {
        x.empty("high", &[("value", h)]);
    }
    x.close();
}

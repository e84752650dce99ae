//! Social History Section (V3): required by the CCD template. GP Connect has
//! no social-history area; smoking, alcohol and similar entries arrive as
//! uncategorised observations and are shown under "Other observations".

use crate::Report;
use crate::codes::LOINC;
use crate::narrative::{Section, Spec};
use crate::xml::Xml;

static SPEC: Spec = Spec {
    title: "Social history",
    code: "29762-2",
    code_system: LOINC,
    code_system_name: "LOINC",
    display: "Social history Narrative",
    template: Some(("2.16.840.1.113883.10.20.22.2.17", "2015-08-01")),
    null_when_empty: false,
    prefix: "soc",
};

pub fn write(x: &mut Xml, report: &mut Report) {
    let mut s = Section::new(&SPEC, x.depth());
    s.paragraph(
        "GP Connect does not send a separate social history. Smoking, alcohol and other social \
         observations recorded by the GP are listed under \"Other observations (uncategorised data)\" \
         and in the consultations.",
    );
    s.finish(x, report);
}

//! Documents: every DocumentReference in the bundle (GP Connect has no primary
//! documents List; they hang off consultations and problems) → a "Documents"
//! index section (Notes Section template, as the companion guide uses for
//! references to other documents): title, type, date, author and format, with an
//! `externalDocument` reference per document. The binaries themselves are
//! fetched separately (GP Connect Access Document), not embedded here.

use crate::cda::{id, text_ref, ts};
use crate::codes::{self, LOINC};
use crate::fhir::{CodeableConcept, Resource};
use crate::index::{Index, Parsed};
use crate::narrative::{Section, Spec, cell, cell_id};
use crate::xml::Xml;
use crate::{Context, Report, dates, describe};

static SPEC: Spec = Spec {
    title: "Documents",
    code: "11503-0",
    code_system: LOINC,
    code_system_name: "LOINC",
    display: "Medical records",
    template: Some(("2.16.840.1.113883.10.20.22.2.65", "2016-11-01")),
    null_when_empty: true,
    prefix: "doc",
};

const COLS: &[&str] = &["Date", "Document", "Type", "Author", "Format"];

pub fn write(ix: &Index, x: &mut Xml, cx: &Context, report: &mut Report) {
    let mut s = Section::new(&SPEC, x.depth());
    s.paragraph("Documents held in the GP record. Their content is not included in this summary; request them from the GP practice.");
    s.table(None, COLS);
    for (n, entry) in ix.all("DocumentReference").enumerate() {
        let d = match &entry.parsed {
            Parsed::Ok(Resource::DocumentReference(d)) => d,
            Parsed::Unreadable(w) => {
                s.unreadable_row(format!("{}: {w}", entry.label()));
                continue;
            }
            Parsed::Ok(_) => continue,
        };
        let rid = s.next_id();
        let kind = d
            .type_
            .as_ref()
            .and_then(CodeableConcept::label)
            .unwrap_or("");
        let title = d
            .description
            .as_deref()
            .or(d
                .content
                .first()
                .and_then(|c| c.attachment.title.as_deref()))
            .unwrap_or(kind);
        let author = d
            .author
            .iter()
            .map(|a| match ix.get(a.target()) {
                Some(Resource::Organization(o)) => o.name.clone().unwrap_or_default(),
                Some(Resource::Practitioner(p)) => crate::fhir::HumanName::best(&p.name)
                    .map(crate::fhir::HumanName::display)
                    .unwrap_or_default(),
                Some(Resource::Other) | None => a.display.clone().unwrap_or_default(),
                Some(other) => describe::resource(ix, other),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let fmt = d
            .content
            .first()
            .and_then(|c| c.attachment.content_type.as_deref())
            .unwrap_or("");
        let when = d.created.as_deref().or(d.indexed.as_deref());
        s.row(
            &rid,
            &[
                cell(dates::display(when)),
                cell_id(format!("{rid}-name"), title),
                cell(kind),
                cell(author),
                cell(fmt),
            ],
        );
        let key = entry.key(n);
        let label = entry.label();
        let mut w = Vec::new();
        let t = ts(when, &label, &mut w);
        let x = s.entry();
        x.open("act", &[("classCode", "ACT"), ("moodCode", "EVN")]);
        id(x, cx, &key);
        codes::concept(
            x,
            "code",
            d.type_.as_ref(),
            None,
            Some(&format!("#{rid}-name")),
        );
        text_ref(x, &rid);
        x.empty("statusCode", &[("code", "completed")]);
        match t {
            Some(t) => x.empty("effectiveTime", &[("value", &t)]),
            None => x.empty("effectiveTime", &[("nullFlavor", "UNK")]),
        }
        x.open("reference", &[("typeCode", "REFR")]);
        x.open(
            "externalDocument",
            &[("classCode", "DOC"), ("moodCode", "EVN")],
        );
        id(x, cx, &format!("{key}/document"));
        codes::concept(x, "code", d.type_.as_ref(), None, None);
        x.close();
        x.close();
        x.close();
        s.end_entry();
        s.warnings.extend(w);
    }
    s.end_table();
    s.finish(x, report);
}

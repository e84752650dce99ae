//! Referrals: GP Connect "Outbound referral" (ReferralRequests) → Reason for
//! Referral Section (V2), one referral act (`moodCode` RQO) per request with
//! its reason, priority, recipients and notes in the narrative.

use super::{Item, notes};
use crate::cda::{id, text_ref, ts};
use crate::codes::{self, LOINC};
use crate::fhir::{CodeableConcept, ReferralRequest, Resource};
use crate::index::{Index, list_code};
use crate::narrative::{Section, Spec, cell, cell_id};
use crate::xml::Xml;
use crate::{Context, Report, dates, describe};

static SPEC: Spec = Spec {
    title: "Referrals",
    code: "42349-1",
    code_system: LOINC,
    code_system_name: "LOINC",
    display: "Reason for referral (narrative)",
    template: Some(("1.3.6.1.4.1.19376.1.5.3.1.3.1", "2014-06-09")),
    null_when_empty: true,
    prefix: "ref",
};

const COLS: &[&str] = &[
    "Date",
    "Reason / service",
    "Priority",
    "Status",
    "Referred to",
    "Details",
];

pub fn write(ix: &Index, x: &mut Xml, cx: &Context, report: &mut Report) {
    let lists: Vec<_> = ix.lists(list_code::OUTBOUND_REFERRALS).collect();
    let mut s = Section::new(&SPEC, x.depth());
    let its = super::gather(ix, &mut s, &lists, "ReferralRequest", "Referrals");
    s.table(None, COLS);
    for it in its {
        match it {
            Item::Ok {
                entry,
                res: Resource::ReferralRequest(r),
                n,
            } => {
                let rid = s.next_id();
                let code = reason(r);
                let to: Vec<String> = r
                    .recipient
                    .iter()
                    .map(|rc| recipient(ix, rc))
                    .filter(|s| !s.is_empty())
                    .collect();
                let details = [r.description.clone().unwrap_or_default(), notes(&r.note)]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n");
                s.row(
                    &rid,
                    &[
                        cell(dates::display(r.authored_on.as_deref())),
                        cell_id(
                            format!("{rid}-name"),
                            code.and_then(CodeableConcept::label).unwrap_or("Referral"),
                        ),
                        cell(r.priority.clone().unwrap_or_default()),
                        cell(r.status.clone().unwrap_or_default()),
                        cell(to.join("\n")),
                        cell(details),
                    ],
                );
                let key = entry.key(n);
                let label = entry.label();
                let mut w = Vec::new();
                let t = ts(r.authored_on.as_deref(), &label, &mut w);
                let x = s.entry();
                x.open("act", &[("classCode", "ACT"), ("moodCode", "RQO")]);
                id(x, cx, &key);
                codes::concept(x, "code", code, None, Some(&format!("#{rid}-name")));
                text_ref(x, &rid);
                x.empty(
                    "statusCode",
                    &[("code", codes::act_status(r.status.as_deref()))],
                );
                match t {
                    Some(t) => x.empty("effectiveTime", &[("value", &t)]),
                    None => x.empty("effectiveTime", &[("nullFlavor", "UNK")]),
                }
                x.close();
                s.end_entry();
                s.warnings.extend(w);
            }
            Item::Ok { entry, .. } => {
                s.unreadable_row(format!("{}: not a ReferralRequest", entry.label()))
            }
            Item::Bad(w) => s.unreadable_row(w),
        }
    }
    s.end_table();
    s.finish(x, report);
}

fn reason(r: &ReferralRequest) -> Option<&CodeableConcept> {
    r.reason_code
        .first()
        .or(r.service_requested.first())
        .or(r.specialty.as_ref())
}

fn recipient(ix: &Index, r: &crate::fhir::Reference) -> String {
    match ix.get(r.target()) {
        Some(Resource::Practitioner(p)) => crate::fhir::HumanName::best(&p.name)
            .map(crate::fhir::HumanName::display)
            .unwrap_or_default(),
        Some(Resource::Organization(o)) => o.name.clone().unwrap_or_default(),
        Some(Resource::Other) | None => r.display.clone().unwrap_or_default(),
        Some(other) => describe::resource(ix, other),
    }
}

use super::*;
use crate::soap::element::{Limits, parse as parse_xml};

fn adhoc(slots: &str) -> Element {
    let xml = format!(
        r#"<rim:AdhocQuery xmlns:rim="{RIM_NS}" id="{FIND_DOCUMENTS}">{slots}</rim:AdhocQuery>"#
    );
    parse_xml(xml.as_bytes(), Limits::default(), &|_| None).unwrap()
}

fn slot(name: &str, value: &str) -> String {
    format!(
        r#"<rim:Slot name="{name}"><rim:ValueList><rim:Value>{value}</rim:Value></rim:ValueList></rim:Slot>"#
    )
}

fn entry(kind: EntryKind) -> Entry {
    let nhs = NhsNumber::parse("9690937278").unwrap();
    let e = Entry::on_demand(
        "2.25.1".into(),
        "urn:uuid:00000000-0000-0000-0000-000000000001".into(),
        nhs,
        super::super::discovery::NHS_OID,
    );
    Entry { kind, ..e }
}

#[test]
fn status_and_code_filters_decide_before_the_backend() {
    assert!(Filter::read(&adhoc("")).may_match());
    let approved = slot(
        "$XDSDocumentEntryStatus",
        "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')",
    );
    assert!(Filter::read(&adhoc(&approved)).may_match());
    let deprecated = slot(
        "$XDSDocumentEntryStatus",
        "('urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated')",
    );
    assert!(!Filter::read(&adhoc(&deprecated)).may_match());
    let class_ok = slot(
        "$XDSDocumentEntryClassCode",
        "('34133-9^^2.16.840.1.113883.6.1')",
    );
    assert!(Filter::read(&adhoc(&class_ok)).may_match());
    let class_no = slot(
        "$XDSDocumentEntryClassCode",
        "('11488-4^^2.16.840.1.113883.6.1')",
    );
    assert!(!Filter::read(&adhoc(&class_no)).may_match());
    let event = slot("$XDSDocumentEntryEventCodeList", "('X^^1.2')");
    assert!(!Filter::read(&adhoc(&event)).may_match());
}

#[test]
fn entry_type_choice() {
    let both = Filter::read(&adhoc(&slot(
        "$XDSDocumentEntryType",
        &format!("('{}','{}')", entry::STABLE_TYPE, entry::ON_DEMAND_TYPE),
    )));
    assert_eq!(both.apply(entry(EntryKind::OnDemand)).entries.len(), 1);
    let stable_only = Filter::read(&adhoc(&slot(
        "$XDSDocumentEntryType",
        &format!("('{}')", entry::STABLE_TYPE),
    )));
    assert!(
        stable_only
            .apply(entry(EntryKind::OnDemand))
            .entries
            .is_empty()
    );
    let od_only = Filter::read(&adhoc(&slot(
        "$XDSDocumentEntryType",
        &format!("('{}')", entry::ON_DEMAND_TYPE),
    )));
    let a = od_only.apply(entry(EntryKind::Stable));
    assert_eq!(a.entries[0].kind, EntryKind::OnDemand);
}

#[test]
fn a_document_made_now_matches_a_window_around_now() {
    let now = time::OffsetDateTime::now_utc();
    let from = hl7_ts(now - time::Duration::hours(1));
    let to = hl7_ts(now + time::Duration::hours(1));
    let window = format!(
        "{}{}",
        slot("$XDSDocumentEntryCreationTimeFrom", &from),
        slot("$XDSDocumentEntryCreationTimeTo", &to)
    );
    assert_eq!(
        Filter::read(&adhoc(&window))
            .apply(entry(EntryKind::OnDemand))
            .entries
            .len(),
        1
    );
    let past = format!(
        "{}{}",
        slot("$XDSDocumentEntryCreationTimeFrom", "200412252300"),
        slot("$XDSDocumentEntryCreationTimeTo", "200501010800")
    );
    assert!(
        Filter::read(&adhoc(&past))
            .apply(entry(EntryKind::OnDemand))
            .entries
            .is_empty()
    );
}

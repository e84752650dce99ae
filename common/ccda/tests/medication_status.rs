//! Current or past: a medication is in "Active Medications" only when the
//! statement and its authorisation (plan) both say it is current and no end
//! date has passed; otherwise it is past, with the plan's status and reason,
//! and its Medication Activity is an event (`EVN`) that is not `active`.

mod support;

use xhuma_ccda::convert;

/// `(active rows, past rows)` of a document's Medications section.
fn tables(xml: &[u8]) -> (String, String) {
    let s = support::section_text(xml, "Medications");
    let past_at = s
        .find("<caption>Past Medications</caption>")
        .expect("past table");
    (s[..past_at].to_string(), s[past_at..].to_string())
}

fn rows(table: &str) -> usize {
    table.matches("<tr ID=").count()
}

#[test]
fn an_active_statement_with_a_completed_plan_is_past() {
    // Medicus: MedicationStatement active, its MedicationRequest plan completed.
    let c = convert(
        &support::fixture("gpconnect/bundles/edge-cases/medicus-basedon-9302014592.json"),
        &support::context(),
    )
    .expect("convert");
    let (active, past) = tables(&c.xml);
    assert_eq!(rows(&active), 0, "{active}");
    assert_eq!(rows(&past), 1, "{past}");
    assert!(past.contains("<td>Completed</td>"), "{past}");
    let entries = &past[past.find("<entry").expect("entry")..];
    assert!(entries.contains(r#"<substanceAdministration classCode="SBADM" moodCode="EVN">"#));
    assert!(
        !entries.contains(r#"moodCode="INT"><templateId root="2.16.840.1.113883.10.20.22.4.16""#)
    );
}

#[test]
fn a_stopped_plan_moves_every_active_statement_to_past_with_its_reason() {
    let cx = support::context();
    let before = convert(
        &support::fixture("gpconnect/bundles/emis-uat/9465701459-nel.json"),
        &cx,
    )
    .expect("convert");
    let after = convert(&support::variant("variant-stopped-plan"), &cx).expect("convert");
    let (a0, p0) = tables(&before.xml);
    let (a1, p1) = tables(&after.xml);
    assert!(rows(&a0) > 0, "nel has current medications");
    assert_eq!(rows(&a1), 0, "{a1}");
    assert_eq!(rows(&p1), rows(&p0) + rows(&a0));
    assert_eq!(p1.matches("<td>Adverse reaction</td>").count(), rows(&a0));
    assert_eq!(p1.matches("<td>Stopped</td>").count(), rows(&a0));
    // a stopped medication is an aborted event in the entries
    let s = support::section_text(&after.xml, "Medications");
    assert_eq!(
        s.matches(r#"<substanceAdministration classCode="SBADM" moodCode="INT">"#)
            .count(),
        0
    );
    assert!(s.matches(r#"<statusCode code="aborted"/>"#).count() >= rows(&a0));
}

#[test]
fn the_fixtures_past_medications_are_all_in_the_past_table() {
    // Counted from the JSON: statements listed in a Medications List whose
    // own status is not active. Each one's entry (found by its id) must point
    // at a row of the Past Medications table; none may be current.
    let cx = support::context();
    let mut past_statements = 0;
    let mut past_rows = 0;
    for p in support::bundles() {
        if support::expect_error(&p) {
            continue;
        }
        let name = support::name(&p);
        let bytes = std::fs::read(&p).expect("read");
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        let mut listed: Vec<String> = Vec::new();
        for e in json["entry"].as_array().into_iter().flatten() {
            let r = &e["resource"];
            let is_meds =
                r["resourceType"] == "List" && r["code"]["coding"][0]["code"] == "933361000000108";
            for i in r["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|_| is_meds)
            {
                if let Some(s) = i["item"]["reference"].as_str()
                    && !listed.iter().any(|l| l == s)
                {
                    listed.push(s.to_string());
                }
            }
        }
        let c = convert(&bytes, &cx).expect("convert");
        let section = support::section_text(&c.xml, "Medications");
        let (_, past) = tables(&c.xml);
        past_rows += rows(&past);
        for e in json["entry"].as_array().into_iter().flatten() {
            let r = &e["resource"];
            let key = format!("MedicationStatement/{}", r["id"].as_str().unwrap_or(""));
            if r["resourceType"] != "MedicationStatement"
                || r["status"] == "active"
                || !listed.contains(&key)
            {
                continue;
            }
            past_statements += 1;
            let id = format!(r#"<id root="{}"/>"#, cx.id_for(&key));
            let at = section
                .find(&id)
                .unwrap_or_else(|| panic!("{name}: no entry for {key}"));
            let after = &section[at..];
            let refv = after
                .split(r##"<reference value="#"##)
                .nth(1)
                .and_then(|r| r.split('"').next())
                .expect("text reference");
            assert!(
                past.contains(&format!(r#"<tr ID="{refv}">"#)),
                "{name}: {key} ({}) is not in the past table",
                r["status"]
            );
        }
    }
    assert!(
        past_statements >= 250,
        "only {past_statements} listed past statements"
    );
    // The past tables also hold active statements whose plan ended or was stopped.
    assert!(
        past_rows >= 274 && past_rows > past_statements,
        "{past_rows} past rows for {past_statements} past statements"
    );
    println!("past rows {past_rows}, of which {past_statements} by the statement's own status");
}

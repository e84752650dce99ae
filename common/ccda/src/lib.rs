//! FHIR STU3 (GP Connect Access Record Structured) → HL7 C-CDA R2.1 (being built: issue 3).

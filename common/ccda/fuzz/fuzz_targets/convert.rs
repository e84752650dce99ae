//! Fuzzes `xhuma_ccda::convert`: any input either fails with a typed error or
//! yields a well-formed XML document; never a panic, hang or unbounded output.
//! Seed corpus: the GP Connect fixture bundles (see README in this folder).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cx = xhuma_ccda::Context::new(time::OffsetDateTime::UNIX_EPOCH, uuid::Uuid::nil());
    if let Ok(c) = xhuma_ccda::convert(data, &cx) {
        let mut r = quick_xml::Reader::from_reader(c.xml.as_slice());
        r.config_mut().check_end_names = true;
        let mut buf = Vec::new();
        loop {
            match r.read_event_into(&mut buf) {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("output is not well-formed XML: {e}"),
            }
            buf.clear();
        }
    }
});

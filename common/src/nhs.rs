//! Clients for the NHS services Xhuma calls (being built: see issue 2).

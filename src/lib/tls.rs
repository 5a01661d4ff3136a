//! TLS with rustls (ring provider, TLS 1.2 and 1.3 only).

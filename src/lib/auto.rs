//! Build-time settings from `conf-files/` (see build.rs).

include!(concat!(env!("OUT_DIR"), "/auto.rs"));

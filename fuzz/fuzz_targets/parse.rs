#![no_main]
//! `cargo +nightly fuzz run parse`: see [`certprop_fuzz::parse`] for the input and what is asserted.

libfuzzer_sys::fuzz_target!(|data: &[u8]| certprop_fuzz::parse(data));

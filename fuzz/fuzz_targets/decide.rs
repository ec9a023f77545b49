#![no_main]
//! `cargo +nightly fuzz run decide`: see [`certprop_fuzz::decide`] for the input and what is asserted.

libfuzzer_sys::fuzz_target!(|data: &[u8]| certprop_fuzz::decide(data));

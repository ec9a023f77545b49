#![no_main]
//! `cargo +nightly fuzz run config`: see [`certprop_fuzz::config`] for the input and what is asserted.

libfuzzer_sys::fuzz_target!(|data: &[u8]| certprop_fuzz::config(data));

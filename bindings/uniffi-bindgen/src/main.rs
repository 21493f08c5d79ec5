//! `uniffi-bindgen`: generates the Kotlin, Swift and Python bindings of `casebook-ffi` from the built
//! library (library mode). Run through `bindings/generate.sh`.

fn main() {
    uniffi::uniffi_bindgen_main()
}

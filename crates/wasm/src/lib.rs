//! wasm-bindgen bindings used by the page (see API.md).

//! Fuzzes the bundle loader: `Bundle::from_bytes` must return a result, never panic, for any
//! bytes. A bundle that loads must hold exactly the tensors its config expects, all finite, and
//! must survive a re-encode in every storage dtype (f16 may refuse weights beyond its range).
//! Seed the corpus from `tests/fixtures/tampered/` (see its README).
#![no_main]

use leadladder_bundle::{Bundle, Error, StoreDtype};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = Bundle::from_bytes(data) else {
        return;
    };
    let expected = bundle.config.model.expected_tensors();
    assert_eq!(expected.len(), bundle.tensors.len());
    for (name, shape) in &expected {
        let Some((s, v)) = bundle.tensor(name) else {
            panic!("loaded bundle lacks `{name}`");
        };
        assert_eq!(s, shape.as_slice());
        assert_eq!(v.len(), shape.iter().product::<usize>());
        assert!(v.iter().all(|x| x.is_finite()));
    }
    for dtype in [StoreDtype::F32, StoreDtype::F16, StoreDtype::Int8] {
        match bundle.to_bytes(dtype) {
            Ok(bytes) => {
                if let Err(e) = Bundle::from_bytes(&bytes) {
                    panic!("re-encoded {dtype:?} bundle does not load: {e}");
                }
            }
            // Weights beyond f16's range cannot be stored as f16; that is an error, not a bug.
            Err(Error::NonFinite { .. }) if dtype == StoreDtype::F16 => {}
            Err(e) => panic!("a loaded bundle cannot be re-encoded as {dtype:?}: {e}"),
        }
    }
});

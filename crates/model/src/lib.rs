//! The Burn Qwen2 ranker: bundle loading from bytes, batched scoring on Flex CPU or wgpu, explanations.

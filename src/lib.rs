//! featurescope: explore what the neurons and dictionary features of a
//! language model respond to. The library knows nothing of terminals; the
//! binary (`src/main.rs`) and the explorer build on it.
pub mod activations;
pub mod dataset;
pub mod device;
pub mod experiment;
pub mod export;
pub mod extract;
pub mod import;
pub mod interp;
pub mod llm;
pub mod model;
pub mod names;
pub mod publish;
pub mod sae;
pub mod safetensors;
pub mod search;
pub mod synth;
pub mod text;

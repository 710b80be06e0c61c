//! The integration tests, built as one binary (one link against libtorch
//! instead of one per file); each module is one area, sharing the helpers
//! of [`common`]. Run one area with `cargo test --release --test it extract::`.
mod common;

mod autointerp_cli;
mod bad_input;
mod cli;
mod corpus;
mod dataset_store;
mod delphi;
mod disk;
mod experiment;
mod explainer_prompt;
mod explorer_e2e;
mod export_html;
mod extract;
mod gguf;
mod import_neuron_explainer;
mod interop;
mod lab;
mod llama_e2e;
mod llm_client;
mod local_llm;
mod model_reference;
mod neuronpedia;
mod sae_cli;
mod sae_reference;
mod sae_train;
mod scoring;
mod search;
mod synth;

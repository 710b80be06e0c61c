//! The command-line front-end: [`args::Cli`] is what clap parses; each
//! command group's bodies live in a file of their own and share the helpers
//! of [`output`]. `main.rs` only parses, dispatches and prints the error.
pub mod args;
pub mod dataset;
pub mod experiment;
pub mod extract;
pub mod lab;
pub mod llm;
pub mod output;
pub mod sae;
pub mod system;

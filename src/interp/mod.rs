//! The method of Bills et al. 2023 as pure functions over records:
//! which records explain and which score a unit, and how a simulation is
//! scored. (The LLM-facing explainer, simulator and reviser build on these.)
pub mod batch;
pub mod engine;
pub mod explainer;
pub mod records;
pub mod revision;
pub mod score;
pub mod simulator;
pub mod units;

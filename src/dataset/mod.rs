//! The dataset store: a directory with `manifest.json`, `units.parquet`,
//! `records/`, `explanations/` and `scores/` (docs/dataset-format.md).
//! Start from [`Dataset`] to read and append, [`DatasetWriter`] to write one:
//!
//! ```no_run
//! use featurescope::dataset::Dataset;
//! # fn main() -> featurescope::dataset::Result<()> {
//! let ds = Dataset::open("datasets/demo")?;
//! let units = ds.units_overview()?;
//! let records = ds.records(units[0].unit_id)?;
//! println!("{} units; unit 0 has {} records", units.len(), records.len());
//! # Ok(()) }
//! ```
mod append;
pub mod error;
pub(crate) mod io;
pub mod manifest;
mod parquet_file;
mod reader;
pub mod schema;
mod summary;
mod tables;
pub mod types;
pub mod validate;
mod writer;

pub use error::{DatasetError, Result};
pub use manifest::{Manifest, SelectionParams};
pub use reader::Dataset;
pub use summary::{Summary, summarize};
pub use types::*;
pub use validate::ValidationReport;
pub use writer::{AddedUnit, DatasetWriter, WriterOptions};
